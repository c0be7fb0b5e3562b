// The queue-manager service: wires a bus, a store and a launcher to a Manager and its
// HTTP API, runs until asked to stop. `streamforge up` and `streamforge queue-manager`
// are thin wrappers around it; e2e tests run it as a real process through them.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "base/env.h"
#include "base/result.h"
#include "manager/manager.h"

namespace sf::manager {

struct ServiceConfig {
  std::string listen_address = "127.0.0.1";
  uint16_t port = 8080;           // 0 picks a free port (printed on start-up)
  std::string data_dir = "data";  // SQLite file: <data_dir>/streamforge.db (state and data)
  std::string store;              // empty/"sqlite": the SQLite file; or a postgresql:// URL
  std::string flows_file;         // empty: the shipped config/test_flows.yaml
  // Where trained models go (artifacts/open.h): empty for <data_dir>/artifacts, file:PATH or
  // s3://BUCKET[/PREFIX]?endpoint=URL[&region=R] with the keys in `env`.
  std::string artifacts;
  Env env;                // the process environment (apps/ passes it): the S3 keys
  std::string api_token;  // empty: no auth (the listener is loopback by default)
  // Bus URL: "memory" (one process) or kafka://HOST:PORT[,HOST:PORT] (bus/open.h).
  std::string bus = "memory";
  std::string kafka_config;     // librdkafka properties file (SASL, TLS, tuning); optional
  int32_t bus_partitions = 1;   // partitions of topics created on demand
  int16_t bus_replication = 1;  // replication factor of the topics the platform creates
  // "inproc" (workers are threads of this process) or "process" (each worker its own
  // `streamforge worker <target>` process; needs a bus shared between processes).
  std::string launcher = "inproc";
  // "kubernetes": each worker a Job (launch/kubernetes); needs Kafka and a shared store.
  struct Kubernetes {
    std::string kubeconfig;       // empty: the pod's own service account (in-cluster)
    std::string context;          // of the kubeconfig; empty: its current context
    std::string namespace_;       // empty: the kubeconfig context's or the pod's namespace
    std::string image;            // the worker image (a start request's `image` wins)
    std::string service_account;  // of the workers' pods
    std::string secret;           // Secret with the workers' secret variables, by name
    std::string requests;         // "cpu=100m,memory=128Mi"
    std::string limits;           // "cpu=1,memory=1Gi"
    int job_ttl_s = 600;
    int metrics_port = 9100;               // the workers' /metrics in their pods; 0: a free port
    std::string instance = "streamforge";  // label of this manager's Jobs (adopted on restart)
  } k8s;
  std::string log_level = "info";                        // passed to worker processes
  std::string exchange_url = "https://api.binance.com";  // where loaders fetch from
  // Where live loaders stream from; empty: derived from exchange_url (workers/live.h,
  // ws_url_for: Binance's wss://stream.binance.com:9443 for api.binance.com).
  std::string exchange_ws_url;
  double exchange_weight_fraction = 0.8;  // share of the exchange's weight limit to use
  int http_threads = 2;
  ManagerOptions manager;
};

// The test_flows.yaml compiled into the binary (a copy of config/test_flows.yaml).
const std::string& builtin_test_flows_yaml();

// Runs the service until `stop` becomes true (checked every 100 ms). Prints one line
// "queue-manager listening on http://ADDR:PORT" to stdout once ready. Errors at start-up
// (port in use, unreadable data dir, bad flows file, unreachable or unknown bus, the
// process launcher with the memory bus) are returned.
Status run_service(const ServiceConfig& cfg, const std::atomic<bool>& stop,
                   const std::string& version);

}  // namespace sf::manager
