// Injectable clocks: production code takes a Clock& so tests can control time.
#pragma once

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

// Seconds since the epoch with millisecond precision, as the seed's `timestamp` fields.
inline double now_seconds(const Clock& c) { return static_cast<double>(c.now_ms()) / 1000.0; }

}  // namespace sf
