// Live loaders benchmark (issue 12's targets), run by `make bench`, never by `make test`:
//   1. throughput: the real loader-ws-trades worker streaming BTCUSDT from a `streamforge
//      sim` process whose clock runs --speed times faster than real time (trades as fast as
//      it can send them), publishing to the memory bus while a consumer group drains and
//      commits it. Figures: messages/s on the wall clock, and messages per CPU-second of this
//      process (every thread: the connection's reader, the worker, the bus, the drain), which
//      is the rate one core sustains;
//   2. memory: 200 symbols with trade and depth streams (loader-ws-trades and
//      loader-ws-orderbook with `symbols`) in one process, a fork()ed child, for --rss-seconds
//      against a simulator at real speed; its peak RSS (VmHWM).
//   3. latency: 50 symbols of 100 trades a second each (5,000 messages/s) from a simulator at
//      real speed sending every 1 ms, loader-ws-trades -> bus -> the store connector -> the
//      store. Each row's latency is the wall clock when the store's upsert() of its batch
//      returned (committed) minus the trade's time T: an upper bound of "exchange event to
//      stored row", as the event time E >= T (the simulator stamps E = T; the 1 ms send
//      interval is included). Embedded: both workers in this process on the memory bus,
//      SQLite. With --kafka and --pg-url-file, also Kafka: the loader is a `streamforge
//      worker` process publishing to the broker, the connector (in this process, so that its
//      commits can be timed) consumes it into PostgreSQL.
// Each part runs --runs times (default 3); medians are printed and, with --markdown FILE,
// written into FILE between the live-bench markers.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

#include <CLI/CLI.hpp>

#include "base/log.h"
#include "bench/bench_util.h"
#include "bench/connector_run.h"
#include "bus/memory/memory_bus.h"
#include "bus/open.h"
#include "http/client.h"
#include "market/binary.h"
#include "protocol/messages.h"
#include "store/data_store.h"
#include "store/open.h"
#include "support/process.h"
#include "workers/connector.h"
#include "workers/live.h"
#include "workers/worker.h"

using namespace std::chrono;
namespace sw = sf::workers;
namespace sp = sf::protocol;

namespace {

using sf::bench::check;
using sf::bench::median;
using sf::bench::publish_start;

constexpr double kThroughputTarget = 200'000;  // messages per CPU-second, at least
constexpr double kRssTargetMb = 200;           // MB, under
constexpr double kEmbeddedP99TargetMs = 20;    // event to stored row, under
constexpr double kKafkaP99TargetMs = 50;

struct Sim {
  std::unique_ptr<sf::testing::Process> proc;
  std::string url;
};

Sim start_sim(const std::string& dir, const std::vector<std::string>& flags) {
  std::vector<std::string> argv{sf::testing::streamforge_binary(), "sim", "--port", "0",
                                "--no-limits"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  Sim s;
  s.proc = std::make_unique<sf::testing::Process>(argv, dir + "/sim.log");
  s.url = sf::testing::listening_url(*s.proc, "streamforge sim", dir + "/sim.log");
  return s;
}

// The simulator's clock (ms), from GET /api/v3/time.
int64_t sim_now(const std::string& url) {
  sf::http::Client c(url);
  auto r = c.get("/api/v3/time");
  if (!r || r->status != 200) throw std::runtime_error("GET /api/v3/time failed");
  return boost::json::parse(r->body).at("serverTime").as_int64();
}

std::string iso(int64_t ms) {
  const time_t t = static_cast<time_t>(ms / 1000);
  tm u{};
  gmtime_r(&t, &u);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &u);
  return buf;
}

// A consumer group reading `topic` and committing, counting records (a binary page's each),
// so the memory bus never holds back its producers.
class Drain {
 public:
  Drain(sf::bus::Bus& bus, std::string topic) : bus_(bus), topic_(std::move(topic)) {
    thread_ = std::thread([this] { run(); });
  }
  ~Drain() {
    stop_ = true;
    thread_.join();
  }
  int64_t records() const { return records_.load(); }

 private:
  void run() {
    auto c = bus_.subscribe({"drain-" + topic_, {topic_}});
    if (!c) return;
    while (!stop_) {
      auto recs = (*c)->poll(10'000, milliseconds(20));
      if (!recs || recs->empty()) continue;
      int64_t n = 0;
      for (const auto& r : *recs)
        n += static_cast<int64_t>(sf::market::binary_page_count(r.value).value_or(1));
      records_ += n;
      (void)(*c)->commit(recs->back());
    }
  }
  sf::bus::Bus& bus_;
  std::string topic_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> records_{0};
  std::thread thread_;
};

sw::WorkerConfig live_config(const std::string& target, const std::string& type,
                             const std::string& range, const std::string& topic) {
  sw::WorkerConfig cfg;
  cfg.queue_id = "live-bench";
  cfg.target = target;
  cfg.telemetry_id = target + "__1";
  cfg.symbol = "BTCUSDT";
  cfg.type = type;
  cfg.time_range = range;
  cfg.kafka_topic = topic;
  cfg.start_timeout_s = 10;
  return cfg;
}

void send_stop(sf::bus::Bus& bus, const std::string& queue = "live-bench") {
  sp::Command c;
  c.command = sp::CommandType::stop;
  c.queue_id = queue;
  c.timestamp = 2;
  auto p = bus.producer();
  if (!p) throw std::runtime_error("producer: " + p.error().message);
  if (auto r = (*p)->produce(sf::bus::kControlTopic, queue, sp::encode(c)); !r)
    throw std::runtime_error("publish stop: " + r.error().message);
}

// ---- 1. throughput ----------------------------------------------------------------------

struct Throughput {
  double wall_per_s = 0, per_cpu_s = 0;
  int64_t messages = 0;
};

Throughput throughput_run(const std::string& dir, double speed, double seconds) {
  // A maximum connection age far beyond the run (the default 24 h passes in seconds at this
  // speed): the figure is the stream's, not a reconnect's REST fill.
  Sim sim = start_sim(dir, {"--speed", std::to_string(speed), "--ws-max-age-ms",
                            std::to_string(int64_t{10} * 365 * 86'400'000)});
  const int64_t now = sim_now(sim.url);
  sf::bus::MemoryBus bus;
  sw::WorkerContext ctx;
  auto cfg = live_config("loader-ws-trades", "ws_trades",
                         iso(now) + ":" + iso(now + 365LL * 86'400'000), "live-bench-data");
  ctx.env = cfg.to_env();
  ctx.env.set(sw::env_names::kExchangeUrl, sim.url);
  ctx.bus = &bus;
  check(bus.ensure_topic({"live-bench-data", 1, 1}), "ensure topic");
  Drain drain(bus, "live-bench-data");
  publish_start(bus, cfg);
  auto done = std::async(std::launch::async, [&] { return sw::run_live_trades(ctx); });
  // Measure once records flow (the connection is up), over `seconds`.
  const auto deadline = steady_clock::now() + std::chrono::seconds(30);
  while (drain.records() == 0 && steady_clock::now() < deadline)
    std::this_thread::sleep_for(milliseconds(10));
  const int64_t n0 = drain.records();
  const double cpu0 = sf::bench::cpu_seconds();
  const auto t0 = steady_clock::now();
  std::this_thread::sleep_for(duration<double>(seconds));
  const int64_t n1 = drain.records();
  const double cpu1 = sf::bench::cpu_seconds();
  const double wall = duration<double>(steady_clock::now() - t0).count();
  send_stop(bus);
  done.wait();
  Throughput t;
  t.messages = n1 - n0;
  t.wall_per_s = static_cast<double>(t.messages) / wall;
  t.per_cpu_s = cpu1 > cpu0 ? static_cast<double>(t.messages) / (cpu1 - cpu0) : 0;
  return t;
}

// ---- 2. memory --------------------------------------------------------------------------

// In a fork()ed child: both workers for `seconds`; returns the child's VmHWM (MB), or -1.
double rss_run(const std::string& dir, int symbols, double seconds, int64_t* messages) {
  std::vector<std::string> names;
  std::string extra;
  for (int i = 0; i < symbols; ++i) {
    names.push_back("SYM" + std::to_string(i) + "USDT");
    extra += (i ? "," : "") + names.back();
  }
  Sim sim = start_sim(dir, {"--symbols", extra});
  const int64_t now = sim_now(sim.url);
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe");
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    sf::bus::MemoryBus bus;
    const std::string range = iso(now) + ":" + iso(now + 86'400'000);
    boost::json::array syms;
    for (const auto& s : names) syms.emplace_back(s);
    auto trades = live_config("loader-ws-trades", "ws_trades", range, "rss-trades");
    trades.params["symbols"] = syms;
    auto book = live_config("loader-ws-orderbook", "ws_orderbook", range, "rss-book");
    book.params["symbols"] = syms;
    book.params["depth_limit"] = 100;  // 200 snapshots within a minute's weight budget
    book.telemetry_id = "book__1";
    sw::WorkerContext tc, bc;
    for (auto* c : {&tc, &bc}) c->bus = &bus;
    tc.env = trades.to_env();
    bc.env = book.to_env();
    for (auto* c : {&tc, &bc}) c->env.set(sw::env_names::kExchangeUrl, sim.url);
    for (const char* t : {"rss-trades", "rss-book", "rss-book-snapshots"})
      (void)bus.ensure_topic({t, 1, 1});
    Drain d1(bus, "rss-trades"), d2(bus, "rss-book"), d3(bus, "rss-book-snapshots");
    publish_start(bus, trades);
    publish_start(bus, book);
    auto f1 = std::async(std::launch::async, [&] { return sw::run_live_trades(tc); });
    auto f2 = std::async(std::launch::async, [&] { return sw::run_live_orderbook(bc); });
    std::this_thread::sleep_for(duration<double>(seconds));
    send_stop(bus);
    f1.wait();
    f2.wait();
    const double hwm = sf::bench::status_mb("self", "VmHWM:");
    const int64_t n = d1.records() + d2.records() + d3.records();
    double out[2] = {hwm, static_cast<double>(n)};
    (void)!write(fds[1], out, sizeof out);
    _exit(0);
  }
  close(fds[1]);
  double out[2] = {-1, 0};
  (void)!read(fds[0], out, sizeof out);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  *messages = static_cast<int64_t>(out[1]);
  return out[0];
}

// ---- 3. latency -------------------------------------------------------------------------

// A DataStore that forwards to another and, while measuring, notes for every trade of a
// successful upsert the wall clock at its return minus the trade's time.
class TimedStore final : public sf::store::DataStore {
 public:
  explicit TimedStore(sf::store::DataStore& inner) : inner_(inner) {}
  // Rows whose trade time is at or after `from_ms` count, from now on; then only those
  // before `to_ms`.
  void measure_from(int64_t from_ms) { from_ms_ = from_ms; }
  void measure_until(int64_t to_ms) { to_ms_ = to_ms; }
  std::vector<double> latencies() {
    std::lock_guard lk(mu_);
    return lat_;
  }

  sf::Status ensure_collection(const std::string& n, sf::market::Kind k) override {
    return inner_.ensure_collection(n, k);
  }
  sf::Status upsert(const std::string& n, sf::market::Kind k,
                    std::span<const sf::market::Record> r) override {
    return note(inner_.upsert(n, k, r), r);
  }
  sf::Status upsert_decoded(const std::string& n, sf::market::Kind k,
                            std::span<const sf::market::Record> r) override {
    return note(inner_.upsert_decoded(n, k, r), r);
  }
  sf::Result<std::vector<sf::store::CollectionInfo>> collections() override {
    return inner_.collections();
  }
  sf::Result<sf::market::Kind> collection_kind(const std::string& n) override {
    return inner_.collection_kind(n);
  }
  sf::Result<int64_t> count(const std::string& n, const sf::store::Query& q) override {
    return inner_.count(n, q);
  }
  sf::Result<std::vector<sf::market::Record>> scan(const std::string& n,
                                                   const sf::store::Query& q) override {
    return inner_.scan(n, q);
  }
  sf::Result<std::vector<int64_t>> times(const std::string& n, const sf::store::Query& q) override {
    return inner_.times(n, q);
  }
  sf::Result<std::vector<sf::store::IdRange>> missing_ids(const std::string& n,
                                                          const sf::store::IdGapQuery& q) override {
    return inner_.missing_ids(n, q);
  }
  std::string describe() const override { return inner_.describe(); }

 private:
  sf::Status note(sf::Status s, std::span<const sf::market::Record> records) {
    const int64_t from = from_ms_.load(), to = to_ms_.load();
    if (!s || from == 0) return s;
    const double now_ms =
        static_cast<double>(
            duration_cast<microseconds>(system_clock::now().time_since_epoch()).count()) /
        1e3;
    std::lock_guard lk(mu_);
    for (const auto& r : records)
      if (const auto* t = std::get_if<sf::market::Trade>(&r); t && t->time >= from && t->time < to)
        lat_.push_back(now_ms - static_cast<double>(t->time));
    return s;
  }
  sf::store::DataStore& inner_;
  std::atomic<int64_t> from_ms_{0}, to_ms_{INT64_MAX};
  std::mutex mu_;
  std::vector<double> lat_;
};

struct Latency {
  double p50 = 0, p99 = 0, max = 0, rate = 0;  // ms, ms, ms, rows/s
  int64_t rows = 0;
};

struct LatencySetup {
  int symbols = 50;
  int64_t trades_per_symbol = 100;  // a second
  double warmup_s = 3, seconds = 10;
};

std::vector<std::string> lat_symbols(int n) {
  std::vector<std::string> v;
  for (int i = 0; i < n; ++i) v.push_back("LAT" + std::to_string(i) + "USDT");
  return v;
}

Sim start_latency_sim(const std::string& dir, const LatencySetup& ls) {
  std::string names;
  for (const auto& s : lat_symbols(ls.symbols)) names += (names.empty() ? "" : ",") + s;
  return start_sim(dir, {"--symbols", names, "--extra-trades-per-sec",
                         std::to_string(ls.trades_per_symbol), "--ws-pump-ms", "1"});
}

int64_t wall_ms() {
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// The loader and connector configurations of one latency run (one queue).
std::pair<sw::WorkerConfig, sw::WorkerConfig> latency_configs(const std::string& queue,
                                                              const LatencySetup& ls, int64_t now) {
  boost::json::array syms;
  for (const auto& s : lat_symbols(ls.symbols)) syms.emplace_back(s);
  const std::string topic = queue + "-data";
  auto loader =
      live_config("loader-ws-trades", "ws_trades", iso(now) + ":" + iso(now + 86'400'000), topic);
  loader.queue_id = queue;
  loader.params["symbols"] = syms;
  auto conn = loader;
  conn.target = "store-connector";
  conn.telemetry_id = "store-connector__1";
  conn.params = {};
  conn.collection_name = "lat_trades";
  return {loader, conn};
}

// Measures from warm-up's end for `seconds`, then stops the queue and collects.
Latency finish_latency(TimedStore& timed, const LatencySetup& ls, sf::bus::Bus& bus,
                       const std::string& queue, const std::function<void()>& wait_workers) {
  std::this_thread::sleep_for(duration<double>(ls.warmup_s));
  const int64_t from = wall_ms();
  timed.measure_from(from);
  std::this_thread::sleep_for(duration<double>(ls.seconds));
  const int64_t to = wall_ms();
  timed.measure_until(to);
  // Rows of the window still in flight get another second to arrive.
  std::this_thread::sleep_for(seconds(1));
  send_stop(bus, queue);
  wait_workers();
  const std::vector<double> lat = timed.latencies();
  Latency out;
  out.rows = static_cast<int64_t>(lat.size());
  if (lat.empty()) throw std::runtime_error("no row was stored in the measured window");
  out.p50 = sf::bench::percentile(lat, 0.5);
  out.p99 = sf::bench::percentile(lat, 0.99);
  out.max = *std::max_element(lat.begin(), lat.end());
  out.rate = static_cast<double>(out.rows) / (static_cast<double>(to - from) / 1e3);
  return out;
}

Latency latency_embedded(const std::string& dir, const LatencySetup& ls, int run) {
  Sim sim = start_latency_sim(dir, ls);
  const int64_t now = sim_now(sim.url);
  const std::string data_dir = dir + "/embedded-" + std::to_string(run);
  std::filesystem::create_directories(data_dir);
  auto store = sf::store::open_data_store("", data_dir);
  if (!store) throw std::runtime_error("open SQLite: " + store.error().message);
  TimedStore timed(**store);
  sf::bus::MemoryBus bus;
  const std::string queue = "lat-embedded-" + std::to_string(run);
  auto [loader, conn] = latency_configs(queue, ls, now);
  check(bus.ensure_topic({*loader.kafka_topic, 1, 1}), "ensure topic");
  sw::WorkerContext lc, cc;
  lc.env = loader.to_env();
  lc.env.set(sw::env_names::kExchangeUrl, sim.url);
  lc.bus = &bus;
  cc.env = conn.to_env();
  cc.bus = &bus;
  cc.data_store = &timed;
  publish_start(bus, loader);
  publish_start(bus, conn);
  auto fl = std::async(std::launch::async, [&] { return sw::run_live_trades(lc); });
  auto fc = std::async(std::launch::async, [&] { return sw::run_connector(cc); });
  return finish_latency(timed, ls, bus, queue, [&] {
    fl.wait();
    fc.wait();
  });
}

Latency latency_kafka(const std::string& dir, const LatencySetup& ls, int run,
                      const std::string& bootstrap, const std::string& pg_url) {
  Sim sim = start_latency_sim(dir, ls);
  const int64_t now = sim_now(sim.url);
  auto store = sf::store::open_data_store(pg_url, dir);
  if (!store) throw std::runtime_error("open PostgreSQL: " + store.error().message);
  TimedStore timed(**store);
  sf::bus::BusConfig bc;
  bc.url = "kafka://" + bootstrap;
  auto bus = sf::bus::open_bus(bc);
  if (!bus) throw std::runtime_error("open Kafka: " + bus.error().message);
  const std::string queue = "lat-kafka-" + std::to_string(getpid()) + "-" + std::to_string(run);
  auto [loader, conn] = latency_configs(queue, ls, now);
  check((*bus)->ensure_topic({*loader.kafka_topic, 1, 1}), "ensure topic");
  check((*bus)->ensure_topic({sf::bus::kControlTopic, 1, 1}), "ensure the control topic");
  // The loader: a worker process, as `streamforge up --launcher process` starts it.
  std::map<std::string, std::string> env = loader.to_env().vars();
  env[sw::env_names::kExchangeUrl] = sim.url;
  env[sw::env_names::kBus] = bc.url;
  env[sw::env_names::kLogLevel] = "warn";
  sf::testing::Process worker({sf::testing::streamforge_binary(), "worker", loader.target},
                              dir + "/worker-" + std::to_string(run) + ".log", env);
  sw::WorkerContext cc;
  cc.env = conn.to_env();
  cc.bus = bus->get();
  cc.data_store = &timed;
  publish_start(**bus, loader);
  publish_start(**bus, conn);
  auto fc = std::async(std::launch::async, [&] { return sw::run_connector(cc); });
  return finish_latency(timed, ls, **bus, queue, [&] {
    fc.wait();

    (void)worker.wait(seconds(10));
  });
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"live loaders benchmark (issue 12)"};
  int runs = 3;
  std::string markdown;
  double speed = 20'000, seconds = 5, rss_seconds = 30;
  int symbols = 200;
  std::string only;
  sf::bench::add_run_options(app, runs, markdown);
  app.add_option("--speed", speed, "the simulator's clock speed for the throughput part");
  app.add_option("--seconds", seconds, "measured seconds of each throughput run");
  app.add_option("--rss-seconds", rss_seconds, "seconds each memory run streams");
  app.add_option("--symbols", symbols, "symbols of the memory part");
  app.add_option("--only", only,
                 "throughput, rss, latency, latency-embedded or latency-kafka (default all)");
  std::string kafka, pg_url_file;
  app.add_option("--kafka", kafka, "HOST:PORT of a broker: also the Kafka latency part");
  app.add_option("--pg-url-file", pg_url_file,
                 "a file holding a PostgreSQL URL (scripts/postgres): the Kafka part's store");
  LatencySetup ls;
  app.add_option("--latency-seconds", ls.seconds, "measured seconds of each latency run");
  int warmup = 0;
  app.add_option("--warmup", warmup,
                 "unrecorded Kafka latency runs first (a broker that has just started is "
                 "compiling its hot paths)");
  CLI11_PARSE(app, argc, argv);
  sf::log::set_level(sf::log::Level::warn);
  const std::string cmd = sf::bench::command_line(argc, argv);
  auto dir = std::filesystem::temp_directory_path() / ("sf-live-bench-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  // Every failure is caught here, so that the simulators and worker processes of the run
  // are stopped (their destructors) before the exit.
  try {
    std::vector<double> wall, cpu, hwm;
    int64_t rss_messages = 0;
    for (int i = 0; i < runs && (only.empty() || only == "throughput"); ++i) {
      auto t = throughput_run(dir.string(), speed, seconds);
      std::printf("throughput run %d: %lld messages, %.0f messages/s wall, %.0f per CPU-second\n",
                  i + 1, static_cast<long long>(t.messages), t.wall_per_s, t.per_cpu_s);
      wall.push_back(t.wall_per_s);
      cpu.push_back(t.per_cpu_s);
    }
    for (int i = 0; i < runs && (only.empty() || only == "rss"); ++i) {
      const double mb = rss_run(dir.string(), symbols, rss_seconds, &rss_messages);
      std::printf("memory run %d: %d symbols x (trade + depth), %lld messages, peak RSS %.1f MB\n",
                  i + 1, symbols, static_cast<long long>(rss_messages), mb);
      hwm.push_back(mb);
    }
    std::vector<Latency> emb, kaf;
    std::string pg_url;
    if (!pg_url_file.empty()) {
      std::ifstream f(pg_url_file);
      std::getline(f, pg_url);
      if (pg_url.empty()) throw std::runtime_error("no URL in " + pg_url_file);
    }
    auto print_latency = [](const char* what, int i, const Latency& l) {
      std::printf(
          "latency %s run %d: %lld rows at %.0f/s, event to stored row p50 %.1f ms, p99 "
          "%.1f ms, max %.1f ms\n",
          what, i, static_cast<long long>(l.rows), l.rate, l.p50, l.p99, l.max);
    };
    for (int i = 0; i < runs && (only.empty() || only == "latency" || only == "latency-embedded");
         ++i) {
      emb.push_back(latency_embedded(dir.string(), ls, i));
      print_latency("embedded", i + 1, emb.back());
    }
    for (int i = 0; i < runs && (only.empty() || only == "latency" || only == "latency-kafka") &&
                    !kafka.empty();
         ++i) {
      if (pg_url.empty()) throw std::runtime_error("--kafka needs --pg-url-file");
      for (; warmup > 0; --warmup)
        print_latency("Kafka warm-up", warmup,
                      latency_kafka(dir.string(), ls, -warmup, kafka, pg_url));
      kaf.push_back(latency_kafka(dir.string(), ls, i, kafka, pg_url));
      print_latency("Kafka", i + 1, kaf.back());
    }
    std::filesystem::remove_all(dir);

    char buf[2048];
    std::string md = "Command: `" + cmd + "` (medians of " + std::to_string(runs) + " runs)\n\n";
    md += "| figure | median | target | ratio |\n|---|---|---|---|\n";
    if (!wall.empty()) {
      std::snprintf(buf, sizeof buf,
                    "| loader-ws-trades, messages per CPU-second of its process (sim at %.0fx) "
                    "| %.0f | >= %.0f | %s |\n| the same on the wall clock | %.0f | | |\n",
                    speed, median(cpu), kThroughputTarget,
                    sf::bench::ratio(median(cpu), kThroughputTarget, true).c_str(), median(wall));
      md += buf;
    }
    if (!hwm.empty()) {
      std::snprintf(buf, sizeof buf,
                    "| %d symbols, trade + depth@100ms streams, one process: peak RSS (MB) | %.1f "
                    "| < %.0f | %s |\n",
                    symbols, median(hwm), kRssTargetMb,
                    sf::bench::ratio(median(hwm), kRssTargetMb, false).c_str());
      md += buf;
    }
    auto latency_rows = [&](const char* where, const std::vector<Latency>& v, double target) {
      if (v.empty()) return;
      std::vector<double> p50, p99, mx, rate;
      for (const auto& l : v) {
        p50.push_back(l.p50);
        p99.push_back(l.p99);
        mx.push_back(l.max);
        rate.push_back(l.rate);
      }
      std::snprintf(buf, sizeof buf,
                    "| %s: trade time to stored row at %.0f rows/s (%d symbols), p99 (ms) | %.1f "
                    "| < %.0f | %s |\n| the same, p50 / max (ms) | %.1f / %.1f | | |\n",
                    where, median(rate), ls.symbols, median(p99), target,
                    sf::bench::ratio(median(p99), target, false).c_str(), median(p50), median(mx));
      md += buf;
    };
    latency_rows("embedded (memory bus, SQLite, one process)", emb, kEmbeddedP99TargetMs);
    latency_rows("Kafka (loader process, broker, connector into PostgreSQL)", kaf,
                 kKafkaP99TargetMs);
    std::printf("\n%s", md.c_str());
    // The Kafka part runs on its own in bench/run (where the broker and PostgreSQL are up),
    // into a section of its own.
    return sf::bench::record_markdown(
        markdown, only == "latency-kafka" ? "live-bench-kafka" : "live-bench", md);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "live_bench: %s\n", e.what());
    std::filesystem::remove_all(dir);
    return 1;
  }
}
