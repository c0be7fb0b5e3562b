// queue-manager benchmark (issue 2's targets), run by `make bench`, never by `make test`:
//   1. GET /queues/list latency (p50/p99) on a real `streamforge up` process whose store
//      holds 10,000 queues (2 targets each);
//   2. events/s the manager absorbs from live dummy-service workers (64 dummies sending a
//      `loading` event every millisecond, inside the same real process);
//   3. events/s the manager core absorbs from a backlog already on the bus (in-process; the
//      manager's own ceiling, with no producers competing for the 2 cores);
//   RSS of the manager process after (1) and during (2).
// Each measurement runs --runs times (default 3); the medians are printed and, with
// --markdown FILE, written into FILE between the manager-bench markers.
#include <signal.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <thread>

#include <CLI/CLI.hpp>

#include "base/log.h"
#include "bench/bench_child.h"
#include "bench/bench_util.h"
#include "bus/memory/memory_bus.h"
#include "http/client.h"
#include "launch/launcher.h"
#include "manager/manager.h"
#include "metrics/metrics.h"
#include "store/sqlite/sqlite_state_store.h"
#include "support/process.h"

namespace bj = boost::json;
using namespace std::chrono;
using sf::testing::Process;

namespace {

using sf::bench::median;
using sf::bench::percentile;

double rss_mb(const sf::bench::Child& c) {
  return sf::bench::status_mb(std::to_string(c.proc->pid()), "VmRSS:");
}

// `streamforge up` on `dir`, stopped by pid when it goes.
struct Up : sf::bench::Child {
  explicit Up(const std::string& dir)
      : Child({sf::testing::streamforge_binary(), "up", "--port", "0", "--data-dir", dir,
               "--log-level", "warn"},
              dir + "/up.log", "streamforge up") {}
};

void seed_queues(const std::string& dir, int n) {
  auto store = sf::store::SqliteStateStore::open(dir);
  if (!store) throw std::runtime_error(store.error().message);
  for (int i = 0; i < n; ++i) {
    sf::store::QueueState q;
    char id[64];
    std::snprintf(id, sizeof id, "wf-btcusdt-api_candles_1m-20240801-%06d", i);
    q.queue_id = id;
    q.symbol = "BTCUSDT";
    q.type = "api_candles_1m";
    q.time_range = "2024-08-01:2024-08-02";
    q.status = "finished";
    q.created_at = 1722500000.0 + i;
    q.updated_at = q.created_at + 60;
    q.request_json = "{}";
    for (const char* t : {"loader-producer", "store-connector"}) {
      sf::store::TargetState ts;
      ts.telemetry_id = std::string(t) + "__" + std::to_string(i);
      ts.target = t;
      ts.status = "finished";
      ts.records_written = 1440;
      ts.updated_at = q.updated_at;
      q.targets.push_back(ts);
    }
    auto s = (*store)->create_queue(q);
    if (!s) throw std::runtime_error(s.error().message);
  }
}

struct ListResult {
  double p50_ms, p99_ms, rss_mb, bytes;
};

ListResult bench_list(const std::string& dir, int requests) {
  Up up(dir);
  sf::http::Client c(up.url);
  std::vector<double> lat;
  size_t bytes = 0;
  for (int i = 0; i < requests + 20; ++i) {
    auto t0 = steady_clock::now();
    auto r = c.get("/queues/list");
    double ms = duration<double, std::milli>(steady_clock::now() - t0).count();
    if (!r || r->status != 200) throw std::runtime_error("list failed");
    bytes = r->body.size();
    if (i >= 20) lat.push_back(ms);  // the first requests warm the summary cache
  }
  auto q = bj::parse(c.get("/queues/list")->body).at("queues").as_array().size();
  if (q != 10000) throw std::runtime_error("expected 10000 queues, got " + std::to_string(q));
  return {percentile(lat, 0.5), percentile(lat, 0.99), rss_mb(up), static_cast<double>(bytes)};
}

double metric(sf::http::Client& c, const std::string& name) {
  auto r = c.get("/metrics");
  if (!r) return -1;
  std::istringstream in(r->body);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  return -1;
}

struct LiveResult {
  double events_per_s, rss_mb;
};

LiveResult bench_live(const std::string& dir, int dummies, double seconds_run) {
  Up up(dir);
  sf::http::Client c(up.url);
  bj::array targets;
  for (int i = 0; i < dummies; ++i)
    targets.push_back(bj::object{{"target", "dummy-service"},
                                 {"telemetry_id", "dummy-" + std::to_string(i)},
                                 {"duration_s", seconds_run + 2},
                                 {"records", 1000000},
                                 {"progress_interval_ms", 1}});
  bj::object body{{"symbol", "BTCUSDT"},
                  {"type", "dummy"},
                  {"time_range", "2024-08-01:2024-08-02"},
                  {"targets", targets}};
  auto r = c.post("/queues/start", bj::serialize(body));
  if (!r || r->status != 201) throw std::runtime_error("start failed: " + (r ? r->body : ""));
  std::this_thread::sleep_for(milliseconds(1000));  // let every dummy get going
  double e0 = metric(c, "streamforge_manager_events_total");
  auto t0 = steady_clock::now();
  std::this_thread::sleep_for(duration<double>(seconds_run));
  double e1 = metric(c, "streamforge_manager_events_total");
  double secs = duration<double>(steady_clock::now() - t0).count();
  double rss = rss_mb(up);
  return {(e1 - e0) / secs, rss};
}

// A launcher that runs nothing: the backlog benchmark plays the workers itself.
class NoLauncher final : public sf::launch::Launcher {
 public:
  std::vector<std::string> targets() const override { return {"dummy-service"}; }
  sf::protocol::TargetRole role(const std::string&) const override {
    return sf::protocol::TargetRole::other;
  }
  sf::Status launch(const sf::launch::LaunchSpec&) override { return {}; }
  void kill(const std::string&, const std::string&) override {}
  size_t running() const override { return 0; }
  void set_exit_callback(sf::launch::ExitCallback) override {}
  void shutdown() override {}
  std::string name() const override { return "none"; }
};

double bench_backlog(const std::string& dir, int queues, int events) {
  auto store = sf::store::SqliteStateStore::open(dir);
  if (!store) throw std::runtime_error(store.error().message);
  sf::bus::MemoryBus bus;
  NoLauncher launcher;
  sf::metrics::Registry reg;
  sf::manager::Manager m({}, bus, **store, launcher, {}, &reg);
  if (auto s = m.start(); !s) throw std::runtime_error(s.error().message);
  for (int q = 0; q < queues; ++q) {
    auto body = sf::protocol::decode_start_request(std::string_view(
        R"({"queue_id":"wf-)" + std::to_string(q) +
        R"(","symbol":"BTCUSDT","type":"dummy","time_range":"2024-08-01:2024-08-02","targets":[{"target":"dummy-service","telemetry_id":"d"}]})"));
    if (!m.start_queue(*body)) throw std::runtime_error("start failed");
  }
  auto& counter = reg.counter("streamforge_manager_events_total",
                              "queue-events records applied by the manager");
  const double before = counter.value();
  // Produce from one thread while the manager consumes (as dummies would).
  auto producer = std::move(*bus.producer());
  auto t0 = steady_clock::now();
  std::thread prod([&] {
    for (int i = 0; i < events; ++i) {
      sf::protocol::Event ev;
      ev.queue_id = "wf-" + std::to_string(i % queues);
      ev.producer = "d";
      ev.status = sf::protocol::RunStatus::loading;
      ev.message = "Saved records";
      ev.records_written = i;
      ev.timestamp = 1722500000.0 + i * 1e-3;
      (void)producer->produce(sf::bus::kEventsTopic, ev.queue_id, sf::protocol::encode(ev));
    }
  });
  while (counter.value() - before < events) std::this_thread::sleep_for(milliseconds(1));
  double secs = duration<double>(steady_clock::now() - t0).count();
  prod.join();
  m.shutdown();
  return events / secs;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 3;
  std::string markdown, only;
  CLI::App app{"The manager's list latency, live event rate and backlog catch-up."};
  sf::bench::add_run_options(app, runs, markdown);
  app.add_option("--only", only, "run one part, for profiling")
      ->check(CLI::IsMember({"list", "live", "backlog"}));
  CLI11_PARSE(app, argc, argv);
  sf::log::set_level(sf::log::Level::warn);
  std::string root = sf::testing::make_temp_dir("sf-bench");
  std::vector<double> p50, p99, rss_list, live, rss_live, backlog;
  double bytes = 0;
  try {
    auto want = [&](const char* part) { return only.empty() || only == part; };
    std::string list_dir = root + "/list";
    std::filesystem::create_directories(list_dir);
    if (want("list")) {
      std::printf("seeding 10,000 queues...\n");
      std::fflush(stdout);
      seed_queues(list_dir, 10000);
    }
    for (int r = 0; r < runs && want("list"); ++r) {
      auto l = bench_list(list_dir, 500);
      p50.push_back(l.p50_ms);
      p99.push_back(l.p99_ms);
      rss_list.push_back(l.rss_mb);
      bytes = l.bytes;
      std::printf("run %d: list p50 %.2f ms, p99 %.2f ms (%.0f KiB), manager RSS %.1f MB\n", r + 1,
                  l.p50_ms, l.p99_ms, l.bytes / 1024, l.rss_mb);
      std::fflush(stdout);
    }
    for (int r = 0; r < runs && want("live"); ++r) {
      std::string dir = root + "/live" + std::to_string(r);
      std::filesystem::create_directories(dir);
      auto lv = bench_live(dir, 64, 5.0);
      live.push_back(lv.events_per_s);
      rss_live.push_back(lv.rss_mb);
      std::printf("run %d: %.0f events/s absorbed from 64 live dummies, manager RSS %.1f MB\n",
                  r + 1, lv.events_per_s, lv.rss_mb);
      std::fflush(stdout);
    }
    for (int r = 0; r < runs && want("backlog"); ++r) {
      std::string dir = root + "/backlog" + std::to_string(r);
      std::filesystem::create_directories(dir);
      double eps = bench_backlog(dir, 100, 300000);
      backlog.push_back(eps);
      std::printf("run %d: %.0f events/s absorbed by the manager core (300,000 events)\n", r + 1,
                  eps);
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "benchmark failed: %s (files kept in %s)\n", e.what(), root.c_str());
    return 1;
  }
  std::filesystem::remove_all(root);
  if (!only.empty()) return 0;  // partial runs are not recorded

  char buf[2048];
  std::snprintf(buf, sizeof buf,
                "| measure | median of %d runs | target |\n|---|---|---|\n"
                "| `GET /queues/list`, 10,000 queues (%.1f MiB body), p50 | %.2f ms | |\n"
                "| `GET /queues/list`, 10,000 queues, p99 | %.2f ms | < 10 ms |\n"
                "| events/s absorbed from 64 live dummies (1 event/ms each) | %.0f | >= 50,000 |\n"
                "| events/s absorbed by the manager core from a backlog | %.0f | |\n"
                "| manager RSS with 10,000 queues loaded | %.1f MB | < 100 MB |\n"
                "| manager RSS with 64 dummies running | %.1f MB | < 100 MB |\n",
                runs, bytes / 1048576.0, median(p50), median(p99), median(live), median(backlog),
                median(rss_list), median(rss_live));
  std::printf("\n%s", buf);
  return sf::bench::record_markdown(markdown, "manager-bench", buf);
}
