// ProcessLauncher: runs each target as its own OS process (the single-host deployment),
// by default `<this executable> worker <target>`, configured only by its environment, as a
// Kubernetes Job would be.
//
// Contract:
// - The child's environment is exactly: PATH, HOME, TMPDIR and LANG taken from this
//   process (when set), then ProcessLauncherOptions::env (process-wide settings: bus URL,
//   data dir, ...), then LaunchSpec::env (the target's own configuration); later ones win;
//   and SF_LAUNCHED_AT_US, the wall-clock microseconds of the launch (the origin of the
//   worker's start-up profile, workers/profile.h). Nothing else of this process's
//   environment is passed on.
// - stdin is /dev/null; stdout and stderr are appended to
//   `<log_dir>/<queue_id>/<telemetry_id>.log`. Both names are sanitised for the file
//   system: every character outside [A-Za-z0-9._-] and a leading '.' become '_', so a name
//   can never climb out of log_dir or hide a file.
// - Each child is the leader of its own process group; signals go to that group (so a
//   worker's own children go with it), and only to children this launcher started and has
//   not reaped yet, by pid. A child gets SIGKILL when the launcher's supervisor thread ends,
//   which includes this process dying by SIGKILL (PR_SET_PDEATHSIG).
// - Exits are reported through the exit callback with exit_code = the exit status, or
//   128 + signal for a child killed by a signal, and a reason: "" for status 0,
//   "exit status 3", "killed by signal 9 (SIGKILL)", or "killed after stop grace period
//   (SIGTERM)" when it died of a signal after kill().
// - kill() sends SIGTERM at once and SIGKILL when the child is still there after
//   kill_grace. shutdown() does the same for every child, waits until all are reaped (their
//   exit callbacks have run) and refuses later launches (Errc::closed).
// - launch() fails with invalid_argument for a target the registry does not know,
//   already_exists while the same (queue_id, telemetry_id) is still running, and
//   unavailable when the command cannot be executed (the error says why) or the log file
//   cannot be opened.
//
// Threading: every method is thread-safe. One supervisor thread forks every child (the
// parent-death signal is tied to the forking thread, so it must live as long as the
// children), polls them with waitpid(WNOHANG), escalates kills and runs the exit callback.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "launch/registry_launcher.h"
#include "workers/worker.h"

namespace sf::launch {

struct ProcessLauncherOptions {
  // argv before the target name; empty: {"/proc/self/exe" resolved, "worker"}. A first
  // element without '/' is looked up in PATH.
  std::vector<std::string> command;
  std::string log_dir = "data/logs";
  Env env;  // process-wide variables given to every child (SF_BUS, SF_DATA_DIR, ...)
  std::chrono::milliseconds kill_grace{5000};
  // How often exits are polled.
  std::chrono::milliseconds poll_interval{20};
};

class ProcessLauncher final : public RegistryLauncher {
 public:
  ProcessLauncher(workers::WorkerRegistry registry, ProcessLauncherOptions opts);
  ~ProcessLauncher() override;  // shutdown()

  Status launch(const LaunchSpec& spec) override;
  void kill(const std::string& queue_id, const std::string& telemetry_id) override;
  size_t running() const override;
  void set_exit_callback(ExitCallback cb) override;
  void shutdown() override;
  std::string name() const override { return "process"; }

  // Where the log of (queue_id, telemetry_id) goes (the sanitised path).
  std::string log_path(const std::string& queue_id, const std::string& telemetry_id) const;
  // The pid of a running child, or -1 (for diagnostics and tests).
  pid_t pid_of(const std::string& queue_id, const std::string& telemetry_id) const;

 private:
  using Key = std::pair<std::string, std::string>;
  struct Child {
    pid_t pid = -1;
    bool kill_requested = false;
    std::chrono::steady_clock::time_point kill_deadline;
    bool sigkill_sent = false;
  };
  struct SpawnRequest {
    LaunchSpec spec;
    std::promise<Status> result;
  };

  void supervise();
  Status spawn_locked(const LaunchSpec& spec);  // on the supervisor thread, mu_ held
  // Reaps exited children (mu_ held on entry and exit; released around callbacks).
  void reap(std::unique_lock<std::mutex>& lk);
  void signal_locked(Child& c, int sig);

  ProcessLauncherOptions opts_;
  std::string exe_;  // resolved opts_.command[0]
  std::vector<std::string> base_env_;

  mutable std::mutex mu_;
  std::condition_variable cv_;  // wakes the supervisor (spawn request, kill, shutdown)
  std::deque<SpawnRequest*> requests_;
  std::map<Key, Child> children_;
  ExitCallback on_exit_;
  int callbacks_running_ = 0;
  std::condition_variable callbacks_cv_;
  bool shut_down_ = false;
  std::thread::id supervisor_id_;
  std::thread supervisor_;
  std::mutex shutdown_mu_;  // serialises shutdown() callers
};

}  // namespace sf::launch
