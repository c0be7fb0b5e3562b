// KubernetesLauncher: each target a `batch/v1` Job on a Kubernetes cluster (the cluster
// deployment), running `streamforge worker <target>` from the configured image, configured
// only by its environment, as a worker process is.
//
// Contract (beyond launcher.h's):
// - One Job per launch, named dns_label("sf-<queue>-<telemetry>", <8 random hex>) in
//   options.namespace_, with labels app.kubernetes.io/managed-by=streamforge,
//   streamforge.io/instance, streamforge.io/queue-id, streamforge.io/target and
//   streamforge.io/telemetry-id (label-safe forms; the exact ids are annotations of the
//   same names). backoffLimit 0 (the manager decides about retries, not the Job controller),
//   ttlSecondsAfterFinished, restartPolicy Never, the pods' service account, resource
//   requests and limits, terminationGracePeriodSeconds = kill_grace, no service account
//   token in the pod (workers do not call the API).
// - The container's environment: options.env (process-wide settings), then the target's
//   Env, then SF_LAUNCHED_AT_US. A variable that holds a secret (is_secret_variable()) is
//   never written into the Job: it becomes a secretKeyRef to key <NAME> of options.secret,
//   and a launch that needs one without options.secret set fails with invalid_argument.
// - The image: the target's IMAGE variable (a start request's `image`) or options.image.
// - Exits are read from a watch of the instance's Jobs (resourceVersion, bookmarks, a new
//   list after 410 Gone or a lost connection): Complete -> exit 0; Failed -> the pod's
//   terminated exit code, reason "exit status N" (plus the pod's reason when it is not a
//   plain error, e.g. "exit status 137 (OOMKilled)"), or 1 with the Job's reason when no pod
//   ran; a Job deleted before it finished -> 143, "killed after stop grace period (Job
//   deleted)" after kill(), 137 "Job <name> was deleted (not by this launcher)" otherwise.
// - kill() deletes the Job with propagationPolicy Background: the pod gets SIGTERM and
//   kill_grace before SIGKILL, as a worker process does.
// - open() lists the instance's Jobs once, so wrong credentials or missing RBAC rights fail
//   at start-up (permission_denied naming the right), and adopts the Jobs of a previous
//   manager: adopted() names them, running ones count in running() and their ends are
//   reported like any other (finished ones at once, once an exit callback is set).
// - shutdown(): with keep_jobs_on_shutdown (the default for the service), Jobs keep running
//   and the next manager adopts them; nothing is reported. Without it, shutdown deletes
//   every Job still running and reports each (the launcher contract's behaviour).
//
// Threading: every method is thread-safe. One watcher thread follows the Jobs and runs the
// exit callback (never while a lock of the launcher is held); API calls of launch()/kill()
// run on the caller's thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "launch/kubernetes/kube_api.h"
#include "launch/registry_launcher.h"
#include "workers/worker.h"

namespace sf::launch {

struct KubernetesLauncherOptions {
  std::string namespace_;       // where Jobs go ("" = the credentials' namespace, else default)
  std::string image;            // the worker image when the target names none
  std::string service_account;  // of the Jobs' pods ("" = the namespace's default)
  std::string secret;           // Secret holding the secret variables, by variable name
  std::map<std::string, std::string> requests;  // e.g. cpu=100m, memory=128Mi
  std::map<std::string, std::string> limits;
  int job_ttl_s = 600;  // ttlSecondsAfterFinished
  std::chrono::milliseconds kill_grace{5000};
  // argv before the target name; empty: {"streamforge", "worker"} (the image's binary).
  std::vector<std::string> command;
  Env env;  // process-wide variables given to every worker
  // The workers' /metrics port on the pod's address (METRICS_PORT, METRICS_LISTEN 0.0.0.0),
  // announced with prometheus.io/scrape annotations; 0: a free port, not announced.
  int metrics_port = 9100;
  std::string instance = "streamforge";  // streamforge.io/instance: this manager's Jobs
  bool keep_jobs_on_shutdown = true;
  kube::RetryPolicy retry;
  std::chrono::seconds watch_timeout{240};  // the server ends each watch after this
};

// True for a variable whose value must not be written into a Job: keys, secrets, tokens,
// passwords (by name), and a store URL that carries a password.
bool is_secret_variable(const std::string& name, const std::string& value);

// The Job for a launch, as JSON (pure: exposed for tests). `job_name` from job_name_for().
Result<boost::json::object> job_manifest(const KubernetesLauncherOptions& o, const LaunchSpec& spec,
                                         const std::string& job_name, const std::string& ns);
std::string job_name_for(const std::string& queue_id, const std::string& telemetry_id);

class KubernetesLauncher final : public RegistryLauncher {
 public:
  // Checks the credentials and rights by listing the instance's Jobs, adopts those it
  // finds, and starts following them.
  static Result<std::unique_ptr<KubernetesLauncher>> open(workers::WorkerRegistry registry,
                                                          KubernetesLauncherOptions options,
                                                          kube::Credentials credentials);
  ~KubernetesLauncher() override;

  Status launch(const LaunchSpec& spec) override;
  void kill(const std::string& queue_id, const std::string& telemetry_id) override;
  size_t running() const override;
  void set_exit_callback(ExitCallback cb) override;
  void shutdown() override;
  std::string name() const override { return "kubernetes"; }
  // The (queue id, telemetry id) of every Job of a previous manager found by open().
  std::vector<std::pair<std::string, std::string>> adopted() const override;

  const std::string& job_namespace() const { return ns_; }

 private:
  struct Tracked {
    std::string queue_id, telemetry_id, job_name;
    bool killed = false;
    bool created = false;  // the API server has the Job (its POST returned)
  };
  using Key = std::pair<std::string, std::string>;

  KubernetesLauncher(workers::WorkerRegistry registry, KubernetesLauncherOptions options,
                     kube::Credentials credentials);
  std::string jobs_path() const;
  std::string selector() const;
  // Reads a Job object of the list or the watch; returns the exit to report if it ended.
  std::optional<ExitInfo> on_job(const std::string& type, const boost::json::object& job);
  ExitInfo failed_exit(const Tracked& t, const boost::json::object& job);
  void report(const ExitInfo& e);
  void watch_loop();
  Status delete_job(const std::string& name, const std::string& verb_note);

  KubernetesLauncherOptions opts_;
  std::string ns_;
  kube::Api api_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<Key, Tracked> tracked_;     // launched or adopted, end not yet reported
  std::map<std::string, Key> by_job_;  // job name -> key of tracked_
  std::vector<ExitInfo> pending_;      // ends found before an exit callback was set
  std::vector<Key> adopted_;
  std::string resource_version_;  // where the watch resumes
  bool closed_ = false;
  std::atomic<bool> stop_{false};
  std::mutex cb_mu_;  // held while the callback runs, so a replaced one is not running
  ExitCallback cb_;
  bool has_cb_ = false;  // under mu_
  std::thread watcher_;
};

}  // namespace sf::launch
