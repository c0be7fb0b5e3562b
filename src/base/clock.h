// Injectable clocks: production code takes a Clock& so tests can control time.
#pragma once

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <stdexcept>

namespace sf {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time in milliseconds since the Unix epoch.
  virtual int64_t now_ms() const = 0;
  // Monotonic time in milliseconds (for timeouts and rates).
  virtual int64_t steady_ms() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t now_ms() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  int64_t steady_ms() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  static SystemClock& instance() {
    static SystemClock c;
    return c;
  }
};

// Test double: a clock that moves only when told; both readings are the same value.
// Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start_ms = 0) : t_(start_ms) {}
  int64_t now_ms() const override { return t_.load(); }
  int64_t steady_ms() const override { return t_.load(); }
  void set(int64_t t_ms) { t_.store(t_ms); }
  void advance(int64_t ms) { t_.fetch_add(ms); }

 private:
  std::atomic<int64_t> t_;
};

// A wall clock that runs `speed` times as fast as a base clock (the system clock by
// default), starting at the base's current time: now_ms() = base.now_ms() at construction
// + (base.steady_ms() - its value at construction) x speed, rounded to ms, monotonic.
// steady_ms() is the base's, unscaled: timeouts and rates measured with it stay in real
// time. The exchange simulator's `--speed` (60: one simulated minute per real second).
// Throws std::invalid_argument unless speed is finite and > 0. Thread-safe.
class ScaledClock final : public Clock {
 public:
  explicit ScaledClock(double speed, const Clock& base = SystemClock::instance())
      : base_(base),
        speed_(check(speed)),
        start_ms_(base.now_ms()),
        start_steady_(base.steady_ms()) {}
  int64_t now_ms() const override {
    const auto elapsed = static_cast<double>(base_.steady_ms() - start_steady_);
    return start_ms_ + static_cast<int64_t>(std::llround(elapsed * speed_));
  }
  int64_t steady_ms() const override { return base_.steady_ms(); }
  double speed() const { return speed_; }

 private:
  static double check(double speed) {
    if (!(speed > 0) || !std::isfinite(speed))
      throw std::invalid_argument("clock speed must be a finite number above 0");
    return speed;
  }
  const Clock& base_;
  const double speed_;
  const int64_t start_ms_;
  const int64_t start_steady_;
};

// Seconds since the epoch with millisecond precision, as the `timestamp` fields of
// docs/protocol.md.
inline double now_seconds(const Clock& c) { return static_cast<double>(c.now_ms()) / 1000.0; }

}  // namespace sf
