// Memory soak benchmark (issue 10), run by `make bench`, never by `make test`: one real
// `streamforge up` process (memory bus, SQLite store, in-process workers) loads one year of
// 1m candles (525,600) from a real `streamforge sim` --loads times in a row, each a fresh
// symbol/year, and its VmRSS is read after each load, once the queue has finished and its
// worker threads have exited. Targets: RSS after the last load at most 1.5x RSS after the
// first, and under 150 MB. --runs times (default 3); medians printed and, with
// --markdown FILE, written into FILE between the soak-bench markers.
#include <signal.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include <CLI/CLI.hpp>

#include "base/log.h"
#include "bench/bench_child.h"
#include "bench/bench_util.h"
#include "http/client.h"
#include "support/process.h"

namespace bj = boost::json;
using namespace std::chrono;
using sf::bench::Child;
using sf::bench::load_average;
using sf::bench::median;

namespace {

constexpr double kMaxRatio = 1.5;
constexpr double kMaxLastMb = 150;

// The sim's symbols with a market from 2018 on; each load a symbol-year not loaded before
// in the run, so every one is a full fresh load (nothing already in the store).
const char* const kSymbols[] = {"BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT"};

int threads_of(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  return -1;
}

struct Run {
  std::vector<double> rss_mb;  // after each load
  std::vector<double> secs;    // each load's wall time, start to finished
  double rss_start_mb = 0, hwm_mb = 0, load_avg = 0;
  double first() const { return rss_mb.front(); }
  double last() const { return rss_mb.back(); }
  double ratio() const { return last() / first(); }
  bool pass() const { return ratio() <= kMaxRatio && last() < kMaxLastMb; }
};

// Starts one load and waits for it to finish; throws unless all candles were written.
double one_load(sf::http::Client& api, const std::string& symbol, int year) {
  const std::string range = std::to_string(year) + "-01-01:" + std::to_string(year + 1) + "-01-01";
  bj::object body{{"flow_name", "historical_candles"}, {"symbol", symbol}, {"time_range", range}};
  // 525,600 candles (527,040 in a leap year).
  return sf::bench::run_test_flow(api, body, milliseconds(200), 525'600);
}

Run soak(const std::string& dir, int loads) {
  Run run;
  run.load_avg = load_average();
  const std::string bin = sf::testing::streamforge_binary();
  // Limits off in the simulator; the manager's own limiter still paces loaders at the
  // default 6,000 weight a minute (fraction 1: about 5.7 one-year loads a minute).
  Child sim({bin, "sim", "--port", "0", "--no-limits"}, dir + "/sim.log", "streamforge sim");
  Child up({bin, "up", "--port", "0", "--data-dir", dir + "/data", "--exchange-url", sim.url,
            "--exchange-weight-fraction", "1", "--log-level", "warn"},
           dir + "/up.log", "streamforge up");
  const int pid = up.proc->pid();
  const std::string spid = std::to_string(pid);
  sf::http::Client api(up.url, {}, seconds(30));
  const int idle_threads = threads_of(pid);
  run.rss_start_mb = sf::bench::status_mb(spid, "VmRSS:");
  for (int i = 0; i < loads; ++i) {
    const std::string symbol = kSymbols[i % 4];
    const int year = 2018 + i / 4;
    const double secs = one_load(api, symbol, year);
    // The queue is finished; its worker threads end right after their final events.
    for (int w = 0; w < 100 && threads_of(pid) > idle_threads; ++w)
      std::this_thread::sleep_for(milliseconds(100));
    std::this_thread::sleep_for(milliseconds(500));
    const double rss = sf::bench::status_mb(spid, "VmRSS:");
    run.rss_mb.push_back(rss);
    run.secs.push_back(secs);
    std::printf("  load %2d %s %d: %5.1f s, RSS %6.1f MB (threads %d)\n", i + 1, symbol.c_str(),
                year, secs, rss, threads_of(pid));
    std::fflush(stdout);
  }
  run.hwm_mb = sf::bench::status_mb(spid, "VmHWM:");
  return run;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 3, loads = 20;
  std::string markdown;
  CLI::App app{"Memory soak: RSS of one embedded manager over successive one-year loads."};
  sf::bench::add_run_options(app, runs, markdown);
  app.add_option("--loads", loads, "one-year 1m loads per run")->check(CLI::Range(2, 1000));
  CLI11_PARSE(app, argc, argv);
  sf::log::set_level(sf::log::Level::warn);
  const std::string root = sf::testing::make_temp_dir("sf-soak");
  std::vector<Run> all;
  try {
    for (int r = 0; r < runs; ++r) {
      const std::string dir = root + "/run" + std::to_string(r);
      std::filesystem::create_directories(dir);
      std::printf("run %d (load average %.2f):\n", r + 1, load_average());
      std::fflush(stdout);
      Run run = soak(dir, loads);
      std::printf(
          "run %d: RSS idle %.1f MB, after load 1 %.1f MB, after load %d %.1f MB, "
          "ratio %.2f, VmHWM %.1f MB: %s\n",
          r + 1, run.rss_start_mb, run.first(), loads, run.last(), run.ratio(), run.hwm_mb,
          run.pass() ? "PASS" : "FAIL");
      std::fflush(stdout);
      all.push_back(std::move(run));
      std::filesystem::remove_all(dir);  // about 0.75 GB of SQLite per run
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "benchmark failed: %s (files kept in %s)\n", e.what(), root.c_str());
    return 1;
  }
  std::filesystem::remove_all(root);

  std::vector<double> first, last, ratio, most, hwm, secs;
  bool all_pass = true;
  for (const Run& r : all) {
    first.push_back(r.first());
    last.push_back(r.last());
    ratio.push_back(r.ratio());
    most.push_back(*std::max_element(r.rss_mb.begin(), r.rss_mb.end()));
    hwm.push_back(r.hwm_mb);
    secs.push_back(median(r.secs));
    all_pass = all_pass && r.pass();
  }
  const double med_ratio = median(ratio), med_last = median(last);
  const bool pass = med_ratio <= kMaxRatio && med_last < kMaxLastMb;
  char buf[4096];
  int n = std::snprintf(
      buf, sizeof buf,
      "| measure | median of %d runs | target | ratio (figure / target) |\n|---|---|---|---|\n"
      "| RSS after load 1 | %.1f MB | | |\n"
      "| RSS after load %d | %.1f MB | < 150 MB | %s |\n"
      "| RSS after load %d / after load 1 | %.2f | <= 1.5 | %s |\n"
      "| highest RSS after any load | %.1f MB | | |\n"
      "| peak RSS during the run (VmHWM) | %.1f MB | | |\n"
      "| one load, start to finished (median of the run's loads) | %.1f s | | |\n\n"
      "Per run (RSS in MB after each load, load average when the run started):\n\n",
      runs, median(first), loads, med_last, sf::bench::ratio(med_last, kMaxLastMb, false).c_str(),
      loads, med_ratio, sf::bench::ratio(med_ratio, kMaxRatio, false).c_str(), median(most),
      median(hwm), median(secs));
  std::string md(buf, static_cast<size_t>(n));
  for (size_t r = 0; r < all.size(); ++r) {
    const Run& run = all[r];
    std::snprintf(buf, sizeof buf, "- run %zu (load %.2f): idle %.1f, then", r + 1, run.load_avg,
                  run.rss_start_mb);
    md += buf;
    for (size_t i = 0; i < run.rss_mb.size(); ++i)
      md += (i ? ", " : " ") + std::to_string(static_cast<int>(run.rss_mb[i] + 0.5));
    std::snprintf(buf, sizeof buf, "; ratio %.2f, VmHWM %.1f: %s\n", run.ratio(), run.hwm_mb,
                  run.pass() ? "PASS" : "FAIL");
    md += buf;
  }
  std::printf(
      "\n%s\nsoak: %s (median ratio %.2f <= %.1f, median RSS after the last load %.1f MB "
      "< %.0f MB; every run %s)\n",
      md.c_str(), pass ? "PASS" : "FAIL", med_ratio, kMaxRatio, med_last, kMaxLastMb,
      all_pass ? "passed" : "did not pass");
  // A missed target is a figure, as in the other benchmarks; errors return 1.
  return sf::bench::record_markdown(markdown, "soak-bench", md);
}
