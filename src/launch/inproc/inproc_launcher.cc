#include "launch/inproc/inproc_launcher.h"

#include "base/log.h"

namespace sf::launch {

InProcessLauncher::InProcessLauncher(workers::WorkerRegistry registry, bus::Bus& bus,
                                     metrics::Registry* metrics, const Clock& clock,
                                     store::DataStore* data_store,
                                     exchange::binance::RateLimiter* rate_limiter,
                                     artifacts::ArtifactStore* artifacts)
    : RegistryLauncher(std::move(registry)),
      bus_(bus),
      metrics_(metrics),
      clock_(clock),
      data_store_(data_store),
      rate_limiter_(rate_limiter),
      artifacts_(artifacts) {}

InProcessLauncher::~InProcessLauncher() { shutdown(); }

void InProcessLauncher::reap_locked() {
  for (auto it = tasks_.begin(); it != tasks_.end();) {
    if (it->second->done) {
      if (it->second->thread.joinable()) it->second->thread.join();
      it = tasks_.erase(it);
    } else {
      ++it;
    }
  }
}

Status InProcessLauncher::launch(const LaunchSpec& spec) {
  const workers::WorkerFn* fn = registry().find(spec.target);
  if (!fn) return Error(Errc::invalid_argument, "unknown target '" + spec.target + "'", "target");
  std::lock_guard lk(mu_);
  if (shut_down_) return Error(Errc::closed, "launcher is shut down");
  reap_locked();
  auto key = std::make_pair(spec.queue_id, spec.telemetry_id);
  for (auto [it, end] = tasks_.equal_range(key); it != end; ++it)
    if (!it->second->exited)
      return Error(Errc::already_exists,
                   spec.telemetry_id + " of " + spec.queue_id + " is already running");
  auto task = std::make_unique<Task>();
  task->cancel = std::make_shared<std::atomic<bool>>(false);
  Task* raw = task.get();
  workers::WorkerContext ctx;
  ctx.env = spec.env;
  ctx.bus = &bus_;
  ctx.metrics = metrics_;
  ctx.clock = &clock_;
  ctx.data_store = data_store_;
  ctx.rate_limiter = rate_limiter_;
  ctx.artifacts = artifacts_;
  ctx.cancel = task->cancel;
  workers::WorkerFn work = *fn;
  task->thread = std::thread([this, raw, ctx = std::move(ctx), work, spec]() mutable {
    ExitInfo info{spec.queue_id, spec.telemetry_id, 0, ""};
    try {
      info.exit_code = work(ctx);
      if (info.exit_code != 0) info.reason = "exit status " + std::to_string(info.exit_code);
    } catch (const std::exception& e) {
      info.exit_code = 70;
      info.reason = std::string("worker threw: ") + e.what();
      log::error(info.reason, spec.queue_id);
    }
    ExitCallback cb;
    {
      std::lock_guard lk(mu_);
      cb = on_exit_;
      ++callbacks_running_;
      raw->exited = true;  // before the report: whoever hears of the exit may launch it again
    }
    if (cb) cb(info);
    {
      std::lock_guard lk(mu_);
      --callbacks_running_;
      raw->done = true;
    }
    callbacks_cv_.notify_all();
  });
  tasks_.emplace(std::move(key), std::move(task));
  return {};
}

void InProcessLauncher::kill(const std::string& queue_id, const std::string& telemetry_id) {
  std::lock_guard lk(mu_);
  for (auto [it, end] = tasks_.equal_range({queue_id, telemetry_id}); it != end; ++it)
    *it->second->cancel = true;
}

size_t InProcessLauncher::running() const {
  std::lock_guard lk(mu_);
  size_t n = 0;
  for (const auto& [k, t] : tasks_) n += t->done ? 0 : 1;
  return n;
}

void InProcessLauncher::set_exit_callback(ExitCallback cb) {
  std::unique_lock lk(mu_);
  on_exit_ = std::move(cb);
  // Once this returns the old callback is not running and will not run again, so its owner
  // may go away.
  callbacks_cv_.wait(lk, [this] { return callbacks_running_ == 0; });
}

void InProcessLauncher::shutdown() {
  std::multimap<std::pair<std::string, std::string>, std::unique_ptr<Task>> tasks;
  {
    std::lock_guard lk(mu_);
    shut_down_ = true;
    for (auto& [k, t] : tasks_) *t->cancel = true;
    tasks.swap(tasks_);
  }
  for (auto& [k, t] : tasks)
    if (t->thread.joinable()) t->thread.join();
}

}  // namespace sf::launch
