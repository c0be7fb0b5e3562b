// streamforge: the single executable. Parses flags (each also readable from an SF_*
// environment variable), then hands over to the libraries. No logic lives here.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <thread>

#include "base/env.h"
#include "base/log.h"
#include "cli/cli.h"
#include "manager/service.h"

namespace {

constexpr const char* kVersion = "0.1.0";

// SIGINT/SIGTERM set this; the service polls it.
std::atomic<bool> g_stop{false};

void start_signal_thread() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // inherited by every thread created after this
  std::thread([set] {
    int sig = 0;
    sigwait(&set, &sig);
    g_stop = true;
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
      ->envname("SF_DATA_DIR")
      ->capture_default_str();
  cmd->add_option("--flows", c.flows_file,
                  "test flows YAML file (default: the built-in copy of config/test_flows.yaml)")
      ->envname("SF_FLOWS_FILE");
  cmd->add_option("--token", c.api_token, "require this bearer token on every API call but /health")
      ->envname("SF_API_TOKEN");
  cmd->add_option("--bus", c.bus, "message bus: memory")->envname("SF_BUS")->capture_default_str();
  cmd->add_option("--launcher", c.launcher, "worker launcher: inproc")
      ->envname("SF_LAUNCHER")
      ->capture_default_str();
  cmd->add_option("--heartbeat-timeout", c.manager.heartbeat_timeout_s,
                  "seconds without an event before a running target is marked lost")
      ->envname("SF_HEARTBEAT_TIMEOUT_S")
      ->capture_default_str();
  cmd->add_option("--stop-grace", c.manager.stop_grace_s,
                  "seconds a stopped target gets to confirm before it is killed")
      ->envname("SF_STOP_GRACE_S")
      ->capture_default_str();
  cmd->add_option("--log-level", log_level, "debug, info, warn or error")
      ->envname("SF_LOG_LEVEL")
      ->capture_default_str();
}

int run_service(const sf::manager::ServiceConfig& cfg, const std::string& log_level,
                const char* service) {
  sf::log::set_service(service);
  sf::log::Level lvl;
  if (!sf::log::parse_level(log_level, &lvl)) {
    std::fprintf(stderr, "error: --log-level '%s' is not debug, info, warn or error\n",
                 log_level.c_str());
    return 2;
  }
  sf::log::set_level(lvl);
  start_signal_thread();
  auto s = sf::manager::run_service(cfg, g_stop, kVersion);
  if (!s) {
    sf::log::error(s.error().message);
    std::fprintf(stderr, "error: %s\n", s.error().message.c_str());
    return 1;
  }
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
                                "run the embedded all-in-one manager (memory bus, SQLite "
                                "store, in-process workers) on 127.0.0.1");
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
  auto* watch = app.add_subcommand(
      "watch",
      "live progress per target until the queue ends (exit 0 finished, 1 error, 2 interrupted)");
  add_client_options(watch, co);
  watch->add_option("queue_id", queue_id)->required();
  auto* flows = app.add_subcommand("flows", "list the manager's test flows");
  add_client_options(flows, co);

  auto dispatch_commands = [&]() -> int {
    if (*up) return run_service(up_cfg, log_level, "queue-manager");
    if (*qm) return run_service(qm_cfg, log_level, "queue-manager");
    if (*worker) {
      std::fprintf(stderr,
                   "error: `streamforge worker %s` needs a bus shared between processes "
                   "(Kafka), which this version does not have yet; with the memory bus, workers "
                   "run inside `streamforge up`\n",
                   worker_target.c_str());
      return 2;
    }
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
    if (*watch) return sf::cli::watch(co, queue_id);
    if (*flows) return sf::cli::flows(co);
    return 0;
  };

  CLI11_PARSE(app, argc, argv);
  try {
    return dispatch_commands();
  } catch (const std::exception& e) {
    // A bug or a server answering with an unexpected shape: say so, don't abort.
    std::fprintf(stderr, "error: %s\n", e.what());
    return sf::cli::kRequestRefused;
  }
}
