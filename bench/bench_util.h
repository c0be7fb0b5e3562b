// Shared by the benchmarks in bench/: order statistics, /proc memory figures and the load
// average, the marked sections of docs/benchmarks.md each benchmark rewrites, synthetic
// candles and an exchange simulator without limits. Header-only (a benchmark that uses
// UnlimitedExchange links sf_exchange_sim and sf_exchange_binance).
#pragma once

#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "exchange/binance/rate_limiter.h"
#include "exchange/sim/server.h"
#include "market/records.h"

namespace sf::bench {

// The options every benchmark takes: --runs (the median of N is reported) and --markdown
// FILE (docs/benchmarks.md, rewritten between the benchmark's markers).
inline void add_run_options(CLI::App& app, int& runs, std::string& markdown) {
  app.add_option("--runs", runs, "runs, the median is reported")->check(CLI::PositiveNumber);
  app.add_option("--markdown", markdown, "write the figures into this file (docs/benchmarks.md)");
}

// The p-quantile (0..1) of v by nearest rank; 0 for an empty v (a part not run).
inline double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

inline double median(std::vector<double> v) { return percentile(std::move(v), 0.5); }

// The process's CPU time (every thread, user + system), s.
inline double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Writes every dirty page back (sync(2)) before a timed part, so a part does not pay for
// the writeback of the gigabytes the part before it left in the page cache (a broker's
// logs: docs/benchmarks.md, Kafka data path).
inline void settle_disk() { ::sync(); }

// A /proc/<pid>/status figure ("VmRSS:", "VmHWM:") in MB; -1 when unreadable.
inline double status_mb(const std::string& pid, const char* field) {
  std::ifstream in("/proc/" + pid + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field, 0) == 0) return std::stod(line.substr(std::strlen(field))) / 1024.0;
  return -1;
}

// Runs `cmd` with /bin/sh and returns its stdout; throws when it cannot start or exits
// non-zero (the output in the message).
inline std::string run_command(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) throw std::runtime_error("cannot run " + cmd);
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  if (int st = ::pclose(p); st != 0)
    throw std::runtime_error("`" + cmd + "` failed (status " + std::to_string(st) + "): " + out);
  return out;
}

// The last line of `s`, trailing newlines ignored.
inline std::string last_line(std::string s) {
  while (!s.empty() && s.back() == '\n') s.pop_back();
  const auto nl = s.rfind('\n');
  return nl == std::string::npos ? s : s.substr(nl + 1);
}

// The 1-minute load average from /proc/loadavg; -1 when unreadable.
inline double load_average() {
  std::ifstream in("/proc/loadavg");
  double l = -1;
  in >> l;
  return l;
}

// The command line as it was given, for the record in the docs; an absolute path to the
// binary is cut to <build dir>/bench/<name> (no machine paths in the repository) and each
// argument goes through `arg` (pg_bench redacts URLs).
inline std::string command_line(int argc, char** argv,
                                const std::function<std::string(std::string)>& arg = {}) {
  std::filesystem::path bin(argv[0]);
  std::string cmd =
      bin.is_absolute() && bin.has_parent_path() && bin.parent_path().has_parent_path()
          ? (bin.parent_path().parent_path().filename() / "bench" / bin.filename()).string()
          : bin.string();
  for (int i = 1; i < argc; ++i) cmd += " " + (arg ? arg(argv[i]) : std::string(argv[i]));
  return cmd;
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

// The end of a benchmark's main(): `section` written into `file`, when one is given, between
// NAME's markers. The exit code: 0, or 1 with the error on stderr when it could not be written.
inline int record_markdown(const std::string& file, const std::string& name,
                           const std::string& section) {
  if (file.empty()) return 0;
  try {
    write_markdown(file, name, section);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: the figures were not recorded: %s\n", name.c_str(), e.what());
    return 1;
  }
  return 0;
}

// "1.23 (met)" / "0.80 (MISSED)": figure / target; `higher` says which way is better.
inline std::string ratio(double figure, double target, bool higher) {
  const double r = figure / target;
  const bool met = higher ? r >= 1 : r <= 1;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f (%s)", r, met ? "met" : "MISSED");
  return buf;
}

// Candle number `i` of the benchmarks' synthetic BTCUSDT 1m series: realistic decimal text
// (8 decimals, varying prices), open at `open_time`.
inline market::Candle synthetic_candle(int64_t open_time, int64_t i) {
  market::Candle c;
  c.symbol = "BTCUSDT";
  c.interval = "1m";
  c.open_time = open_time;
  c.close_time = open_time + 59'999;
  const int64_t p = 4'200'000 + (i * 7919) % 100'000;  // cents
  auto dec = [](int64_t cents) {
    return std::to_string(cents / 100) + "." + std::to_string(10 + cents % 90) + "000000";
  };
  c.open = dec(p);
  c.high = dec(p + 150);
  c.low = dec(p - 150);
  c.close = dec(p + 20);
  c.volume = "12.34567000";
  c.quote_volume = "518234.12345678";
  c.trades = 1000 + i % 500;
  c.taker_buy_base_volume = "6.17283500";
  c.taker_buy_quote_volume = "259117.06172839";
  return c;
}

// The first `n` of that series from 2024-01-01T00:00Z, one a minute.
inline std::vector<market::Candle> synthetic_candles(int64_t n) {
  std::vector<market::Candle> out;
  out.reserve(static_cast<size_t>(n));
  const int64_t t0 = 1'704'067'200'000;  // 2024-01-01
  for (int64_t i = 0; i < n; ++i) out.push_back(synthetic_candle(t0 + i * 60'000, i));
  return out;
}

// The exchange simulator with its limits off (and a weight limit of 10^9, which its
// exchangeInfo advertises), started, and a rate limiter with the same budget: the loaders'
// own limiter would keep them under 80% of 6,000 weight a minute (40 pages/s), and the
// benchmarks measure the pipeline, not the exchange's pacing. Throws when the simulator
// cannot start. `kline_cache_bytes`: SimOptions::kline_cache_bytes (0: every page computed).
struct UnlimitedExchange {
  static constexpr int64_t kBudget = 1'000'000'000;
  explicit UnlimitedExchange(size_t kline_cache_bytes = 0)
      : server(sim_options(kline_cache_bytes)), limiter(limiter_options()) {
    if (auto s = server.start(); !s)
      throw std::runtime_error("simulator start: " + s.error().message);
  }
  static exchange::sim::SimOptions sim_options(size_t kline_cache_bytes) {
    exchange::sim::SimOptions o;
    o.limits = false;
    o.weight_limit = kBudget;
    o.kline_cache_bytes = kline_cache_bytes;
    return o;
  }
  static exchange::binance::RateLimiterOptions limiter_options() {
    exchange::binance::RateLimiterOptions o;
    o.weight_limit_per_minute = kBudget;
    o.fraction = 1.0;
    return o;
  }
  exchange::sim::SimServer server;
  exchange::binance::RateLimiter limiter;
};

}  // namespace sf::bench
