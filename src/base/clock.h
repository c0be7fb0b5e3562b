// Injectable clocks: production code takes a Clock& so tests can control time.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

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

// Seconds since the epoch with millisecond precision, as the `timestamp` fields of
// docs/protocol.md.
inline double now_seconds(const Clock& c) { return static_cast<double>(c.now_ms()) / 1000.0; }

}  // namespace sf
