// The Launcher interface (docs/architecture.md): starts a target of a workflow with
// its configuration, reports its exit, stops it. Implementations: in-process
// (launch/inproc), OS processes (launch/process) and Kubernetes Jobs (launch/kubernetes).
//
// A target's whole configuration travels as environment-style variables (LaunchSpec::env),
// exactly what a Kubernetes Job would receive; see docs/workers.md for the names.
#pragma once

#include <boost/json.hpp>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/env.h"
#include "base/result.h"
#include "protocol/target_role.h"

namespace sf::launch {

struct LaunchSpec {
  std::string queue_id;
  std::string target;        // the worker's role, e.g. "dummy-service"
  std::string telemetry_id;  // unique within the queue
  Env env;                   // the worker's configuration
};

// How a launched target ended. exit_code 0 is success; `reason` says why otherwise
// ("exit status 3", "killed after stop grace period", "worker threw: ...").
struct ExitInfo {
  std::string queue_id;
  std::string telemetry_id;
  int exit_code = 0;
  std::string reason;
};

using ExitCallback = std::function<void(const ExitInfo&)>;

// tests/contract/launcher_contract.h checks this contract on every implementation.
// Thread-safe: every method may be called from any thread. The exit callback is called on
// a launcher-owned thread and must not call set_exit_callback() or shutdown(); once
// set_exit_callback() returns, the previous callback is no longer running.
class Launcher {
 public:
  virtual ~Launcher() = default;
  // The target names this launcher can run.
  virtual std::vector<std::string> targets() const = 0;
  bool knows(const std::string& target) const;
  // Checks a target's worker-specific settings (the extra fields of its start-request
  // entry) before anything is launched; the error's field names the setting.
  virtual Status validate(const std::string& target, const boost::json::object& settings) const {
    return {};
  }
  // What validate() accepts, for the API's OpenAPI document: a JSON object mapping each
  // accepted setting to its JSON Schema (no other setting is accepted), or nullopt when
  // the target's settings are not described (any are passed on).
  virtual std::optional<std::string> settings_schema(const std::string& target) const {
    return std::nullopt;
  }
  // What the target does in a workflow, as its worker kind registered it
  // (protocol/target_role.h); TargetRole::other for a target it does not know. The manager
  // learns roles only from here, never from the target's name.
  virtual protocol::TargetRole role(const std::string& target) const = 0;
  // Starts the target. Errc::invalid_argument for an unknown target, already_exists when
  // the same (queue_id, telemetry_id) is still running (the id is free again once its exit
  // was reported). Each launched target's end is reported exactly once.
  virtual Status launch(const LaunchSpec& spec) = 0;
  // Ends the target forcibly (the polite way is a `stop` command on the bus; the manager
  // calls this only after the stop grace period). No-op when it is not running.
  virtual void kill(const std::string& queue_id, const std::string& telemetry_id) = 0;
  // Number of targets currently running.
  virtual size_t running() const = 0;
  virtual void set_exit_callback(ExitCallback cb) = 0;
  // Kills everything still running, waits for it to end and has reported every exit
  // through the callback when it returns; later launches fail with Errc::closed.
  virtual void shutdown() = 0;
  virtual std::string name() const = 0;
  // Targets of a previous manager that this launcher found still there when it started
  // (Kubernetes Jobs outlive the manager), as (queue id, telemetry id): the manager keeps
  // following them instead of marking them interrupted, and their ends are reported
  // through the exit callback like any other. Empty for launchers whose workers die with
  // the manager.
  virtual std::vector<std::pair<std::string, std::string>> adopted() const { return {}; }
};

}  // namespace sf::launch
