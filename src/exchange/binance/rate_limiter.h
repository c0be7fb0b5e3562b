// The process-wide Binance request-weight limiter, shared by every loader thread.
//
// Binance counts request weight per IP in 1-minute windows aligned to wall-clock minutes
// and answers 429 (with Retry-After) when the limit is broken, then 418 (an IP ban of 2
// minutes to 3 days) when a client goes on. This limiter keeps the process under
// `fraction` of the limit:
//   - acquire(weight) spends from the current window's budget, floor(limit * fraction),
//     blocking until the next window when the budget is spent;
//   - observe() corrects the count from every X-MBX-USED-WEIGHT-1M header (the max of our
//     own count and the exchange's, for the window the request was granted in), so other
//     processes on the same IP and requests the exchange counts differently are included;
//   - on 429 every caller waits out Retry-After (default: until the next window);
//   - on 418 every caller waits until the ban ends; the ban is recorded (last_ban()) so a
//     loader can report it.
// An acquire() whose wait would end after its deadline fails at once with Errc::timeout
// (it does not sleep first); close() wakes every waiter with Errc::closed, and so does a
// caller's own keep_waiting() answering false (a loader told to stop while it waits for the
// next window must not sleep through the stop).
//
// Host-wide budget (share_through()): loaders in separate processes on one host spend from
// one budget, kept in a small file (the window start, the weight used in it, the end of
// any 429/418 wait, and the limit once a process has read it from exchangeInfo, which
// processes still on the default adopt) that every process reads and updates under an exclusive
// flock(2), held only for that read-modify-write. A process's own count is then the host's; headers
// and 429/418 seen by any process reach all of them. Across hosts nothing is shared but the
// X-MBX-USED-WEIGHT-1M header, which reports the whole IP's use (docs/operations.md).
//
// Time: the window and the waits follow the injected Clock's wall time (now_ms()); all
// waiting goes through the injected Waiter, so unit tests run on a fake clock.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "base/clock.h"
#include "base/result.h"

namespace sf::exchange::binance {

// How the limiter blocks. Called with `lock` held on the limiter's mutex; must return
// when `cv` is notified or (about) when clock.now_ms() reaches until_ms, whichever is
// first. Spurious returns are fine: the limiter re-checks its state.
class Waiter {
 public:
  virtual ~Waiter() = default;
  virtual void wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                          const Clock& clock, int64_t until_ms) = 0;
};

// Real waiting on the condition variable (for SystemClock).
class CvWaiter final : public Waiter {
 public:
  void wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                  const Clock& clock, int64_t until_ms) override;
  static CvWaiter& instance();
};

struct RateLimiterOptions {
  int64_t weight_limit_per_minute = 6000;  // replaced from exchangeInfo via set_limit()
  double fraction = 0.8;                   // of the limit, per window
  // Used when a 429 / 418 has no (valid) Retry-After header.
  std::chrono::seconds default_ban{120};
  // Called with 429 or 418 for each such answer observe()d (outside the limiter's lock):
  // the counters an operator alerts on (workers/exchange_access.h, limit_response_counter).
  std::function<void(int status)> on_limit_response;
};

// A granted acquire: the window (start, ms) the weight was counted in. Pass it back to
// observe() so a header from an older window does not inflate the current one.
struct Grant {
  int64_t window_start_ms = 0;
  int weight = 0;
};

struct Ban {
  int64_t since_ms = 0;  // when the 418 was seen
  int64_t until_ms = 0;  // when requests may resume
};

struct RateLimiterStats {
  int64_t window_start_ms = 0;
  int64_t used_weight = 0;  // in the current window: own count, corrected by headers
  int64_t budget = 0;       // floor(limit * fraction)
  int64_t limit = 0;
  int64_t blocked_until_ms = 0;  // 0 when not blocked by a 429/418
  int64_t granted = 0;           // acquire() calls granted
  int64_t throttled = 0;         // 429s observed
  int64_t bans = 0;              // 418s observed
  int64_t waited_ms = 0;         // total time callers spent blocked (clock time)
};

class RateLimiter {
 public:
  explicit RateLimiter(RateLimiterOptions options = {},
                       const Clock& clock = SystemClock::instance(),
                       Waiter& waiter = CvWaiter::instance());
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // Blocks until `weight` can be spent within the budget, then spends it. Errors:
  // invalid_argument (weight < 1 or above the whole budget), timeout (the wait would end
  // after now + max_wait; message says why: budget, 429 or ban), closed (close(), or
  // keep_waiting returned false). A non-empty keep_waiting is called on the caller's thread
  // at least every kKeepWaitingPollMs of clock time while it waits (never when no wait is
  // needed); it must not call into this limiter.
  Result<Grant> acquire(int weight, std::chrono::milliseconds max_wait,
                        const std::function<bool()>& keep_waiting = {});
  static constexpr int64_t kKeepWaitingPollMs = 100;

  // Feeds one response back: status code, X-MBX-USED-WEIGHT-1M (if present and numeric),
  // Retry-After seconds (if present). 429 blocks every caller for Retry-After; 418 bans.
  void observe(const Grant& grant, int status, std::optional<int64_t> used_weight_1m,
               std::optional<int64_t> retry_after_s);

  // The limit from exchangeInfo's REQUEST_WEIGHT/1 MINUTE rateLimit (values < 1 ignored).
  void set_limit(int64_t weight_per_minute);

  // The last 418 ban seen, if any (also after it ended).
  std::optional<Ban> last_ban() const;
  // End of the active 418 ban, if one is active now.
  std::optional<int64_t> banned_until() const;
  RateLimiterStats stats() const;

  // Fails every current and future acquire() with Errc::closed.
  void close();

  // Spends from the host-wide budget kept in `path` (created 0600 if absent; its directory
  // must exist) from now on. Errc::io_error when the file cannot be opened or locked. A
  // later I/O error on it falls back to this process's own count (logged once).
  Status share_through(const std::string& path);

  const Clock& clock() const { return clock_; }

 private:
  void roll_window_locked(int64_t now);
  int64_t budget_locked() const;
  // With a shared file: merges this process's view into the file and back, under flock, and
  // spends `weight` when the host's window has room (true). Without one (or on an I/O
  // error): the local check. mu_ held.
  bool sync_shared_locked(int64_t now, int weight, int64_t budget);

  const Clock& clock_;
  Waiter& waiter_;
  const double fraction_;
  const int64_t default_ban_ms_;
  const std::function<void(int)> on_limit_response_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int64_t limit_;
  bool limit_known_ = false;  // limit_ set from exchangeInfo (set_limit), not the default
  int64_t window_start_ = 0;
  int64_t used_ = 0;
  int64_t blocked_until_ = 0;  // max of 429 retry-after and ban end
  std::optional<Ban> ban_;
  bool closed_ = false;
  RateLimiterStats counters_;
  int shared_fd_ = -1;  // the host-wide budget file, or -1
  bool shared_failed_logged_ = false;

 public:
  ~RateLimiter();
};

// Window start (ms) of the 1-minute window containing t.
inline int64_t minute_window(int64_t t_ms) { return t_ms - (t_ms % 60'000 + 60'000) % 60'000; }

// "2026-08-01T12:34:56.789Z"
std::string format_utc_ms(int64_t t_ms);

}  // namespace sf::exchange::binance
