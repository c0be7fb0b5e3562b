#include "manager/service.h"

#include "artifacts/open.h"

#include <boost/asio/ip/address.hpp>
#include <cstdio>
#include <filesystem>
#include <map>
#include <thread>

#include "base/log.h"
#include "bus/open.h"
#include "exchange/binance/rate_limiter.h"
#include "http/server.h"
#include "launch/inproc/inproc_launcher.h"
#include "launch/kubernetes/kubernetes_launcher.h"
#include "launch/process/process_launcher.h"
#include "launch/process/worker_process.h"
#include "manager/api.h"
#include "manager/read_api.h"
#include "metrics/metrics.h"
#include "store/open.h"
#include "webui/assets.h"
#include "workers/exchange_access.h"
#include "workers/loader.h"

namespace sf::manager {

namespace {

// "cpu=100m,memory=128Mi" as a map; the flag's name in errors.
Result<std::map<std::string, std::string>> quantities(const std::string& text, const char* flag) {
  std::map<std::string, std::string> out;
  size_t at = 0;
  while (at < text.size()) {
    size_t comma = std::min(text.find(',', at), text.size());
    const std::string item = text.substr(at, comma - at);
    const size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size())
      return Error(Errc::invalid_argument,
                   std::string(flag) + " '" + text + "': expected NAME=QUANTITY[,NAME=QUANTITY]",
                   flag + 2);
    out[item.substr(0, eq)] = item.substr(eq + 1);
    at = comma + 1;
  }
  return out;
}

// --launcher kubernetes: credentials, the workers' environment and the Jobs' shape.
Result<std::unique_ptr<launch::Launcher>> open_kubernetes_launcher(const ServiceConfig& cfg) {
  namespace pe = workers::env_names;
  const auto& k = cfg.k8s;
  Result<launch::kube::Credentials> creds =
      k.kubeconfig.empty() ? launch::kube::in_cluster(cfg.env)
                           : launch::kube::load_kubeconfig(k.kubeconfig, k.context);
  if (!creds) return creds.error();
  launch::KubernetesLauncherOptions o;
  o.namespace_ = k.namespace_;
  o.image = k.image;
  if (o.image.empty())
    return Error(Errc::invalid_argument,
                 "--launcher kubernetes needs the worker image: pass --k8s-image IMAGE",
                 "k8s_image");
  o.service_account = k.service_account;
  o.secret = k.secret;
  SF_TRY_ASSIGN(o.requests, quantities(k.requests, "--k8s-requests"));
  SF_TRY_ASSIGN(o.limits, quantities(k.limits, "--k8s-limits"));
  o.job_ttl_s = k.job_ttl_s;
  o.metrics_port = k.metrics_port;
  o.instance = k.instance;
  o.kill_grace = std::chrono::milliseconds(static_cast<int64_t>(cfg.manager.stop_grace_s * 1000));
  // What every worker opens: the same bus and store as this manager, from its pod.
  o.env.set(pe::kBus, cfg.bus);
  o.env.set(pe::kBusPartitions, std::to_string(cfg.bus_partitions));
  o.env.set(pe::kBusReplication, std::to_string(cfg.bus_replication));
  o.env.set(pe::kStore, cfg.store);
  if (!cfg.artifacts.empty()) o.env.set(pe::kArtifacts, cfg.artifacts);
  if (artifacts::is_s3_url(cfg.artifacts))
    for (const char* key :
         {artifacts::kAccessKeyIdVar, artifacts::kSecretAccessKeyVar, artifacts::kSessionTokenVar})
      if (auto v = cfg.env.get(key)) o.env.set(key, *v);  // a secretKeyRef in the Job
  o.env.set(pe::kLogLevel, cfg.log_level);
  o.env.set(pe::kExchangeWeightFraction, std::to_string(cfg.exchange_weight_fraction));
  // A secret goes into a Job only as a reference: refuse now rather than at the first launch.
  if (o.secret.empty())
    for (const auto& [name, value] : o.env.vars())
      if (launch::is_secret_variable(name, value))
        return Error(Errc::invalid_argument,
                     "the workers' " + name +
                         " holds a secret, and Jobs get secrets only by reference: create a "
                         "Secret with the key " +
                         name + " (kubectl create secret generic NAME --from-literal=" + name +
                         "=...) and pass --k8s-secret NAME",
                     "k8s_secret");
  auto l = launch::KubernetesLauncher::open(workers::WorkerRegistry::builtin(), std::move(o),
                                            std::move(*creds));
  if (!l) return l.error();
  log::info("kubernetes launcher: Jobs in namespace " + (*l)->job_namespace() + " (" +
            (k.kubeconfig.empty() ? std::string("in-cluster credentials")
                                  : "kubeconfig " + k.kubeconfig) +
            ")");
  return std::unique_ptr<launch::Launcher>(std::move(*l));
}

}  // namespace

Status run_service(const ServiceConfig& cfg, const std::atomic<bool>& stop,
                   const std::string& version) {
  if (cfg.launcher != "inproc" && cfg.launcher != "process" && cfg.launcher != "kubernetes")
    return Error(Errc::invalid_argument,
                 "launcher '" + cfg.launcher + "' is unknown (use inproc, process or kubernetes)",
                 "launcher");
  if (cfg.launcher != "inproc" && cfg.bus == "memory")
    return Error(Errc::invalid_argument,
                 "--launcher " + cfg.launcher +
                     " needs a bus shared between processes: pass --bus "
                     "kafka://HOST:PORT (the memory bus exists inside one process only)",
                 "bus");
  if (cfg.launcher == "kubernetes") {
    if (cfg.store.empty() || cfg.store == "sqlite")
      return Error(Errc::invalid_argument,
                   "--launcher kubernetes needs a store every pod can reach: pass --store "
                   "postgresql://... or arangodb+http://... (SQLite is a file of this host)",
                   "store");
    if (!cfg.kafka_config.empty())
      return Error(Errc::invalid_argument,
                   "--kafka-config is a file of this host, which worker pods do not have: with "
                   "--launcher kubernetes give Kafka settings in the bus URL's host list only "
                   "(SASL/TLS for Jobs is not supported yet)",
                   "kafka_config");
  }
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

  auto stores = store::open_stores(cfg.store, cfg.data_dir);
  if (!stores) return stores.error();
  // Opened now, so a wrong bucket or key fails the start, not a training hours later.
  auto artifact_store = artifacts::open_artifact_store(cfg.artifacts, cfg.data_dir, cfg.env);
  if (!artifact_store)
    return Error(artifact_store.error().code,
                 "cannot open the artifact store: " + artifact_store.error().message, "artifacts");
  store::StateStore& state_store = *stores->state;
  store::DataStore& data_store = *stores->data;

  if (cfg.exchange_weight_fraction <= 0 || cfg.exchange_weight_fraction > 1)
    return Error(Errc::invalid_argument, "--exchange-weight-fraction must be in (0, 1]");
  auto bus_cfg =
      launch::load_bus_config(cfg.bus, cfg.kafka_config, cfg.bus_partitions, "streamforge-manager");
  if (!bus_cfg) return bus_cfg.error();
  if (cfg.bus_replication < 1 || cfg.bus_replication > 32)
    return Error(Errc::invalid_argument, "--bus-replication must be 1..32", "bus_replication");
  bus_cfg->replication = cfg.bus_replication;
  auto opened = bus::open_bus(*bus_cfg);
  if (!opened)
    return Error(opened.error().code,
                 "cannot open the bus " + log::redact_url(cfg.bus) + ": " + opened.error().message,
                 "bus");
  bus::Bus& bus = **opened;

  metrics::Registry registry;
  metrics::register_process_metrics(registry);
  // One limiter for the whole process: every loader spends from the same exchange budget.
  exchange::binance::RateLimiterOptions lo;
  lo.fraction = cfg.exchange_weight_fraction;
  lo.on_limit_response = workers::limit_response_counter(&registry);
  exchange::binance::RateLimiter limiter(lo);
  std::unique_ptr<launch::Launcher> launcher_ptr;
  if (cfg.launcher == "process") {
    // Each worker opens the same bus and store itself, from these variables.
    namespace pe = workers::env_names;
    launch::ProcessLauncherOptions po;
    std::error_code ec;
    auto data_dir = std::filesystem::absolute(cfg.data_dir, ec);
    po.log_dir = (data_dir / "logs").string();
    po.env.set(pe::kBus, cfg.bus);
    if (!cfg.kafka_config.empty())
      po.env.set(pe::kKafkaConfig, std::filesystem::absolute(cfg.kafka_config, ec).string());
    po.env.set(pe::kBusPartitions, std::to_string(cfg.bus_partitions));
    po.env.set(pe::kBusReplication, std::to_string(cfg.bus_replication));
    po.env.set(pe::kDataDir, data_dir.string());
    if (!cfg.store.empty()) po.env.set(pe::kStore, cfg.store);
    if (!cfg.artifacts.empty()) po.env.set(pe::kArtifacts, cfg.artifacts);
    // The S3 keys reach the workers through their environment only, never a log line.
    if (artifacts::is_s3_url(cfg.artifacts))
      for (const char* k : {artifacts::kAccessKeyIdVar, artifacts::kSecretAccessKeyVar,
                            artifacts::kSessionTokenVar})
        if (auto v = cfg.env.get(k)) po.env.set(k, *v);
    po.env.set(pe::kLogLevel, cfg.log_level);
    // Loader processes spend from one host-wide budget, this share of the exchange's limit,
    // kept in a file of the data dir (RateLimiter::share_through).
    po.env.set(workers::env_names::kExchangeWeightFraction,
               std::to_string(cfg.exchange_weight_fraction));
    {
      const auto run_dir = data_dir / "run";
      std::error_code ec;
      std::filesystem::create_directories(run_dir, ec);
      if (ec)
        return Error(Errc::io_error, "cannot create " + run_dir.string() + ": " + ec.message());
      po.env.set(workers::env_names::kExchangeWeightFile, (run_dir / "exchange-weight").string());
    }
    launcher_ptr = std::make_unique<launch::ProcessLauncher>(workers::WorkerRegistry::builtin(),
                                                             std::move(po));
  } else if (cfg.launcher == "kubernetes") {
    auto k = open_kubernetes_launcher(cfg);
    if (!k) return k.error();
    launcher_ptr = std::move(*k);
  } else {
    launcher_ptr = std::make_unique<launch::InProcessLauncher>(
        workers::WorkerRegistry::builtin(), bus, &registry, SystemClock::instance(), &data_store,
        &limiter, artifact_store->get());
  }
  launch::Launcher& launcher = *launcher_ptr;
  ManagerOptions mopts = cfg.manager;
  mopts.exchange_weight_per_minute =
      static_cast<double>(lo.weight_limit_per_minute) * cfg.exchange_weight_fraction;
  if (mopts.max_records < 0)
    return Error(Errc::invalid_argument, "--max-records must be 0 (no limit) or more");
  mopts.worker_env[workers::env_names::kExchangeUrl] = cfg.exchange_url;
  if (!cfg.exchange_ws_url.empty())
    mopts.worker_env[workers::env_names::kExchangeWsUrl] = cfg.exchange_ws_url;
  Manager manager(mopts, bus, state_store, launcher, std::move(*flows), &registry);
  manager.set_data_store(&data_store);
  SF_TRY(manager.start());

  http::ServerOptions so;
  so.address = cfg.listen_address;
  so.port = cfg.port;
  so.threads = cfg.http_threads;
  so.bearer_token = cfg.api_token;
  http::Server server(so);
  register_api(server, manager, &registry,
               ApiInfo{version, bus.name(), state_store.describe(), launcher.name()});
  register_read_api(server, &data_store, artifact_store->get());
  // The web UI's files: public, as a browser fetches the page before it can hold a token.
  for (const webui::Asset& a : webui::assets()) {
    server.public_get(a.path, [&a](const http::Request&) {
      http::Response r;
      r.content_type = std::string(a.content_type);
      r.body = std::string(a.body);
      r.headers.emplace_back("Cache-Control", "no-cache");
      return r;
    });
  }
  if (auto s = server.start(); !s) {
    manager.shutdown();
    launcher.shutdown();
    return s;
  }
  log::info("queue-manager listening on " + server.base_url() + " (store " +
            state_store.describe() + ", bus " + log::redact_url(cfg.bus) +
            (cfg.kafka_config.empty() ? "" : " with " + cfg.kafka_config) + ", launcher " +
            launcher.name() + ", exchange " + log::redact_url(cfg.exchange_url) +
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
