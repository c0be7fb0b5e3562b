// Graph-building benchmark (issue 13: "graph building for 200 symbols x 1 year of 1m
// candles"), run by `make bench`, never by `make test`:
//   1. analytics::build_snapshot over every snapshot of 200 synthetic symbols x 525,600 1m
//      candles held in memory (correlated random walks in sectors, 0.1% of candles missing at
//      random): 1-day windows moved by 1 day, Pearson, threshold 0.5; extra rows for
//      Spearman, a lagged Pearson, windows moved by 6 hours and the pairwise path;
//   2. the same computation in NumPy (bench/graph_numpy_bench.py, Debian's /usr/bin/python3)
//      on the same data, passed through a float64 file in a temporary directory removed at
//      the end; C++ and NumPy alternate run by run and their edges and checksums are compared;
//   3. the rate at which the real graph-builder worker reads candles from SQLite: the worker
//      over 2 of the symbols' year stored in a SqliteDataStore, minus its in-memory build.
// Each measurement runs --runs times (default 3); the medians are printed and, with
// --markdown FILE, written into FILE between the graph_bench markers.
#include <unistd.h>

#include <array>
#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "analytics/graph.h"
#include "bench/bench_util.h"
#include "bus/memory/memory_bus.h"
#include "store/sqlite/sqlite_data_store.h"
#include "tests/support/worker.h"
#include "workers/graph_builder.h"

namespace {

namespace json = boost::json;
namespace sa = sf::analytics;
using sf::bench::last_line;
using sf::bench::median;
using sf::bench::run_command;
using Clock = std::chrono::steady_clock;

constexpr int64_t kT0 = 1'672'531'200'000;  // 2023-01-01T00:00:00Z
constexpr int64_t kMinute = 60'000;
constexpr const char* kTimeRange = "2023-01-01:2024-01-01";  // 365 days
constexpr size_t kDay = 1440;
constexpr size_t kSectors = 10;
constexpr int kMaxLag = 5;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double secs_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// ---- data -------------------------------------------------------------------------------

struct Data {
  std::vector<sa::AlignedSeries> series;
  size_t candles = 0;
  size_t missing = 0;
  double mb() const {
    return static_cast<double>(series.size() * candles * 2 * sizeof(double)) / (1024.0 * 1024.0);
  }
};

// `symbols` 1m series of `candles` candles from kT0: per minute, a market factor, a factor per
// sector (kSectors sectors of consecutive symbols) and noise, with loadings drawn per symbol
// (0.7..1.3), so pairs in one sector correlate at about 0.6 and others at about 0.2; volumes
// log-normal; each candle missing (close and volume NaN) with probability `missing`.
// Deterministic (fixed seed).
Data synthetic(size_t symbols, size_t candles, double missing) {
  std::mt19937_64 rng(20260113);
  std::normal_distribution<double> g(0.0, 1.0);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  constexpr double kMarket = 4e-4, kSector = 6e-4, kNoise = 6e-4;  // per-minute log-return sd
  Data d;
  d.candles = candles;
  d.series.resize(symbols);
  std::vector<double> beta_m(symbols), beta_s(symbols), price(symbols);
  for (size_t s = 0; s < symbols; ++s) {
    char name[32];
    std::snprintf(name, sizeof name, "S%03zuUSDT", s);
    d.series[s].symbol = name;
    d.series[s].close.resize(candles);
    d.series[s].volume.resize(candles);
    beta_m[s] = kMarket * (0.7 + 0.6 * u(rng));
    beta_s[s] = kSector * (0.7 + 0.6 * u(rng));
    price[s] = std::pow(10.0, 1.0 + 2.0 * u(rng));
  }
  std::vector<double> sector(kSectors);
  for (size_t i = 0; i < candles; ++i) {
    const double market = g(rng);
    for (double& f : sector) f = g(rng);
    for (size_t s = 0; s < symbols; ++s) {
      price[s] *= std::exp(beta_m[s] * market + beta_s[s] * sector[s * kSectors / symbols] +
                           kNoise * g(rng));
      const double vol = 50.0 * std::exp(0.5 * g(rng));
      if (u(rng) < missing) {
        d.series[s].close[i] = d.series[s].volume[i] = kNaN;
        ++d.missing;
      } else {
        d.series[s].close[i] = price[s];
        d.series[s].volume[i] = vol;
      }
    }
  }
  return d;
}

// Of the (series, window) pairs of windows of `window` candles moved by `window`, the fraction
// with a missing candle (so missing returns), and of the (pair of series, window) the
// fraction where either series has one.
std::pair<double, double> gap_fractions(const Data& d, size_t window) {
  const size_t windows = d.candles / window, n = d.series.size();
  size_t with_gap = 0;
  double pairs_with_gap = 0;
  for (size_t v = 0; v < windows; ++v) {
    size_t k = 0;
    for (const auto& s : d.series)
      for (size_t i = v * window; i < (v + 1) * window; ++i)
        if (std::isnan(s.close[i])) {
          ++k;
          break;
        }
    with_gap += k;
    const double complete = static_cast<double>(n - k);
    pairs_with_gap += 1.0 - complete * (complete - 1) / (static_cast<double>(n) * (n - 1));
  }
  return {static_cast<double>(with_gap) / static_cast<double>(windows * n),
          pairs_with_gap / static_cast<double>(windows)};
}

// The closes of every series, then their volumes (float64, native order), for NumPy.
void write_data(const Data& d, const std::string& file) {
  std::ofstream f(file, std::ios::binary);
  for (int part = 0; part < 2; ++part)
    for (const auto& s : d.series) {
      const auto& v = part == 0 ? s.close : s.volume;
      f.write(reinterpret_cast<const char*>(v.data()),
              static_cast<std::streamsize>(v.size() * sizeof(double)));
    }
  if (!f) throw std::runtime_error("cannot write " + file);
}

// ---- 1. the C++ build -------------------------------------------------------------------

struct Build {
  double seconds = 0, cpu_seconds = 0;
  size_t snapshots = 0, edges = 0;
  double corr_sum = 0, node_sum = 0;  // compared with NumPy's
  double hwm_mb = 0;                  // VmHWM at the end (reset just before the build)
  double extra_mb = 0;                // ... less VmRSS before it: the build's own memory
};

Build build_all(const Data& d, const sa::GraphOptions& o, size_t limit) {
  Build b;
  b.snapshots = sa::snapshot_count(d.candles, o);
  if (limit > 0) b.snapshots = std::min(b.snapshots, limit);
  std::ofstream("/proc/self/clear_refs") << "5";
  const double rss0 = sf::bench::status_mb("self", "VmRSS:");
  const double cpu0 = sf::bench::cpu_seconds();
  const auto t0 = Clock::now();
  for (size_t v = 0; v < b.snapshots; ++v) {
    const sa::GraphSnapshot snap =
        sa::build_snapshot(d.series, kT0, kMinute, static_cast<int64_t>(v), o);
    b.edges += snap.edges.size();
    for (const auto& e : snap.edges) b.corr_sum += e.correlation;
    for (const auto& n : snap.nodes)
      b.node_sum += n.log_return + n.volatility + n.volume_change + n.next_return;
  }
  b.seconds = secs_since(t0);
  b.cpu_seconds = sf::bench::cpu_seconds() - cpu0;
  b.hwm_mb = sf::bench::status_mb("self", "VmHWM:");
  b.extra_mb = b.hwm_mb - rss0;
  return b;
}

// The first `limit` snapshots built both ways: the pairwise path's time, and how far the
// fast path's edges are from its (the same edges expected, correlations within 1e-12).
struct PathCheck {
  Build pairwise;
  double max_diff = 0;
  size_t edges = 0, mismatched = 0;
};

PathCheck check_paths(const Data& d, const sa::GraphOptions& o, size_t limit) {
  PathCheck c;
  std::ofstream("/proc/self/clear_refs") << "5";
  const double rss0 = sf::bench::status_mb("self", "VmRSS:");
  c.pairwise.snapshots = std::min(limit, sa::snapshot_count(d.candles, o));
  for (size_t v = 0; v < c.pairwise.snapshots; ++v) {
    const auto version = static_cast<int64_t>(v);
    const auto fast = sa::build_snapshot(d.series, kT0, kMinute, version, o);
    const double cpu0 = sf::bench::cpu_seconds();
    const auto t0 = Clock::now();
    const auto pairwise =
        sa::build_snapshot(d.series, kT0, kMinute, version, o, 0, sa::PairPath::pairwise);
    c.pairwise.seconds += secs_since(t0);
    c.pairwise.cpu_seconds += sf::bench::cpu_seconds() - cpu0;
    c.pairwise.edges += pairwise.edges.size();
    if (fast.edges.size() != pairwise.edges.size() || fast.nodes != pairwise.nodes) {
      ++c.mismatched;
      continue;
    }
    for (size_t i = 0; i < fast.edges.size(); ++i) {
      const auto &f = fast.edges[i], &p = pairwise.edges[i];
      if (f.symbol != p.symbol || f.target != p.target || f.lag != p.lag || f.samples != p.samples)
        ++c.mismatched;
      c.max_diff = std::max(c.max_diff, std::abs(f.correlation - p.correlation));
      ++c.edges;
    }
  }
  c.pairwise.hwm_mb = sf::bench::status_mb("self", "VmHWM:");
  c.pairwise.extra_mb = c.pairwise.hwm_mb - rss0;
  return c;
}

// ---- 2. NumPy ---------------------------------------------------------------------------

struct NumPyRun {
  Build b;
  double matrix_seconds = 0;  // of b.seconds, in the correlation matrices
  std::string version;
};

NumPyRun run_numpy(const std::string& python, const std::string& data_file, const Data& d,
                   const sa::GraphOptions& o, size_t limit) {
  const std::string cmd =
      "'" + python + "' '" SF_SOURCE_DIR "/bench/graph_numpy_bench.py' --data '" + data_file +
      "' --symbols " + std::to_string(d.series.size()) + " --candles " + std::to_string(d.candles) +
      " --window " + std::to_string(o.window) + " --step " + std::to_string(o.step) +
      " --threshold " + std::to_string(*o.threshold) + " --snapshots " + std::to_string(limit);
  const auto v = json::parse(last_line(run_command(cmd))).as_object();
  NumPyRun r;
  r.b.seconds = v.at("seconds").to_number<double>();
  r.b.cpu_seconds = v.at("cpu_seconds").to_number<double>();
  r.b.snapshots = v.at("snapshots").to_number<size_t>();
  r.b.edges = v.at("edges").to_number<size_t>();
  r.b.corr_sum = v.at("corr_sum").to_number<double>();
  r.b.node_sum = v.at("node_sum").to_number<double>();
  r.b.hwm_mb = v.at("maxrss_mb").to_number<double>();
  r.matrix_seconds = v.at("matrix_seconds").to_number<double>();
  r.version = std::string(v.at("numpy").as_string());
  return r;
}

// ---- 3. the worker reading SQLite -------------------------------------------------------

std::string fixed8(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.8f", v);
  return buf;
}

// The first `n` series' candles (the present ones) into `store`, as the historical_candles
// flow names them.
size_t store_candles(sf::store::DataStore& store, const Data& d, size_t n) {
  size_t stored = 0;
  for (size_t s = 0; s < n; ++s) {
    const auto& a = d.series[s];
    std::string name = a.symbol;
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    name += "_candles_1m";
    std::vector<sf::market::Record> rows;
    auto flush = [&] {
      if (auto st = store.upsert(name, sf::market::Kind::candle, rows); !st)
        throw std::runtime_error("upsert: " + st.error().message);
      rows.clear();
    };
    for (size_t i = 0; i < d.candles; ++i) {
      if (std::isnan(a.close[i])) continue;
      sf::market::Candle c;
      c.symbol = a.symbol;
      c.interval = "1m";
      c.open_time = kT0 + static_cast<int64_t>(i) * kMinute;
      c.close_time = c.open_time + kMinute - 1;
      c.open = c.high = c.low = c.close = fixed8(a.close[i]);
      c.volume = fixed8(a.volume[i]);
      c.quote_volume = c.taker_buy_base_volume = c.taker_buy_quote_volume = "0";
      c.trades = 1;
      rows.emplace_back(std::move(c));
      ++stored;
      if (rows.size() == 50'000) flush();
    }
    flush();
  }
  return stored;
}

struct WorkerRun {
  double seconds = 0;  // the worker's run, wall
  int64_t edges = 0;
};

WorkerRun run_worker(sf::store::DataStore& store, const Data& d, size_t n, int run) {
  std::string symbols;
  for (size_t s = 0; s < n; ++s) symbols += (s ? "," : "") + d.series[s].symbol;
  sf::bus::MemoryBus bus;
  auto cfg = sf::testing::worker_config("wf-graph-bench", "graph-builder", "gb__1",
                                        d.series[0].symbol, "graph_correlation", "");
  cfg.collection_name = "g_bench_" + std::to_string(run);
  cfg.time_range = kTimeRange;
  cfg.start_timeout_s = 5;
  cfg.params = json::parse(R"({"symbols":")" + symbols + R"(","interval":"1m","window":)" +
                           std::to_string(kDay) + R"(,"step":)" + std::to_string(kDay) +
                           R"(,"threshold":0.5})")
                   .as_object();
  sf::workers::WorkerContext ctx;
  ctx.env = cfg.to_env();
  ctx.bus = &bus;
  ctx.data_store = &store;
  if (auto st = sf::testing::publish_command(bus, cfg); !st)
    throw std::runtime_error("publish: " + st.error().message);
  WorkerRun w;
  const auto t0 = Clock::now();
  const int rc = sf::workers::run_graph_builder(ctx);
  w.seconds = secs_since(t0);
  if (rc != sf::workers::kExitFinished)
    throw std::runtime_error("graph-builder exited " + std::to_string(rc));
  auto edges = store.count(cfg.collection_name.value() + "_edges");
  w.edges = edges ? *edges : -1;
  return w;
}

// ---- the report -------------------------------------------------------------------------

struct Row {
  std::string name;
  double lags = 1;  // correlations per pair
  std::vector<Build> runs;
  Build med() const {
    Build m;
    if (runs.empty()) return m;
    std::vector<double> s, c;
    for (const auto& b : runs) {
      s.push_back(b.seconds);
      c.push_back(b.cpu_seconds);
    }
    m = runs.back();
    m.seconds = median(s);
    m.cpu_seconds = median(c);
    // The first run's: later builds reuse the scratch build_snapshot keeps per thread, and
    // the SQLite part (after the first run's builds) leaves its memory in the process.
    m.hwm_mb = runs.front().hwm_mb;
    m.extra_mb = runs.front().extra_mb;
    return m;
  }
};

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// 1234567 -> "1,234,567".
std::string grouped(double v) {
  std::string s = fmt("%.0f", v), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0 && (s.size() - i) % 3 == 0 && s[i - 1] != '-') out += ',';
    out += s[i];
  }
  return out;
}

// `tmpl` with each {name} replaced by v.at(name); throws on an unknown name.
std::string fill(const std::string& tmpl, const std::map<std::string, std::string>& v) {
  std::string out;
  for (size_t i = 0; i < tmpl.size();) {
    const size_t open = tmpl.find('{', i);
    if (open == std::string::npos) {
      out += tmpl.substr(i);
      break;
    }
    const size_t close = tmpl.find('}', open);
    out += tmpl.substr(i, open - i) + v.at(tmpl.substr(open + 1, close - open - 1));
    i = close + 1;
  }
  return out;
}

std::string row_line(const Row& r, size_t pairs_per_snapshot, bool cpp) {
  const Build m = r.med();
  const double pairs = static_cast<double>(m.snapshots * pairs_per_snapshot) * r.lags;
  return "| " + r.name + " | " + grouped(static_cast<double>(m.snapshots)) + " | " +
         fmt("%.2f", m.seconds) + " | " + fmt("%.2f", m.cpu_seconds) + " | " +
         fmt("%.1f", static_cast<double>(m.snapshots) / m.seconds) + " | " +
         grouped(pairs / m.seconds) + " | " + grouped(static_cast<double>(m.edges)) + " | " +
         grouped(m.hwm_mb) + (cpp ? " (+" + grouped(m.extra_mb) + ")" : "") + " |\n";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Graph building: 200 symbols x 1 year of 1m candles, C++ vs NumPy"};
  int runs = 3;
  std::string markdown, only, python = "/usr/bin/python3";
  size_t symbols = 200, days = 365, limit = 0, check_snapshots = 10;
  double missing = 0.001;
  sf::bench::add_run_options(app, runs, markdown);
  app.add_option("--only", only, "run one part, unrecorded (profiling)")
      ->check(CLI::IsMember(
          {"pearson", "numpy", "pairwise", "spearman", "lagged", "step6h", "sqlite"}));
  app.add_option("--symbols", symbols, "symbols (not 200: unrecorded)")->check(CLI::Range(4, 1000));
  app.add_option("--days", days, "days of 1m candles (not 365: unrecorded)")
      ->check(CLI::Range(2, 3660));
  app.add_option("--missing", missing, "fraction of candles missing (not 0.001: unrecorded)")
      ->check(CLI::Range(0.0, 0.5));
  app.add_option("--snapshots", limit, "only the first N snapshots of each build (unrecorded)");
  app.add_option("--check-snapshots", check_snapshots,
                 "snapshots built on both paths (the pairwise path's row)")
      ->check(CLI::Range(1, 10000));
  app.add_option("--python", python, "the python with NumPy");
  CLI11_PARSE(app, argc, argv);
  const bool partial =
      !only.empty() || limit > 0 || symbols != 200 || days != 365 || missing != 0.001;
  const std::string command = sf::bench::command_line(argc, argv);
  const double load_at_start = sf::bench::load_average();
  auto want = [&](const char* part) { return only.empty() || only == part; };

  const auto t_gen = Clock::now();
  const Data d = synthetic(symbols, days * kDay, missing);
  const double gen_s = secs_since(t_gen);
  std::printf("data: %zu symbols x %zu candles (%zu missing, %.0f MB) generated in %.1f s\n",
              symbols, d.candles, d.missing, d.mb(), gen_s);
  std::fflush(stdout);

  sa::GraphOptions day;
  day.window = kDay;
  day.step = kDay;
  day.threshold = 0.5;
  sa::GraphOptions spearman = day;
  spearman.method = sa::CorrelationMethod::spearman;
  sa::GraphOptions lagged = day;
  lagged.max_lag = kMaxLag;
  sa::GraphOptions step6h = day;
  step6h.step = kDay / 4;

  Row pearson_row{"C++, Pearson, 1-day windows by 1 day", 1, {}};
  Row numpy_row{"NumPy, the same", 1, {}};
  Row pairwise_row{"C++ pairwise path (`PairPath::pairwise`), the same, first " +
                       std::to_string(check_snapshots) + " snapshots",
                   1,
                   {}};
  Row spearman_row{"C++, Spearman, 1-day windows by 1 day", 1, {}};
  Row lagged_row{"C++, lagged Pearson (lags -" + std::to_string(kMaxLag) + "..." +
                     std::to_string(kMaxLag) + ", pair correlations counted per lag), the same",
                 2.0 * kMaxLag + 1,
                 {}};
  Row step6h_row{"C++, Pearson, 1-day windows by 6 hours", 1, {}};
  std::string numpy_version;
  std::vector<double> numpy_matrix_s;
  PathCheck check;
  std::vector<double> worker_s, worker_build_s;
  int64_t worker_edges = 0;
  size_t stored = 0;
  double store_s = 0;
  const size_t worker_symbols = 2;

  const auto dir =
      std::filesystem::temp_directory_path() / ("sf-graph-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  int rc = 0;
  try {
    const auto data_file = (dir / "series.f64").string();
    if (want("numpy")) write_data(d, data_file);
    std::unique_ptr<sf::store::SqliteDataStore> store;
    for (int r = 0; r < runs; ++r) {
      auto report = [&](const Row& row) {
        const Build& b = row.runs.back();
        std::printf("run %d: %-50s %7.2f s, %zu snapshots, %zu edges, peak RSS %.0f MB (+%.0f)\n",
                    r + 1, row.name.substr(0, 50).c_str(), b.seconds, b.snapshots, b.edges,
                    b.hwm_mb, b.extra_mb);
        std::fflush(stdout);
      };
      if (want("pearson") || want("numpy")) {
        pearson_row.runs.push_back(build_all(d, day, limit));
        report(pearson_row);
      }
      if (want("numpy")) {
        NumPyRun n = run_numpy(python, data_file, d, day, limit);
        numpy_version = n.version;
        numpy_matrix_s.push_back(n.matrix_seconds);
        numpy_row.runs.push_back(n.b);
        report(numpy_row);
      }
      if (want("pairwise")) {
        check = check_paths(d, day, check_snapshots);
        pairwise_row.runs.push_back(check.pairwise);
        report(pairwise_row);
        std::printf(
            "       fast vs pairwise: %zu edges compared, %zu mismatched, largest "
            "difference %.3g\n",
            check.edges, check.mismatched, check.max_diff);
        if (check.mismatched > 0 || check.max_diff > 1e-12)
          throw std::runtime_error("the fast path's edges differ from the pairwise path's");
      }
      if (want("spearman")) {
        spearman_row.runs.push_back(build_all(d, spearman, limit));
        report(spearman_row);
      }
      if (want("lagged")) {
        lagged_row.runs.push_back(build_all(d, lagged, limit));
        report(lagged_row);
      }
      if (want("step6h")) {
        step6h_row.runs.push_back(build_all(d, step6h, limit));
        report(step6h_row);
      }
      if (want("sqlite")) {
        if (!store) {  // after the first builds, whose memory figures it would blur
          const auto t0 = Clock::now();
          auto st = sf::store::SqliteDataStore::open((dir / "store").string());
          if (!st) throw std::runtime_error("sqlite: " + st.error().message);
          store = std::move(*st);
          stored = store_candles(*store, d, worker_symbols);
          store_s = secs_since(t0);
          std::printf("stored %zu candles of %zu symbols in SQLite in %.1f s\n", stored,
                      worker_symbols, store_s);
        }
        const WorkerRun w = run_worker(*store, d, worker_symbols, r);
        worker_s.push_back(w.seconds);
        worker_edges = w.edges;
        Data two;
        two.candles = d.candles;
        two.series.assign(d.series.begin(), d.series.begin() + worker_symbols);
        worker_build_s.push_back(build_all(two, day, 0).seconds);
        std::printf(
            "run %d: graph-builder worker, %zu symbols' year from SQLite: %.2f s "
            "(their in-memory build %.3f s)\n",
            r + 1, worker_symbols, w.seconds, worker_build_s.back());
        std::fflush(stdout);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "graph_bench: %s\n", e.what());
    rc = 1;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (rc != 0) return rc;

  const double load_at_end = sf::bench::load_average();
  const size_t pairs = symbols * (symbols - 1) / 2;
  std::string table =
      "| build | snapshots | seconds, median of " + std::to_string(runs) +
      " runs | CPU seconds | snapshots/s | pair correlations/s | edges | peak RSS, MB (C++: "
      "+ what the build adds) |\n|---|---|---|---|---|---|---|---|\n";
  for (const Row* row :
       {&pearson_row, &numpy_row, &pairwise_row, &spearman_row, &lagged_row, &step6h_row})
    if (!row->runs.empty()) table += row_line(*row, pairs, row != &numpy_row);
  std::printf("\n%s", table.c_str());

  const Build cpp = pearson_row.med(), np = numpy_row.med();
  const double median_numpy_matrix = median(numpy_matrix_s);
  std::string versus;
  if (!numpy_row.runs.empty()) {
    versus = "C++ time / NumPy time: " + fmt("%.4f", cpp.seconds / np.seconds) + " (NumPy takes " +
             fmt("%.0f", np.seconds / cpp.seconds) + " times as long); the same " +
             grouped(static_cast<double>(np.edges)) + " edges: " +
             (np.edges == cpp.edges ? "yes"
                                    : "NO (C++ " + grouped(static_cast<double>(cpp.edges)) + ")") +
             "; sums of the edges' correlations " + fmt("%.10g", cpp.corr_sum) + " (C++), " +
             fmt("%.10g", np.corr_sum) + " (NumPy); node checksums " + fmt("%.10g", cpp.node_sum) +
             ", " + fmt("%.10g", np.node_sum);
    std::printf("\n%s\n", versus.c_str());
  }
  double read_rate = 0, worker_med = 0, worker_build_med = 0;
  if (!worker_s.empty()) {
    worker_med = median(worker_s);
    worker_build_med = median(worker_build_s);
    read_rate = static_cast<double>(stored) / (worker_med - worker_build_med);
    std::printf(
        "graph-builder worker over %zu symbols in SQLite: %.2f s, in-memory build %.3f s: "
        "reads %.0f candles/s\n",
        worker_symbols, worker_med, worker_build_med, read_rate);
  }
  if (partial) return 0;

  const auto [series_gaps, pair_gaps] = gap_fractions(d, kDay);
  const Build sp = spearman_row.med(), lg = lagged_row.med(), s6 = step6h_row.med();
  const Build pw = pairwise_row.med();
  auto num = [](double v) { return grouped(v); };
  const std::map<std::string, std::string> v = {
      {"command", command},
      {"load0", fmt("%.2f", load_at_start)},
      {"load1", fmt("%.2f", load_at_end)},
      {"candles", num(static_cast<double>(d.candles))},
      {"sectors", std::to_string(kSectors)},
      {"missing", num(static_cast<double>(d.missing))},
      {"series_gaps", fmt("%.0f", series_gaps * 100)},
      {"pair_gaps", fmt("%.0f", pair_gaps * 100)},
      {"data_mb", num(d.mb())},
      {"numpy", numpy_version},
      {"ratio", fmt("%.3f", cpp.seconds / np.seconds)},
      {"times", fmt("%.0f", np.seconds / cpp.seconds)},
      {"edges", np.edges == cpp.edges
                    ? "the same " + num(static_cast<double>(np.edges)) + " edges"
                    : "NOT the same edges: " + num(static_cast<double>(cpp.edges)) + " (C++) and " +
                          num(static_cast<double>(np.edges)) + " (NumPy)"},
      {"corr_cpp", fmt("%.9f", cpp.corr_sum)},
      {"corr_np", fmt("%.9f", np.corr_sum)},
      {"node_cpp", fmt("%.9f", cpp.node_sum)},
      {"node_np", fmt("%.9f", np.node_sum)},
      {"np_s", fmt("%.1f", np.seconds)},
      {"np_matrix_s", fmt("%.1f", median_numpy_matrix)},
      {"np_rest_s", fmt("%.1f", np.seconds - median_numpy_matrix)},
      {"np_rest_times", fmt("%.0f", (np.seconds - median_numpy_matrix) / cpp.seconds)},
      {"pw_snapshots", std::to_string(pw.snapshots)},
      {"pw_s", fmt("%.2f", pw.seconds)},
      {"pw_per", fmt("%.3f", pw.seconds / static_cast<double>(pw.snapshots))},
      {"fast_per", fmt("%.4f", cpp.seconds / static_cast<double>(cpp.snapshots))},
      {"pw_edges", num(static_cast<double>(check.edges))},
      {"pw_diff", fmt("%.2g", check.max_diff)},
      {"workers", std::to_string(worker_symbols)},
      {"stored", num(static_cast<double>(stored))},
      {"store_s", fmt("%.0f", store_s)},
      {"worker_s", fmt("%.2f", worker_med)},
      {"worker_build_s", fmt("%.3f", worker_build_med)},
      {"read_rate", num(read_rate)},
      {"symbol_year_s", fmt("%.2f", static_cast<double>(d.candles) / read_rate)},
      {"worker_edges", std::to_string(worker_edges)},
      {"read_200_s", fmt("%.0f", 200 * static_cast<double>(d.candles) / read_rate)},
      {"cpp_s", fmt("%.1f", cpp.seconds)},
      {"spearman_s", fmt("%.1f", sp.seconds)},
      {"lagged_s", fmt("%.1f", lg.seconds)},
      {"lags", std::to_string(2 * kMaxLag + 1)},
      {"step6h_s", fmt("%.1f", s6.seconds)},
  };
  const std::string md = fill(R"(## Graph building (issue 13)

Command: `make bench` (runs `build/bench/graph_bench --runs 3 --markdown docs/benchmarks.md`). The figures below were recorded by `{command}` (1-minute load average {load0} when it started, {load1} when it ended, on 2 cores; every build runs on one thread, NumPy's too).

- *data*: 200 synthetic symbols x {candles} 1m candles (365 days from 2023-01-01), generated in memory by `bench/graph_bench.cc` with a fixed seed: per minute a market factor, one of {sectors} sector factors and noise, with loadings drawn per symbol (pairs in a sector correlate at about 0.6, others at about 0.2), log-normal volumes, and 0.1% of the candles missing at random ({missing}). A series then misses returns in {series_gaps}% of its 1-day windows, so in {pair_gaps}% of a window's pairs one side has a gap. The series stay in memory ({data_mb} MB of closes and volumes): writing 105 M candles into a store and reading them back would dominate the figures, so the store's part is measured on its own below.
- *the build*: `analytics::build_snapshot()` for every snapshot in turn, as the graph-builder worker calls it: every node's features and every pair's correlation over its complete returns, edges where |r| >= 0.5 with at least 719 complete pairs. 1-day windows (1,440 candles) moved by 1 day give 365 snapshots of 19,900 pairs; moved by 6 hours, 1,457. Timed with `steady_clock` around the loop; CPU seconds are the process's user + system time over it.
- *NumPy*: `bench/graph_numpy_bench.py` run by Debian's `/usr/bin/python3` (NumPy {numpy}) on the same data, which graph_bench writes to a float64 file in a temporary directory (removed at the end); its clock starts once the file is read. The idiomatic vectorised way: the year's log returns in one call, then per window the node features vectorised over the series, and the correlation matrix by `np.corrcoef` where the window misses no return, else (every window here) the pairwise-complete correlations from four matrix products of the returns (centred, zero where missing) and their 0/1 mask. C++ and NumPy alternate run by run.
- *C++ / NumPy*: **{ratio}** (C++ time / NumPy time: NumPy takes {times} times as long). Both find {edges}; the sums of the kept correlations are {corr_cpp} (C++) and {corr_np} (NumPy), those of the nodes' log return, volatility, volume change and next return {node_cpp} and {node_np}. Of NumPy's {np_s} s, {np_matrix_s} s go to the correlation matrices (the four products and the element-wise arithmetic around them). The products run in `libblas.so.3`, on this machine the reference (netlib) BLAS: Debian's NumPy uses no optimised BLAS unless one is installed (OpenBLAS is not; that is scripts/bootstrap's choice). An optimised BLAS would shrink that part several times, but the rest alone ({np_rest_s} s: the log returns, masks, node features, edge selection) is {np_rest_times} times the whole C++ build.
- *why the C++ build is fast*: per window, each series' returns are computed once and centred by their mean, and every pair's sum of products comes from one blocked product of all the series: 3 x 3 pairs at a time over 4 returns a step, in chunks of 512 returns that stay in L2, written with GCC vector extensions and built twice by `target_clones` (AVX2, picked at load time where the CPU has it, and baseline x86-64, with the same values); it runs near the core's multiply-add peak. A pair where a series misses returns gets its sums over the complete pairs by taking out the few positions the other series misses (a few subtractions per pair, not a pass over the window); where that correction would cost precision (a series nearly constant over the complete pairs) the pair is computed pairwise. Nothing is allocated per pair, and the scratch is kept per thread between snapshots. Spearman ranks each series once; a pair with gaps gets each side's ranks among the complete pairs by subtracting, for every position the other side misses, 1 from the ranks above that position's value (1/2 on a tie): sums of multiples of 1/4, exact in any order. A lagged correlation takes one product per lag (lags -l and l share it).
- *the pairwise path* (`PairPath::pairwise`, what the fast path is tested against: every pair over its complete returns one at a time, the arithmetic of `analytics::correlation()`, without allocating): the first {pw_snapshots} snapshots took {pw_s} s, {pw_per} s a snapshot against {fast_per} s on the fast path; their {pw_edges} edges are the fast path's (same ends, same complete pairs), the correlations at most {pw_diff} apart.
- *before* (commit 93d7ee1: `build_snapshot()` pair by pair through `analytics::correlation()` and `best_lagged_correlation()`, vectors allocated per pair; measured once with this benchmark's `--snapshots` on the same data, load average about 2): 0.168 s a snapshot for Pearson (30 snapshots: about 61 s for the year), 3.3 s for Spearman and 1.5 s for the lagged Pearson (5 snapshots each: about 20 and 9 minutes for the year).
- *reading the store*: the real graph-builder worker (`run_graph_builder`, which reads blocks of 20,000 candles per symbol) over {workers} of the symbols' year in a `SqliteDataStore` ({stored} candles, written beforehand in {store_s} s), 1-day windows by 1 day: {worker_s} s (median), of which the in-memory build of the same 2 series takes {worker_build_s} s. So it reads about **{read_rate} candles/s**, {symbol_year_s} s a symbol-year (it also writes 730 nodes and {worker_edges} edges). For 200 symbols, add about {read_200_s} s of reading to the build's {cpp_s} s: the store, not the computation, sets the worker's pace.
- *peak RSS*: VmHWM of the process, reset (`clear_refs` 5) before each build, in the first run (later builds reuse the scratch `build_snapshot()` keeps per thread, and the SQLite part, after the first run's builds, leaves its memory in the process); it includes the data ({data_mb} MB), and the figure in brackets is what the build adds to the RSS before it: its scratch and a snapshot, less what an earlier build left (the rows after the first add what they need beyond the Pearson build's scratch). The worker holds blocks of 20,000 candles per symbol instead (about 64 MB of series for 200 symbols). NumPy's is its process's `ru_maxrss`: the data, the year's returns and the per-window temporaries.
- *extra rows*: Spearman {spearman_s} s, the lagged Pearson {lagged_s} s ({lags} lags), 6-hour steps {step6h_s} s for 4 times the snapshots. They have no NumPy row: Spearman over each pair's complete returns has no vectorised NumPy form.

)",
                              v) +
                         table;
  return sf::bench::record_markdown(markdown, "graph_bench", md);
}
