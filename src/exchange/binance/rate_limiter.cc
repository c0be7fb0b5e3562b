#include "exchange/binance/rate_limiter.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "base/log.h"

namespace sf::exchange::binance {

std::string format_utc_ms(int64_t t_ms) {
  int64_t secs = t_ms >= 0 ? t_ms / 1000 : (t_ms - 999) / 1000;
  int millis = static_cast<int>(t_ms - secs * 1000);
  std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

void CvWaiter::wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                          const Clock& clock, int64_t until_ms) {
  int64_t rel = until_ms - clock.now_ms();
  if (rel <= 0) return;
  cv.wait_for(lock, std::chrono::milliseconds(rel));
}

CvWaiter& CvWaiter::instance() {
  static CvWaiter w;
  return w;
}

RateLimiter::RateLimiter(RateLimiterOptions options, const Clock& clock, Waiter& waiter)
    : clock_(clock),
      waiter_(waiter),
      fraction_(std::clamp(options.fraction, 0.01, 1.0)),
      default_ban_ms_(std::max<int64_t>(1, options.default_ban.count()) * 1000),
      on_limit_response_(std::move(options.on_limit_response)),
      limit_(std::max<int64_t>(1, options.weight_limit_per_minute)) {
  window_start_ = minute_window(clock_.now_ms());
}

int64_t RateLimiter::budget_locked() const {
  return std::max<int64_t>(
      1, static_cast<int64_t>(std::floor(static_cast<double>(limit_) * fraction_)));
}

void RateLimiter::roll_window_locked(int64_t now) {
  int64_t w = minute_window(now);
  // A clock stepping backwards keeps the current window (the safe side).
  if (w > window_start_) {
    window_start_ = w;
    used_ = 0;
  }
}

Result<Grant> RateLimiter::acquire(int weight, std::chrono::milliseconds max_wait,
                                   const std::function<bool()>& keep_waiting) {
  if (weight < 1) {
    return Error(Errc::invalid_argument, "rate limiter: weight must be at least 1", "weight");
  }
  std::unique_lock lk(mu_);
  const int64_t start = clock_.now_ms();
  const int64_t deadline = start + std::max<int64_t>(0, max_wait.count());
  for (;;) {
    const int64_t now = clock_.now_ms();
    if (closed_) return Error(Errc::closed, "rate limiter is closed");
    roll_window_locked(now);
    const int64_t budget = budget_locked();
    if (weight > budget) {
      return Error(Errc::invalid_argument,
                   "rate limiter: weight " + std::to_string(weight) +
                       " exceeds the whole per-minute budget of " + std::to_string(budget),
                   "weight");
    }
    int64_t wake;
    std::string why;
    if (now < blocked_until_) {
      wake = blocked_until_;
      bool banned = ban_ && now < ban_->until_ms;
      why = banned ? "banned by the exchange (HTTP 418) until " + format_utc_ms(wake)
                   : "throttled by the exchange (HTTP 429) until " + format_utc_ms(wake);
    } else if (sync_shared_locked(now, weight, budget)) {
      ++counters_.granted;
      counters_.waited_ms += now - start;
      return Grant{window_start_, weight};
    } else if (now < blocked_until_) {
      continue;  // another process saw a 429 or 418: wait as told (the branch above)
    } else {
      wake = window_start_ + 60'000;
      why = "weight budget " + std::to_string(budget) + " of this minute spent until " +
            format_utc_ms(wake);
    }
    if (wake > deadline) {
      counters_.waited_ms += now - start;
      return Error(Errc::timeout, "rate limiter: " + why + ", beyond the caller's deadline of " +
                                      std::to_string(max_wait.count()) + " ms");
    }
    if (keep_waiting) {
      // Asked without the lock held: the caller may do its own work (telemetry) meanwhile.
      lk.unlock();
      const bool go_on = keep_waiting();
      lk.lock();
      if (!go_on) {
        counters_.waited_ms += clock_.now_ms() - start;
        return Error(Errc::closed, "rate limiter: gave up waiting (" + why + ")");
      }
      wake = std::min(wake, clock_.now_ms() + kKeepWaitingPollMs);
    }
    waiter_.wait_until(cv_, lk, clock_, wake);
  }
}

void RateLimiter::observe(const Grant& grant, int status, std::optional<int64_t> used_weight_1m,
                          std::optional<int64_t> retry_after_s) {
  std::string note;
  {
    std::lock_guard lk(mu_);
    const int64_t now = clock_.now_ms();
    roll_window_locked(now);
    if (used_weight_1m && *used_weight_1m >= 0 && grant.window_start_ms == window_start_) {
      used_ = std::max(used_, *used_weight_1m);
    }
    const auto publish = [&] { (void)sync_shared_locked(now, 0, budget_locked()); };
    bool has_retry = retry_after_s && *retry_after_s >= 0;
    if (status == 429) {
      ++counters_.throttled;
      int64_t until = has_retry ? now + *retry_after_s * 1000 : window_start_ + 60'000;
      blocked_until_ = std::max(blocked_until_, until);
      note = "exchange throttled requests (HTTP 429); all requests wait until " +
             format_utc_ms(blocked_until_);
    } else if (status == 418) {
      ++counters_.bans;
      int64_t until = now + (has_retry ? *retry_after_s * 1000 : default_ban_ms_);
      blocked_until_ = std::max(blocked_until_, until);
      ban_ = Ban{now, until};
      note = "exchange banned this IP (HTTP 418) until " + format_utc_ms(until) +
             "; all requests are blocked until then";
    }
    publish();  // the header's count and any wait reach the other processes
  }
  if (!note.empty()) log::warn(note);
  if (!note.empty() && on_limit_response_) on_limit_response_(status);
}

void RateLimiter::set_limit(int64_t weight_per_minute) {
  if (weight_per_minute < 1) return;
  {
    std::lock_guard lk(mu_);
    limit_ = weight_per_minute;
    limit_known_ = true;
    // Tell the host's other loaders, which may still be on the default limit.
    (void)sync_shared_locked(clock_.now_ms(), 0, budget_locked());
  }
  cv_.notify_all();
}

std::optional<Ban> RateLimiter::last_ban() const {
  std::lock_guard lk(mu_);
  return ban_;
}

std::optional<int64_t> RateLimiter::banned_until() const {
  std::lock_guard lk(mu_);
  if (ban_ && clock_.now_ms() < ban_->until_ms) return ban_->until_ms;
  return std::nullopt;
}

RateLimiterStats RateLimiter::stats() const {
  std::lock_guard lk(mu_);
  RateLimiterStats s = counters_;
  // Report the window as of now without mutating (const): a stale window reads as empty.
  int64_t now = clock_.now_ms();
  bool stale = minute_window(now) > window_start_;
  s.window_start_ms = stale ? minute_window(now) : window_start_;
  s.used_weight = stale ? 0 : used_;
  s.budget = budget_locked();
  s.limit = limit_;
  s.blocked_until_ms = now < blocked_until_ ? blocked_until_ : 0;
  return s;
}

RateLimiter::~RateLimiter() {
  if (shared_fd_ >= 0) ::close(shared_fd_);
}

Status RateLimiter::share_through(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return Error(Errc::io_error,
                 "cannot open the shared weight budget " + path + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX) != 0 || ::flock(fd, LOCK_UN) != 0) {
    const int e = errno;
    ::close(fd);
    return Error(Errc::io_error,
                 "cannot lock the shared weight budget " + path + ": " + std::strerror(e));
  }
  std::lock_guard lk(mu_);
  if (shared_fd_ >= 0) ::close(shared_fd_);
  shared_fd_ = fd;
  return {};
}

namespace {

// The file's one line: "<window_start_ms> <used> <blocked_until_ms> <limit>\n", limit 0
// while no process has read it from exchangeInfo. Anything else (an empty new file, a torn
// or foreign content) reads as an empty window; a line without the limit as limit 0.
struct SharedState {
  int64_t window_start = 0, used = 0, blocked_until = 0, limit = 0;
};

bool read_shared(int fd, SharedState* st) {
  char buf[128];
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n < 0) return false;
  buf[n] = '\0';
  long long w = 0, u = 0, b = 0, l = 0;
  const int got = std::sscanf(buf, "%lld %lld %lld %lld", &w, &u, &b, &l);
  if (got >= 3 && w >= 0 && u >= 0 && b >= 0) *st = SharedState{w, u, b, got == 4 && l > 0 ? l : 0};
  return true;
}

bool write_shared(int fd, const SharedState& st) {
  char buf[128];
  const int n =
      std::snprintf(buf, sizeof buf, "%lld %lld %lld %lld\n",
                    static_cast<long long>(st.window_start), static_cast<long long>(st.used),
                    static_cast<long long>(st.blocked_until), static_cast<long long>(st.limit));
  return ::pwrite(fd, buf, static_cast<size_t>(n), 0) == n && ::ftruncate(fd, n) == 0;
}

}  // namespace

bool RateLimiter::sync_shared_locked(int64_t now, int weight, int64_t budget) {
  auto local = [&] {
    if (weight == 0 || used_ + weight > budget) return false;
    used_ += weight;
    return true;
  };
  if (shared_fd_ < 0) return local();
  SharedState st;
  bool ok = ::flock(shared_fd_, LOCK_EX) == 0;
  if (ok) {
    ok = read_shared(shared_fd_, &st);
    // The newer window wins; within one window the larger count (ours may include a header).
    if (ok) {
      if (st.window_start < window_start_)
        st = SharedState{window_start_, 0, st.blocked_until, st.limit};
      if (st.window_start == window_start_) st.used = std::max(st.used, used_);
      st.blocked_until = std::max(st.blocked_until, blocked_until_);
      if (minute_window(now) > st.window_start)
        st = SharedState{minute_window(now), 0, st.blocked_until, st.limit};
      // The exchange's limit, once one process has read it: a loader still on the default
      // (its own exchangeInfo not answered yet) must not spend by a larger budget than the
      // host's (seen: an exchangeInfo of weight 20 granted past a spent budget of 400).
      if (limit_known_) {
        st.limit = limit_;
      } else if (st.limit > 0) {
        limit_ = st.limit;
        budget = budget_locked();
      }
    }
    bool granted = false;
    if (ok && weight > 0 && now >= st.blocked_until && st.used + weight <= budget) {
      st.used += weight;
      granted = true;
    }
    if (ok) ok = write_shared(shared_fd_, st);
    (void)::flock(shared_fd_, LOCK_UN);
    if (ok) {
      window_start_ = st.window_start;
      used_ = st.used;
      blocked_until_ = std::max(blocked_until_, st.blocked_until);
      return granted;
    }
  }
  if (!shared_failed_logged_) {
    shared_failed_logged_ = true;
    log::warn(std::string("rate limiter: the shared weight budget failed (") +
              std::strerror(errno) + "); this process counts on its own from now on");
  }
  ::close(shared_fd_);
  shared_fd_ = -1;
  return local();
}

void RateLimiter::close() {
  {
    std::lock_guard lk(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

}  // namespace sf::exchange::binance
