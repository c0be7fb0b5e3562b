// Data-pipeline benchmark (issue 3's targets), run by `make bench`, never by `make test`:
//   1. loader candles/s: the real loader-producer worker paging the in-process exchange
//      simulator (limits off) into the memory bus, while a consumer group drains and commits
//      the data topic; each run in a fork()ed child, whose peak RSS (VmHWM) is the loader's;
//      plus the simulator's raw serving rate (pages fetched with a plain HTTP client);
//   2. JSON decode MB/s of a real 1000-candle klines page: Decoder::klines vs simdjson's DOM
//      parse of the same padded bytes, in the same run;
//   3. connector upserts/s: the real store-connector worker draining 500,000 candles (plus
//      the end marker) from a pre-filled memory bus into SQLite.
// Each measurement runs --runs times (default 3); the medians are printed and, with
// --markdown FILE, written into FILE between the data-bench markers.
#include <simdjson.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <CLI/CLI.hpp>

#include "base/log.h"
#include "bench/bench_util.h"
#include "bench/connector_run.h"
#include "bus/memory/memory_bus.h"
#include "exchange/binance/decode.h"
#include "http/client.h"
#include "market/binary.h"
#include "market/data_topic.h"
#include "market/records.h"
#include "protocol/messages.h"
#include "protocol/validate.h"
#include "store/sqlite/sqlite_data_store.h"
#include "support/process.h"
#include "workers/connector.h"
#include "workers/loader.h"
#include "workers/worker.h"

using namespace std::chrono;
namespace sw = sf::workers;
namespace sp = sf::protocol;
namespace bn = sf::exchange::binance;

namespace {

using sf::bench::median;
using sf::bench::ratio;

constexpr const char* kSymbol = "BTCUSDT";
constexpr const char* kLoadRange = "2024-01-01:2024-07-01";  // 182 days: 262,080 1m candles
constexpr int64_t kConnectorRecords = 500'000;
constexpr double kLoaderTarget = 500'000;     // candles/s, at least
constexpr double kRssTargetMb = 50;           // MB, under
constexpr double kDecodeSlowdownTarget = 2;   // simdjson time x, at most
constexpr double kConnectorTarget = 200'000;  // rows/s, at least

using sf::bench::check;
using sf::bench::publish_start;
using sf::bench::secs_since;

// ---- 1. loader ------------------------------------------------------------------------------

struct LoaderResult {
  int ok = 0;
  double drained_per_s = 0;  // candles/s with a consumer group draining concurrently
  double alone_per_s = 0;    // candles/s with nothing reading the topic
  int64_t candles = 0;
  double hwm_mb = 0;   // VmHWM at the end of the drained run (reset just before it)
  double base_mb = 0;  // VmRSS just before the drained run's simulator started
  char error[512] = {};
};

struct LoadRun {
  int64_t candles = 0;
  double secs = 0;
};

// One loader run: simulator + memory bus + loader worker, all in this process. With `drain`,
// a consumer group drains and commits the data topic concurrently (so the bus holds only
// records in flight, as with a connector behind the loader), polling what is there every
// 10 ms like a batching consumer; without it, the records stay in the bus and are counted
// from its end offset. Checks the count against the end marker and the expected candles.
LoadRun load_once(bool drain) {
  sf::bench::UnlimitedExchange exchange;

  sf::bus::MemoryBus bus;
  const std::string topic = "wf-bench-load-data";
  check(bus.ensure_topic({topic, 1, 1}), "ensure topic");
  std::unique_ptr<sf::bus::Consumer> consumer;
  if (drain) {
    auto c = bus.subscribe(
        {.group = "bench-drain", .topics = {topic}, .start_from = sf::bus::StartFrom::earliest});
    if (!c) throw std::runtime_error("subscribe: " + c.error().message);
    consumer = std::move(*c);
  }

  sw::WorkerConfig cfg = sf::testing::worker_config("wf-bench-load", "loader-producer", "loader__1",
                                                    kSymbol, "api_candles_1m", topic);
  cfg.time_range = kLoadRange;
  sw::WorkerContext ctx;
  ctx.env = cfg.to_env();
  ctx.env.set(sw::env_names::kExchangeUrl, exchange.server.base_url());
  ctx.bus = &bus;
  ctx.rate_limiter = &exchange.limiter;

  std::atomic<bool> abort{false};
  // Data records and the marker's `published` (-1: not seen) the drain consumer saw.
  auto drained = std::async(std::launch::async, [&]() -> std::pair<int64_t, int64_t> {
    int64_t n = 0, marker = -1;
    while (consumer && !abort.load()) {
      auto recs = consumer->poll(100'000, milliseconds(0));
      if (!recs) throw std::runtime_error("drain poll: " + recs.error().message);
      if (recs->empty()) {
        std::this_thread::sleep_for(milliseconds(10));
        continue;
      }
      for (const auto& r : *recs) {
        if (r.key == sf::market::kEndMarkerKey) {
          auto m = sf::market::decode_end_marker(r.value);
          if (!m) throw std::runtime_error("bad end marker: " + r.value);
          marker = m->published;
        } else {
          n += static_cast<int64_t>(sf::market::binary_page_count(r.value).value_or(1));
        }
      }
      check(consumer->commit(recs->back()), "drain commit");
      if (marker >= 0) break;
    }
    return {n, marker};
  });

  auto worker = std::async(std::launch::async, [&] { return sw::run_loader_producer(ctx); });
  const auto t0 = steady_clock::now();
  publish_start(bus, cfg);
  const int code = worker.get();
  LoadRun run;
  run.secs = secs_since(t0);
  if (code != sw::kExitFinished) {
    abort = true;
    drained.wait();
    throw std::runtime_error("the loader exited with code " + std::to_string(code));
  }
  auto end = bus.end_offset(topic, 0);
  if (!end) throw std::runtime_error("end offset: " + end.error().message);
  int64_t n = 0, marker = -1;
  if (drain) {
    if (drained.wait_for(seconds(30)) != std::future_status::ready) {
      abort = true;
      throw std::runtime_error("the drain consumer never saw the end marker");
    }
    std::tie(n, marker) = drained.get();
  } else {
    drained.get();
    // Records: a page of them a message (the loader's binary form), counted after the run.
    auto reader = bus.read_from(topic, 0, 0);
    if (!reader) throw std::runtime_error("read_from: " + reader.error().message);
    for (int64_t seen = 0; seen < *end;) {
      auto recs = (*reader)->poll(100'000, milliseconds(100));
      if (!recs || recs->empty()) break;
      for (const auto& r : *recs) {
        ++seen;
        if (r.key == sf::market::kEndMarkerKey) {
          if (auto m = sf::market::decode_end_marker(r.value)) marker = m->published;
        } else {
          n += static_cast<int64_t>(sf::market::binary_page_count(r.value).value_or(1));
        }
      }
    }
  }
  auto range = sp::parse_time_range(kLoadRange);
  const int64_t expected = sw::expected_candles(
      range->start_ms, range->end_ms, "1m",
      duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
  if (n != expected || marker != n)
    throw std::runtime_error("loaded " + std::to_string(n) + " candles (end marker says " +
                             std::to_string(marker) + ", topic end offset " + std::to_string(*end) +
                             "), expected " + std::to_string(expected));
  if (consumer) consumer->close();
  run.candles = n;
  return run;
}

// Both loader runs of one child: the drained one first (its VmHWM is the loader's peak RSS),
// then the one with nothing reading the topic.
LoaderResult load_both() {
  LoaderResult res;
  // Reset the peak-RSS mark to the current RSS (Linux >= 4.0), so VmHWM is this run's peak.
  std::ofstream("/proc/self/clear_refs") << "5";
  res.base_mb = sf::bench::status_mb("self", "VmRSS:");
  auto d = load_once(true);
  res.hwm_mb = sf::bench::status_mb("self", "VmHWM:");
  res.candles = d.candles;
  res.drained_per_s = static_cast<double>(d.candles) / d.secs;
  auto a = load_once(false);
  res.alone_per_s = static_cast<double>(a.candles) / a.secs;
  res.ok = 1;
  return res;
}

// Runs load_once() in a fork()ed child (call only while this process has no other threads)
// and returns its figures; the child's VmHWM is the peak of loader + simulator + bus only.
LoaderResult load_in_child() {
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    close(fds[0]);
    LoaderResult r;
    try {
      r = load_both();
    } catch (const std::exception& e) {
      r.ok = 0;
      std::snprintf(r.error, sizeof r.error, "%s", e.what());
    }
    ssize_t w = write(fds[1], &r, sizeof r);
    _exit(w == static_cast<ssize_t>(sizeof r) ? 0 : 1);
  }
  close(fds[1]);
  LoaderResult r;
  size_t got = 0;
  while (got < sizeof r) {
    ssize_t n = read(fds[0], reinterpret_cast<char*>(&r) + got, sizeof r - got);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (got != sizeof r) throw std::runtime_error("the loader child died without reporting");
  if (!r.ok) throw std::runtime_error(std::string("loader run failed: ") + r.error);
  return r;
}

// The body of a klines page of the simulator: up to 1000 BTCUSDT 1m candles from `start_ms`
// (up to `end_ms` - 1 when given).
std::string klines_page(sf::http::Client& c, int64_t start_ms, std::optional<int64_t> end_ms) {
  std::string target =
      "/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime=" + std::to_string(start_ms);
  if (end_ms) target += "&endTime=" + std::to_string(*end_ms - 1);
  auto r = c.get(target + "&limit=1000");
  if (!r || r->status != 200)
    throw std::runtime_error("simulator klines: " + (r ? r->body : r.error().message));
  return r->body;
}

// The simulator's serving rate: the same range fetched page by page (1000 candles a GET)
// with one keep-alive HTTP client, no decoding. Candles/s.
double sim_raw_rate() {
  sf::bench::UnlimitedExchange exchange;
  sf::http::Client c(exchange.server.base_url());
  auto range = sp::parse_time_range(kLoadRange);
  int64_t candles = 0;
  const auto t0 = steady_clock::now();
  for (int64_t t = range->start_ms; t < range->end_ms; t += 1000 * 60'000) {
    const std::string body = klines_page(c, t, range->end_ms);
    candles += std::count(body.begin(), body.end(), '[') - 1;  // one '[' a row
  }
  double secs = secs_since(t0);
  exchange.server.stop();
  return static_cast<double>(candles) / secs;
}

// ---- 2. decode ------------------------------------------------------------------------------

std::string fetch_page() {
  sf::bench::UnlimitedExchange exchange;
  sf::http::Client c(exchange.server.base_url());
  return klines_page(c, sp::parse_time_range(kLoadRange)->start_ms, std::nullopt);
}

struct DecodeResult {
  double decoder_mb_s, simdjson_mb_s;
};

// Repeats `once` for at least `min_secs` (after a warm-up); bytes/s in MB (1e6 bytes).
template <class F>
double mb_per_s(size_t bytes, double min_secs, F once) {
  for (int i = 0; i < 50; ++i) once();
  int64_t iters = 0;
  const auto t0 = steady_clock::now();
  double secs = 0;
  do {
    for (int i = 0; i < 100; ++i) once();
    iters += 100;
    secs = secs_since(t0);
  } while (secs < min_secs);
  return static_cast<double>(bytes) * static_cast<double>(iters) / secs / 1e6;
}

DecodeResult bench_decode(const simdjson::padded_string& page) {
  bn::Decoder decoder;
  std::vector<sf::market::Candle> out;
  const double dec = mb_per_s(page.size(), 1.0, [&] {
    auto s = decoder.klines(bn::Decoder::Input{std::string_view(page.data(), page.size()), true},
                            kSymbol, "1m", bn::TimeUnit::millisecond, &out);
    if (!s || out.size() != 1000)
      throw std::runtime_error("Decoder::klines failed: " +
                               (s ? std::to_string(out.size()) + " rows" : s.error().message));
  });
  simdjson::dom::parser parser;
  const double raw = mb_per_s(page.size(), 1.0, [&] {
    auto doc = parser.parse(page);
    if (doc.error())
      throw std::runtime_error("simdjson: " + std::string(error_message(doc.error())));
    auto rows = doc.value_unsafe().get_array();
    if (rows.error() || rows.value_unsafe().size() != 1000)
      throw std::runtime_error("simdjson: the page is not 1000 rows");
  });
  return {dec, raw};
}

// ---- 3. connector ---------------------------------------------------------------------------

std::vector<std::string> synthetic_candles(int64_t n) {
  std::vector<std::string> out;
  out.reserve(static_cast<size_t>(n));
  for (const auto& c : sf::bench::synthetic_candles(n)) out.push_back(sf::market::encode(c));
  return out;
}

double bench_connector(const std::string& dir, const std::vector<std::string>& values,
                       bool checkpoint_in_commit) {
  auto store =
      sf::store::SqliteDataStore::open(dir, {.checkpoint_in_background = !checkpoint_in_commit});
  if (!store) throw std::runtime_error("sqlite open: " + store.error().message);
  return sf::bench::run_connector_on(**store, "wf-bench-conn", kSymbol, "bench_btcusdt_1m", values)
      .per_s;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 3;
  std::string markdown, only;
  bool checkpoint_in_commit = false;
  CLI::App app{"Loader, decoder and connector throughput on the memory bus and SQLite."};
  sf::bench::add_run_options(app, runs, markdown);
  app.add_flag("--sqlite-checkpoint-in-commit", checkpoint_in_commit,
               "the connector part's SQLite store checkpoints inside its commits, as SQLite "
               "does by itself (default: on the store's checkpointing thread); not recorded");
  app.add_option("--only", only, "run one part, for profiling")
      ->check(CLI::IsMember({"load", "decode", "connector"}));
  CLI11_PARSE(app, argc, argv);
  sf::log::set_level(sf::log::Level::warn);
  const std::string command = sf::bench::command_line(argc, argv);
  // 1-minute load average: wall-clock figures need a quiet machine.
  const double load_at_start = sf::bench::load_average();
  std::printf("load average %.2f\n", load_at_start);
  auto want = [&](const char* part) { return only.empty() || only == part; };
  std::vector<double> load_rate, load_alone, load_hwm, load_base, raw_rate, dec, raw, slowdown,
      conn;
  int64_t candles = 0;
  size_t page_bytes = 0;
  std::string root;
  try {
    // The loader children are forked first, while this process has no threads.
    for (int r = 0; r < runs && want("load"); ++r) {
      auto l = load_in_child();
      load_rate.push_back(l.drained_per_s);
      load_alone.push_back(l.alone_per_s);
      load_hwm.push_back(l.hwm_mb);
      load_base.push_back(l.base_mb);
      candles = l.candles;
      std::printf(
          "run %d: loader %.0f candles/s with a draining consumer, %.0f candles/s alone "
          "(%lld candles); child VmHWM %.1f MB (RSS %.1f MB before the simulator started)\n",
          r + 1, l.drained_per_s, l.alone_per_s, static_cast<long long>(l.candles), l.hwm_mb,
          l.base_mb);
      std::fflush(stdout);
    }
    for (int r = 0; r < runs && want("load"); ++r) {
      raw_rate.push_back(sim_raw_rate());
      std::printf("run %d: simulator serves %.0f candles/s to one HTTP client (no decoding)\n",
                  r + 1, raw_rate.back());
      std::fflush(stdout);
    }
    if (want("decode")) {
      simdjson::padded_string page(fetch_page());
      page_bytes = page.size();
      for (int r = 0; r < runs; ++r) {
        auto d = bench_decode(page);
        dec.push_back(d.decoder_mb_s);
        raw.push_back(d.simdjson_mb_s);
        slowdown.push_back(d.simdjson_mb_s / d.decoder_mb_s);
        std::printf(
            "run %d: Decoder::klines %.0f MB/s, simdjson DOM parse %.0f MB/s "
            "(decoder %.2fx slower) on a %zu-byte page\n",
            r + 1, d.decoder_mb_s, d.simdjson_mb_s, slowdown.back(), page_bytes);
        std::fflush(stdout);
      }
    }
    if (want("connector")) {
      root = sf::testing::make_temp_dir("sf-data-bench");
      auto values = synthetic_candles(kConnectorRecords);
      for (int r = 0; r < runs; ++r) {
        std::string dir = root + "/conn" + std::to_string(r);
        conn.push_back(bench_connector(dir, values, checkpoint_in_commit));
        std::filesystem::remove_all(dir);
        std::printf("run %d: connector %.0f upserts/s into SQLite (%lld candles)\n", r + 1,
                    conn.back(), static_cast<long long>(kConnectorRecords));
        std::fflush(stdout);
      }
      std::filesystem::remove_all(root);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "data_bench failed: %s%s\n", e.what(),
                 root.empty() ? "" : (" (files kept in " + root + ")").c_str());
    return 1;
  }
  // Partial runs and the comparison are not recorded.
  if (!only.empty() || checkpoint_in_commit) return 0;

  char table[4096];
  std::snprintf(
      table, sizeof table,
      "| measure | median of %d runs | target | ratio (figure / target) |\n|---|---|---|---|\n"
      "| loader candles/s, simulator (limits off) -> memory bus, %lld candles, "
      "consumer group draining concurrently | %.0f | >= 500,000 | %s |\n"
      "| loader candles/s, the same with nothing reading the topic | %.0f | >= 500,000 | %s |\n"
      "| simulator raw serving rate, one HTTP client, no decoding (candles/s) | %.0f | | |\n"
      "| loader peak RSS (VmHWM of a child running loader + simulator + bus) | %.1f MB | "
      "< 50 MB | %s |\n"
      "| `Decoder::klines`, 1000-candle page (%zu bytes) | %.0f MB/s | | |\n"
      "| simdjson DOM parse of the same padded bytes | %.0f MB/s | | |\n"
      "| decode time relative to simdjson's raw parse | %.2fx | <= 2x | %s |\n"
      "| connector upserts/s into SQLite, %lld candles | %.0f | >= 200,000 | %s |\n",
      runs, static_cast<long long>(candles), median(load_rate),
      ratio(median(load_rate), kLoaderTarget, true).c_str(), median(load_alone),
      ratio(median(load_alone), kLoaderTarget, true).c_str(), median(raw_rate), median(load_hwm),
      ratio(median(load_hwm), kRssTargetMb, false).c_str(), page_bytes, median(dec), median(raw),
      median(slowdown), ratio(median(slowdown), kDecodeSlowdownTarget, false).c_str(),
      static_cast<long long>(kConnectorRecords), median(conn),
      ratio(median(conn), kConnectorTarget, true).c_str());
  std::printf("\n%s", table);

  char intro[8192];
  std::snprintf(
      intro, sizeof intro,
      "## data pipeline (issue 3)\n\n"
      "Command: `make bench` (runs `build/bench/data_bench --runs 3 --markdown "
      "docs/benchmarks.md`; `--only load|decode|connector` runs one part, unrecorded). "
      "The figures below were recorded by `%s` (load average %.2f when it started).\n\n"
      "- *loader*: each run is a `fork()`ed child of the benchmark (forked before the benchmark "
      "starts any thread) that starts the exchange simulator in-process (`SimServer`, "
      "`limits = false`, 2 io threads, port 0) and runs the real `loader-producer` worker "
      "(`run_loader_producer`) on a `MemoryBus`: `api_candles_1m` BTCUSDT over `%s` "
      "(%lld candles, 1000 a request over loopback HTTP). The process rate limiter is given "
      "an unreachable budget (with the default one, 80%% of 6,000 weight/min caps any loader "
      "at 40 pages/s = 40,000 candles/s). Each child loads the range twice: first with a "
      "consumer group draining and committing the data topic concurrently (as a connector "
      "would; it takes whatever is there every 10 ms, so the bus holds only records in "
      "flight), then with nothing reading the topic (records counted from its end offset). "
      "Both check the count against the end marker and the expected candle count. The rate "
      "is candles / wall time from publishing the `start` command to the worker's return "
      "(flush and end marker included).\n"
      "- *peak RSS*: the child's `VmHWM` from `/proc/self/status` at the end of the drained "
      "run, after resetting the mark (`clear_refs` 5) just before its simulator started. It is the "
      "peak "
      "of the whole child: loader, simulator serving it, memory bus and drain consumer, plus "
      "the forked benchmark image (%.1f MB before the simulator started), so it is an upper "
      "bound for a loader alone.\n"
      "- *simulator raw rate*: the same range fetched page by page with one keep-alive "
      "`http::Client`, rows counted but not decoded.\n"
      "- *decode*: a real 1000-candle page from the simulator in a `simdjson::padded_string`; "
      "one `Decoder` and one output vector reused, `Decoder::Input{bytes, padded=true}` "
      "(decoded in place) vs `simdjson::dom::parser::parse` of the same bytes (builds the "
      "full tape), each repeated for >= 1 s in the same run; MB = 10^6 bytes.\n"
      "- *connector*: a `MemoryBus` pre-filled with %lld synthetic 1m candles "
      "(`market::encode`) and the end marker; the real `store-connector` worker "
      "(`run_connector`, default batch 5000) into a `SqliteDataStore` in a fresh temp dir; "
      "rows / wall time from the `start` command to the worker's return (which includes the "
      "final empty poll); the run fails unless the collection then holds exactly %lld "
      "rows.\n\n",
      command.c_str(), load_at_start, kLoadRange, static_cast<long long>(candles),
      median(load_base), static_cast<long long>(kConnectorRecords),
      static_cast<long long>(kConnectorRecords));
  return sf::bench::record_markdown(markdown, "data-bench", std::string(intro) + table);
}
