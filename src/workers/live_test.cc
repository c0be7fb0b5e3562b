// The live loaders against the exchange simulator's streams and REST side, on the memory
// bus: what they publish is checked id by id against the simulator's market.
#include "workers/live.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <regex>
#include <set>
#include <thread>

#include "bus/memory/memory_bus.h"
#include "exchange/sim/depth.h"
#include "exchange/sim/market.h"
#include "exchange/sim/server.h"
#include "market/binary.h"
#include "market/data_topic.h"
#include "market/order_book.h"
#include "market/records.h"
#include "tests/support/book_check.h"
#include "tests/support/worker.h"

namespace sw = sf::workers;
namespace sp = sf::protocol;
namespace sm = sf::market;
namespace sim = sf::exchange::sim;
using namespace std::chrono_literals;

namespace {

constexpr int64_t kAug1 = 1722470400000;  // 2024-08-01T00:00:00Z

TEST(LiveSettings, StrictWithNamedFields) {
  auto parse = [](const char* json) {
    return sw::LiveSettings::from_params(boost::json::parse(json).as_object());
  };
  auto s = parse(R"({"symbols":["BTCUSDT","ETHUSDT"],"stall_ms":2000,"rotate_after_s":30})");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->symbols, (std::vector<std::string>{"BTCUSDT", "ETHUSDT"}));
  EXPECT_EQ(s->stall_ms, 2000);
  EXPECT_EQ(s->rotate_after_s, 30);
  EXPECT_EQ(s->backoff_max_ms, 5000);
  EXPECT_TRUE(parse("{}").ok());
  EXPECT_EQ(parse(R"({"symbols":"BTCUSDT"})").error().field, "symbols");
  EXPECT_EQ(parse(R"({"symbols":[]})").error().field, "symbols");
  EXPECT_EQ(parse(R"({"symbols":["BTCUSDT","btc usdt"]})").error().field, "symbols[1]");
  auto twice = parse(R"({"symbols":["BTCUSDT","BTCUSDT"]})");
  EXPECT_EQ(twice.error().message, "field 'symbols[1]': BTCUSDT is listed twice");
  EXPECT_EQ(parse(R"({"stall_ms":5})").error().field, "stall_ms");
  EXPECT_EQ(parse(R"({"rotate_after_s":0})").error().field, "rotate_after_s");
  EXPECT_EQ(parse(R"({"record_format":"csv"})").error().code, sf::Errc::invalid_argument);
  EXPECT_FALSE(parse(R"({"from_id":1})").ok());
}

TEST(LiveSettings, StreamServerFollowsTheRestUrl) {
  EXPECT_EQ(sw::ws_url_for("https://api.binance.com"), "wss://stream.binance.com:9443");
  EXPECT_EQ(sw::ws_url_for("https://api.binance.com/"), "wss://stream.binance.com:9443");
  EXPECT_EQ(sw::ws_url_for("http://127.0.0.1:8123"), "ws://127.0.0.1:8123");
  EXPECT_EQ(sw::ws_url_for("https://example.org:8443"), "wss://example.org:8443");
}

// A simulator on a clock that runs `speed` times faster than real time from kAug1.
class LiveTest : public ::testing::Test {
 protected:
  void start_sim(int speed, sim::LiveFaults faults = {}) {
    sim::SimOptions o;
    o.seed = 7;
    o.limits = false;
    o.clock = &clock_;
    // Faults are scheduled in real time, the market in simulated time.
    o.real_clock = &sf::SystemClock::instance();
    o.faults.ws = faults;
    sim_ = std::make_unique<sim::SimServer>(o);
    ASSERT_TRUE(sim_->start().ok());
    ticking_ = true;
    ticker_ = std::thread([this, speed] {
      while (ticking_) {
        std::this_thread::sleep_for(5ms);
        clock_.advance(5 * speed);
      }
    });
  }
  void TearDown() override {
    ticking_ = false;
    if (ticker_.joinable()) ticker_.join();
    if (sim_) sim_->stop();
  }

  sw::WorkerConfig config(const std::string& target, const std::string& type,
                          const std::string& range) {
    auto c =
        sf::testing::worker_config("wf-live", target, "live__1", "BTCUSDT", type, "wf-live-data");
    c.time_range = range;
    c.start_timeout_s = 5;
    return c;
  }
  std::future<int> run(const sw::WorkerConfig& cfg, int (*fn)(sw::WorkerContext&)) {
    ctx_.env = cfg.to_env();
    ctx_.env.set(sw::env_names::kExchangeUrl, sim_->base_url());
    ctx_.bus = bus_.get();
    EXPECT_TRUE(sf::testing::publish_command(*bus_, cfg).ok());
    return std::async(std::launch::async, [this, fn] { return fn(ctx_); });
  }
  // Runs `fn` on `cfg` (run()) and waits up to `timeout` for it to end, finished.
  void run_to_end(const sw::WorkerConfig& cfg, int (*fn)(sw::WorkerContext&),
                  std::chrono::seconds timeout) {
    auto done = run(cfg, fn);
    ASSERT_EQ(done.wait_for(timeout), std::future_status::ready);
    EXPECT_EQ(done.get(), sw::kExitFinished);
  }
  void stop() {
    EXPECT_TRUE(
        sf::testing::publish_command(*bus_, config("x", "ws_trades", "x"), sp::CommandType::stop)
            .ok());
  }
  // The records on the data topic (binary pages unpacked) and the end markers.
  void read_topic(sm::Kind kind, std::vector<sm::Record>* records,
                  std::vector<sm::EndMarker>* markers, const std::string& topic = "wf-live-data") {
    auto end = bus_->end_offset(topic, 0);
    ASSERT_TRUE(end.ok());
    auto r = bus_->read_from(topic, 0, 0);
    ASSERT_TRUE(r.ok());
    int64_t seen = 0;
    std::vector<sm::Record> rows;
    while (seen < *end) {
      auto recs = (*r)->poll(10000, 100ms);
      ASSERT_TRUE(recs.ok());
      if (recs->empty()) break;
      for (const auto& m : *recs) {
        ++seen;
        if (m.key == sm::kEndMarkerKey) {
          auto mk = sm::decode_end_marker(m.value);
          ASSERT_TRUE(mk.ok()) << m.value;
          markers->push_back(*mk);
          continue;
        }
        auto n = sm::decode_message(kind, m.value, rows, 0);
        ASSERT_TRUE(n.ok()) << n.error().message;
        records->insert(records->end(), rows.begin(), rows.begin() + static_cast<ptrdiff_t>(*n));
      }
    }
  }
  std::vector<sp::Event> events() { return sf::testing::read_events(*bus_); }

  sf::ManualClock clock_{kAug1};
  std::atomic<bool> ticking_{false};
  std::thread ticker_;
  std::unique_ptr<sim::SimServer> sim_;
  std::unique_ptr<sf::bus::MemoryBus> bus_ = std::make_unique<sf::bus::MemoryBus>();
  sw::WorkerContext ctx_;
};

// The trade ids of `symbol` whose time is in [from_ms, to_ms): the simulator's ground truth.
std::pair<int64_t, int64_t> trade_ids(const sim::Market& m, const std::string& symbol,
                                      int64_t from_ms, int64_t to_ms) {
  const sim::SymbolSpec& s = *m.find(symbol);
  return {m.raw_agg_trade(s, sim::Market::first_agg_id_at(s, from_ms)).first_trade_id,
          m.raw_agg_trade(s, sim::Market::first_agg_id_at(s, to_ms)).first_trade_id - 1};
}

// A minute of BTCUSDT trades at 10x: every trade of the range once, equal to the
// simulator's, with connections rotated every second (side by side: duplicates dropped).
TEST_F(LiveTest, TradesOfTheRangeEveryIdOnceAcrossRotations) {
  start_sim(10);
  auto cfg = config("loader-ws-trades", "ws_trades", "2024-08-01T00:00:05:2024-08-01T00:01:05");
  cfg.params["rotate_after_s"] = 1;
  ASSERT_NO_FATAL_FAILURE(run_to_end(cfg, sw::run_live_trades, 60s));

  std::vector<sm::Record> recs;
  std::vector<sm::EndMarker> markers;
  read_topic(sm::Kind::trade, &recs, &markers);
  const sim::Market market(7);
  auto [first, last] = trade_ids(market, "BTCUSDT", kAug1 + 5'000, kAug1 + 65'000);
  ASSERT_EQ(static_cast<int64_t>(recs.size()), last - first + 1);
  std::set<int64_t> ids;
  for (const auto& r : recs) {
    const auto& t = std::get<sm::Trade>(r);
    ASSERT_TRUE(ids.insert(t.trade_id).second) << "twice: " << t.trade_id;
    ASSERT_EQ(t, *market.trade("BTCUSDT", t.trade_id));
  }
  EXPECT_EQ(*ids.begin(), first);
  EXPECT_EQ(*ids.rbegin(), last);
  ASSERT_EQ(markers.size(), 1u);
  EXPECT_EQ(markers[0], (sm::EndMarker{last - first + 1, first, last}));
  auto ev = events();
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev.back().status, sp::RunStatus::finished);
  EXPECT_EQ(ev.back().first_id, first);
  EXPECT_EQ(ev.back().last_id, last);
  // Rotations happened, and the overlap's duplicates were dropped.
  const std::string msg = ev.back().message.value_or("");
  EXPECT_EQ(msg.find(" 0 rotations"), std::string::npos) << msg;
  EXPECT_EQ(msg.find(" 0 duplicates"), std::string::npos) << msg;
}

// Stop: interrupted within a second, with what it had published.
TEST_F(LiveTest, StopEndsInterruptedWithinASecond) {
  start_sim(1);
  auto cfg = config("loader-ws-agg-trades", "ws_agg_trades", "2024-08-01:2024-08-02");
  auto done = run(cfg, sw::run_live_agg_trades);
  // Running: some aggregate trades published.
  for (int i = 0; i < 100; ++i) {
    auto end = bus_->end_offset("wf-live-data", 0);
    if (end && *end > 0) break;
    std::this_thread::sleep_for(50ms);
  }
  const auto t0 = std::chrono::steady_clock::now();
  stop();
  ASSERT_EQ(done.wait_for(5s), std::future_status::ready);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  EXPECT_EQ(done.get(), sw::kExitInterrupted);
  std::vector<sm::Record> recs;
  std::vector<sm::EndMarker> markers;
  read_topic(sm::Kind::agg_trade, &recs, &markers);
  EXPECT_FALSE(recs.empty());
  EXPECT_TRUE(markers.empty());
  auto ev = events();
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev.back().status, sp::RunStatus::interrupted);
  EXPECT_EQ(ev.back().records_written, static_cast<int64_t>(recs.size()));
}

// A stream server that cannot be reached: the progress events say why, and stop still works.
TEST_F(LiveTest, AnUnreachableStreamServerIsReportedAndStopStillWorks) {
  start_sim(1);
  auto cfg = config("loader-ws-trades", "ws_trades", "2024-08-01:2024-08-02");
  ctx_.env = cfg.to_env();
  ctx_.env.set(sw::env_names::kExchangeWsUrl, "ws://127.0.0.1:1");
  ctx_.env.set(sw::env_names::kExchangeUrl, sim_->base_url());
  ctx_.bus = bus_.get();
  ASSERT_TRUE(sf::testing::publish_command(*bus_, cfg).ok());
  auto done = std::async(std::launch::async, [this] { return sw::run_live_trades(ctx_); });
  std::string seen;
  for (int i = 0; i < 60 && seen.empty(); ++i) {
    std::this_thread::sleep_for(100ms);
    for (const auto& e : events())
      if (e.message && e.message->find("not streaming: cannot connect") != std::string::npos)
        seen = *e.message;
  }
  EXPECT_NE(seen, "") << "no progress event said why nothing streams";
  stop();
  ASSERT_EQ(done.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(done.get(), sw::kExitInterrupted);
}

// Klines: open revisions and final candles; every closed candle of the range equals /klines.
TEST_F(LiveTest, ClosedKlinesEqualTheMarketsAndRevisionsAreOpen) {
  start_sim(20);
  auto cfg = config("loader-ws-klines", "ws_klines_1s", "2024-08-01T00:00:02:2024-08-01T00:00:42");
  ASSERT_NO_FATAL_FAILURE(run_to_end(cfg, sw::run_live_klines, 60s));
  std::vector<sm::Record> recs;
  std::vector<sm::EndMarker> markers;
  read_topic(sm::Kind::candle, &recs, &markers);
  const sim::Market market(7);
  std::set<int64_t> closed;
  for (const auto& r : recs) {
    const auto& c = std::get<sm::Candle>(r);
    ASSERT_GE(c.open_time, kAug1 + 2'000);
    ASSERT_LT(c.open_time, kAug1 + 42'000);
    if (!c.closed) continue;
    ASSERT_TRUE(closed.insert(c.open_time).second) << "closed twice: " << c.open_time;
    ASSERT_EQ(c, *market.candle("BTCUSDT", "1s", c.open_time));
  }
  EXPECT_EQ(closed.size(), 40u);
  ASSERT_EQ(markers.size(), 1u);
}

// The same minute with the simulator's faults on: disconnects, stalls, serverShutdowns and
// malformed frames. Every trade and aggregate trade of the range is published once, the
// lost ones fetched from REST.
TEST_F(LiveTest, TradesAndAggTradesEveryIdOnceThroughFaults) {
  sim::LiveFaults f;
  f.disconnect_mean_ms = 1500;
  f.stall_mean_ms = 2500;
  f.stall_ms = 1500;
  f.malformed_rate = 0.02;
  f.shutdown_mean_ms = 2500;
  f.shutdown_grace_ms = 500;
  start_sim(10, f);
  const sim::Market market(7);
  const sim::SymbolSpec& spec = *market.find("BTCUSDT");
  for (const std::string type : {"ws_trades", "ws_agg_trades"}) {
    SCOPED_TRACE(type);
    const bool agg = type == "ws_agg_trades";
    // A minute each, the second after the first (the clock runs on).
    const int64_t from = kAug1 + (agg ? 125'000 : 5'000), to = from + 60'000;
    ASSERT_LT(clock_.now_ms(), from);
    auto cfg = config(agg ? "loader-ws-agg-trades" : "loader-ws-trades", type,
                      agg ? "2024-08-01T00:02:05:2024-08-01T00:03:05"
                          : "2024-08-01T00:00:05:2024-08-01T00:01:05");
    cfg.params["stall_ms"] = 600;
    cfg.params["backoff_max_ms"] = 400;
    ASSERT_NO_FATAL_FAILURE(
        run_to_end(cfg, agg ? sw::run_live_agg_trades : sw::run_live_trades, 90s));
    std::vector<sm::Record> recs;
    std::vector<sm::EndMarker> markers;
    read_topic(agg ? sm::Kind::agg_trade : sm::Kind::trade, &recs, &markers);
    int64_t first = 0, last = 0;
    if (agg) {
      first = sim::Market::first_agg_id_at(spec, from);
      last = sim::Market::first_agg_id_at(spec, to) - 1;
    } else {
      std::tie(first, last) = trade_ids(market, "BTCUSDT", from, to);
    }
    std::set<int64_t> ids;
    for (const auto& r : recs) {
      if (agg) {
        const auto& a = std::get<sm::AggTrade>(r);
        ASSERT_TRUE(ids.insert(a.agg_id).second) << "twice: " << a.agg_id;
        ASSERT_EQ(a, *market.agg_trade("BTCUSDT", a.agg_id));
      } else {
        const auto& tr = std::get<sm::Trade>(r);
        ASSERT_TRUE(ids.insert(tr.trade_id).second) << "twice: " << tr.trade_id;
        ASSERT_EQ(tr, *market.trade("BTCUSDT", tr.trade_id));
      }
    }
    ASSERT_FALSE(ids.empty());
    EXPECT_EQ(*ids.begin(), first);
    EXPECT_EQ(*ids.rbegin(), last);
    EXPECT_EQ(static_cast<int64_t>(ids.size()), last - first + 1);
    const std::string msg = events().back().message.value_or("");
    EXPECT_EQ(msg.find(" 0 reconnects"), std::string::npos) << msg;
    EXPECT_EQ(msg.find(" 0 gaps"), std::string::npos) << msg;
    EXPECT_EQ(msg.find(" 0 malformed"), std::string::npos) << msg;
    // The next round starts on a fresh topic and events.
    bus_ = std::make_unique<sf::bus::MemoryBus>();
  }
  auto c = sim_->counters();
  EXPECT_GT(c.ws_disconnects, 0);
  EXPECT_GT(c.ws_stalls, 0);
  EXPECT_GT(c.ws_server_shutdowns, 0);
}

// The order book: the book rebuilt from the published snapshots and diffs equals the
// simulator's at every snapshot and at the end, through skipped depth ids (resyncs) and
// disconnects.
TEST_F(LiveTest, BookRebuiltFromSnapshotsAndDiffsIsTheSimulatorsThroughResyncs) {
  sim::LiveFaults f;
  f.depth_skip_rate = 0.01;
  f.disconnect_mean_ms = 3000;
  start_sim(5, f);
  auto cfg =
      config("loader-ws-orderbook", "ws_orderbook", "2024-08-01T00:00:00:2024-08-01T00:00:50");
  cfg.params["snapshot_interval_s"] = 1;
  cfg.params["backoff_max_ms"] = 400;
  ASSERT_NO_FATAL_FAILURE(run_to_end(cfg, sw::run_live_orderbook, 90s));
  std::vector<sm::Record> diffs, snaps;
  std::vector<sm::EndMarker> dm, sm_;
  read_topic(sm::Kind::book_diff, &diffs, &dm, "wf-live-data");
  read_topic(sm::Kind::book_snapshot, &snaps, &sm_, sw::snapshot_topic("wf-live-data"));
  ASSERT_EQ(dm.size(), 1u);
  ASSERT_EQ(sm_.size(), 1u);
  ASSERT_GE(snaps.size(), 10u);
  std::vector<sm::BookSnapshot> snapshots;
  std::vector<sm::BookDiff> book_diffs;
  for (const auto& r : snaps) snapshots.push_back(std::get<sm::BookSnapshot>(r));
  for (const auto& r : diffs) book_diffs.push_back(std::get<sm::BookDiff>(r));
  const size_t checked =
      sf::testing::check_book_against_sim(snapshots, book_diffs, sim::Market(7), "BTCUSDT")
          .checkpoints;
  EXPECT_GE(checked, 4u);
  EXPECT_GT(sim_->counters().ws_depth_skipped, 0);
  const std::string msg = events().back().message.value_or("");
  EXPECT_EQ(msg.find(" 0 gaps"), std::string::npos) << msg;
  // Every resync within 2 s of its gap.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(msg, m, std::regex("book syncs \\(slowest ([0-9]+) ms\\)"))) << msg;
  EXPECT_LT(std::stoll(m[1]), 2000) << msg;
}

}  // namespace
