// Kafka data-path benchmark (issue 4's targets), run by `make bench` against the broker
// bench/run starts with scripts/kafka; never part of `make test`:
//   1. end to end: the real loader-producer worker paging the in-process exchange simulator
//      (limits off) into a data topic on the broker, and the real store-connector worker
//      draining it into SQLite; records/s = candles / time from the start commands to the
//      connector's return (everything written and committed);
//   2. produce -> store latency at a fixed rate: records produced at 10,000/s through the
//      Kafka bus, stored by the store-connector; for each record, the time from produce() to
//      the end of the upsert that made it durable (p50, p99);
//   3. the loader alone: the real loader-producer worker paging the in-process simulator
//      into a fresh topic nobody reads, 2,000,000 candles; records/s = candles / time from
//      its start command to its return (everything produced and acknowledged);
//   4. the reference: Kafka's own kafka-producer-perf-test (ProducerPerformance) on the same
//      broker in the same run, the same record count and size, acks=all, lz4, idempotent,
//      and the linger.ms our producer uses.
// Each part runs --runs times; medians are printed and, with --markdown FILE, written into
// FILE between the kafka-bench markers.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <future>
#include <mutex>
#include <optional>
#include <regex>
#include <stdexcept>
#include <thread>

#include "base/log.h"
#include "bench/bench_util.h"
#include "bus/kafka/kafka_bus.h"
#include "bus/open.h"
#include "market/binary.h"
#include "market/data_topic.h"
#include "market/records.h"
#include "protocol/messages.h"
#include "store/sqlite/sqlite_data_store.h"
#include "support/process.h"
#include "tests/support/forwarding_store.h"
#include "workers/connector.h"
#include "workers/loader.h"
#include "workers/worker.h"

using namespace std::chrono;
namespace sw = sf::workers;
namespace sp = sf::protocol;

namespace {

constexpr const char* kSymbol = "BTCUSDT";
// 500,000 one-minute candles.
constexpr const char* kLoadRange = "2023-01-01T00:00:2023-12-14T05:20";
constexpr int64_t kLoadCandles = 500'000;
// The loader-alone part and ProducerPerformance: 2,000,000 one-minute candles, enough that
// JVM warm-up does not lower the reference.
constexpr const char* kProduceRange = "2020-01-01T00:00:2023-10-20T21:20";
constexpr int64_t kPerfRecords = 2'000'000;
// Room for the simulator to keep its rendered pages of those candles (about 340 MB).
constexpr size_t kRenderedBytes = size_t{1} << 30;
// The loader publishes a page of 1000 candles a message (the binary form, its default).
constexpr int64_t kPageRecords = 1000;
constexpr int64_t kPerfPages = kPerfRecords / kPageRecords;
// ProducerPerformance sends twice the loader's bytes, so its JVM warms up within the run.
constexpr int64_t kReferenceMessages = 2 * kPerfPages;
constexpr double kRate = 10'000;        // records/s for the latency part
constexpr double kLatencySeconds = 10;  // of paced producing
constexpr double kP99TargetMs = 50;

void check(const sf::Status& s, const std::string& what) {
  if (!s) throw std::runtime_error(what + ": " + s.error().message);
}

struct Env {
  std::string bootstrap, kafka_script, kafka_dir, tmp;
  std::string linger_ms;    // our producer's, for ProducerPerformance
  std::string compression;  // the same
  std::unique_ptr<sf::bus::Bus> bus;
  // The loader-alone part's exchange: it keeps the pages it rendered (kRenderedBytes), so
  // after the first run it serves them from memory, as a remote exchange costs this host
  // nothing but the socket; the reference makes no data either.
  std::unique_ptr<sf::bench::UnlimitedExchange> rendered;
  int seq = 0;
  std::string unique(const std::string& what) {
    return "bench-" + what + "-" + std::to_string(::getpid()) + "-" + std::to_string(seq++);
  }
};

// Publishes a worker's start command on its own control topic; returns the worker config.
sw::WorkerConfig start_command(Env& env, const std::string& queue, const std::string& target,
                               const std::string& topic, const std::string& control,
                               boost::json::object params = {},
                               const std::string& range = kLoadRange) {
  sw::WorkerConfig cfg;
  cfg.queue_id = queue;
  cfg.target = target;
  cfg.telemetry_id = target + "__bench";
  cfg.symbol = kSymbol;
  cfg.type = "api_candles_1m";
  cfg.time_range = range;
  cfg.kafka_topic = topic;
  cfg.collection_name = "bench_btcusdt_1m";
  cfg.control_topic = control;
  cfg.events_topic = control + "-events";
  cfg.params = params;
  check(env.bus->ensure_topic({control, 1, 1}), "ensure control topic");
  auto end = env.bus->end_offset(control, 0);
  if (!end) throw std::runtime_error("end offset: " + end.error().message);
  cfg.control_offset = *end;
  sp::Command c;
  c.command = sp::CommandType::start;
  c.queue_id = queue;
  c.target = target;
  c.telemetry_id = cfg.telemetry_id;
  c.timestamp = 1;
  if (!params.empty()) c.params = params;
  auto p = env.bus->producer();
  if (!p) throw std::runtime_error("producer: " + p.error().message);
  if (auto r = (*p)->produce(control, queue, sp::encode(c)); !r)
    throw std::runtime_error("publish start: " + r.error().message);
  check((*p)->flush(seconds(10)), "flush start command");
  return cfg;
}

// ---- 1. loader -> broker -> connector -> SQLite ---------------------------------------------

double end_to_end(Env& env) {
  sf::bench::UnlimitedExchange exchange;

  const std::string dir = env.tmp + "/" + env.unique("e2e");
  auto store = sf::store::SqliteDataStore::open(dir);
  if (!store) throw std::runtime_error("sqlite: " + store.error().message);
  const std::string queue = env.unique("e2e-q"), topic = queue + "-data",
                    control = queue + "-control";
  check(env.bus->ensure_topic({topic, 1, 1}), "ensure data topic");
  sf::bench::settle_disk();

  const auto t0 = steady_clock::now();
  auto ccfg = start_command(env, queue, "store-connector", topic, control);
  auto lcfg = start_command(env, queue, "loader-producer", topic, control);
  sw::WorkerContext cctx, lctx;
  cctx.env = ccfg.to_env();
  cctx.bus = env.bus.get();
  cctx.data_store = store->get();
  lctx.env = lcfg.to_env();
  lctx.env.set(sw::env_names::kExchangeUrl, exchange.server.base_url());
  lctx.bus = env.bus.get();
  lctx.rate_limiter = &exchange.limiter;
  auto conn = std::async(std::launch::async, [&] { return sw::run_connector(cctx); });
  const int lcode = sw::run_loader_producer(lctx);
  const int ccode = conn.get();
  const double secs = duration<double>(steady_clock::now() - t0).count();
  if (lcode != sw::kExitFinished || ccode != sw::kExitFinished)
    throw std::runtime_error("loader exit " + std::to_string(lcode) + ", connector exit " +
                             std::to_string(ccode));
  auto rows = (*store)->count(lcfg.collection_name.value());
  if (!rows || *rows != kLoadCandles)
    throw std::runtime_error("the store holds " + (rows ? std::to_string(*rows) : "?") +
                             " candles, expected " + std::to_string(kLoadCandles));
  store->reset();
  std::filesystem::remove_all(dir);
  return static_cast<double>(kLoadCandles) / secs;
}

// ---- 3. the loader alone --------------------------------------------------------------------

struct LoaderResult {
  double rate = 0;                // records/s
  double cpu_us = 0;              // CPU of this whole process (loader and the simulator) per record
  int64_t pages_from_memory = 0;  // the simulator's answers served rendered
};

LoaderResult loader_alone(Env& env) {
  if (!env.rendered) env.rendered = std::make_unique<sf::bench::UnlimitedExchange>(kRenderedBytes);
  sf::bench::UnlimitedExchange& exchange = *env.rendered;
  const std::string queue = env.unique("produce-q"), topic = queue + "-data",
                    control = queue + "-control";
  check(env.bus->ensure_topic({topic, 1, 1}), "ensure data topic");
  sf::bench::settle_disk();
  const int64_t hits0 = exchange.server.counters().kline_cache_hits;
  const double cpu0 = sf::bench::cpu_seconds();
  const auto t0 = steady_clock::now();
  auto lcfg = start_command(env, queue, "loader-producer", topic, control, {}, kProduceRange);
  sw::WorkerContext lctx;
  lctx.env = lcfg.to_env();
  lctx.env.set(sw::env_names::kExchangeUrl, exchange.server.base_url());
  lctx.bus = env.bus.get();
  lctx.rate_limiter = &exchange.limiter;
  const int code = sw::run_loader_producer(lctx);
  const double secs = duration<double>(steady_clock::now() - t0).count();
  const double cpu = sf::bench::cpu_seconds() - cpu0;
  if (code != sw::kExitFinished) throw std::runtime_error("loader exit " + std::to_string(code));
  // Every page of candles and the end marker are on the topic, nothing more.
  auto end = env.bus->end_offset(topic, 0);
  if (!end || *end != kPerfPages + 1)
    throw std::runtime_error("the topic holds " + (end ? std::to_string(*end) : "?") +
                             " messages, expected " + std::to_string(kPerfPages + 1));
  return {static_cast<double>(kPerfRecords) / secs, cpu * 1e6 / static_cast<double>(kPerfRecords),
          exchange.server.counters().kline_cache_hits - hits0};
}

// The bus producer alone (what the loader publishes through, with its settings) sending
// `messages` copies of one page as fast as it takes them: candles/s (messages/s times the
// page's candles). A diagnosis for the loader-alone figure: how fast the producing side
// goes when nothing else bounds it.
double producer_alone(Env& env, const std::string& page, int64_t messages) {
  const std::string topic = env.unique("producer-only");
  check(env.bus->ensure_topic({topic, 1, 1}), "ensure producer topic");
  auto p = env.bus->producer();
  if (!p) throw std::runtime_error("producer: " + p.error().message);
  sf::bench::settle_disk();
  const auto t0 = steady_clock::now();
  for (int64_t i = 0; i < messages; ++i) {
    auto r = (*p)->produce(topic, kSymbol, page);
    if (!r) throw std::runtime_error("produce: " + r.error().message);
  }
  check((*p)->flush(seconds(60)), "flush");
  const double secs = duration<double>(steady_clock::now() - t0).count();
  return static_cast<double>(messages * kPageRecords) / secs;
}

// ---- 2. produce -> store latency at a fixed rate --------------------------------------------

// A DataStore that times each record from its produce() to the end of the upsert that
// stored it. Records are identified by open_time (one minute apart from `t0_ms`).
class TimingStore final : public sf::testing::ForwardingDataStore {
 public:
  TimingStore(sf::store::DataStore& inner, int64_t t0_ms, size_t n)
      : ForwardingDataStore(inner), t0_ms_(t0_ms), produced_(n) {}
  void produced(size_t i) {
    produced_[i].store(steady_clock::now().time_since_epoch().count(), std::memory_order_release);
  }
  std::vector<double> latencies_ms() {
    std::lock_guard lk(mu_);
    return lat_;
  }
  size_t stored() {
    std::lock_guard lk(mu_);
    return lat_.size();
  }
  // How long each upsert() took, in ms: the store's share of the latency.
  std::vector<double> upsert_ms() {
    std::lock_guard lk(mu_);
    return upsert_ms_;
  }

  sf::Status upsert(const std::string& n, sf::market::Kind k,
                    std::span<const sf::market::Record> recs) override {
    const auto began = steady_clock::now();
    auto s = inner_.upsert(n, k, recs);
    if (!s) return s;
    const auto ended = steady_clock::now();
    const int64_t now = ended.time_since_epoch().count();
    std::lock_guard lk(mu_);
    upsert_ms_.push_back(duration<double, std::milli>(ended - began).count());
    for (const auto& r : recs) {
      const auto& c = std::get<sf::market::Candle>(r);
      size_t i = static_cast<size_t>((c.open_time - t0_ms_) / 60'000);
      if (i >= produced_.size()) continue;
      // exchange(0): a redelivered record is counted once.
      if (int64_t t = produced_[i].exchange(0, std::memory_order_acq_rel); t > 0)
        lat_.push_back(duration<double, std::milli>(steady_clock::duration(now - t)).count());
    }
    return s;
  }
  std::string describe() const override { return "timing(" + inner_.describe() + ")"; }

 private:
  const int64_t t0_ms_;
  std::vector<std::atomic<int64_t>> produced_;  // steady-clock ticks at produce; 0 once stored
  std::mutex mu_;
  std::vector<double> lat_;
  std::vector<double> upsert_ms_;
};

struct LatencyResult {
  double p50 = 0, p99 = 0, achieved_rate = 0;
  size_t records = 0;
  double upsert_p99 = 0, upsert_max = 0;  // the store's share: ms an upsert() took
};

LatencyResult latency(Env& env, std::optional<int> batch_ms, bool checkpoint_in_commit) {
  const int64_t t0_ms = 1'672'531'200'000;  // 2023-01-01
  const size_t warm = 1000;
  const size_t n = warm + static_cast<size_t>(kRate * kLatencySeconds);
  const std::string dir = env.tmp + "/" + env.unique("lat");
  auto inner =
      sf::store::SqliteDataStore::open(dir, {.checkpoint_in_background = !checkpoint_in_commit});
  if (!inner) throw std::runtime_error("sqlite: " + inner.error().message);
  TimingStore store(**inner, t0_ms, n);
  const std::string queue = env.unique("lat-q"), topic = queue + "-data",
                    control = queue + "-control";
  check(env.bus->ensure_topic({topic, 1, 1}), "ensure data topic");
  boost::json::object params;
  if (batch_ms) params["batch_ms"] = *batch_ms;
  auto ccfg = start_command(env, queue, "store-connector", topic, control, params);
  sw::WorkerContext cctx;
  cctx.env = ccfg.to_env();
  cctx.bus = env.bus.get();
  cctx.data_store = &store;
  auto conn = std::async(std::launch::async, [&] { return sw::run_connector(cctx); });

  auto p = env.bus->producer();
  if (!p) throw std::runtime_error("producer: " + p.error().message);
  auto& producer = **p;
  std::vector<std::string> values(n);
  for (size_t i = 0; i < n; ++i)
    values[i] = sf::market::encode(sf::bench::synthetic_candle(
        t0_ms + static_cast<int64_t>(i) * 60'000, static_cast<int64_t>(i)));
  auto produce = [&](size_t i) {
    store.produced(i);
    if (auto r = producer.produce(topic, kSymbol, values[i]); !r)
      throw std::runtime_error("produce failed at record " + std::to_string(i) + ": " +
                               r.error().message);
  };
  // Warm-up: the connector has joined its group and stored these before timing starts.
  for (size_t i = 0; i < warm; ++i) produce(i);
  check(producer.flush(seconds(30)), "flush warm-up");
  auto deadline = steady_clock::now() + seconds(60);
  while (store.stored() < warm && steady_clock::now() < deadline)
    std::this_thread::sleep_for(milliseconds(5));
  if (store.stored() < warm) throw std::runtime_error("the connector never stored the warm-up");
  const size_t warm_seen = store.stored();
  const size_t warm_upserts = store.upsert_ms().size();
  // The upserts' commits wait on the disk: not on the writeback of the part before.
  sf::bench::settle_disk();

  // Paced: record k is due at start + k / rate.
  const auto start = steady_clock::now();
  for (size_t i = warm; i < n; ++i) {
    auto due = start + duration_cast<steady_clock::duration>(
                           duration<double>(static_cast<double>(i - warm) / kRate));
    std::this_thread::sleep_until(due);
    produce(i);
  }
  const double produce_secs = duration<double>(steady_clock::now() - start).count();
  check(producer.flush(seconds(30)), "flush");
  if (auto r = producer.produce(topic, sf::market::kEndMarkerKey,
                                sf::market::encode_end_marker({static_cast<int64_t>(n)}));
      !r)
    throw std::runtime_error("end marker: " + r.error().message);
  check(producer.flush(seconds(30)), "flush end marker");
  const int code = conn.get();
  if (code != sw::kExitFinished) throw std::runtime_error("connector exit " + std::to_string(code));
  auto lat = store.latencies_ms();
  if (lat.size() != n)
    throw std::runtime_error("stored " + std::to_string(lat.size()) + " of " + std::to_string(n));
  std::vector<double> timed(lat.begin() + static_cast<std::ptrdiff_t>(warm_seen), lat.end());
  LatencyResult r;
  r.p50 = sf::bench::percentile(timed, 0.5);
  r.p99 = sf::bench::percentile(timed, 0.99);
  r.records = timed.size();
  auto ups = store.upsert_ms();
  ups.erase(ups.begin(), ups.begin() + static_cast<std::ptrdiff_t>(warm_upserts));
  if (!ups.empty()) {
    r.upsert_p99 = sf::bench::percentile(ups, 0.99);
    r.upsert_max = *std::max_element(ups.begin(), ups.end());
  }
  r.achieved_rate = static_cast<double>(n - warm) / produce_secs;
  inner->reset();
  std::filesystem::remove_all(dir);
  return r;
}

// ---- 4. ProducerPerformance, the reference ----------------------------------------------------

// Messages/s of `record_size` bytes, kReferenceMessages of them, with our producer's
// compression.
double perf_test(Env& env, size_t record_size) {
  const std::string topic = env.unique("perf");
  check(env.bus->ensure_topic({topic, 1, 1}), "ensure perf topic");
  sf::bench::settle_disk();
  std::string cmd = "bash '" + env.kafka_script + "' run-class --dir '" + env.kafka_dir +
                    "' org.apache.kafka.tools.ProducerPerformance --topic " + topic +
                    " --num-records " + std::to_string(kReferenceMessages) + " --record-size " +
                    std::to_string(record_size) +
                    " --throughput -1 --producer-props bootstrap.servers=" + env.bootstrap +
                    " acks=all compression.type=" + env.compression +
                    " enable.idempotence=true linger.ms=" + env.linger_ms + " 2>&1";
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) throw std::runtime_error("cannot run ProducerPerformance");
  std::string out;
  char buf[4096];
  size_t k;
  while ((k = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, k);
  int st = pclose(f);
  // The summary line: "500000 records sent, 123456.7 records/sec (23.55 MB/sec), ..."
  static const std::regex summary(R"((\d+) records sent, ([0-9.]+) records/sec)");
  std::smatch m;
  std::string last;
  for (auto it = std::sregex_iterator(out.begin(), out.end(), summary);
       it != std::sregex_iterator(); ++it)
    last = (*it)[2];
  if (st != 0 || last.empty())
    throw std::runtime_error("ProducerPerformance failed (status " + std::to_string(st) +
                             "): " + out.substr(out.size() > 2000 ? out.size() - 2000 : 0));
  return std::stod(last);
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 3;
  std::optional<int> batch_ms;  // the connector's default unless given
  bool checkpoint_in_commit = false;
  std::vector<std::string> parts{"e2e", "latency", "loader"};
  Env env;
  std::string markdown;
  CLI::App app{
      "Kafka data path: loader -> Kafka -> connector -> SQLite, produce -> stored latency, and "
      "the loader alone against kafka-producer-perf-test (bench/run starts the broker)."};
  app.add_option("--bootstrap", env.bootstrap, "broker, HOST:PORT")->required();
  app.add_option("--kafka-script", env.kafka_script, "scripts/kafka, to run ProducerPerformance")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--kafka-dir", env.kafka_dir, "the broker's scripts/kafka --dir")
      ->required()
      ->check(CLI::ExistingDirectory);
  app.add_flag("--sqlite-checkpoint-in-commit", checkpoint_in_commit,
               "the latency part's SQLite store checkpoints inside its commits, as SQLite does "
               "by itself (default: on the store's checkpointing thread)");
  app.add_option("--batch-ms", batch_ms,
                 "the connector's batch_ms in the latency part (default: the connector's own)")
      ->check(CLI::Range(1, 60'000));
  app.add_option("--parts", parts, "which parts to run")
      ->check(CLI::IsMember({"e2e", "latency", "loader"}))
      ->delimiter(',');
  std::vector<std::string> properties;
  app.add_option("--kafka-property", properties,
                 "KEY=VALUE, a librdkafka property for our clients (repeatable): to try a setting "
                 "against the defaults; ProducerPerformance keeps its own");
  sf::bench::add_run_options(app, runs, markdown);
  int warmups = 1;
  app.add_option("--warmup", warmups,
                 "rounds of the parts before the measured ones, not recorded: a broker just "
                 "started compiles its hot paths during its first loads (the latency part's p99 "
                 "was 84-200 ms in its first runs on a fresh broker, 30 ms after)")
      ->check(CLI::Range(0, 10));
  CLI11_PARSE(app, argc, argv);
  auto has = [&](const char* p) { return std::find(parts.begin(), parts.end(), p) != parts.end(); };
  sf::log::set_level(sf::log::Level::warn);
  std::vector<double> e2e, p50, p99, upsert_p99, rate, loader, loader_cpu, reference;
  // The loader's message: a binary page of 1000 candles.
  const std::string page = [] {
    std::vector<sf::market::Candle> candles;
    for (int64_t i = 0; i < kPageRecords; ++i)
      candles.push_back(sf::bench::synthetic_candle(1'672'531'200'000 + i * 60'000, i));
    std::string out;
    sf::market::encode_page_to(out, std::span<const sf::market::Candle>(candles));
    return out;
  }();
  const size_t record_size = page.size();
  std::vector<double> producer_only;
  LoaderResult computing;  // the rendering run: the simulator computes every page
  try {
    env.tmp = sf::testing::make_temp_dir("sf-kafka-bench");
    sf::bus::BusConfig bc;
    bc.url = "kafka://" + env.bootstrap;
    for (const auto& kv : properties) {
      const auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0)
        throw std::runtime_error("--kafka-property wants KEY=VALUE, got '" + kv + "'");
      bc.kafka_properties[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    auto bus = sf::bus::open_bus(bc);
    if (!bus) throw std::runtime_error("bus: " + bus.error().message);
    env.bus = std::move(*bus);
    env.linger_ms = sf::bus::kKafkaDefaultLingerMs;
    env.compression = bc.compression;
    if (has("loader")) {
      // The simulator renders the loader's pages once, in a run not recorded (Env::rendered).
      computing = loader_alone(env);
      std::printf(
          "rendering the simulator's pages (not recorded): the loader alone %.0f records/s with "
          "every page computed (%.2f us CPU a record, simulator included)\n",
          computing.rate, computing.cpu_us);
      std::fflush(stdout);
    }
    for (int r = -warmups; r < runs; ++r) {
      const std::string tag = r < 0
                                  ? "warm-up " + std::to_string(r + warmups + 1) + " (not recorded)"
                                  : "run " + std::to_string(r + 1);
      if (has("e2e")) {
        e2e.push_back(end_to_end(env));
        std::printf("%s: loader -> Kafka -> connector -> SQLite: %.0f candles/s (%lld)\n",
                    tag.c_str(), e2e.back(), static_cast<long long>(kLoadCandles));
        std::fflush(stdout);
      }
      if (has("latency")) {
        auto l = latency(env, batch_ms, checkpoint_in_commit);
        p50.push_back(l.p50);
        p99.push_back(l.p99);
        upsert_p99.push_back(l.upsert_p99);
        rate.push_back(l.achieved_rate);
        std::printf(
            "%s: produce -> store latency at %.0f records/s (batch_ms %s): p50 %.1f ms, "
            "p99 %.1f ms over %zu records (the store's upserts: p99 %.1f ms, max %.1f ms)\n",
            tag.c_str(), l.achieved_rate, batch_ms ? std::to_string(*batch_ms).c_str() : "default",
            l.p50, l.p99, l.records, l.upsert_p99, l.upsert_max);
        std::fflush(stdout);
      }
      if (has("loader")) {
        auto l = loader_alone(env);
        if (l.pages_from_memory != kPerfPages)
          throw std::runtime_error("the simulator served " + std::to_string(l.pages_from_memory) +
                                   " of the loader's " + std::to_string(kPerfPages) +
                                   " pages from memory");
        loader.push_back(l.rate);
        loader_cpu.push_back(l.cpu_us);
        // In candles/s: its messages/s times the candles a message of that size holds.
        reference.push_back(perf_test(env, record_size) * kPageRecords);
        producer_only.push_back(producer_alone(env, page, kReferenceMessages));
        std::printf(
            "%s: the loader alone: %.0f records/s (%.2f us CPU a record, simulator "
            "included); kafka-producer-perf-test: %.0f messages/s of %zu bytes = %.0f records/s; "
            "ratio %.2f; the bus producer alone: %.0f records/s (%.2f)\n",
            tag.c_str(), loader.back(), loader_cpu.back(), reference.back() / kPageRecords,
            record_size, reference.back(), loader.back() / reference.back(), producer_only.back(),
            producer_only.back() / reference.back());
        std::fflush(stdout);
      }
      if (r == -1) {  // the warm-ups' figures are not recorded
        for (auto* v : {&e2e, &p50, &p99, &rate, &loader, &loader_cpu, &reference, &producer_only})
          v->clear();
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kafka_bench failed: %s (files in %s)\n", e.what(), env.tmp.c_str());
    return 1;
  }
  std::filesystem::remove_all(env.tmp);
  const double loader_m = sf::bench::median(loader), ref_m = sf::bench::median(reference);
  std::vector<double> ratios;
  for (size_t i = 0; i < loader.size(); ++i) ratios.push_back(loader[i] / reference[i]);
  const double ratio_m = sf::bench::median(ratios);
  // One row per figure of the parts that ran.
  std::string table =
      "| measure | median of " + std::to_string(runs) +
      " runs | target (reference measured in the same run) | ratio (figure / target) |\n"
      "|---|---|---|---|\n";
  auto row = [&](const char* fmt, auto... args) {
    char buf[512];
    std::snprintf(buf, sizeof buf, fmt, args...);
    table += buf;
  };
  if (has("e2e"))
    row("| loader -> Kafka -> store-connector -> SQLite, %lld candles (records/s) | %.0f | | |\n",
        static_cast<long long>(kLoadCandles), sf::bench::median(e2e));
  if (has("loader")) {
    row("| the loader alone, %lld candles to a topic nobody reads (records/s) | %.0f | >= 0.8 x "
        "kafka-producer-perf-test | |\n",
        static_cast<long long>(kPerfRecords), loader_m);
    row("| kafka-producer-perf-test on the same broker, %lld messages of %zu bytes (one page "
        "of %lld candles each: records/s) | %.0f | (reference) | |\n",
        static_cast<long long>(kReferenceMessages), record_size,
        static_cast<long long>(kPageRecords), ref_m);
    row("| the loader / kafka-producer-perf-test, each run's own ratio | %.2f | >= 0.8 | %s |\n",
        ratio_m, sf::bench::ratio(ratio_m, 0.8, true).c_str());
    row("| CPU of the loader's process (loader and the in-process simulator serving rendered "
        "pages) per record | %.2f us | | |\n",
        sf::bench::median(loader_cpu));
    row("| diagnosis: the rendering run, one, before the warm-up (the simulator computes every "
        "page): records/s, CPU a record | %.0f, %.2f us | | |\n",
        computing.rate, computing.cpu_us);
    std::vector<double> pr;
    for (size_t i = 0; i < producer_only.size(); ++i) pr.push_back(producer_only[i] / reference[i]);
    row("| diagnosis: the bus producer alone, the same %lld pages from memory (records/s; each "
        "run's ratio to the reference) | %.0f (%.2f) | | |\n",
        static_cast<long long>(kReferenceMessages), sf::bench::median(producer_only),
        sf::bench::median(pr));
  }
  if (has("latency")) {
    const std::string bm = batch_ms ? std::to_string(*batch_ms) : "the default";
    row("| produce -> stored latency at %.0f records/s (batch_ms %s), p50 | %.1f ms | | |\n",
        sf::bench::median(rate), bm.c_str(), sf::bench::median(p50));
    row("| same, p99 | %.1f ms | < 50 ms | %s |\n", sf::bench::median(p99),
        sf::bench::ratio(sf::bench::median(p99), kP99TargetMs, false).c_str());
    row("| the store's share: one upsert(), p99 (SQLite, checkpoints %s) | %.1f ms | | |\n",
        checkpoint_in_commit ? "in the commits" : "on the store's thread",
        sf::bench::median(upsert_p99));
  }
  std::printf("\n%s", table.c_str());
  char intro[8192];
  std::snprintf(
      intro, sizeof intro,
      "## Kafka data path (issues 4 and 11)\n\n"
      "Command: `%s` (`make bench` runs it through bench/run on a broker of its own, "
      "`scripts/kafka start --dir build/kafka-bench`). One Apache Kafka 4.x KRaft broker on "
      "127.0.0.1 sharing the 2 cores with the benchmark; %d warm-up round(s) of the parts "
      "first, not recorded (`--warmup`: a broker just started compiles its hot paths in its "
      "first loads). Every timed part starts after `sync(2)`, so none pays for the writeback "
      "of the part before it.\n\n"
      "- *end to end*: the exchange simulator in-process (limits off), the real "
      "`loader-producer` and `store-connector` workers on threads of this process, both "
      "through the Kafka bus (idempotent producer, acks=all, compression %s, binary pages of "
      "1000 candles a message) to a 1-partition data "
      "topic; `api_candles_1m` BTCUSDT over `%s` (%lld candles) into SQLite; candles / wall "
      "time from publishing the start commands to the connector's return (all written and "
      "committed; the run fails unless the table then holds exactly %lld rows).\n"
      "- *the loader alone*: the real `loader-producer` paging the in-process simulator over "
      "`%s` (%lld candles) into a fresh 1-partition topic with the bus's default producer "
      "settings; candles / wall time from its start command to its return (all acknowledged; "
      "the run fails unless the topic then holds the candles and the end marker). The "
      "simulator serves the pages it rendered in a first loader run, not recorded "
      "(`SimOptions::kline_cache_bytes`; a run fails unless every page came from memory): a "
      "remote exchange costs this host nothing but the socket, and the reference makes no "
      "data either. The loader does all of its own work: HTTP, decoding and checking every "
      "field, encoding, producing.\n"
      "- *reference*: `org.apache.kafka.tools.ProducerPerformance` (kafka-producer-perf-test) "
      "from the kafka-tools jar, %lld records of %zu bytes (the size of the loader's message, "
      "a binary page of %lld candles: twice the loader's bytes, so the JVM warms up within "
      "the run), `--throughput -1`, acks=all, compression %s (our producer's default), "
      "idempotent, linger.ms=%s (our producer's), to a fresh 1-partition topic, right after "
      "the loader's run; its messages/s times %lld is the reference in candles/s.\n"
      "- *diagnosis*: the bus producer the loader publishes through (same settings) sending "
      "one real page as many times as the reference sends messages, as fast as it takes them: "
      "how fast the producing side goes when the exchange side does not bound it (the "
      "loader pages the simulator one request at a time).\n"
      "- *latency*: the store-connector (batch_ms %s) on a fresh topic; after 1,000 "
      "warm-up records are stored, %.0f records are produced at %.0f/s (paced by "
      "`sleep_until`); each record's latency is from just before `produce()` to the end of "
      "the SQLite upsert that stored it (a wrapping DataStore timestamps it).\n\n",
      sf::bench::command_line(argc, argv).c_str(), warmups, env.compression.c_str(), kLoadRange,
      static_cast<long long>(kLoadCandles), static_cast<long long>(kLoadCandles), kProduceRange,
      static_cast<long long>(kPerfRecords), static_cast<long long>(kReferenceMessages), record_size,
      static_cast<long long>(kPageRecords), env.compression.c_str(), env.linger_ms.c_str(),
      static_cast<long long>(kPageRecords),
      batch_ms ? std::to_string(*batch_ms).c_str() : "the default", kRate * kLatencySeconds, kRate);
  return sf::bench::record_markdown(markdown, "kafka-bench", std::string(intro) + table);
}
