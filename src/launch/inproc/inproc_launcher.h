// InProcessLauncher: runs each target as a thread of the manager process (the embedded
// deployment). Workers get the same Env a Kubernetes Job would get, the process's bus
// (normally the memory bus) and metrics registry.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "launch/registry_launcher.h"
#include "workers/worker.h"

namespace sf::artifacts {
class ArtifactStore;
}
namespace sf::exchange::binance {
class RateLimiter;
}

namespace sf::launch {

class InProcessLauncher final : public RegistryLauncher {
 public:
  InProcessLauncher(workers::WorkerRegistry registry, bus::Bus& bus, metrics::Registry* metrics,
                    const Clock& clock = SystemClock::instance(),
                    store::DataStore* data_store = nullptr,
                    exchange::binance::RateLimiter* rate_limiter = nullptr,
                    artifacts::ArtifactStore* artifacts = nullptr);
  ~InProcessLauncher() override;

  Status launch(const LaunchSpec& spec) override;
  void kill(const std::string& queue_id, const std::string& telemetry_id) override;
  size_t running() const override;
  void set_exit_callback(ExitCallback cb) override;
  void shutdown() override;
  std::string name() const override { return "inproc"; }

 private:
  struct Task {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> cancel;
    std::atomic<bool> done{false};  // its exit callback has run: the thread may be joined
    bool exited = false;            // the worker returned (guarded by mu_): its id is free
  };
  void reap_locked();

  bus::Bus& bus_;
  metrics::Registry* metrics_;
  const Clock& clock_;
  store::DataStore* data_store_;
  exchange::binance::RateLimiter* rate_limiter_;
  artifacts::ArtifactStore* artifacts_;
  mutable std::mutex mu_;
  ExitCallback on_exit_;
  int callbacks_running_ = 0;
  std::condition_variable callbacks_cv_;
  // A multimap: a target may be launched again under its id once its worker returned,
  // while the old thread still reports the exit.
  std::multimap<std::pair<std::string, std::string>, std::unique_ptr<Task>> tasks_;
  bool shut_down_ = false;
};

}  // namespace sf::launch
