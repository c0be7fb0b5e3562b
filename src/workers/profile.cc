#include "workers/profile.h"

#include <sys/resource.h>

#include <cstdio>
#include <mutex>
#include <vector>

namespace sf::workers::profile {

namespace {

struct Stage {
  std::string name;
  int64_t us = 0, count = 0;
};

struct State {
  std::mutex mu;
  int64_t origin_us = 0;
  std::vector<std::pair<std::string, int64_t>> marks;  // name, wall us; in order of happening
  std::vector<Stage> stages;                           // a handful: linear search is enough
};

State& state() {
  static State s;
  return s;
}

int64_t origin_locked(State& s) {
  if (s.origin_us == 0) s.origin_us = wall_us();
  return s.origin_us;
}

}  // namespace

int64_t wall_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void set_origin_us(int64_t us) {
  State& s = state();
  std::lock_guard lk(s.mu);
  s.origin_us = us;
}

void mark(std::string_view name) {
  const int64_t now = wall_us();
  State& s = state();
  std::lock_guard lk(s.mu);
  origin_locked(s);
  for (const auto& m : s.marks)
    if (m.first == name) return;
  s.marks.emplace_back(std::string(name), now);
}

void add(std::string_view name, int64_t us) {
  State& s = state();
  std::lock_guard lk(s.mu);
  for (Stage& st : s.stages) {
    if (st.name == name) {
      st.us += us;
      ++st.count;
      return;
    }
  }
  s.stages.push_back(Stage{std::string(name), us, 1});
}

std::string summary() {
  State& s = state();
  std::lock_guard lk(s.mu);
  const int64_t origin = origin_locked(s);
  std::string out = "marks (ms since launch):";
  char buf[160];
  for (size_t i = 0; i < s.marks.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%s %s %.1f", i ? "," : "", s.marks[i].first.c_str(),
                  static_cast<double>(s.marks[i].second - origin) / 1000.0);
    out += buf;
  }
  out += "; stages (ms, count):";
  for (size_t i = 0; i < s.stages.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%s %s %.1f/%lld", i ? "," : "", s.stages[i].name.c_str(),
                  static_cast<double>(s.stages[i].us) / 1000.0,
                  static_cast<long long>(s.stages[i].count));
    out += buf;
  }
  return out;
}

std::string cpu_summary() {
  struct rusage ru {};
  ::getrusage(RUSAGE_SELF, &ru);
  auto secs = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  char buf[96];
  std::snprintf(buf, sizeof buf, "cpu user %.3f s sys %.3f s", secs(ru.ru_utime),
                secs(ru.ru_stime));
  return buf;
}

}  // namespace sf::workers::profile
