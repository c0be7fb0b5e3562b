#include "manager/service.h"

#include <boost/asio/ip/address.hpp>
#include <cstdio>
#include <thread>

#include "base/log.h"
#include "bus/memory/memory_bus.h"
#include "exchange/binance/rate_limiter.h"
#include "http/server.h"
#include "launch/inproc/inproc_launcher.h"
#include "manager/api.h"
#include "metrics/metrics.h"
#include "store/sqlite/sqlite_data_store.h"
#include "store/sqlite/sqlite_state_store.h"

namespace sf::manager {

Status run_service(const ServiceConfig& cfg, const std::atomic<bool>& stop,
                   const std::string& version) {
  if (cfg.bus != "memory")
    return Error(Errc::invalid_argument,
                 "bus '" + cfg.bus + "' is not supported by this version (use 'memory')", "bus");
  if (cfg.launcher != "inproc")
    return Error(Errc::invalid_argument,
                 "launcher '" + cfg.launcher + "' is not supported by this version (use 'inproc')",
                 "launcher");
  if (cfg.manager.heartbeat_timeout_s <= 0 || cfg.manager.stop_grace_s <= 0)
    return Error(Errc::invalid_argument,
                 "--heartbeat-timeout and --stop-grace must be positive numbers of seconds");
  {
    // A manager reachable from other hosts must not be open to them.
    boost::system::error_code ec;
    auto addr = boost::asio::ip::make_address(cfg.listen_address, ec);
    if (ec)
      return Error(Errc::invalid_argument,
                   "--listen '" + cfg.listen_address + "' is not an IP address", "listen");
    if (!addr.is_loopback() && cfg.api_token.empty())
      return Error(Errc::invalid_argument,
                   "listening on " + cfg.listen_address +
                       " (not loopback) needs an API token: pass --token or SF_API_TOKEN",
                   "listen");
  }
  Result<Flows> flows = cfg.flows_file.empty() ? Flows::load_string(builtin_test_flows_yaml(),
                                                                    "built-in test_flows.yaml")
                                               : Flows::load_file(cfg.flows_file);
  if (!flows) return flows.error();

  auto store = store::SqliteStateStore::open(cfg.data_dir);
  if (!store) return store.error();
  auto data_store = store::SqliteDataStore::open(cfg.data_dir);
  if (!data_store) return data_store.error();

  metrics::Registry registry;
  metrics::register_process_metrics(registry);
  bus::MemoryBus bus;
  if (cfg.exchange_weight_fraction <= 0 || cfg.exchange_weight_fraction > 1)
    return Error(Errc::invalid_argument, "--exchange-weight-fraction must be in (0, 1]");
  // One limiter for the whole process: every loader spends from the same exchange budget.
  exchange::binance::RateLimiterOptions lo;
  lo.fraction = cfg.exchange_weight_fraction;
  exchange::binance::RateLimiter limiter(lo);
  launch::InProcessLauncher launcher(workers::WorkerRegistry::builtin(), bus, &registry,
                                     SystemClock::instance(), data_store->get(), &limiter);
  ManagerOptions mopts = cfg.manager;
  mopts.worker_env["EXCHANGE_URL"] = cfg.exchange_url;
  Manager manager(mopts, bus, **store, launcher, std::move(*flows), &registry);
  SF_TRY(manager.start());

  http::ServerOptions so;
  so.address = cfg.listen_address;
  so.port = cfg.port;
  so.threads = cfg.http_threads;
  so.bearer_token = cfg.api_token;
  http::Server server(so);
  register_api(server, manager, &registry,
               ApiInfo{version, bus.name(), (*store)->describe(), launcher.name()});
  if (auto s = server.start(); !s) {
    manager.shutdown();
    launcher.shutdown();
    return s;
  }
  log::info("queue-manager listening on " + server.base_url() + " (store " + (*store)->describe() +
            ", bus memory, launcher inproc, exchange " + log::redact_url(cfg.exchange_url) +
            (cfg.api_token.empty() ? ", no API token" : ", API token required") + ")");
  std::printf("queue-manager listening on %s\n", server.base_url().c_str());
  std::fflush(stdout);

  while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));

  log::info("shutting down");
  server.stop();
  limiter.close();      // wakes loaders waiting for exchange budget
  launcher.shutdown();  // workers see cancel and send their final events
  manager.shutdown();
  return {};
}

}  // namespace sf::manager
