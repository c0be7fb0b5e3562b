// Shared by the benchmarks in bench/: order statistics, /proc memory figures and the
// marked sections of docs/benchmarks.md each benchmark rewrites. Header-only.
#pragma once

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace sf::bench {

// The p-quantile (0..1) of v by nearest rank; v must not be empty.
inline double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

inline double median(std::vector<double> v) { return percentile(std::move(v), 0.5); }

// A /proc/<pid>/status figure ("VmRSS:", "VmHWM:") in MB; -1 when unreadable.
inline double status_mb(const std::string& pid, const char* field) {
  std::ifstream in("/proc/" + pid + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field, 0) == 0) return std::stod(line.substr(std::strlen(field))) / 1024.0;
  return -1;
}

// Replaces the text between `<!-- NAME:begin -->` and `<!-- NAME:end -->` in `file` with
// `section` (appends the marked block when the markers are missing). Throws on I/O errors.
inline void write_markdown(const std::string& file, const std::string& name,
                           const std::string& section) {
  std::string text;
  {
    std::ifstream in(file);
    if (!in) throw std::runtime_error("cannot read " + file);
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  const std::string begin = "<!-- " + name + ":begin -->", end = "<!-- " + name + ":end -->";
  auto b = text.find(begin), e = text.find(end);
  std::string block = begin + "\n" + section + end;
  if (b != std::string::npos && e != std::string::npos)
    text.replace(b, e + end.size() - b, block);
  else
    text += "\n" + block + "\n";
  std::ofstream out(file);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + file);
}

// "1.23 (met)" / "0.80 (MISSED)": figure / target; `higher` says which way is better.
inline std::string ratio(double figure, double target, bool higher) {
  const double r = figure / target;
  const bool met = higher ? r >= 1 : r <= 1;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f (%s)", r, met ? "met" : "MISSED");
  return buf;
}

}  // namespace sf::bench
