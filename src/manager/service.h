// The queue-manager service: wires a bus, a store and a launcher to a Manager and its
// HTTP API, runs until asked to stop. `streamforge up` and `streamforge queue-manager`
// are thin wrappers around it; e2e tests run it as a real process through them.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "base/result.h"
#include "manager/manager.h"

namespace sf::manager {

struct ServiceConfig {
  std::string listen_address = "127.0.0.1";
  uint16_t port = 8080;           // 0 picks a free port (printed on start-up)
  std::string data_dir = "data";  // SQLite file: <data_dir>/streamforge.db (state and data)
  std::string flows_file;         // empty: the shipped config/test_flows.yaml
  std::string api_token;          // empty: no auth (the listener is loopback by default)
  std::string bus = "memory";     // only "memory" in this version
  std::string launcher = "inproc";
  std::string exchange_url = "https://api.binance.com";  // where loaders fetch from
  double exchange_weight_fraction = 0.8;  // share of the exchange's weight limit to use
  int http_threads = 2;
  ManagerOptions manager;
};

// The test_flows.yaml compiled into the binary (a copy of config/test_flows.yaml).
const std::string& builtin_test_flows_yaml();

// Runs the service until `stop` becomes true (checked every 100 ms). Prints one line
// "queue-manager listening on http://ADDR:PORT" to stdout once ready. Errors at start-up
// (port in use, unreadable data dir, bad flows file, unsupported bus) are returned.
Status run_service(const ServiceConfig& cfg, const std::atomic<bool>& stop,
                   const std::string& version);

}  // namespace sf::manager
