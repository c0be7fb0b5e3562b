// Where a worker's time goes (issue 11, docs/benchmarks.md "Where the time goes"): the first
// moment of each step of a worker's life, in ms since its launch, and wall time summed per
// stage. A worker process logs both with its CPU time when it ends (one "profile:" line in
// its log); the pipeline benchmark reads that line.
//
// The origin is the launch: SF_LAUNCHED_AT_US (wall clock, set by the process launcher) when
// set_origin_us() was given it, else the first use in this process. Workers running as
// threads of one process share these figures (stage names carry the role). Thread-safe; one
// clock read and an uncontended lock per call, meant for per-page and per-batch use.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace sf::workers::profile {

// Wall-clock microseconds since the epoch.
int64_t wall_us();
void set_origin_us(int64_t wall_us);
// Notes the first time `name` happens (later calls with the same name change nothing).
void mark(std::string_view name);
// Adds `us` microseconds to stage `name` and counts one.
void add(std::string_view name, int64_t us);
// Microseconds from `start` to now (steady clock).
inline int64_t us_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                               start)
      .count();
}
// "marks (ms since launch): a 12, b 40; stages (ms, count): x 310/52, y 20/3"
std::string summary();
// "cpu user 0.41 s sys 0.12 s" of this process (getrusage).
std::string cpu_summary();

// Adds its lifetime to a stage when it goes out of scope.
class Timer {
 public:
  explicit Timer(std::string_view name) : name_(name), start_(std::chrono::steady_clock::now()) {}
  ~Timer() { add(name_, us_since(start_)); }
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

 private:
  std::string_view name_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace sf::workers::profile
