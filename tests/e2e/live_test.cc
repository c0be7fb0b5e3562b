// End-to-end live loads (issue 12, "Live market data over WebSocket"): the real
// `streamforge sim` (its clock sped up, its live faults on) and `streamforge up` processes on
// 127.0.0.1, live workflows started over HTTP, the store read back once they finish and
// compared with the simulator's ground truth (recomputed here from the same seed).
//
// Built twice, like historical_test.cc: live_e2e_test runs the embedded deployment (memory
// bus, in-process workers, SQLite); live_kafka_e2e_test (SF_E2E_KAFKA) runs the same tests
// with the real Kafka broker of the `kafka` fixture and every worker as its own process.
//
// Time: each test starts its own simulator with `--speed X` (simulated time X times as fast
// as real time, from now) and asks it for its clock (GET /api/v3/time), so a range "10
// simulated minutes from a little after now" takes 10 / X real minutes. Live collection
// starts when the worker does, so every range starts a few real seconds after the start
// request. The fault schedules are real time, the connection's maximum age simulated.
#include <gtest/gtest.h>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <regex>
#include <set>
#include <thread>

#include "e2e/e2e.h"
#include "e2e/trades.h"
#include "exchange/sim/depth.h"
#include "exchange/sim/market.h"
#include "http/client.h"
#include "market/order_book.h"
#include "market/records.h"
#include "protocol/validate.h"
#include "store/open.h"
#include "support/book_check.h"
#include "support/kafka.h"
#include "support/process.h"

namespace bj = boost::json;
namespace sm = sf::market;
namespace sim = sf::exchange::sim;
using namespace std::chrono_literals;
using sf::testing::json_text;

namespace {

constexpr uint64_t kSeed = 7;
const std::string kSymbol = "BTCUSDT";

int64_t ceil_to(int64_t ms, int64_t step) { return (ms + step - 1) / step * step; }

class Live : public sf::testing::UpFixture {
 protected:
  void SetUp() override { dir_ = sf::testing::make_temp_dir("sf-live"); }

  // Starts `streamforge sim --seed kSeed --speed <speed> <flags>` and `streamforge up` on it.
  void launch(double speed, const std::vector<std::string>& flags) {
    speed_ = speed;
    std::vector<std::string> sim_flags{"--seed", std::to_string(kSeed), "--speed",
                                       std::to_string(speed)};
    sim_flags.insert(sim_flags.end(), flags.begin(), flags.end());
    sim_ = sf::testing::start_sim(dir_, sim_flags);
    const std::string tag = std::filesystem::path(dir_).filename().string();
    start_up(variant_up_argv(dir_, tag, tag), dir_ + "/up.log");
  }

  // The simulator's clock (simulated time, ms).
  int64_t sim_now() {
    sf::http::Client sim(sim_.url);
    auto r = sim.get("/api/v3/time");
    EXPECT_TRUE(r.ok());
    if (!r.ok()) return 0;
    return bj::parse(r->body).at("serverTime").as_int64();
  }
  // Simulated milliseconds in `real` real time.
  int64_t sim_ms(std::chrono::milliseconds real) const {
    return static_cast<int64_t>(static_cast<double>(real.count()) * speed_);
  }

  std::string start_flow(const std::string& flow, const std::string& range,
                         const std::string& extra = "{}") {
    auto r = client_->post("/queues/start-test-flow",
                           sf::testing::test_flow_body(flow, kSymbol, range, extra));
    EXPECT_TRUE(r.ok());
    if (!r.ok()) return "";
    EXPECT_EQ(r->status, 201) << r->body;
    return json_text(bj::parse(r->body).at("queue_id"));
  }
  // A full start request: `loader` with `settings` (JSON members) into `collection`.
  std::string start_request(const std::string& queue_id, const std::string& type,
                            const std::string& loader, const std::string& settings,
                            const std::string& range, const std::string& collection) {
    const std::string topic = queue_id + "-data";
    auto r =
        client_->post("/queues/start",
                      R"({"queue_id":")" + queue_id + R"(","symbol":")" + kSymbol +
                          R"(","type":")" + type + R"(","time_range":")" + range +
                          R"(","targets":[{"target":")" + loader + R"(","kafka_topic":")" + topic +
                          "\"," + settings + R"(},{"target":"store-connector","kafka_topic":")" +
                          topic + R"(","collection_name":")" + collection + R"("}]})");
    EXPECT_TRUE(r.ok());
    if (!r.ok()) return "";
    EXPECT_EQ(r->status, 201) << r->body;
    return queue_id;
  }
  bj::object queue(const std::string& id) {
    auto r = client_->get("/queues/" + id);
    EXPECT_TRUE(r.ok());
    if (!r.ok()) return {};
    return bj::parse(r->body).as_object();
  }
  // The message of the queue's target `target` (its latest telemetry).
  static std::string target_message(const bj::object& q, const std::string& target) {
    for (const auto& t : q.at("targets").as_array())
      if (json_text(t.at("target")) == target) return json_text(t.at("message"));
    return "";
  }
  // Waits until every queue of `ids` has ended; returns their statuses. Prints the loaders'
  // `loading` messages every few seconds (message rate, lag, reconnects, gaps) for diagnosis.
  std::vector<std::string> wait_end(const std::vector<std::string>& ids,
                                    std::chrono::seconds timeout) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto deadline = t0 + timeout;
    auto last_print = t0;
    std::vector<std::string> st(ids.size());
    for (;;) {
      bool all = true;
      const auto now = std::chrono::steady_clock::now();
      const bool print = now - last_print >= 5s;
      if (print) last_print = now;
      for (size_t i = 0; i < ids.size(); ++i) {
        auto q = queue(ids[i]);
        if (q.empty()) return st;
        st[i] = json_text(q.at("status"));
        all = all && (st[i] == "finished" || st[i] == "error" || st[i] == "interrupted");
        if (print)
          for (const auto& t : q.at("targets").as_array())
            if (json_text(t.at("target")).starts_with("loader"))
              std::fprintf(stderr, "[%5.1f s] %s %s: %s\n",
                           std::chrono::duration<double>(now - t0).count(), ids[i].c_str(),
                           json_text(t.at("status")).c_str(), json_text(t.at("message")).c_str());
      }
      if (all || now > deadline) return st;
      std::this_thread::sleep_for(50ms);
    }
  }
  // Waits until the loader of every queue of `ids` streams (reports messages read), and
  // checks that this happened before `from_ms` on the simulator's clock: live collection
  // starts when the worker does, so a range that began earlier would lack its first records
  // for the test's reason, not the product's.
  void expect_streaming_before(const std::vector<std::string>& ids, int64_t from_ms) {
    const std::regex read("; ([1-9][0-9]*) messages,");
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    for (const auto& id : ids) {
      bool streaming = false;
      while (!streaming && std::chrono::steady_clock::now() < deadline) {
        auto q = queue(id);
        for (const auto& t : q.at("targets").as_array()) {
          const std::string msg = json_text(t.at("message"));
          if (json_text(t.at("target")).starts_with("loader") && std::regex_search(msg, read))
            streaming = true;
        }
        if (!streaming) std::this_thread::sleep_for(20ms);
      }
      ASSERT_TRUE(streaming) << id << ": its loader reads nothing";
    }
    const int64_t now = sim_now();
    ASSERT_LT(now, from_ms) << "the loaders were streaming only "
                            << static_cast<double>(now - from_ms) / 1000
                            << " simulated s after the range began: give them more time";
  }
  // Waits for one queue's status to become `status` (or to end).
  std::string wait_status(const std::string& id, const std::string& status,
                          std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string st;
    while (std::chrono::steady_clock::now() < deadline) {
      st = json_text(queue(id).at("status"));
      if (st == status || st == "finished" || st == "error" || st == "interrupted") return st;
      std::this_thread::sleep_for(20ms);
    }
    return st;
  }
  // Every target of the queue's final messages, on stderr (the evidence of a run).
  void print_targets(const std::string& id) {
    auto q = queue(id);
    std::fprintf(stderr, "%s %s: %s\n", id.c_str(), json_text(q.at("status")).c_str(),
                 json_text(q.at("message")).c_str());
    for (const auto& t : q.at("targets").as_array())
      std::fprintf(stderr, "  %s %s: %s\n", json_text(t.at("target")).c_str(),
                   json_text(t.at("status")).c_str(), json_text(t.at("message")).c_str());
    if (auto* c = q.if_contains("completeness"))
      std::fprintf(stderr, "  completeness %s\n", bj::serialize(*c).c_str());
  }
  bj::object sim_counters() {
    sf::http::Client sim(sim_.url);
    auto r = sim.get("/sim/control");
    EXPECT_TRUE(r.ok());
    if (!r.ok()) return {};
    return bj::parse(r->body).at("counters").as_object();
  }
  template <class R>
  std::vector<R> scan(const std::string& collection) {
    std::vector<R> out;
    auto store = sf::store::open_data_store(store_url_, dir_);
    EXPECT_TRUE(store.ok()) << store.error().message;
    if (!store.ok()) return out;
    auto rows = (*store)->scan(collection);
    EXPECT_TRUE(rows.ok()) << rows.error().message;
    if (!rows.ok()) return out;
    for (const auto& r : *rows) out.push_back(std::get<R>(r));
    return out;
  }

  double speed_ = 1;
};

// Every fault of the simulator's live side on, its clock at 20x: 10 simulated minutes of
// BTCUSDT trades and aggregate trades (30 s of real time) through disconnects every few
// seconds, stalls, serverShutdowns, malformed frames and connections closed at 30 simulated
// seconds (1.5 s real; the workers rotate theirs at 1 s). The store holds every trade id and
// aggregate trade id of the range once, each equal to the exchange's.
TEST_F(Live, TradesAndAggTradesEveryIdOnceThroughFaults) {
  ASSERT_NO_FATAL_FAILURE(
      launch(20, {"--ws-max-age-ms", "30000", "--ws-disconnect-mean-ms", "3000",
                  "--ws-stall-mean-ms", "4000", "--ws-stall-ms", "1500", "--ws-shutdown-mean-ms",
                  "4000", "--ws-shutdown-grace-ms", "500", "--ws-malformed-rate", "0.01"}));
  // 5 real seconds from now for the workers to connect, then 10 simulated minutes.
  const int64_t from = ceil_to(sim_now() + sim_ms(5s), 1000), to = from + 600'000;
  const std::string range = sf::protocol::format_time_range(from, to);
  const std::string tag = std::filesystem::path(dir_).filename().string();
  // The flows do not template these settings: full start requests. Stalls detected after
  // 500 ms of silence (the simulator's stalls last 1.5 s), reconnects backing off at most 400 ms,
  // connections rotated at 1 s real, before the simulator closes them at 1.5 s.
  const std::string settings = R"("stall_ms":500,"backoff_max_ms":400,"rotate_after_s":1)";
  const std::string trades = start_request("live-trades-" + tag, "ws_trades", "loader-ws-trades",
                                           settings, range, "btcusdt_trades");
  const std::string aggs =
      start_request("live-aggs-" + tag, "ws_agg_trades", "loader-ws-agg-trades", settings, range,
                    "btcusdt_agg_trades");
  ASSERT_FALSE(trades.empty());
  ASSERT_FALSE(aggs.empty());
  ASSERT_NO_FATAL_FAILURE(expect_streaming_before({trades, aggs}, from));
  auto st = wait_end({trades, aggs}, 150s);
  // Keeping up: how long after the range's end (on the simulator's clock) both had ended.
  std::fprintf(stderr, "range %s at %gx: both ended %.1f real s after its end\n", range.c_str(),
               speed_, static_cast<double>(sim_now() - to) / 1000 / speed_);
  print_targets(trades);
  print_targets(aggs);
  ASSERT_EQ(st[0], "finished") << json_text(queue(trades).at("message"));
  ASSERT_EQ(st[1], "finished") << json_text(queue(aggs).at("message"));

  for (const auto& id : {trades, aggs}) {
    SCOPED_TRACE(id);
    auto q = queue(id);
    auto c = q.at("completeness").as_object();
    EXPECT_TRUE(c.at("complete").as_bool()) << bj::serialize(c);
    EXPECT_EQ(c.at("missing_ranges").as_array().size(), 0u) << bj::serialize(c);
    // The faults reached the loader: it reconnected, rotated, found gaps (filled from REST)
    // and skipped malformed messages.
    const std::string msg =
        target_message(q, id == trades ? "loader-ws-trades" : "loader-ws-agg-trades");
    for (const char* none : {" 0 reconnects", " 0 rotations", " 0 gaps", " 0 malformed"})
      EXPECT_EQ(msg.find(none), std::string::npos) << msg;
  }
  sf::testing::expect_exact_trades(store_url_, dir_, "btcusdt_trades", kSymbol, kSeed, from, to);
  sf::testing::expect_exact_agg_trades(store_url_, dir_, "btcusdt_agg_trades", kSymbol, kSeed, from,
                                       to);
  auto counters = sim_counters();
  for (const char* k : {"ws_disconnects", "ws_stalls", "ws_server_shutdowns", "ws_malformed"})
    EXPECT_GT(counters.at(k).as_int64(), 0) << k << ": " << bj::serialize(counters);
}

// The order book through skipped depth ids (resyncs) and disconnects, at 3x: the snapshots
// and diffs in the store rebuild the simulator's book. Each stored snapshot is the
// simulator's book at its update id; from each snapshot, the stored diffs after it rebuild
// the book at the next snapshot's id (a checkpoint) wherever they chain without a hole; at
// least 10 checkpoints. Every resync within 2 s of its gap.
TEST_F(Live, BookRebuiltFromStoredSnapshotsAndDiffsIsTheSimulators) {
  ASSERT_NO_FATAL_FAILURE(
      launch(3, {"--ws-depth-skip-rate", "0.01", "--ws-disconnect-mean-ms", "4000"}));
  // 90 simulated seconds: 30 s of real time, a snapshot every second.
  const int64_t from = ceil_to(sim_now() + sim_ms(4s), 1000), to = from + 90'000;
  const std::string id = start_flow("live_orderbook", sf::protocol::format_time_range(from, to),
                                    R"({"snapshot_interval_s":1})");
  ASSERT_FALSE(id.empty());
  auto st = wait_end({id}, 120s);
  print_targets(id);
  ASSERT_EQ(st[0], "finished") << json_text(queue(id).at("message"));

  auto snaps = scan<sm::BookSnapshot>("btcusdt_book_snapshots");
  auto diffs = scan<sm::BookDiff>("btcusdt_book_diffs");
  std::fprintf(stderr, "%zu snapshots, %zu diffs stored\n", snaps.size(), diffs.size());
  ASSERT_GE(snaps.size(), 11u);
  ASSERT_FALSE(diffs.empty());
  const auto check = sf::testing::check_book_against_sim(snaps, diffs, sim::Market(kSeed), kSymbol);
  const size_t checked = check.checkpoints, holes = check.resyncs;
  std::fprintf(stderr, "%zu checkpoints rebuilt, %zu after a resync\n", checked, holes);
  EXPECT_GE(checked, 10u);
  auto counters = sim_counters();
  EXPECT_GT(counters.at("ws_depth_skipped").as_int64(), 0) << bj::serialize(counters);
  EXPECT_GT(counters.at("ws_disconnects").as_int64(), 0) << bj::serialize(counters);
  const std::string msg = target_message(queue(id), "loader-ws-orderbook");
  EXPECT_EQ(msg.find(" 0 gaps"), std::string::npos) << msg;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(msg, m, std::regex("book syncs \\(slowest ([0-9]+) ms\\)"))) << msg;
  EXPECT_LT(std::stoll(m[1]), 2000) << msg;
}

// Closed candles, at 20x with disconnects: 1s and 1m klines over 3 simulated minutes. Every
// interval of the range is stored once, closed (no open revision left for an interval that
// closed before the end), and equal to the simulator's candle.
TEST_F(Live, ClosedCandlesEqualTheSimulatorsAndNoneIsLeftOpen) {
  ASSERT_NO_FATAL_FAILURE(launch(20, {"--ws-disconnect-mean-ms", "3000"}));
  const int64_t from = ceil_to(sim_now() + sim_ms(5s), 60'000), to = from + 180'000;
  const std::string range = sf::protocol::format_time_range(from, to);
  const std::vector<std::pair<std::string, int64_t>> intervals{{"1s", 1'000}, {"1m", 60'000}};
  std::vector<std::string> ids;
  for (const auto& [iv, ms] : intervals)
    ids.push_back(start_flow("live_klines", range, R"({"interval":")" + iv + "\"}"));
  for (const auto& id : ids) ASSERT_FALSE(id.empty());
  ASSERT_NO_FATAL_FAILURE(expect_streaming_before(ids, from));
  auto st = wait_end(ids, 90s);
  for (const auto& id : ids) print_targets(id);
  for (size_t i = 0; i < ids.size(); ++i) ASSERT_EQ(st[i], "finished") << ids[i];
  // Complete: the loader names the candles the range holds, and the store has them (open
  // revisions published on the way do not count).
  for (const auto& id : ids) {
    auto c = queue(id).at("completeness").as_object();
    EXPECT_TRUE(c.at("complete").as_bool()) << id << ": " << bj::serialize(c);
  }

  const sim::Market market(kSeed);
  for (const auto& [iv, ms] : intervals) {
    SCOPED_TRACE(iv);
    auto rows = scan<sm::Candle>("btcusdt_candles_" + iv);
    ASSERT_EQ(static_cast<int64_t>(rows.size()), (to - from) / ms) << "one candle an interval";
    for (size_t i = 0; i < rows.size(); ++i) {
      const auto& c = rows[i];
      ASSERT_EQ(c.open_time, from + static_cast<int64_t>(i) * ms) << "row " << i;
      ASSERT_TRUE(c.closed) << "open candle left at " << c.open_time;
      ASSERT_EQ(c, *market.candle(kSymbol, iv, c.open_time)) << "row " << i;
    }
  }
  EXPECT_GT(sim_counters().at("ws_disconnects").as_int64(), 0);
}

// Stop: a live_trades workflow of three hours, once loading, is stopped; the queue ends
// `interrupted` within a second of the request, and what it stored are the exchange's trades
// with contiguous ids.
TEST_F(Live, StopEndsInterruptedWithinASecond) {
  ASSERT_NO_FATAL_FAILURE(launch(1, {}));
  const int64_t from = ceil_to(sim_now(), 1000), to = from + 3 * 3'600'000;
  const std::string id = start_flow("live_trades", sf::protocol::format_time_range(from, to));
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(wait_status(id, "loading", 60s), "loading");
  // Something stored before the stop.
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline &&
         queue(id).at("records_written").as_int64() == 0)
    std::this_thread::sleep_for(50ms);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = client_->post("/queues/stop", R"({"queue_id":")" + id + "\"}");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 200) << r->body;
  std::string st;
  auto t1 = t0;
  while (std::chrono::steady_clock::now() - t0 < 10s) {
    st = json_text(queue(id).at("status"));
    t1 = std::chrono::steady_clock::now();
    if (st == "interrupted" || st == "finished" || st == "error") break;
    std::this_thread::sleep_for(10ms);
  }
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(t1 - t0);
  std::fprintf(stderr, "stop to %s: %lld ms\n", st.c_str(), static_cast<long long>(took.count()));
  print_targets(id);
  EXPECT_EQ(st, "interrupted");
  EXPECT_LT(took, 1s);

  auto rows = scan<sm::Trade>("btcusdt_trades");
  ASSERT_FALSE(rows.empty());
  const sim::Market market(kSeed);
  for (size_t i = 0; i < rows.size(); ++i) {
    ASSERT_EQ(rows[i].trade_id, rows[0].trade_id + static_cast<int64_t>(i)) << "row " << i;
    ASSERT_EQ(rows[i], *market.trade(kSymbol, rows[i].trade_id)) << "row " << i;
    ASSERT_GE(rows[i].time, from);
  }
}

}  // namespace
