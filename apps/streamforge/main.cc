// streamforge: the single executable. Parses flags (each also readable from an SF_*
// environment variable), then hands over to the libraries. No logic lives here.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <functional>
#include <memory>
#include <thread>

#include "base/clock.h"
#include "base/env.h"
#include "base/log.h"
#include "cli/cli.h"
#include "exchange/sim/server.h"
#include "launch/process/worker_process.h"
#include "manager/service.h"
#include "market/schema.h"

namespace {

constexpr const char* kVersion = "0.1.0";

// SIGINT/SIGTERM set this; the service polls it.
std::atomic<bool> g_stop{false};

// The first SIGINT/SIGTERM calls `on_signal` (default: set g_stop).
void start_signal_thread(std::function<void()> on_signal = [] { g_stop = true; }) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // inherited by every thread created after this
  std::thread([set, on_signal] {
    int sig = 0;
    sigwait(&set, &sig);
    on_signal();
  }).detach();
}

void add_client_options(CLI::App* cmd, sf::cli::ClientOptions& o) {
  cmd->add_option("--url", o.url, "queue-manager base URL")
      ->envname("SF_URL")
      ->capture_default_str();
  cmd->add_option("--token", o.token, "API bearer token")->envname("SF_API_TOKEN");
  cmd->add_flag("--json", o.json, "print the server's JSON instead of a table")->envname("SF_JSON");
}

void add_service_options(CLI::App* cmd, sf::manager::ServiceConfig& c, std::string& log_level) {
  cmd->add_option("--port", c.port, "port to listen on (0: any free port)")
      ->envname("SF_PORT")
      ->capture_default_str();
  cmd->add_option("--listen", c.listen_address, "address to listen on")
      ->envname("SF_LISTEN")
      ->capture_default_str();
  cmd->add_option("--data-dir", c.data_dir, "directory of the SQLite store (streamforge.db)")
      ->envname(sf::workers::env_names::kDataDir)
      ->capture_default_str();
  cmd->add_option("--store", c.store,
                  "where queue state and market data live: sqlite (default: <data-dir>/"
                  "streamforge.db), postgresql://USER:PASSWORD@HOST:PORT/DB[?schema=NAME] or "
                  "arangodb+http[s]://USER:PASSWORD@HOST[:8529][/DB][?auth=jwt...]")
      ->envname(sf::workers::env_names::kStore);
  cmd->add_option("--artifacts", c.artifacts,
                  "where trained models and their metrics go: <data-dir>/artifacts (default), "
                  "file:PATH, or s3://BUCKET[/PREFIX]?endpoint=URL[&region=R] with the keys in "
                  "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
      ->envname(sf::workers::env_names::kArtifacts);
  cmd->add_option("--flows", c.flows_file,
                  "test flows YAML file (default: the built-in copy of config/test_flows.yaml)")
      ->envname("SF_FLOWS_FILE");
  cmd->add_option("--token", c.api_token, "require this bearer token on every API call but /health")
      ->envname("SF_API_TOKEN");
  cmd->add_option("--bus", c.bus,
                  "message bus: memory (inside this process) or kafka://HOST:PORT[,HOST:PORT]")
      ->envname(sf::workers::env_names::kBus)
      ->capture_default_str();
  cmd->add_option("--kafka-config", c.kafka_config,
                  "librdkafka properties file (key=value lines: SASL, TLS, tuning) for the "
                  "manager and its worker processes")
      ->envname(sf::workers::env_names::kKafkaConfig);
  cmd->add_option("--bus-partitions", c.bus_partitions,
                  "partitions of topics the bus creates on demand (a workflow's data topic "
                  "always has one)")
      ->envname("SF_BUS_PARTITIONS")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  cmd->add_option("--bus-replication", c.bus_replication,
                  "replication factor of every Kafka topic the platform creates (queue-control, "
                  "queue-events, data and dead-letter topics); at most the number of brokers")
      ->envname("SF_BUS_REPLICATION")
      ->check(CLI::Range(1, 32))
      ->capture_default_str();
  cmd->add_option("--exchange-url", c.exchange_url,
                  "exchange REST base URL: live https://api.binance.com, "
                  "https://data-api.binance.vision, testnet, or a simulator (streamforge sim)")
      ->envname("SF_EXCHANGE_URL")
      ->capture_default_str();
  cmd->add_option("--exchange-ws-url", c.exchange_ws_url,
                  "exchange WebSocket stream server for the live loaders (loader-ws-*): "
                  "wss://stream.binance.com:9443 or wss://data-stream.binance.vision; default: "
                  "derived from --exchange-url (Binance's stream server for api.binance.com, "
                  "else the same host with ws:// or wss://, as the simulator serves both)")
      ->envname("SF_EXCHANGE_WS_URL");
  cmd->add_option("--exchange-weight-fraction", c.exchange_weight_fraction,
                  "share of the exchange's request-weight limit loaders may use")
      ->envname("SF_EXCHANGE_WEIGHT_FRACTION")
      ->capture_default_str();
  cmd->add_option("--launcher", c.launcher,
                  "worker launcher: inproc (threads of this process), process (each worker "
                  "its own `streamforge worker` process, logs in <data-dir>/logs; needs a "
                  "Kafka bus) or kubernetes (each worker a Job running `streamforge worker` "
                  "from --k8s-image; needs Kafka and a PostgreSQL or ArangoDB store; "
                  "docs/deploy.md)")
      ->envname("SF_LAUNCHER")
      ->capture_default_str();
  auto& k = c.k8s;
  const char* kK8s = "Kubernetes launcher";
  cmd->add_option("--k8s-kubeconfig", k.kubeconfig,
                  "kubeconfig file (token users only); default: the pod's own service account")
      ->envname("SF_K8S_KUBECONFIG")
      ->group(kK8s);
  cmd->add_option("--k8s-context", k.context, "context of the kubeconfig (default: its current)")
      ->envname("SF_K8S_CONTEXT")
      ->group(kK8s);
  cmd->add_option("--k8s-namespace", k.namespace_,
                  "namespace of the worker Jobs (default: the context's or the pod's)")
      ->envname("SF_K8S_NAMESPACE")
      ->group(kK8s);
  cmd->add_option("--k8s-image", k.image,
                  "worker image, running `streamforge worker TARGET` (a start request's "
                  "`image` wins)")
      ->envname("SF_K8S_IMAGE")
      ->group(kK8s);
  cmd->add_option("--k8s-service-account", k.service_account,
                  "service account of the workers' pods (they need no API rights)")
      ->envname("SF_K8S_SERVICE_ACCOUNT")
      ->group(kK8s);
  cmd->add_option("--k8s-secret", k.secret,
                  "Secret whose keys hold the workers' secret variables by name (SF_STORE with "
                  "a password, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY): Jobs reference them, "
                  "never carry them")
      ->envname("SF_K8S_SECRET")
      ->group(kK8s);
  cmd->add_option("--k8s-requests", k.requests,
                  "worker resource requests, e.g. cpu=100m,memory=128Mi")
      ->envname("SF_K8S_REQUESTS")
      ->group(kK8s);
  cmd->add_option("--k8s-limits", k.limits, "worker resource limits, e.g. cpu=1,memory=1Gi")
      ->envname("SF_K8S_LIMITS")
      ->group(kK8s);
  cmd->add_option("--k8s-job-ttl", k.job_ttl_s,
                  "seconds a finished Job is kept (ttlSecondsAfterFinished)")
      ->envname("SF_K8S_JOB_TTL")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str()
      ->group(kK8s);
  cmd->add_option("--k8s-metrics-port", k.metrics_port,
                  "port of each worker pod's /metrics, announced to Prometheus by annotations "
                  "(0: a free port, not announced)")
      ->envname("SF_K8S_METRICS_PORT")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str()
      ->group(kK8s);
  cmd->add_option("--k8s-instance", k.instance,
                  "label value of this manager's Jobs; a restarted manager follows the Jobs "
                  "with its instance label (managers sharing a namespace need their own)")
      ->envname("SF_K8S_INSTANCE")
      ->capture_default_str()
      ->group(kK8s);
  cmd->add_option("--control-topic", c.manager.control_topic,
                  "topic of the commands to workers (managers sharing a Kafka cluster need "
                  "their own)")
      ->envname("SF_CONTROL_TOPIC")
      ->capture_default_str();
  cmd->add_option("--events-topic", c.manager.events_topic, "topic of the workers' telemetry")
      ->envname("SF_EVENTS_TOPIC")
      ->capture_default_str();
  cmd->add_option("--consumer-group", c.manager.consumer_group,
                  "consumer group the manager reads the events topic with")
      ->envname("SF_CONSUMER_GROUP")
      ->capture_default_str();
  cmd->add_option("--heartbeat-timeout", c.manager.heartbeat_timeout_s,
                  "seconds without an event before a running target is marked lost")
      ->envname("SF_HEARTBEAT_TIMEOUT_S")
      ->capture_default_str();
  cmd->add_option("--max-records", c.manager.max_records,
                  "refuse (422) a start whose loaders would fetch more records than this, as "
                  "far as known before they run (candles: the range's count); 0 = no limit")
      ->envname("SF_MAX_RECORDS")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--stop-grace", c.manager.stop_grace_s,
                  "seconds a stopped target gets to confirm before it is killed")
      ->envname("SF_STOP_GRACE_S")
      ->capture_default_str();
  cmd->add_option("--log-level", log_level, "debug, info, warn or error")
      ->envname(sf::workers::env_names::kLogLevel)
      ->capture_default_str();
}

int run_service(sf::manager::ServiceConfig cfg, const std::string& log_level, const char* service) {
  sf::log::set_service(service);
  sf::log::Level lvl;
  if (!sf::log::parse_level(log_level, &lvl)) {
    std::fprintf(stderr, "error: --log-level '%s' is not debug, info, warn or error\n",
                 log_level.c_str());
    return 2;
  }
  sf::log::set_level(lvl);
  cfg.log_level = log_level;
  cfg.env = sf::Env::from_process();
  start_signal_thread();
  auto s = sf::manager::run_service(cfg, g_stop, kVersion);
  if (!s) {
    sf::log::error(s.error().message);
    std::fprintf(stderr, "error: %s\n", s.error().message.c_str());
    return 1;
  }
  return 0;
}

// `streamforge worker <target>`: one worker role as this process, configured by the
// environment (src/launch/process/worker_process.h).
int run_worker(const std::string& target) {
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  start_signal_thread([cancel] { *cancel = true; });
  return sf::launch::run_worker_process(target, sf::Env::from_process(),
                                        sf::workers::WorkerRegistry::builtin(), cancel);
}

// `streamforge sim`: serves until SIGINT/SIGTERM. speed: simulated time per real time.
int run_sim(sf::exchange::sim::SimOptions opts, const std::string& symbols, double speed) {
  sf::log::set_service("exchange-sim");
  std::unique_ptr<sf::ScaledClock> scaled;
  if (speed != 1) {
    try {
      scaled = std::make_unique<sf::ScaledClock>(speed);
    } catch (const std::invalid_argument&) {
      std::fprintf(stderr, "error: --speed must be a number above 0\n");
      return 2;
    }
    opts.clock = scaled.get();                       // the market's time runs fast
    opts.real_clock = &sf::SystemClock::instance();  // limits and faults stay real
  }
  for (size_t pos = 0; pos < symbols.size();) {
    size_t comma = std::min(symbols.find(',', pos), symbols.size());
    if (comma > pos) opts.symbols.push_back(symbols.substr(pos, comma - pos));
    pos = comma + 1;
  }
  std::unique_ptr<sf::exchange::sim::SimServer> sim;
  try {
    sim = std::make_unique<sf::exchange::sim::SimServer>(std::move(opts));
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
  start_signal_thread();
  if (auto st = sim->start(); !st) {
    std::fprintf(stderr, "error: %s\n", st.error().message.c_str());
    return 1;
  }
  std::printf("exchange simulator listening on %s\n", sim->base_url().c_str());
  std::fflush(stdout);
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  sim->stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "StreamForge: collect crypto market data through a message bus into a database.\n"
      "Start the all-in-one manager with `streamforge up`, then drive it with the client\n"
      "commands (start, ls, status, stop, watch). Every option can also be set through the\n"
      "environment variable shown next to it."};
  app.require_subcommand(1);
  app.set_version_flag("--version", kVersion);

  sf::manager::ServiceConfig up_cfg;
  std::string log_level = "info";
  auto* up = app.add_subcommand("up",
                                "run the all-in-one manager on 127.0.0.1 (by default memory "
                                "bus, SQLite store, in-process workers; --bus kafka://... "
                                "--launcher process for workers as processes)");
  add_service_options(up, up_cfg, log_level);

  sf::manager::ServiceConfig qm_cfg;
  auto* qm = app.add_subcommand("queue-manager",
                                "run the queue-manager service (configured by flags or SF_* "
                                "environment variables)");
  add_service_options(qm, qm_cfg, log_level);

  std::string worker_target;
  auto* worker = app.add_subcommand("worker",
                                    "run one worker as its own process (configured by "
                                    "environment variables, as a Kubernetes Job)");
  worker->add_option("target", worker_target, "the worker role, e.g. dummy-service")->required();
  worker->footer(
      "The manager's process launcher (`--launcher process`) runs this for every target; to\n"
      "run one by hand, give it the variables the launcher would (docs/workers.md):\n"
      "  QUEUE_ID, TELEMETRY_ID, SYMBOL, TYPE, TIME_RANGE, KAFKA_TOPIC, COLLECTION_NAME,\n"
      "  CONTROL_OFFSET, TARGET_PARAMS, START_TIMEOUT_S   the worker's own configuration\n"
      "  SF_BUS             bus URL, kafka://HOST:PORT (memory is refused: it cannot be\n"
      "                     shared between processes)\n"
      "  SF_KAFKA_CONFIG    librdkafka properties file (optional)\n"
      "  SF_BUS_PARTITIONS  partitions of topics created on demand (default 1)\n"
      "  SF_DATA_DIR        data store directory (SQLite streamforge.db); unset: none\n"
      "  EXCHANGE_URL       exchange REST base URL for loaders\n"
      "  EXCHANGE_WS_URL    exchange stream server for live loaders (default: from\n"
      "                     EXCHANGE_URL)\n"
      "  METRICS_PORT       Prometheus /metrics port (default 0: a free port, logged)\n"
      "  METRICS_LISTEN     /metrics address (default 127.0.0.1)\n"
      "  SF_LOG_LEVEL       debug, info, warn or error\n"
      "The worker waits for its `start` command on queue-control, works, sends its final\n"
      "event, and exits 0 finished, 1 error, 2 interrupted (SIGTERM/SIGINT), 3 bad\n"
      "configuration.");

  sf::cli::ClientOptions co;
  std::string flow, symbol, range, file;
  std::vector<std::string> params;
  bool watch_after = false;
  auto* start = app.add_subcommand("start", "start a workflow from a test flow or a JSON body");
  add_client_options(start, co);
  auto* flow_opt = start->add_option("--flow", flow, "test flow name (see `streamforge flows`)")
                       ->envname("SF_FLOW");
  start->add_option("--symbol", symbol, "symbol, e.g. BTCUSDT")->envname("SF_SYMBOL");
  start->add_option("--range", range, "time range A:B, e.g. 2024-08-01:2024-08-02")
      ->needs(flow_opt);
  start->add_option("--param", params, "extra flow parameter NAME=VALUE (repeatable)")
      ->needs(flow_opt);
  auto* file_opt =
      start->add_option("-f,--file", file, "POST /queues/start body (JSON file, - for stdin)");
  flow_opt->excludes(file_opt);
  start->add_flag("-w,--watch", watch_after, "watch the queue until it ends")->envname("SF_WATCH");

  std::string status_filter;
  auto* ls = app.add_subcommand("ls", "list queues");
  add_client_options(ls, co);
  ls->add_option("--status", status_filter, "only queues with this status")->envname("SF_STATUS");

  std::string queue_id;
  auto* status = app.add_subcommand("status", "show a queue, its targets and their progress");
  add_client_options(status, co);
  status->add_option("queue_id", queue_id)->required();
  auto* stop = app.add_subcommand("stop", "stop a queue");
  add_client_options(stop, co);
  stop->add_option("queue_id", queue_id)->required();
  bool watch_repair = false;
  auto* repair = app.add_subcommand(
      "repair",
      "load what the store lacks of an ended queue (candles by open time, trades and "
      "aggregate trades by id) and only that; says so when nothing is missing (POST "
      "/queues/{id}/repair, docs/api.md)");
  add_client_options(repair, co);
  repair->add_option("queue_id", queue_id)->required();
  repair->add_flag("-w,--watch", watch_repair, "watch the repair until it ends");
  auto* watch = app.add_subcommand(
      "watch",
      "live progress per target until the queue ends (exit 0 finished, 1 error, 2 interrupted)");
  add_client_options(watch, co);
  watch->add_option("queue_id", queue_id)->required();
  auto* flows = app.add_subcommand("flows", "list the manager's test flows");
  add_client_options(flows, co);

  sf::exchange::sim::SimOptions sim_opts;
  std::string sim_symbols;
  bool sim_no_limits = false;
  auto* sim = app.add_subcommand(
      "sim",
      "run the exchange simulator: the Binance spot REST API and WebSocket market streams on "
      "127.0.0.1, served from deterministic synthetic markets, with rate limits and fault "
      "knobs");
  sim->add_option("--port", sim_opts.port, "port to listen on (0: any free port)")
      ->envname("SF_SIM_PORT")
      ->capture_default_str();
  sim->add_option("--seed", sim_opts.seed, "market seed: same seed, same data")
      ->envname("SF_SIM_SEED")
      ->capture_default_str();
  sim->add_flag("--no-limits", sim_no_limits, "never answer 429/418 for weight (benchmarks)")
      ->envname("SF_SIM_NO_LIMITS");
  sim->add_option("--weight-limit", sim_opts.weight_limit, "REQUEST_WEIGHT per minute per IP")
      ->envname("SF_SIM_WEIGHT_LIMIT")
      ->capture_default_str();
  sim->add_option("--error-rate-5xx", sim_opts.faults.error_rate_5xx,
                  "share of requests answered 500/502/503/504")
      ->envname("SF_SIM_ERROR_RATE_5XX");
  sim->add_option("--error-rate-429", sim_opts.faults.error_rate_429,
                  "share of requests answered 429 (Retry-After: 1)")
      ->envname("SF_SIM_ERROR_RATE_429");
  sim->add_option("--latency-ms", sim_opts.faults.latency_ms, "delay added to every response")
      ->envname("SF_SIM_LATENCY_MS");
  sim->add_option("--malformed-rate", sim_opts.faults.malformed_rate,
                  "share of 200 bodies truncated or with a wrong-typed field")
      ->envname("SF_SIM_MALFORMED_RATE");
  sim->add_option("--symbols", sim_symbols,
                  "extra symbols, comma-separated (BTCUSDT ETHUSDT SOLUSDT BNBUSDT XRPUSDT "
                  "always exist)")
      ->envname("SF_SIM_SYMBOLS");
  sim->add_option("--extra-trades-per-sec", sim_opts.extra_trades_per_sec,
                  "trades a second of each extra symbol (--symbols)")
      ->envname("SF_SIM_EXTRA_TRADES_PER_SEC")
      ->check(CLI::Range(int64_t{1}, int64_t{100'000}))
      ->capture_default_str();
  size_t sim_kline_cache_mb = 0;
  sim->add_option("--kline-cache-mb", sim_kline_cache_mb,
                  "keep kline answers no later time can change (closed candles from a "
                  "startTime) up to this many MB and answer the same request again from memory "
                  "(benchmarks: the exchange's side then costs little, as a remote one would)")
      ->envname("SF_SIM_KLINE_CACHE_MB")
      ->check(CLI::Range(size_t{0}, size_t{1} << 20))
      ->capture_default_str();
  sim->add_option("--threads", sim_opts.threads, "server threads")
      ->envname("SF_SIM_THREADS")
      ->capture_default_str();
  double sim_speed = 1;
  sim->add_option("--speed", sim_speed,
                  "simulated time per real time, from now (60: a simulated minute per real "
                  "second); the market, klines, depth ticks and a connection's maximum age "
                  "follow it, rate limits, pings and the ws fault timings stay real")
      ->envname("SF_SIM_SPEED")
      ->capture_default_str();
  auto& ws = sim_opts.faults.ws;
  sim->add_option("--ws-max-age-ms", sim_opts.ws_max_age_ms,
                  "WebSocket connections are closed at this age (simulated time)")
      ->envname("SF_SIM_WS_MAX_AGE_MS")
      ->capture_default_str();
  sim->add_option("--ws-pump-ms", sim_opts.ws_pump_interval_ms,
                  "the streams send what happened this often (real time): at most this long "
                  "between an event and its message")
      ->envname("SF_SIM_WS_PUMP_MS")
      ->check(CLI::Range(int64_t{1}, int64_t{1000}))
      ->capture_default_str();
  sim->add_option("--ws-ping-interval-ms", sim_opts.ws_ping_interval_ms,
                  "a WebSocket ping this often (real time)")
      ->envname("SF_SIM_WS_PING_INTERVAL_MS")
      ->capture_default_str();
  sim->add_option("--ws-pong-timeout-ms", sim_opts.ws_pong_timeout_ms,
                  "close a connection that leaves a ping unanswered this long (0: never)")
      ->envname("SF_SIM_WS_PONG_TIMEOUT_MS")
      ->capture_default_str();
  sim->add_option("--ws-disconnect-mean-ms", ws.disconnect_mean_ms,
                  "fault: drop each WebSocket connection (TCP close, no close frame) at "
                  "random, this mean interval apart (0: never)")
      ->envname("SF_SIM_WS_DISCONNECT_MEAN_MS")
      ->capture_default_str();
  sim->add_option("--ws-stall-mean-ms", ws.stall_mean_ms,
                  "fault: stall each connection (nothing sent, no pings) at random, this mean "
                  "interval apart (0: never)")
      ->envname("SF_SIM_WS_STALL_MEAN_MS")
      ->capture_default_str();
  sim->add_option("--ws-stall-ms", ws.stall_ms, "how long a stall lasts (real time)")
      ->envname("SF_SIM_WS_STALL_MS")
      ->capture_default_str();
  sim->add_option("--ws-depth-skip-rate", ws.depth_skip_rate,
                  "fault: share of @depth diff events dropped from a connection (the client "
                  "sees U != previous u + 1)")
      ->envname("SF_SIM_WS_DEPTH_SKIP_RATE")
      ->capture_default_str();
  sim->add_option("--ws-malformed-rate", ws.malformed_rate,
                  "fault: share of stream event frames truncated or with a wrong-typed field")
      ->envname("SF_SIM_WS_MALFORMED_RATE")
      ->capture_default_str();
  sim->add_option("--ws-shutdown-mean-ms", ws.shutdown_mean_ms,
                  "fault: a serverShutdown event on each connection at random, this mean "
                  "interval apart (0: never)")
      ->envname("SF_SIM_WS_SHUTDOWN_MEAN_MS")
      ->capture_default_str();
  sim->add_option("--ws-shutdown-grace-ms", ws.shutdown_grace_ms,
                  "the connection is closed this long after its serverShutdown event")
      ->envname("SF_SIM_WS_SHUTDOWN_GRACE_MS")
      ->capture_default_str();

  bool schema_markdown = false;
  auto* schema = app.add_subcommand(
      "schema", "print the record kinds' fields (docs/data.md's tables come from this)");
  schema->add_flag("--markdown", schema_markdown, "as Markdown tables (the only format)")
      ->required();

  auto dispatch_commands = [&]() -> int {
    if (*schema) {
      std::fputs(sf::market::schema_markdown().c_str(), stdout);
      return 0;
    }
    if (*sim) {
      sim_opts.limits = !sim_no_limits;
      sim_opts.kline_cache_bytes = sim_kline_cache_mb << 20;
      return run_sim(std::move(sim_opts), sim_symbols, sim_speed);
    }
    if (*up) return run_service(up_cfg, log_level, "queue-manager");
    if (*qm) return run_service(qm_cfg, log_level, "queue-manager");
    if (*worker) return run_worker(worker_target);
    if (*start) {
      if (!flow.empty()) {
        if (symbol.empty() || range.empty()) {
          std::fprintf(stderr, "error: --flow needs --symbol and --range\n");
          return 2;
        }
        return sf::cli::start_flow(co, flow, symbol, range, params, watch_after);
      }
      if (!file.empty()) return sf::cli::start_file(co, file, watch_after);
      std::fprintf(stderr, "error: give --flow NAME --symbol S --range A:B, or -f body.json\n");
      return 2;
    }
    if (*ls) return sf::cli::list(co, status_filter);
    if (*status) return sf::cli::status(co, queue_id);
    if (*stop) return sf::cli::stop(co, queue_id);
    if (*repair) return sf::cli::repair(co, queue_id, watch_repair);
    if (*watch) return sf::cli::watch(co, queue_id);
    if (*flows) return sf::cli::flows(co);
    return 0;
  };

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; a bad command line exits 2, as every other usage error.
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  try {
    return dispatch_commands();
  } catch (const std::exception& e) {
    // A bug or a server answering with an unexpected shape: say so, don't abort.
    std::fprintf(stderr, "error: %s\n", e.what());
    return sf::cli::kRequestRefused;
  }
}
