// The simulator's market streams against its REST side and its Market, through a real
// WebSocket client, on a manual clock.
#include "exchange/sim/live.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "exchange/binance/book_sync.h"
#include "exchange/binance/decode.h"
#include "exchange/sim/depth.h"
#include "exchange/sim/live_test_support.h"
#include "exchange/sim/server.h"
#include "http/client.h"

namespace sf::exchange::sim {
namespace {

namespace bn = exchange::binance;
using namespace std::chrono_literals;
using SimLiveTest = SimWsTest;

// Aggregate trades streamed as they happen are /aggTrades' (Market's), every id once.
TEST_F(SimLiveTest, AggTradesAreTheMarketsEveryIdOnce) {
  start();
  auto ws = connect("/ws/btcusdt@aggTrade");
  const SymbolSpec& s = *server_->market().find("BTCUSDT");
  const int64_t first = Market::first_agg_id_at(s, kAug1 + 1);
  clock_.advance(2000);
  const int64_t last = Market::first_agg_id_at(s, kAug1 + 2001) - 1;
  auto events =
      read_until(ws, [&](const bn::StreamEvent& e) { return e.agg_trade.agg_id >= last; });
  ASSERT_EQ(static_cast<int64_t>(events.size()), last - first + 1);
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].kind, Kind::agg_trade);
    EXPECT_EQ(events[i].agg_trade, *server_->market().agg_trade("BTCUSDT", first + i));
  }
}

// Combined streams: trades equal /historicalTrades' and a book kept by Binance's documented
// algorithm from a REST snapshot equals the simulator's book at every checkpoint.
TEST_F(SimLiveTest, CombinedTradesAndADepthBookInSync) {
  start();
  auto ws = connect("/stream?streams=ethusdt@trade/ethusdt@depth@100ms");
  const SymbolSpec& s = *server_->market().find("ETHUSDT");
  DepthModel model(server_->market());
  http::Client rest(server_->base_url());
  bn::BookSync sync;
  int64_t next_trade = Market::first_agg_id_at(s, kAug1 + 1) * s.trades_per_agg;
  bool snapshot_taken = false;
  for (int checkpoint = 1; checkpoint <= 10; ++checkpoint) {
    clock_.advance(500);
    const int64_t now = clock_.now_ms();
    const int64_t tick = DepthModel::tick_at(now);
    auto events = read_until(ws, [&](const bn::StreamEvent& e) {
      return e.kind == Kind::depth && e.depth.last_id == DepthModel::last_id(tick);
    });
    for (const auto& e : events) {
      if (e.kind == Kind::trade) {
        EXPECT_EQ(e.stream, "ethusdt@trade");
        EXPECT_EQ(e.trade.trade_id, next_trade) << "contiguous ids";
        const auto want = server_->market().trade("ETHUSDT", next_trade++);
        EXPECT_EQ(e.trade, *want);
      } else {
        ASSERT_EQ(e.kind, Kind::depth);
        EXPECT_EQ(e.stream, "ethusdt@depth@100ms");
        auto o = sync.on_event(e.depth);
        EXPECT_NE(o, bn::BookSync::Outcome::gap) << "no update is skipped";
      }
    }
    if (!snapshot_taken) {
      auto r = rest.get("/api/v3/depth?symbol=ETHUSDT&limit=5000");
      ASSERT_TRUE(r.ok() && r->status == 200);
      bn::DepthSnapshot snap;
      ASSERT_TRUE(decoder_.depth(r->body, &snap).ok());
      ASSERT_EQ(sync.on_snapshot(snap), bn::BookSync::Outcome::synced);
      snapshot_taken = true;
    }
    ASSERT_EQ(sync.state(), bn::BookSync::State::synced);
    const DepthBook want = model.book(s, tick);
    EXPECT_EQ(sync.book().levels(market::BookSide::bid), want.bids) << "checkpoint " << checkpoint;
    EXPECT_EQ(sync.book().levels(market::BookSide::ask), want.asks) << "checkpoint " << checkpoint;
    EXPECT_EQ(sync.book().last_update_id(), want.last_update_id);
  }
  EXPECT_GT(next_trade, Market::first_agg_id_at(s, kAug1 + 1) * s.trades_per_agg);
}

// Klines: the open candle as revisions (x false), the closed one equal to /klines.
TEST_F(SimLiveTest, KlineRevisionsThenTheClosedCandle) {
  clock_.set(kAug1 + 50'000);
  start();
  auto ws = connect("/ws/btcusdt@kline_1m");
  auto first = read_until(ws, [](const bn::StreamEvent&) { return true; });
  ASSERT_EQ(first.size(), 1u);
  EXPECT_FALSE(first[0].kline.closed);
  EXPECT_EQ(first[0].kline, *server_->market().candle("BTCUSDT", "1m", kAug1, kAug1 + 50'000));
  clock_.set(kAug1 + 61'000);
  auto closed = read_until(ws, [](const bn::StreamEvent& e) { return e.kline.closed; });
  ASSERT_FALSE(closed.empty());
  EXPECT_EQ(closed.back().kline, *server_->market().candle("BTCUSDT", "1m", kAug1));
  clock_.advance(2'000);  // the next revision, 2 s later
  auto next = read_until(ws, [](const bn::StreamEvent&) { return true; });
  EXPECT_EQ(next[0].kline.open_time, kAug1 + 60'000);
  EXPECT_FALSE(next[0].kline.closed);
}

TEST_F(SimLiveTest, SubscribeListUnsubscribeAndErrors) {
  start();
  auto ws = connect("/stream");
  std::this_thread::sleep_for(1s);  // connect() sent a message; a new second
  auto reply = [&](const std::string& msg) {
    EXPECT_TRUE(ws.send(msg).ok());
    auto events = read_until(ws, [](const bn::StreamEvent& e) {
      return e.kind == Kind::reply || e.kind == Kind::error_reply;
    });
    return events.empty() ? bn::StreamEvent{} : events.back();
  };
  auto r = reply(R"({"method":"SUBSCRIBE","params":["btcusdt@aggTrade","ethusdt@depth"],"id":1})");
  EXPECT_EQ(r.kind, Kind::reply);
  EXPECT_EQ(r.reply_id, 1);
  EXPECT_EQ(r.reply_json, "null");
  r = reply(R"({"method":"LIST_SUBSCRIPTIONS","id":2})");
  EXPECT_EQ(r.reply_json, R"(["btcusdt@aggTrade","ethusdt@depth"])");
  r = reply(R"({"method":"UNSUBSCRIBE","params":["btcusdt@aggTrade"],"id":3})");
  EXPECT_EQ(r.reply_json, "null");
  std::this_thread::sleep_for(1s);  // a new second for the 5-messages limit
  r = reply(R"({"method":"LIST_SUBSCRIPTIONS","id":4})");
  EXPECT_EQ(r.reply_json, R"(["ethusdt@depth"])");
  r = reply(R"({"method":"SUBSCRIBE","params":["nosuch@trade"],"id":5})");
  EXPECT_EQ(r.kind, Kind::error_reply);
  EXPECT_EQ(r.error.code, 2);
  r = reply(R"({"method":"SUBSCRIBE","params":)");
  EXPECT_EQ(r.kind, Kind::error_reply);
  EXPECT_EQ(r.error.code, 3);
  // Six messages within a second: the server closes the connection.
  std::this_thread::sleep_for(1s);
  for (int i = 0; i < 6; ++i) (void)ws.send(R"({"method":"LIST_SUBSCRIPTIONS","id":6})");
  for (;;) {
    auto m = ws.read(3s);
    if (!m.ok()) {
      EXPECT_EQ(m.error().code, Errc::closed) << m.error().message;
      break;
    }
  }
}

TEST_F(SimLiveTest, UnknownStreamsAreRefusedAtTheUpgrade) {
  start();
  for (const char* path : {"/ws/nosuch@trade", "/ws/BTCUSDT@trade", "/ws/btcusdt@kline_2m",
                           "/stream?streams=btcusdt@trade/btcusdt@nothing"}) {
    http::WsClient ws;
    Status st = ws.connect(server_->base_url(), path);
    ASSERT_FALSE(st.ok()) << path;
    EXPECT_NE(st.error().message.find("HTTP 400"), std::string::npos) << st.error().message;
  }
}

TEST_F(SimLiveTest, AConnectionIsClosedAtItsMaximumAge) {
  SimOptions o;
  o.ws_max_age_ms = 30'000;
  start(o);
  auto ws = connect("/ws/btcusdt@depth");
  clock_.advance(29'000);
  auto events = read_until(ws, [](const bn::StreamEvent& e) { return e.kind == Kind::depth; });
  EXPECT_FALSE(events.empty()) << "still open before its age";
  clock_.advance(2'000);
  for (;;) {
    auto m = ws.read(3s);
    if (!m.ok()) {
      EXPECT_EQ(m.error().code, Errc::closed) << m.error().message;
      break;
    }
  }
}

}  // namespace
}  // namespace sf::exchange::sim
