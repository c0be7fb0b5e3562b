// The simulator's live side, second part: partial books and bookTicker, pings and the pong
// deadline, the simulated clock's speed, and the live fault knobs (disconnects, stalls,
// skipped depth ids, malformed frames, serverShutdown), each observed through a WebSocket
// client. Two manual clocks: clock_ is the market's (simulated) time, real_ the faults'
// schedule; pings run on the host's real time, at test-sized intervals.
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "exchange/binance/book_sync.h"
#include "exchange/binance/decode.h"
#include "exchange/sim/depth.h"
#include "exchange/sim/live.h"
#include "exchange/sim/live_test_support.h"
#include "exchange/sim/server.h"
#include "http/client.h"
#include "json/json.h"

namespace sf::exchange::sim {
namespace {

namespace bn = exchange::binance;
namespace beast = boost::beast;
namespace asio = boost::asio;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

// A bare WebSocket client that shows what http::WsClient hides: the server's pings. Beast
// answers each ping with a pong while a read is pending, i.e. inside read_for().
class RawWs {
 public:
  ~RawWs() {
    beast::error_code ec;
    beast::get_lowest_layer(ws_).socket().close(ec);
  }
  void connect(uint16_t port, const std::string& path) {
    beast::get_lowest_layer(ws_).connect(
        asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    ws_.control_callback([this](beast::websocket::frame_type kind, beast::string_view) {
      if (kind == beast::websocket::frame_type::ping) pings_.push_back(SteadyClock::now());
    });
    ws_.handshake("127.0.0.1:" + std::to_string(port), path);
  }
  // Reads for `d`, appending the messages; false once the connection has ended.
  bool read_for(std::chrono::milliseconds d, std::vector<std::string>* out = nullptr) {
    const auto until = SteadyClock::now() + d;
    while (open_) {
      if (!pending_) {
        pending_ = true;
        ws_.async_read(buf_, [this](beast::error_code ec, size_t) {
          pending_ = false;
          if (ec) {
            open_ = false;
            return;
          }
          if (out_) out_->push_back(beast::buffers_to_string(buf_.data()));
          buf_.consume(buf_.size());
        });
      }
      const auto left = until - SteadyClock::now();
      if (left <= 0s) break;
      out_ = out;
      ioc_.restart();
      ioc_.run_for(left);
      out_ = nullptr;
    }
    return open_;
  }
  // Pings received since `t`.
  size_t pings_since(SteadyClock::time_point t) const {
    return static_cast<size_t>(
        std::count_if(pings_.begin(), pings_.end(), [&](const auto& p) { return p >= t; }));
  }

 private:
  asio::io_context ioc_;
  beast::websocket::stream<beast::tcp_stream> ws_{ioc_};
  beast::flat_buffer buf_;
  std::vector<SteadyClock::time_point> pings_;
  std::vector<std::string>* out_ = nullptr;
  bool pending_ = false;
  bool open_ = true;
};

class SimLiveFaultsTest : public SimWsTest {
 protected:
  // The faults' schedule on real_ unless `o` names another clock.
  void start(SimOptions o = {}) {
    if (!o.real_clock) o.real_clock = &real_;
    SimWsTest::start(std::move(o));
  }
  // start() with the WebSocket faults `f`, the other options the defaults.
  void start_with_ws_faults(const LiveFaults& f) {
    SimOptions o;
    o.faults.ws = f;
    start(o);
  }
  // The decoder reads a combined message's data by its "e", so it refuses a partial book or
  // a bookTicker in the wrapper (they have none; Binance does send them wrapped): those are
  // unwrapped here and decoded raw.
  Status decode(const std::string& m, bn::StreamEvent* ev) override {
    Status st = decoder_.stream_event(m, bn::TimeUnit::millisecond, ev);
    if (st.ok()) return st;
    auto o = json::parse_object(m);
    if (!o.ok() || o->size() != 2 || !o->contains("stream") || !o->at("stream").is_string() ||
        !o->contains("data") || !o->at("data").is_object() ||
        o->at("data").as_object().contains("e"))
      return st;
    SF_TRY(decoder_.stream_event(boost::json::serialize(o->at("data")), bn::TimeUnit::millisecond,
                                 ev));
    ev->stream = std::string(o->at("stream").as_string());
    return ok_status();
  }
  // Reads until the connection ends; the error (Errc::closed: a close frame came;
  // io_error: the TCP connection just ended).
  static Error read_to_end(http::WsClient& ws, std::vector<std::string>* messages = nullptr) {
    for (;;) {
      auto m = ws.read(3s);
      if (!m.ok()) return m.error();
      if (messages) messages->push_back(*m);
    }
  }
  // Waits (up to 3 s) for a condition the pump thread makes true.
  static bool eventually(const std::function<bool()>& cond) {
    for (auto until = SteadyClock::now() + 3s; SteadyClock::now() < until;) {
      if (cond()) return true;
      std::this_thread::sleep_for(5ms);
    }
    return cond();
  }
  http::ClientResponse control(const std::string& body) {
    http::Client c(server_->base_url());
    auto r = body.empty() ? c.get("/sim/control") : c.post("/sim/control", body);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : http::ClientResponse{};
  }

  ManualClock real_{1'000'000};
};

// ----------------------------------------------------------------------------------------
// Streams

// <s>@depth<N>[@100ms]: the top N of /depth's book, every 100 ms or 1000 ms, as Binance
// spells it ({"lastUpdateId","bids","asks"}, strings for prices and quantities).
TEST_F(SimLiveFaultsTest, PartialBooksAreTheTopOfDepthsBook) {
  start();
  // depth10@100ms last: it ends each turn's events.
  auto ws = connect("/stream?streams=btcusdt@depth5/btcusdt@depth20@1000ms/btcusdt@depth10@100ms");
  const SymbolSpec& s = *server_->market().find("BTCUSDT");
  DepthModel model(server_->market());
  http::Client rest(server_->base_url());
  int fives = 0, twenties = 0;
  for (int i = 1; i <= 20; ++i) {
    clock_.advance(100);
    const int64_t tick = DepthModel::tick_at(clock_.now_ms());
    auto events = read_until(ws, [&](const bn::StreamEvent& e) {
      return e.stream == "btcusdt@depth10@100ms" &&
             e.snapshot.last_update_id == DepthModel::last_id(tick);
    });
    for (const auto& e : events) {
      ASSERT_EQ(e.kind, Kind::partial_depth);
      const size_t n = e.stream == "btcusdt@depth5"          ? 5
                       : e.stream == "btcusdt@depth10@100ms" ? 10
                                                             : 20;
      fives += n == 5;
      twenties += n == 20;
      const DepthBook want = model.book(s, tick, n);
      EXPECT_EQ(e.snapshot.last_update_id, want.last_update_id) << e.stream;
      EXPECT_EQ(e.snapshot.bids, want.bids) << e.stream;
      EXPECT_EQ(e.snapshot.asks, want.asks) << e.stream;
      if (n == 5) {  // the same as REST's at this instant
        auto r = rest.get("/api/v3/depth?symbol=BTCUSDT&limit=5");
        ASSERT_TRUE(r.ok() && r->status == 200);
        bn::DepthSnapshot snap;
        ASSERT_TRUE(decoder_.depth(r->body, &snap).ok());
        EXPECT_EQ(snap, e.snapshot);
      }
    }
  }
  EXPECT_EQ(fives, 2) << "every 1000 ms";
  EXPECT_EQ(twenties, 2) << "every 1000 ms";
  // The raw text, key by key.
  auto raw = connect("/ws/ethusdt@depth5@100ms");
  clock_.advance(100);
  auto m = raw.read(3s);
  ASSERT_TRUE(m.ok());
  auto o = json::parse_object(*m);
  ASSERT_TRUE(o.ok()) << *m;
  EXPECT_EQ(o->size(), 3u) << *m;
  EXPECT_TRUE(o->at("lastUpdateId").is_int64()) << *m;
  ASSERT_EQ(o->at("bids").as_array().size(), 5u);
  EXPECT_TRUE(o->at("bids").as_array()[0].as_array()[0].is_string()) << *m;
  EXPECT_TRUE(o->at("asks").as_array()[4].as_array()[1].is_string()) << *m;
}

// <s>@bookTicker: {"u","s","b","B","a","A"} when the best level of a side changes, at most
// once a 100 ms tick; u is that tick's book id.
TEST_F(SimLiveFaultsTest, BookTickerFollowsTheBestLevels) {
  start();
  auto ws = connect("/stream?streams=btcusdt@bookTicker/btcusdt@depth5@100ms");
  market::BookLevel bid, ask;
  int tickers = 0;
  for (int i = 1; i <= 30; ++i) {
    clock_.advance(100);
    const int64_t id = DepthModel::last_id(DepthModel::tick_at(clock_.now_ms()));
    auto events = read_until(ws, [&](const bn::StreamEvent& e) {
      return e.kind == Kind::partial_depth && e.snapshot.last_update_id == id;
    });
    ASSERT_LE(events.size(), 2u) << "at most one bookTicker a tick";
    const bn::DepthSnapshot& book = events.back().snapshot;
    if (events.size() == 2) {
      const bn::BookTicker& t = events[0].ticker;
      ASSERT_EQ(events[0].kind, Kind::book_ticker);
      EXPECT_EQ(t.update_id, id);
      EXPECT_EQ(t.symbol, "BTCUSDT");
      EXPECT_EQ(t.bid, book.bids[0]);
      EXPECT_EQ(t.ask, book.asks[0]);
      EXPECT_TRUE(t.bid != bid || t.ask != ask) << "sent on a change only";
      ++tickers;
    } else if (i > 1) {
      EXPECT_EQ(book.bids[0], bid) << "no change, no bookTicker";
      EXPECT_EQ(book.asks[0], ask);
    }
    bid = book.bids[0];
    ask = book.asks[0];
  }
  EXPECT_GT(tickers, 10);
  auto raw = connect("/ws/btcusdt@bookTicker");
  std::string m;
  for (int i = 0; i < 20 && m.empty(); ++i) {
    clock_.advance(100);
    if (auto r = raw.read(300ms); r.ok()) m = *r;
  }
  auto o = json::parse_object(m);
  ASSERT_TRUE(o.ok()) << m;
  EXPECT_EQ(o->size(), 6u) << m;
  EXPECT_TRUE(o->at("u").is_int64()) << m;
  for (const char* k : {"s", "b", "B", "a", "A"})
    EXPECT_TRUE(o->at(k).is_string()) << k << ": " << m;
}

// ----------------------------------------------------------------------------------------
// Pings and the pong deadline

TEST_F(SimLiveFaultsTest, BinancesKeepAliveByDefault) {
  EXPECT_EQ(SimOptions{}.ws_ping_interval_ms, 20'000);
  EXPECT_EQ(SimOptions{}.ws_pong_timeout_ms, 60'000);
  EXPECT_EQ(LiveOptions{}.ping_interval, 20s);
  EXPECT_EQ(LiveOptions{}.pong_timeout, 60s);
}

// A client that reads (and so answers pings) stays; one that never reads is closed once a
// ping has gone unanswered for the deadline.
TEST_F(SimLiveFaultsTest, PingsKeepAReaderAndTheDeadlineClosesASilentClient) {
  SimOptions o;
  o.ws_ping_interval_ms = 50;
  o.ws_pong_timeout_ms = 300;
  start(o);
  RawWs reader;
  reader.connect(server_->port(), "/ws/btcusdt@aggTrade");
  http::WsClient silent;
  ASSERT_TRUE(silent.connect(server_->base_url(), "/ws/btcusdt@trade").ok());
  const auto t0 = SteadyClock::now();
  ASSERT_TRUE(eventually([&] { return server_->counters().ws_connections == 2; }));
  // The silent client's first ping (at ~50 ms) is overdue at ~350 ms.
  auto closed_at = SteadyClock::time_point::max();
  while (SteadyClock::now() - t0 < 1500ms) {
    ASSERT_TRUE(reader.read_for(20ms)) << "the reader stays connected";
    if (closed_at == SteadyClock::time_point::max() && server_->counters().ws_connections == 1)
      closed_at = SteadyClock::now();
  }
  ASSERT_NE(closed_at, SteadyClock::time_point::max()) << "the silent client was not closed";
  EXPECT_GE(closed_at - t0, 300ms);
  EXPECT_LE(closed_at - t0, 1000ms);
  EXPECT_GE(reader.pings_since(t0), 15u) << "a ping every 50 ms";
  EXPECT_EQ(server_->counters().ws_connections, 1);
  auto end = read_to_end(silent);
  EXPECT_EQ(end.code, Errc::io_error) << "TCP close, no close frame: " << end.message;
  // The reader still gets its stream.
  clock_.advance(1000);
  std::vector<std::string> got;
  ASSERT_TRUE(reader.read_for(300ms, &got));
  EXPECT_FALSE(got.empty());
}

// ----------------------------------------------------------------------------------------
// Speed

// `--speed 600`: REST time and the streams follow the scaled clock.
TEST_F(SimLiveFaultsTest, ASpedUpClockDrivesRestAndStreams) {
  ScaledClock fast(600);
  SimOptions o;
  o.clock = &fast;
  o.real_clock = &SystemClock::instance();
  start(o);
  http::Client rest(server_->base_url());
  auto time = [&] {
    auto r = rest.get("/api/v3/time");
    EXPECT_TRUE(r.ok());
    auto v = decoder_.server_time(r->body, bn::TimeUnit::millisecond);
    return v.ok() ? *v : 0;
  };
  const auto r0 = SteadyClock::now();
  const int64_t t0 = time();
  std::this_thread::sleep_for(200ms);
  const int64_t t1 = time();
  const double real_ms = std::chrono::duration<double, std::milli>(SteadyClock::now() - r0).count();
  EXPECT_GE(t1 - t0, 600 * 190);  // 200 ms real: 2 simulated minutes
  EXPECT_LE(static_cast<double>(t1 - t0), 600 * (real_ms + 20));
  // 1s klines: in 300 ms real, about 180 of them close, each equal to /klines'.
  auto ws = connect("/ws/btcusdt@kline_1s");
  std::vector<bn::StreamEvent> closed;
  read_until(ws, [&](const bn::StreamEvent& e) {
    if (e.kline.closed) closed.push_back(e);
    return closed.size() >= 60;
  });
  ASSERT_EQ(closed.size(), 60u);
  for (size_t i = 0; i < closed.size(); ++i) {
    if (i) {
      EXPECT_EQ(closed[i].kline.open_time, closed[i - 1].kline.open_time + 1000);
    }
    EXPECT_EQ(closed[i].kline,
              *server_->market().candle("BTCUSDT", "1s", closed[i].kline.open_time));
  }
}

// ----------------------------------------------------------------------------------------
// Faults

// A dropped connection loses no trade: what happened while it was down is on REST.
TEST_F(SimLiveFaultsTest, DisconnectsAreAbruptAndTradesStayOnRest) {
  start_with_ws_faults({.disconnect_mean_ms = 1000});
  const SymbolSpec& s = *server_->market().find("BTCUSDT");
  auto ws = connect("/ws/btcusdt@trade");
  clock_.advance(1000);
  const int64_t last_before =
      Market::first_agg_id_at(s, clock_.now_ms() + 1) * s.trades_per_agg - 1;
  auto events =
      read_until(ws, [&](const bn::StreamEvent& e) { return e.trade.trade_id == last_before; });
  real_.advance(60'000);  // far past the drawn time: the next turn drops it
  clock_.advance(2000);   // trades go on meanwhile
  std::vector<std::string> late;
  auto end = read_to_end(ws, &late);
  EXPECT_EQ(end.code, Errc::io_error) << "no close frame: " << end.message;
  EXPECT_EQ(server_->counters().ws_disconnects, 1);
  int64_t next = events.back().trade.trade_id + 1;
  for (const auto& m : late) {  // anything sent before the drop
    bn::StreamEvent e;
    ASSERT_TRUE(decoder_.stream_event(m, bn::TimeUnit::millisecond, &e).ok());
    EXPECT_EQ(e.trade.trade_id, next++);
  }
  // Reconnect, then fill the gap from REST: ids contiguous, values the market's.
  auto again = connect("/ws/btcusdt@trade");
  http::Client rest(server_->base_url());
  auto r =
      rest.get("/api/v3/historicalTrades?symbol=BTCUSDT&limit=1000&fromId=" + std::to_string(next));
  ASSERT_TRUE(r.ok() && r->status == 200);
  std::vector<market::Trade> filled;
  ASSERT_TRUE(decoder_.trades(r->body, "BTCUSDT", bn::TimeUnit::millisecond, &filled).ok());
  ASSERT_FALSE(filled.empty());
  for (const auto& t : filled) {
    EXPECT_EQ(t.trade_id, next++);
    EXPECT_EQ(t, *server_->market().trade("BTCUSDT", t.trade_id));
  }
  EXPECT_EQ(next, Market::first_agg_id_at(s, clock_.now_ms() + 1) * s.trades_per_agg)
      << "REST has every trade up to now";
  clock_.advance(1000);
  auto streamed = read_until(again, [](const bn::StreamEvent&) { return true; });
  EXPECT_EQ(streamed[0].trade.trade_id, next) << "the stream goes on where REST stopped";
  EXPECT_EQ(server_->counters().ws_disconnects, 1) << "the new connection's own schedule";
  EXPECT_EQ(server_->counters().ws_connections, 1);
}

// A stalled connection sends nothing, not even pings, for the stall's length; then what
// happened meanwhile follows, nothing lost.
TEST_F(SimLiveFaultsTest, AStallSendsNothingThenCatchesUp) {
  SimOptions o;
  o.ws_ping_interval_ms = 30;
  o.ws_pong_timeout_ms = 10'000;
  o.faults.ws.stall_mean_ms = 1000;
  o.faults.ws.stall_ms = 10'000;
  start(o);
  const SymbolSpec& s = *server_->market().find("BTCUSDT");
  RawWs ws;
  ws.connect(server_->port(), "/ws/btcusdt@aggTrade");
  ASSERT_TRUE(eventually([&] { return server_->counters().ws_connections == 1; }));
  const auto t0 = SteadyClock::now();
  ASSERT_TRUE(ws.read_for(150ms));
  EXPECT_GE(ws.pings_since(t0), 2u);
  const int64_t first = Market::first_agg_id_at(s, clock_.now_ms() + 1);
  real_.advance(60'000);  // the stall begins at the next turn
  ASSERT_TRUE(eventually([&] { return server_->counters().ws_stalls == 1; }));
  clock_.advance(2000);
  ASSERT_TRUE(ws.read_for(50ms));  // a frame already on its way may still arrive
  const auto quiet = SteadyClock::now();
  std::vector<std::string> got;
  ASSERT_TRUE(ws.read_for(400ms, &got));
  EXPECT_TRUE(got.empty()) << got.size() << " messages during the stall";
  EXPECT_EQ(ws.pings_since(quiet), 0u) << "no pings during the stall";
  real_.advance(10'000);  // its end
  const int64_t last = Market::first_agg_id_at(s, clock_.now_ms() + 1) - 1;
  const auto resumed = SteadyClock::now();
  for (int i = 0; i < 20 && static_cast<int64_t>(got.size()) < last - first + 1; ++i)
    ASSERT_TRUE(ws.read_for(100ms, &got));
  ASSERT_EQ(static_cast<int64_t>(got.size()), last - first + 1);
  for (size_t i = 0; i < got.size(); ++i) {
    bn::StreamEvent e;
    ASSERT_TRUE(decoder_.stream_event(got[i], bn::TimeUnit::millisecond, &e).ok());
    EXPECT_EQ(e.agg_trade.agg_id, first + static_cast<int64_t>(i));
  }
  ASSERT_TRUE(ws.read_for(150ms));
  EXPECT_GE(ws.pings_since(resumed), 2u) << "pings again";
  EXPECT_EQ(server_->counters().ws_stalls, 1);
}

// Dropped depth events on one connection: its U jumps, Binance's algorithm notices and
// resyncs from /depth, which the fault never touches.
TEST_F(SimLiveFaultsTest, SkippedDepthIdsForceAResyncFromAConsistentSnapshot) {
  start_with_ws_faults({.depth_skip_rate = 0.2});
  const SymbolSpec& s = *server_->market().find("ETHUSDT");
  DepthModel model(server_->market());
  http::Client rest(server_->base_url());
  auto ws = connect("/stream?streams=ethusdt@depth@100ms/ethusdt@depth5@100ms");
  bn::BookSync sync;
  int64_t prev_u = -1, missing_ticks = 0;
  int gaps = 0;
  auto snapshot = [&] {
    auto r = rest.get("/api/v3/depth?symbol=ETHUSDT&limit=5000");
    EXPECT_TRUE(r.ok() && r->status == 200);
    bn::DepthSnapshot snap;
    EXPECT_TRUE(decoder_.depth(r->body, &snap).ok());
    return snap;
  };
  for (int round = 1; round <= 6; ++round) {
    clock_.advance(1000);
    const int64_t tick = DepthModel::tick_at(clock_.now_ms());
    auto events = read_until(ws, [&](const bn::StreamEvent& e) {
      return e.kind == Kind::partial_depth &&
             e.snapshot.last_update_id == DepthModel::last_id(tick);
    });
    for (const auto& e : events) {
      if (e.kind != Kind::depth) continue;
      const int64_t from = (e.depth.first_id - 1) / DepthModel::kIdsPerTick - 1;
      const int64_t to = e.depth.last_id / DepthModel::kIdsPerTick - 1;
      const DepthUpdate want = model.update(s, from, to);  // every event sent is the model's
      EXPECT_EQ(e.depth.bids, want.bids);
      EXPECT_EQ(e.depth.asks, want.asks);
      if (prev_u >= 0 && e.depth.first_id != prev_u + 1) {
        ++gaps;
        missing_ticks += (e.depth.first_id - prev_u - 1) / DepthModel::kIdsPerTick;
      }
      prev_u = e.depth.last_id;
      if (sync.on_event(e.depth) == bn::BookSync::Outcome::gap) {
        EXPECT_GT(gaps, 0) << "BookSync sees a gap where the ids jump";
      }
    }
    if (sync.state() == bn::BookSync::State::buffering) {
      const auto snap = snapshot();
      EXPECT_EQ(snap.last_update_id, DepthModel::last_id(tick)) << "REST is untouched";
      sync.on_snapshot(snap);
    }
    ASSERT_EQ(sync.state(), bn::BookSync::State::synced) << "round " << round;
    const DepthBook want = model.book(s, tick);
    EXPECT_EQ(sync.book().levels(market::BookSide::bid), want.bids) << "round " << round;
    EXPECT_EQ(sync.book().levels(market::BookSide::ask), want.asks) << "round " << round;
  }
  EXPECT_GT(gaps, 0);
  EXPECT_GT(sync.resyncs(), 0);
  EXPECT_EQ(server_->counters().ws_depth_skipped, missing_ticks)
      << "each skipped event is a missing tick of this connection's stream";
  EXPECT_LT(missing_ticks, 30) << "about a fifth of 60 ticks";
}

// A share of event frames is corrupted: cut short, or a number turned into a string.
TEST_F(SimLiveFaultsTest, MalformedFramesFailAStrictDecoder) {
  start_with_ws_faults({.malformed_rate = 0.3});
  const SymbolSpec& s = *server_->market().find("BTCUSDT");
  auto ws = connect("/stream?streams=btcusdt@aggTrade");
  const int64_t first = Market::first_agg_id_at(s, clock_.now_ms() + 1);
  clock_.advance(6000);
  const int64_t n = Market::first_agg_id_at(s, clock_.now_ms() + 1) - first;
  int bad = 0, truncated = 0, wrong_type = 0;
  int64_t prev = first - 1;
  for (int64_t i = 0; i < n; ++i) {
    auto m = ws.read(3s);
    ASSERT_TRUE(m.ok());
    bn::StreamEvent e;
    if (decoder_.stream_event(*m, bn::TimeUnit::millisecond, &e).ok()) {
      EXPECT_GT(e.agg_trade.agg_id, prev);
      EXPECT_EQ(e.agg_trade, *server_->market().agg_trade("BTCUSDT", e.agg_trade.agg_id));
      prev = e.agg_trade.agg_id;
      continue;
    }
    ++bad;
    (json::parse_object(*m).ok() ? wrong_type : truncated)++;
  }
  EXPECT_EQ(bad, server_->counters().ws_malformed);
  EXPECT_GT(truncated, 0);
  EXPECT_GT(wrong_type, 0);
  EXPECT_GT(bad, n / 10);
  EXPECT_LT(bad, n / 2);
}

// serverShutdown, on demand through /sim/control and on schedule: the event, the stream
// going on for the grace period, then a close frame.
TEST_F(SimLiveFaultsTest, ServerShutdownThenACloseAfterTheGrace) {
  start_with_ws_faults({.shutdown_grace_ms = 2000});
  auto ws = connect("/ws/btcusdt@aggTrade");
  auto r = control(R"({"ws_server_shutdown":true})");
  EXPECT_EQ(r.status, 200) << r.body;
  auto events =
      read_until(ws, [](const bn::StreamEvent& e) { return e.kind == Kind::server_shutdown; });
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().event_time, clock_.now_ms());
  clock_.advance(1000);
  events = read_until(ws, [](const bn::StreamEvent& e) { return e.kind == Kind::agg_trade; });
  EXPECT_FALSE(events.empty()) << "still streaming during the grace period";
  real_.advance(2000);
  auto end = read_to_end(ws);
  EXPECT_EQ(end.code, Errc::closed) << "a close frame: " << end.message;
  EXPECT_EQ(server_->counters().ws_server_shutdowns, 1);
  // On schedule.
  Faults f = server_->faults();
  f.ws.shutdown_mean_ms = 500;
  ASSERT_TRUE(server_->set_faults(f).ok());
  auto ws2 = connect("/stream?streams=btcusdt@aggTrade");
  ASSERT_TRUE(eventually([&] { return server_->counters().ws_connections == 1; }));
  std::this_thread::sleep_for(50ms);  // its schedule is drawn
  real_.advance(30'000);
  events =
      read_until(ws2, [](const bn::StreamEvent& e) { return e.kind == Kind::server_shutdown; });
  EXPECT_TRUE(events.back().stream.empty()) << "not wrapped: it belongs to no stream";
  EXPECT_EQ(server_->counters().ws_server_shutdowns, 2);
  real_.advance(2000);
  EXPECT_EQ(read_to_end(ws2).code, Errc::closed);
}

// Same seed, same draws: the n-th connection's skipped ids are the same in every run.
TEST_F(SimLiveFaultsTest, FaultDrawsAreReproducible) {
  auto skipped_ticks = [&] {
    start_with_ws_faults({.depth_skip_rate = 0.3});
    auto ws = connect("/stream?streams=btcusdt@depth@100ms/btcusdt@depth5@100ms");
    clock_.advance(2000);
    const int64_t id = DepthModel::last_id(DepthModel::tick_at(clock_.now_ms()));
    std::vector<int64_t> firsts;
    for (const auto& e : read_until(ws, [&](const bn::StreamEvent& e) {
           return e.kind == Kind::partial_depth && e.snapshot.last_update_id == id;
         }))
      if (e.kind == Kind::depth) firsts.push_back(e.depth.first_id - id);
    ws.close();
    server_->stop();
    clock_.set(kAug1);
    return firsts;
  };
  const auto a = skipped_ticks();
  const auto b = skipped_ticks();
  EXPECT_EQ(a, b);
  EXPECT_LT(a.size(), 20u);
}

// /sim/control shows and sets the live knobs, validates them naming the field, and counts.
TEST_F(SimLiveFaultsTest, ControlEndpointLiveKnobs) {
  start();
  auto r = control("");
  ASSERT_EQ(r.status, 200);
  for (const char* k :
       {"\"ws_disconnect_mean_ms\":0", "\"ws_stall_mean_ms\":0", "\"ws_stall_ms\":5000",
        "\"ws_depth_skip_rate\":0", "\"ws_malformed_rate\":0", "\"ws_shutdown_mean_ms\":0",
        "\"ws_shutdown_grace_ms\":3000", "\"ws_connections\":0", "\"ws_disconnects\":0",
        "\"ws_stalls\":0", "\"ws_depth_skipped\":0", "\"ws_malformed\":0",
        "\"ws_server_shutdowns\":0"})
    EXPECT_NE(r.body.find(k), std::string::npos) << k << " in " << r.body;
  r = control(R"({"ws_disconnect_mean_ms":60000,"ws_stall_mean_ms":30000,"ws_stall_ms":2000,)"
              R"("ws_depth_skip_rate":0.01,"ws_malformed_rate":0.02,"ws_shutdown_mean_ms":600000,)"
              R"("ws_shutdown_grace_ms":1000})");
  ASSERT_EQ(r.status, 200) << r.body;
  const LiveFaults f = server_->faults().ws;
  EXPECT_EQ(f.disconnect_mean_ms, 60000);
  EXPECT_EQ(f.stall_mean_ms, 30000);
  EXPECT_EQ(f.stall_ms, 2000);
  EXPECT_EQ(f.depth_skip_rate, 0.01);
  EXPECT_EQ(f.malformed_rate, 0.02);
  EXPECT_EQ(f.shutdown_mean_ms, 600000);
  EXPECT_EQ(f.shutdown_grace_ms, 1000);
  for (auto [body, field] :
       {std::pair{R"({"ws_depth_skip_rate":1.5})", "ws_depth_skip_rate"},
        std::pair{R"({"ws_malformed_rate":-0.1})", "ws_malformed_rate"},
        std::pair{R"({"ws_disconnect_mean_ms":-1})", "ws_disconnect_mean_ms"},
        std::pair{R"({"ws_stall_ms":0})", "ws_stall_ms"},
        std::pair{R"({"ws_stall_mean_ms":"x"})", "ws_stall_mean_ms"},
        std::pair{R"({"ws_shutdown_grace_ms":700000})", "ws_shutdown_grace_ms"},
        std::pair{R"({"ws_server_shutdown":1})", "ws_server_shutdown"},
        std::pair{R"({"ws_nope":1})", "ws_nope"}}) {
    r = control(body);
    EXPECT_EQ(r.status, 422) << body << " -> " << r.body;
    EXPECT_NE(r.body.find(std::string("'") + field + "'"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("-1130"), std::string::npos) << r.body;
  }
  EXPECT_EQ(server_->faults().ws.stall_ms, 2000) << "nothing changed";
  SimOptions bad;
  bad.faults.ws.depth_skip_rate = 2;
  EXPECT_THROW(SimServer{bad}, std::invalid_argument);
  bad = {};
  bad.ws_ping_interval_ms = -1;
  EXPECT_THROW(SimServer{bad}, std::invalid_argument);
}

}  // namespace
}  // namespace sf::exchange::sim
