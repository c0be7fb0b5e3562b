#include "launch/process/worker_process.h"

#include <fstream>
#include <sstream>

#include "artifacts/open.h"
#include "base/log.h"
#include "http/server.h"
#include "metrics/metrics.h"
#include "store/open.h"
#include "workers/profile.h"

namespace sf::launch {

namespace {

constexpr size_t kMaxPropertiesBytes = 1 << 20;

// Logs and returns `code`.
int fail(int code, const std::string& message, const std::string& queue_id) {
  log::error(message, queue_id);
  return code;
}

}  // namespace

Result<bus::BusConfig> load_bus_config(const std::string& url, const std::string& kafka_config_file,
                                       int32_t default_partitions, const std::string& client_id) {
  bus::BusConfig cfg;
  cfg.url = url;
  cfg.default_partitions = default_partitions;
  cfg.client_id = client_id;
  if (default_partitions < 1)
    return Error(Errc::invalid_argument, "bus partitions must be at least 1", "bus_partitions");
  if (!kafka_config_file.empty()) {
    std::ifstream in(kafka_config_file, std::ios::binary);
    if (!in)
      return Error(Errc::invalid_argument, "cannot read Kafka config " + kafka_config_file,
                   "kafka_config");
    std::string text(kMaxPropertiesBytes + 1, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxPropertiesBytes)
      return Error(Errc::invalid_argument, "Kafka config " + kafka_config_file + " is over 1 MiB",
                   "kafka_config");
    auto props = bus::parse_kafka_properties(text);
    if (!props)
      return Error(Errc::invalid_argument,
                   "Kafka config " + kafka_config_file + ": " + props.error().message,
                   "kafka_config");
    cfg.kafka_properties = std::move(*props);
  }
  return cfg;
}

Result<std::unique_ptr<store::DataStore>> open_data_store(const Env& env) {
  const std::string url = env.get_or(workers::env_names::kStore, "");
  auto dir = env.get(workers::env_names::kDataDir);
  auto backend = store::store_backend(url);
  if (!backend) return backend.error();
  // SQLite needs the data directory; without one this worker has no store.
  if (*backend == store::StoreBackend::sqlite && (!dir || dir->empty()))
    return std::unique_ptr<store::DataStore>();
  return store::open_data_store(url, dir.value_or(""));
}

int run_worker_process(const std::string& target, const Env& env_in,
                       const workers::WorkerRegistry& registry,
                       std::shared_ptr<std::atomic<bool>> cancel) {
  using workers::kExitBadConfig;
  using workers::kExitError;
  Env env = env_in;
  if (auto at = env.get_int(workers::env_names::kLaunchedAtUs, 0); at && *at > 0)
    workers::profile::set_origin_us(*at);
  workers::profile::mark("main");
  log::set_service(target);
  const std::string queue_id = env.get_or(workers::env_names::kQueueId, "");
  if (auto lvl_name = env.get(workers::env_names::kLogLevel)) {
    log::Level lvl;
    if (!log::parse_level(*lvl_name, &lvl))
      return fail(kExitBadConfig,
                  std::string(workers::env_names::kLogLevel) + " '" + *lvl_name +
                      "' is not debug, info, warn or error",
                  queue_id);
    log::set_level(lvl);
  }
  const workers::WorkerFn* fn = registry.find(target);
  if (!fn) {
    std::string known;
    for (const auto& t : registry.targets()) known += (known.empty() ? "" : ", ") + t;
    return fail(kExitBadConfig, "unknown worker role '" + target + "' (known: " + known + ")",
                queue_id);
  }
  // The role comes from the command line; TARGET may repeat it but not contradict it.
  if (auto t = env.get(workers::env_names::kTarget); !t)
    env.set(workers::env_names::kTarget, target);
  else if (*t != target)
    return fail(kExitBadConfig, "TARGET '" + *t + "' does not match the role '" + target + "'",
                queue_id);

  std::string url = env.get_or(workers::env_names::kBus, "");
  if (url.empty())
    return fail(kExitBadConfig,
                std::string(workers::env_names::kBus) +
                    " is not set: give the manager's bus, e.g. kafka://127.0.0.1:9092",
                queue_id);
  if (url == "memory")
    return fail(kExitBadConfig,
                std::string(workers::env_names::kBus) +
                    "=memory cannot be shared between processes: a worker process needs the "
                    "manager's Kafka bus (kafka://HOST:PORT); with the memory bus, workers run "
                    "inside `streamforge up`",
                queue_id);
  auto partitions = env.get_int(workers::env_names::kBusPartitions, 1);
  if (!partitions) return fail(kExitBadConfig, partitions.error().message, queue_id);
  if (*partitions < 1 || *partitions > 10000)
    return fail(kExitBadConfig,
                std::string(workers::env_names::kBusPartitions) + " must be 1..10000", queue_id);
  auto bus_cfg = load_bus_config(url, env.get_or(workers::env_names::kKafkaConfig, ""),
                                 static_cast<int32_t>(*partitions), "streamforge-" + target);
  if (!bus_cfg) return fail(kExitBadConfig, bus_cfg.error().message, queue_id);
  auto replication = env.get_int(workers::env_names::kBusReplication, 1);
  if (!replication) return fail(kExitBadConfig, replication.error().message, queue_id);
  if (*replication < 1 || *replication > 32)
    return fail(kExitBadConfig, std::string(workers::env_names::kBusReplication) + " must be 1..32",
                queue_id);
  bus_cfg->replication = static_cast<int16_t>(*replication);

  auto port = env.get_int(workers::env_names::kMetricsPort, 0);
  if (!port) return fail(kExitBadConfig, port.error().message, queue_id);
  if (*port < 0 || *port > 65535)
    return fail(kExitBadConfig, std::string(workers::env_names::kMetricsPort) + " must be 0..65535",
                queue_id);

  auto bus = bus::open_bus(*bus_cfg);
  if (!bus)
    return fail(bus.error().code == Errc::invalid_argument ? kExitBadConfig : kExitError,
                "cannot open the bus " + log::redact_url(url) + ": " + bus.error().message,
                queue_id);
  workers::profile::mark("bus_open");
  auto data_store = open_data_store(env);
  if (!data_store)
    return fail(kExitError, "cannot open the data store: " + data_store.error().message, queue_id);
  // Only the roles that keep artifacts open the store (an S3 one checks its bucket).
  std::unique_ptr<artifacts::ArtifactStore> artifact_store;
  if (target == "gnn-trainer") {
    auto a = artifacts::open_artifact_store(env.get_or(workers::env_names::kArtifacts, ""),
                                            env.get_or(workers::env_names::kDataDir, "data"), env);
    if (!a)
      return fail(kExitError, "cannot open the artifact store: " + a.error().message, queue_id);
    artifact_store = std::move(*a);
  }

  metrics::Registry metrics;
  metrics::register_process_metrics(metrics);
  http::ServerOptions so;
  so.address = env.get_or(workers::env_names::kMetricsListen, "127.0.0.1");
  so.port = static_cast<uint16_t>(*port);
  http::Server server(so);
  server.route("GET", "/metrics", [&metrics](const http::Request&) {
    return http::Response::text(200, metrics.expose(), "text/plain; version=0.0.4; charset=utf-8");
  });
  if (auto s = server.start(); !s)
    return fail(kExitError,
                "cannot serve metrics on " + so.address + ":" + std::to_string(*port) + ": " +
                    s.error().message,
                queue_id);
  workers::profile::mark("store_open");
  log::info("worker " + target + " " + env.get_or(workers::env_names::kTelemetryId, "") +
                " running (bus " + log::redact_url(url) + ", store " +
                (*data_store ? (*data_store)->describe() : std::string("none")) + ", metrics " +
                server.base_url() + "/metrics)",
            queue_id);

  workers::WorkerContext ctx;
  ctx.env = env;
  ctx.bus = bus->get();
  ctx.metrics = &metrics;
  ctx.data_store = data_store->get();
  ctx.artifacts = artifact_store.get();
  ctx.cancel = std::move(cancel);
  int code = kExitError;
  try {
    code = (*fn)(ctx);
  } catch (const std::exception& e) {
    code = 70;
    log::error(std::string("worker threw: ") + e.what(), queue_id);
  }
  server.stop();
  bus->reset();  // flushes what is still queued (the worker flushed its own producers)
  workers::profile::mark("exit");
  // Where the time went (docs/benchmarks.md): read by the pipeline benchmark.
  log::info("worker " + target + " profile: " + workers::profile::cpu_summary() + "; " +
                workers::profile::summary(),
            queue_id);
  log::info("worker " + target + " exits with status " + std::to_string(code), queue_id);
  return code;
}

}  // namespace sf::launch
