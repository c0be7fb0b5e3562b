// The worker runtime shared by every worker kind (dummy-service, loaders, connectors):
// configuration from environment-style variables, the control channel on `queue-control`,
// telemetry on `queue-events`, and the registry of runnable kinds with their roles.
//
// A worker's life: read WorkerConfig from its Env; open the ControlChannel at the offset
// the manager passed (so a command published before the worker started is still seen);
// wait for its `start` command; work while sending telemetry; end with exactly one of
// finished / error / interrupted; return the process exit code (0 only for finished).
#pragma once

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/env.h"
#include "base/result.h"
#include "bus/bus.h"
#include "protocol/messages.h"
#include "protocol/target_role.h"
#include "workers/worker_env.h"

namespace sf::metrics {
class Registry;
}
namespace sf::exchange::binance {
class RateLimiter;
}

namespace sf::store {
class DataStore;
}
namespace sf::artifacts {
class ArtifactStore;
}

namespace sf::workers {

// The names of the variables: workers/worker_env.h (env_names::).

struct WorkerConfig {
  std::string queue_id;
  std::string target;
  std::string telemetry_id;
  std::optional<std::string> symbol, type, time_range, kafka_topic, collection_name, image;
  std::string control_topic = bus::kControlTopic;
  std::string events_topic = bus::kEventsTopic;
  int64_t control_offset = 0;  // where to start reading queue-control
  // One run of the queue (a start, a rerun into a new manager, a repair): every target of
  // the run gets the same id. Connectors consume with a group of their own run, so offsets a
  // group of an earlier run committed never hide records from this one.
  std::optional<std::string> run_id;
  // The data topic's end offset (partition 0) when the run was launched: where this run's
  // records begin. Connectors ignore what lies before it (an earlier run's records and end
  // markers); a loader restarted within the run resumes after what the run published since.
  // -1: unknown (the whole topic is this run's).
  int64_t data_offset = -1;
  double start_timeout_s = 30;  // give up if no start command arrives by then
  boost::json::object params;   // the target's extra settings (TARGET_PARAMS)

  // Strict: missing required variables or malformed values name the variable.
  static Result<WorkerConfig> from_env(const Env& env);
  Env to_env() const;
};

// Everything a worker gets from whoever runs it.
struct WorkerContext {
  Env env;
  bus::Bus* bus = nullptr;
  metrics::Registry* metrics = nullptr;    // may be null (no metrics)
  store::DataStore* data_store = nullptr;  // where connectors write; null: none configured
  // Where the gnn-trainer puts models and metrics; null: none configured.
  artifacts::ArtifactStore* artifacts = nullptr;
  // The process's one exchange rate limiter, shared by every loader in it; null: the
  // loader makes its own (it is then alone in its process).
  exchange::binance::RateLimiter* rate_limiter = nullptr;
  const Clock* clock = &SystemClock::instance();
  // Set by the launcher to end the worker forcibly (after a stop grace period).
  std::shared_ptr<std::atomic<bool>> cancel = std::make_shared<std::atomic<bool>>(false);
};

// Returns the exit code: 0 finished, 1 error, 2 interrupted, 3 bad configuration.
using WorkerFn = std::function<int(WorkerContext&)>;
inline constexpr int kExitFinished = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitInterrupted = 2;
inline constexpr int kExitBadConfig = 3;

// Sends this worker's events to `queue-events`. Thread-safe.
class Telemetry {
 public:
  Telemetry(bus::Producer& producer, const WorkerConfig& cfg, const Clock& clock)
      : producer_(producer), cfg_(cfg), clock_(clock) {}
  Status send(protocol::RunStatus status, std::string message,
              std::optional<int64_t> records_written = std::nullopt);
  // Sends `ev` after filling in queue_id, producer, symbol, type, finished and timestamp
  // (for events carrying the completeness extension fields).
  Status send(protocol::Event ev);

 private:
  bus::Producer& producer_;
  const WorkerConfig& cfg_;
  const Clock& clock_;
};

// Reads `queue-control` from the configured offset on a background thread and keeps the
// commands addressed to this worker: start, stop (for its queue, or for it by
// telemetry_id), ping (answered with a pong event at once). Thread-safe accessors.
class ControlChannel {
 public:
  ControlChannel(bus::Bus& bus, const WorkerConfig& cfg, Telemetry& telemetry);
  ~ControlChannel();
  Status open();
  // Waits for this worker's start command. Errc::timeout after `timeout`, Errc::closed if
  // a stop (or cancel) came first.
  Result<protocol::Command> wait_for_start(std::chrono::milliseconds timeout,
                                           const std::atomic<bool>& cancel);
  // The launcher's cancel flag also ends waits (set before open()).
  void set_cancel(const std::atomic<bool>* cancel) { cancel_ = cancel; }
  bool stop_requested() const { return stop_.load() || (cancel_ && cancel_->load()); }
  // Sleeps up to `d`, waking early on stop or cancel. Returns stop_requested().
  bool wait_stop_for(std::chrono::milliseconds d);
  void close();

 private:
  bool addressed_to_me(const protocol::Command& c) const;
  void run();

  bus::Bus& bus_;
  const WorkerConfig& cfg_;
  Telemetry& telemetry_;
  std::unique_ptr<bus::Reader> reader_;
  std::thread thread_;
  std::atomic<bool> closing_{false};
  std::atomic<bool> stop_{false};
  const std::atomic<bool>* cancel_ = nullptr;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::optional<protocol::Command> start_;
};

// Runnable worker kinds by target name. Thread-safe after start-up registration.
class WorkerRegistry {
 public:
  // `role` is what the kind does in a workflow (protocol/target_role.h): the manager learns
  // it from here, through its Launcher. `validate` checks the kind's settings
  // (TARGET_PARAMS) before launch; may be empty. `settings_schema` says the same for the
  // API's document: a JSON object mapping each setting `validate` accepts to its JSON Schema
  // (empty: not described), plus optionally `x-required` (the settings it must have) and
  // `x-checks-beyond-schema` (a text each refusal no schema can state contains).
  using Validator = std::function<Status(const boost::json::object&)>;
  void add(const std::string& target, protocol::TargetRole role, WorkerFn fn,
           Validator validate = {}, std::string settings_schema = {});
  Status validate(const std::string& target, const boost::json::object& settings) const;
  std::optional<std::string> settings_schema(const std::string& target) const;
  // TargetRole::other for a target it does not know.
  protocol::TargetRole role(const std::string& target) const;
  const WorkerFn* find(const std::string& target) const;
  std::vector<std::string> targets() const;
  // The registry with every built-in kind (dummy-service, ...).
  static WorkerRegistry builtin();

 private:
  struct Kind {
    protocol::TargetRole role = protocol::TargetRole::other;
    WorkerFn fn;
    Validator validate;
    std::string settings_schema;
  };
  std::map<std::string, Kind> kinds_;
};

// Runs a worker end to end with the common life cycle; `work` does the role's job once the
// start command arrived. Used by every role.
int run_worker(WorkerContext& ctx, const char* role,
               const std::function<int(WorkerContext&, const WorkerConfig&, ControlChannel&,
                                       Telemetry&)>& work);

}  // namespace sf::workers
