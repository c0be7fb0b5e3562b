#include "launch/process/process_launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "base/log.h"
#include "workers/profile.h"

namespace sf::launch {

namespace {

// Only [A-Za-z0-9._-]; a leading '.' would make "." / ".." or a hidden file.
std::string sanitise(const std::string& name) {
  if (name.empty()) return "_";
  std::string out = name;
  for (char& c : out) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) c = '_';
  }
  if (out[0] == '.') out[0] = '_';
  return out;
}

std::string signal_name(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

std::string self_exe() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("/proc/self/exe") : p.string();
}

// The first executable `name` in PATH; `name` itself when not found (execve then fails
// with ENOENT and launch() says so).
std::string find_in_path(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  for (size_t pos = 0; pos <= dirs.size();) {
    size_t colon = std::min(dirs.find(':', pos), dirs.size());
    std::string dir = dirs.substr(pos, colon - pos);
    std::string cand = (dir.empty() ? std::string(".") : dir) + "/" + name;
    if (::access(cand.c_str(), X_OK) == 0) return cand;
    pos = colon + 1;
  }
  return name;
}

// Closes every descriptor from `first` up, except `keep`. Async-signal-safe.
void close_from(int first, int keep, int max_fd) {
  auto close_range_sys = [](unsigned lo, unsigned hi) {
    return lo > hi ? 0 : static_cast<int>(::syscall(SYS_close_range, lo, hi, 0));
  };
  if (close_range_sys(first, keep - 1) == 0 && close_range_sys(keep + 1, ~0U) == 0) return;
  for (int fd = first; fd < max_fd; ++fd)
    if (fd != keep) ::close(fd);
}

}  // namespace

ProcessLauncher::ProcessLauncher(workers::WorkerRegistry registry, ProcessLauncherOptions opts)
    : RegistryLauncher(std::move(registry)), opts_(std::move(opts)) {
  if (opts_.command.empty()) opts_.command = {self_exe(), "worker"};
  exe_ = find_in_path(opts_.command[0]);
  // What a container would have as well; nothing else of ours leaks into workers.
  Env own = Env::from_process();
  for (const char* k : {"PATH", "HOME", "TMPDIR", "LANG"})
    if (auto v = own.get(k)) base_env_.push_back(std::string(k) + "=" + *v);
  supervisor_ = std::thread([this] { supervise(); });
  std::lock_guard lk(mu_);
  supervisor_id_ = supervisor_.get_id();
}

ProcessLauncher::~ProcessLauncher() { shutdown(); }

std::string ProcessLauncher::log_path(const std::string& queue_id,
                                      const std::string& telemetry_id) const {
  return (std::filesystem::path(opts_.log_dir) / sanitise(queue_id) /
          (sanitise(telemetry_id) + ".log"))
      .string();
}

pid_t ProcessLauncher::pid_of(const std::string& queue_id, const std::string& telemetry_id) const {
  std::lock_guard lk(mu_);
  auto it = children_.find({queue_id, telemetry_id});
  return it == children_.end() ? -1 : it->second.pid;
}

Status ProcessLauncher::launch(const LaunchSpec& spec) {
  if (!registry().find(spec.target))
    return Error(Errc::invalid_argument, "unknown target '" + spec.target + "'", "target");
  std::unique_lock lk(mu_);
  if (shut_down_) return Error(Errc::closed, "launcher is shut down");
  // From an exit callback (the supervisor thread itself): fork right here.
  if (std::this_thread::get_id() == supervisor_id_) return spawn_locked(spec);
  SpawnRequest req{spec, {}};
  auto result = req.result.get_future();
  requests_.push_back(&req);
  cv_.notify_all();
  lk.unlock();
  return result.get();
}

Status ProcessLauncher::spawn_locked(const LaunchSpec& spec) {
  if (shut_down_) return Error(Errc::closed, "launcher is shut down");
  Key key{spec.queue_id, spec.telemetry_id};
  if (children_.count(key))
    return Error(Errc::already_exists,
                 spec.telemetry_id + " of " + spec.queue_id + " is already running");

  // Everything the child needs is prepared here: between fork and exec it may only make
  // async-signal-safe calls (no allocation, no locks).
  std::vector<std::string> args = opts_.command;
  args.push_back(spec.target);
  std::map<std::string, std::string> merged;
  for (const auto& kv : base_env_) merged[kv.substr(0, kv.find('='))] = kv.substr(kv.find('=') + 1);
  for (const auto& [k, v] : opts_.env.vars()) merged[k] = v;
  for (const auto& [k, v] : spec.env.vars()) merged[k] = v;
  merged[workers::env_names::kLaunchedAtUs] = std::to_string(workers::profile::wall_us());
  std::vector<std::string> envs;
  for (const auto& [k, v] : merged) envs.push_back(k + "=" + v);
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : envs) envp.push_back(e.data());
  envp.push_back(nullptr);

  std::string path = log_path(spec.queue_id, spec.telemetry_id);
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  if (ec)
    return Error(Errc::unavailable,
                 "cannot create the log directory of " + path + ": " + ec.message());
  int log_fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0)
    return Error(Errc::unavailable, "cannot open " + path + ": " + std::strerror(errno));
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int err_pipe[2];
  if (null_fd < 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    int e = errno;
    ::close(log_fd);
    if (null_fd >= 0) ::close(null_fd);
    return Error(Errc::unavailable, std::string("cannot prepare a child: ") + std::strerror(e));
  }
  struct rlimit rl {};
  int max_fd = ::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                   ? static_cast<int>(std::min<rlim_t>(rl.rlim_cur, 1 << 20))
                   : 4096;
  const pid_t parent = ::getpid();
  const char* exe = exe_.c_str();

  pid_t pid = ::fork();
  if (pid == 0) {
    // The child: async-signal-safe calls only.
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent) ::_exit(127);
    ::setpgid(0, 0);
    int wr = err_pipe[1];
    if (::dup2(null_fd, 0) < 0 || ::dup2(log_fd, 1) < 0 || ::dup2(log_fd, 2) < 0) {
      int e = errno;
      (void)!::write(wr, &e, sizeof e);
      ::_exit(127);
    }
    close_from(3, wr, max_fd);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);  // the manager blocks SIGTERM in its threads
    ::execve(exe, argv.data(), envp.data());
    int e = errno;
    (void)!::write(wr, &e, sizeof e);
    ::_exit(127);
  }
  int fork_errno = errno;
  ::close(log_fd);
  ::close(null_fd);
  ::close(err_pipe[1]);
  if (pid < 0) {
    ::close(err_pipe[0]);
    return Error(Errc::unavailable, std::string("fork failed: ") + std::strerror(fork_errno));
  }
  ::setpgid(pid, pid);  // also here, so the group exists before we may signal it
  int child_errno = 0;
  ssize_t n;
  do {
    n = ::read(err_pipe[0], &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  ::close(err_pipe[0]);
  if (n == static_cast<ssize_t>(sizeof child_errno)) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return Error(Errc::unavailable,
                 "cannot run " + exe_ + " for " + spec.target + ": " + std::strerror(child_errno));
  }
  Child child;
  child.pid = pid;
  children_[key] = child;
  log::info("launched " + spec.target + " " + spec.telemetry_id + " as pid " + std::to_string(pid) +
                ", log " + path,
            spec.queue_id);
  return {};
}

void ProcessLauncher::signal_locked(Child& c, int sig) {
  // The child leads its own group; until it is reaped its pid cannot be reused.
  if (::kill(-c.pid, sig) != 0) ::kill(c.pid, sig);
}

void ProcessLauncher::kill(const std::string& queue_id, const std::string& telemetry_id) {
  std::lock_guard lk(mu_);
  auto it = children_.find({queue_id, telemetry_id});
  if (it == children_.end() || it->second.kill_requested) return;
  it->second.kill_requested = true;
  it->second.kill_deadline = std::chrono::steady_clock::now() + opts_.kill_grace;
  signal_locked(it->second, SIGTERM);
  cv_.notify_all();
}

size_t ProcessLauncher::running() const {
  std::lock_guard lk(mu_);
  return children_.size();
}

void ProcessLauncher::set_exit_callback(ExitCallback cb) {
  std::unique_lock lk(mu_);
  on_exit_ = std::move(cb);
  callbacks_cv_.wait(lk, [this] { return callbacks_running_ == 0; });
}

void ProcessLauncher::reap(std::unique_lock<std::mutex>& lk) {
  std::vector<ExitInfo> exits;
  for (auto it = children_.begin(); it != children_.end();) {
    int status = 0;
    pid_t r = ::waitpid(it->second.pid, &status, WNOHANG);
    if (r == 0 || (r < 0 && errno == EINTR)) {
      ++it;
      continue;
    }
    ExitInfo info{it->first.first, it->first.second, 0, ""};
    if (r < 0) {
      // Someone else reaped it (SIGCHLD ignored, or a waitpid(-1) elsewhere).
      info.exit_code = 1;
      info.reason = std::string("exit status unknown: ") + std::strerror(errno);
    } else if (WIFEXITED(status)) {
      info.exit_code = WEXITSTATUS(status);
      if (info.exit_code != 0) info.reason = "exit status " + std::to_string(info.exit_code);
    } else if (WIFSIGNALED(status)) {
      int sig = WTERMSIG(status);
      info.exit_code = 128 + sig;
      info.reason = it->second.kill_requested
                        ? "killed after stop grace period (" + signal_name(sig) + ")"
                        : "killed by signal " + std::to_string(sig) + " (" + signal_name(sig) + ")";
    } else {
      ++it;  // stopped/continued: not an exit
      continue;
    }
    log::info("pid " + std::to_string(it->second.pid) + " (" + info.telemetry_id + ") ended" +
                  (info.reason.empty() ? std::string(": exit status 0") : ": " + info.reason),
              info.queue_id);
    exits.push_back(std::move(info));
    it = children_.erase(it);
  }
  for (const auto& info : exits) {
    ExitCallback cb = on_exit_;
    ++callbacks_running_;
    lk.unlock();
    try {
      if (cb) cb(info);
    } catch (const std::exception& e) {
      log::error(std::string("exit callback threw: ") + e.what(), info.queue_id);
    }
    lk.lock();
    --callbacks_running_;
    callbacks_cv_.notify_all();
  }
}

void ProcessLauncher::supervise() {
  std::unique_lock lk(mu_);
  for (;;) {
    while (!requests_.empty()) {
      SpawnRequest* req = requests_.front();
      requests_.pop_front();
      req->result.set_value(spawn_locked(req->spec));
    }
    reap(lk);
    auto now = std::chrono::steady_clock::now();
    for (auto& [key, c] : children_) {
      if (c.kill_requested && !c.sigkill_sent && now >= c.kill_deadline) {
        log::warn(key.second + " (pid " + std::to_string(c.pid) +
                      ") did not end after SIGTERM; sending SIGKILL",
                  key.first);
        signal_locked(c, SIGKILL);
        c.sigkill_sent = true;
      }
    }
    if (shut_down_ && children_.empty() && requests_.empty()) return;
    cv_.wait_for(lk, opts_.poll_interval);
  }
}

void ProcessLauncher::shutdown() {
  std::lock_guard serial(shutdown_mu_);
  {
    std::lock_guard lk(mu_);
    if (!supervisor_.joinable()) return;
    shut_down_ = true;
    auto deadline = std::chrono::steady_clock::now() + opts_.kill_grace;
    for (auto& [key, c] : children_) {
      if (c.kill_requested) continue;
      c.kill_requested = true;
      c.kill_deadline = deadline;
      signal_locked(c, SIGTERM);
    }
    cv_.notify_all();
  }
  supervisor_.join();
}

}  // namespace sf::launch
