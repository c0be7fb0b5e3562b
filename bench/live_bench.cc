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
// Each part runs --runs times (default 3); medians are printed and, with --markdown FILE,
// written into FILE between the live-bench markers.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <future>
#include <thread>

#include <CLI/CLI.hpp>

#include "base/log.h"
#include "bench/bench_util.h"
#include "bench/connector_run.h"
#include "bus/memory/memory_bus.h"
#include "http/client.h"
#include "market/binary.h"
#include "protocol/messages.h"
#include "support/process.h"
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

void send_stop(sf::bus::Bus& bus) {
  sp::Command c;
  c.command = sp::CommandType::stop;
  c.queue_id = "live-bench";
  c.timestamp = 2;
  auto p = bus.producer();
  if (!p) throw std::runtime_error("producer: " + p.error().message);
  if (auto r = (*p)->produce(sf::bus::kControlTopic, "live-bench", sp::encode(c)); !r)
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
  app.add_option("--only", only, "throughput or rss (default both)");
  CLI11_PARSE(app, argc, argv);
  sf::log::set_level(sf::log::Level::warn);
  const std::string cmd = sf::bench::command_line(argc, argv);
  auto dir = std::filesystem::temp_directory_path() / ("sf-live-bench-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);

  std::vector<double> wall, cpu, hwm;
  int64_t rss_messages = 0;
  for (int i = 0; i < runs && only != "rss"; ++i) {
    auto t = throughput_run(dir.string(), speed, seconds);
    std::printf("throughput run %d: %lld messages, %.0f messages/s wall, %.0f per CPU-second\n",
                i + 1, static_cast<long long>(t.messages), t.wall_per_s, t.per_cpu_s);
    wall.push_back(t.wall_per_s);
    cpu.push_back(t.per_cpu_s);
  }
  for (int i = 0; i < runs && only != "throughput"; ++i) {
    const double mb = rss_run(dir.string(), symbols, rss_seconds, &rss_messages);
    std::printf("memory run %d: %d symbols x (trade + depth), %lld messages, peak RSS %.1f MB\n",
                i + 1, symbols, static_cast<long long>(rss_messages), mb);
    hwm.push_back(mb);
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
  std::printf("\n%s", md.c_str());
  return sf::bench::record_markdown(markdown, "live-bench", md);
}
