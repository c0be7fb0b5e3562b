#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "exchange/binance/decode.h"

namespace sf::exchange::binance {
namespace {

using Kind = StreamEvent::Kind;
using market::BookLevel;

const std::string kTrade =
    R"({"e":"trade","E":1722470400123,"s":"BTCUSDT","t":12345,"p":"64000.01000000",)"
    R"("q":"0.00150000","T":1722470400120,"m":true,"M":true})";
const std::string kAggTrade =
    R"({"e":"aggTrade","E":1722470400123,"s":"ETHUSDT","a":777,"p":"3100.50","q":"2.5",)"
    R"("f":100,"l":105,"T":1722470400100,"m":false,"M":true})";
const std::string kKline =
    R"({"e":"kline","E":1722470430000,"s":"BTCUSDT","k":{"t":1722470400000,"T":1722470459999,)"
    R"("s":"BTCUSDT","i":"1m","f":100,"L":200,"o":"64000.00","c":"64010.00","h":"64020.00",)"
    R"("l":"63990.00","v":"12.5","n":101,"x":false,"q":"800000.00","V":"6.0","Q":"384000.00",)"
    R"("B":"0"}})";
const std::string kDepth = R"({"e":"depthUpdate","E":1722470400500,"s":"BNBBTC","U":157,"u":160,)"
                           R"("b":[["0.0024","10"],["0.0023","0"]],"a":[["0.0026","100"]]})";

StreamEvent decode(const std::string& json, TimeUnit unit = TimeUnit::millisecond) {
  Decoder d;
  StreamEvent ev;
  Status st = d.stream_event(json, unit, &ev);
  EXPECT_TRUE(st.ok()) << json << "\n" << (st.ok() ? "" : st.error().message);
  return ev;
}

std::string error_of(const std::string& json) {
  Decoder d;
  StreamEvent ev;
  Status st = d.stream_event(json, TimeUnit::millisecond, &ev);
  return st.ok() ? "(decoded as " + std::string(to_string(ev.kind)) + ")" : st.error().message;
}

TEST(StreamDecode, Trade) {
  StreamEvent ev = decode(kTrade);
  EXPECT_EQ(ev.kind, Kind::trade);
  EXPECT_EQ(ev.event_time, 1722470400123);
  EXPECT_TRUE(ev.stream.empty());
  EXPECT_EQ(ev.trade.symbol, "BTCUSDT");
  EXPECT_EQ(ev.trade.trade_id, 12345);
  EXPECT_EQ(ev.trade.price, "64000.01000000");
  EXPECT_EQ(ev.trade.qty, "0.00150000");
  EXPECT_EQ(ev.trade.quote_qty, "96.00001500") << "price x qty, 8 decimals, truncated";
  EXPECT_EQ(ev.trade.time, 1722470400120);
  EXPECT_TRUE(ev.trade.is_buyer_maker);
  EXPECT_TRUE(ev.trade.is_best_match);
}

TEST(StreamDecode, TheEventTypeMayStandAnywhere) {
  const std::string shuffled =
      R"({"E":1722470400123,"s":"BTCUSDT","t":12345,"p":"64000.01000000","q":"0.00150000",)"
      R"("T":1722470400120,"m":true,"e":"trade"})";
  EXPECT_EQ(decode(shuffled).trade, decode(kTrade).trade);
}

TEST(StreamDecode, AggTradeKlineDepthAndShutdown) {
  StreamEvent a = decode(kAggTrade);
  EXPECT_EQ(a.kind, Kind::agg_trade);
  EXPECT_EQ(a.agg_trade.agg_id, 777);
  EXPECT_EQ(a.agg_trade.first_trade_id, 100);
  EXPECT_EQ(a.agg_trade.last_trade_id, 105);
  EXPECT_EQ(a.agg_trade.price, "3100.50");
  EXPECT_FALSE(a.agg_trade.is_buyer_maker);

  StreamEvent k = decode(kKline);
  EXPECT_EQ(k.kind, Kind::kline);
  EXPECT_EQ(k.kline.open_time, 1722470400000);
  EXPECT_EQ(k.kline.close_time, 1722470459999);
  EXPECT_EQ(k.kline.interval, "1m");
  EXPECT_EQ(k.kline.close, "64010.00");
  EXPECT_EQ(k.kline.trades, 101);
  EXPECT_FALSE(k.kline.closed) << "x false: a revision of an open candle";
  EXPECT_EQ(k.kline.taker_buy_quote_volume, "384000.00");

  StreamEvent d = decode(kDepth);
  EXPECT_EQ(d.kind, Kind::depth);
  EXPECT_EQ(d.depth.first_id, 157);
  EXPECT_EQ(d.depth.last_id, 160);
  EXPECT_EQ(d.depth.event_time, 1722470400500);
  EXPECT_EQ(d.depth.bids, (std::vector<BookLevel>{{240'000, 1'000'000'000}, {230'000, 0}}));
  EXPECT_EQ(d.depth.asks, (std::vector<BookLevel>{{260'000, 10'000'000'000}}));

  StreamEvent s = decode(R"({"e":"serverShutdown","E":1722470400000})");
  EXPECT_EQ(s.kind, Kind::server_shutdown);
  EXPECT_EQ(s.event_time, 1722470400000);
}

TEST(StreamDecode, MicrosecondsBecomeMilliseconds) {
  const std::string us = R"({"e":"trade","E":1722470400123456,"s":"BTCUSDT","t":1,"p":"1","q":"1",)"
                         R"("T":1722470400120999,"m":false})";
  StreamEvent ev = decode(us, TimeUnit::microsecond);
  EXPECT_EQ(ev.event_time, 1722470400123);
  EXPECT_EQ(ev.trade.time, 1722470400120);
  EXPECT_FALSE(ev.trade.is_buyer_maker);
  EXPECT_TRUE(ev.trade.is_best_match) << "M is optional";
}

TEST(StreamDecode, CombinedStreamsInEitherOrder) {
  StreamEvent ev = decode(R"({"stream":"btcusdt@trade","data":)" + kTrade + "}");
  EXPECT_EQ(ev.kind, Kind::trade);
  EXPECT_EQ(ev.stream, "btcusdt@trade");
  EXPECT_EQ(ev.trade.trade_id, 12345);
  StreamEvent rev = decode(R"({"data":)" + kDepth + R"(,"stream":"bnbbtc@depth"})");
  EXPECT_EQ(rev.kind, Kind::depth);
  EXPECT_EQ(rev.stream, "bnbbtc@depth");
  StreamEvent again = decode(kAggTrade);  // a raw message after a combined one
  EXPECT_TRUE(again.stream.empty());
}

TEST(StreamDecode, RepliesAndErrors) {
  StreamEvent r = decode(R"({"result":null,"id":1})");
  EXPECT_EQ(r.kind, Kind::reply);
  EXPECT_EQ(r.reply_id, 1);
  EXPECT_EQ(r.reply_json, "null");
  StreamEvent l = decode(R"({"result":["btcusdt@trade","btcusdt@depth"],"id":3})");
  EXPECT_EQ(l.reply_json, R"(["btcusdt@trade","btcusdt@depth"])");
  EXPECT_EQ(l.reply_id, 3);
  StreamEvent e = decode(R"({"error":{"code":2,"msg":"Invalid request"},"id":null})");
  EXPECT_EQ(e.kind, Kind::error_reply);
  EXPECT_EQ(e.error.code, 2);
  EXPECT_EQ(e.error.msg, "Invalid request");
  EXPECT_EQ(e.reply_id, -1);
}

TEST(StreamDecode, PartialBookAndBookTicker) {
  StreamEvent p = decode(R"({"lastUpdateId":160,"bids":[["0.0024","10"]],"asks":[]})");
  EXPECT_EQ(p.kind, Kind::partial_depth);
  EXPECT_EQ(p.snapshot.last_update_id, 160);
  EXPECT_EQ(p.snapshot.bids, (std::vector<BookLevel>{{240'000, 1'000'000'000}}));
  EXPECT_TRUE(p.snapshot.asks.empty());
  StreamEvent t = decode(
      R"({"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000",)"
      R"("A":"40.66000000"})");
  EXPECT_EQ(t.kind, Kind::book_ticker);
  EXPECT_EQ(t.ticker.update_id, 400900217);
  EXPECT_EQ(t.ticker.symbol, "BNBUSDT");
  EXPECT_EQ(t.ticker.bid, (BookLevel{2'535'190'000, 3'121'000'000}));
  EXPECT_EQ(t.ticker.ask.price, 2'536'520'000);
}

// Binance wraps partial books and bookTickers on combined streams like every event.
TEST(StreamDecode, PartialBookAndBookTickerInACombinedWrapper) {
  StreamEvent p =
      decode(R"({"stream":"bnbbtc@depth5","data":{"lastUpdateId":160,"bids":[["0.0024","10"]],)"
             R"("asks":[["0.0026","100"]]}})");
  EXPECT_EQ(p.kind, Kind::partial_depth);
  EXPECT_EQ(p.stream, "bnbbtc@depth5");
  EXPECT_EQ(p.snapshot.last_update_id, 160);
  EXPECT_EQ(p.snapshot.asks, (std::vector<BookLevel>{{260'000, 10'000'000'000}}));
  StreamEvent t =
      decode(R"({"data":{"u":1,"s":"BNBUSDT","b":"25.35","B":"31.21","a":"25.36","A":"40.66"},)"
             R"("stream":"bnbusdt@bookTicker"})");
  EXPECT_EQ(t.kind, Kind::book_ticker);
  EXPECT_EQ(t.stream, "bnbusdt@bookTicker");
  EXPECT_EQ(t.ticker.symbol, "BNBUSDT");
  // A wrapper or a reply inside data is not a stream message.
  EXPECT_EQ(error_of(R"({"stream":"a","data":{"stream":"b","data":{}}})").find("decoded as"),
            std::string::npos);
  EXPECT_EQ(error_of(R"({"stream":"a","data":{"result":null,"id":1}})").find("decoded as"),
            std::string::npos);
  EXPECT_EQ(error_of(R"({"stream":"a","data":{"lastUpdateId":1,"bids":[]}})").find("decoded as"),
            std::string::npos);
}

TEST(StreamDecode, DepthSnapshot) {
  Decoder d;
  DepthSnapshot s;
  ASSERT_TRUE(d.depth(R"({"lastUpdateId":1027024,"bids":[["4.00000000","431.00000000"]],)"
                      R"("asks":[["4.00000200","12.00000000"],["4.1","1"]]})",
                      &s)
                  .ok());
  EXPECT_EQ(s.last_update_id, 1027024);
  EXPECT_EQ(s.bids, (std::vector<BookLevel>{{400'000'000, 43'100'000'000}}));
  EXPECT_EQ(s.asks.size(), 2u);
  for (const char* bad :
       {R"({"lastUpdateId":1,"bids":[]})", R"({"lastUpdateId":-1,"bids":[],"asks":[]})",
        R"({"lastUpdateId":1,"bids":[["1","1","1"]],"asks":[]})",
        R"({"lastUpdateId":1,"bids":[["1.000000001","1"]],"asks":[]})",
        R"({"lastUpdateId":1,"bids":[[1,"1"]],"asks":[]})",
        R"({"lastUpdateId":1,"bids":[],"asks":[]} x)"}) {
    EXPECT_FALSE(d.depth(bad, &s).ok()) << bad;
  }
}

// Every proper prefix of a good message is refused (a frame cut short never decodes).
TEST(StreamDecode, EveryTruncationIsAnError) {
  Decoder d;
  StreamEvent ev;
  for (const std::string& good :
       {kTrade, kAggTrade, kKline, kDepth, R"({"stream":"btcusdt@trade","data":)" + kTrade + "}",
        std::string(R"({"result":["a"],"id":7})")}) {
    ASSERT_TRUE(d.stream_event(good, TimeUnit::millisecond, &ev).ok()) << good;
    for (size_t n = 0; n < good.size(); ++n) {
      EXPECT_FALSE(d.stream_event(good.substr(0, n), TimeUnit::millisecond, &ev).ok())
          << "prefix of " << n << " bytes decoded: " << good.substr(0, n);
    }
  }
}

TEST(StreamDecode, WrongTypesAndBadValuesNameTheField) {
  struct Case {
    std::string json, expect;
  };
  const std::vector<Case> cases = {
      {R"({"e":"trade","E":1722470400123,"s":"BTCUSDT","t":"12345","p":"1","q":"1","T":1722470400120,"m":true})",
       "field 't'"},
      {R"({"e":"trade","E":1722470400123,"s":"BTCUSDT","t":1,"p":1.5,"q":"1","T":1722470400120,"m":true})",
       "field 'p'"},
      {R"({"e":"trade","E":1722470400123,"s":"BTCUSDT","t":1,"p":"1","q":"1","T":1722470400120,"m":"true"})",
       "field 'm'"},
      {R"({"e":"trade","E":1722470400123,"s":"BTCUSDT","t":1,"p":"1.123456789","q":"1","T":1722470400120,"m":true})",
       "at most 8 places"},
      {R"({"e":"trade","E":1722470400123,"s":"BTCUSDT","t":1,"p":"1","q":"1","m":true})",
       "field 'T': missing"},
      {R"({"e":"trade","E":1722470400123,"s":"BTCUSDT","t":1,"t":2,"p":"1","q":"1","T":1722470400120,"m":true})",
       "duplicate key"},
      {R"({"e":"trade","E":17224704001,"s":"BTCUSDT","t":1,"p":"1","q":"1","T":1722470400120,"m":true})",
       "not a plausible time"},
      {R"({"e":"aggTrade","E":1722470400123,"s":"E","a":1,"p":"1","q":"1","f":5,"l":4,"T":1722470400100,"m":false})",
       "field 'l'"},
      {R"({"e":"depthUpdate","E":1722470400500,"s":"B","U":161,"u":160,"b":[],"a":[]})",
       "field 'u'"},
      {R"({"e":"depthUpdate","E":1722470400500,"s":"B","U":1,"u":2,"b":[["1"]],"a":[]})",
       "level 0 has 1 elements"},
      {R"({"e":"depthUpdate","E":1722470400500,"s":"B","U":1,"u":2,"b":{},"a":[]})", "field 'b'"},
      {R"({"e":"kline","E":1722470430000,"s":"ETHUSDT","k":{"t":1722470400000,"T":1722470459999,"s":"BTCUSDT","i":"1m","o":"1","c":"1","h":"1","l":"1","v":"1","n":1,"x":true,"q":"1","V":"1","Q":"1"}})",
       "but k.s is 'BTCUSDT'"},
      {R"({"e":"kline","E":1722470430000,"s":"BTCUSDT","k":{"t":1722470400000,"T":1722470459999,"s":"BTCUSDT","i":"1m","o":"1","c":"1","h":"1","l":"1","v":"1","n":1,"x":1,"q":"1","V":"1","Q":"1"}})",
       "field 'x'"},
      {R"({"e":"bookTrade","E":1})", "unknown event type 'bookTrade'"},
      {R"({"e":5})", "field 'e'"},
      {R"({"stream":"x"})", "not an event"},
      {R"({"data":{"e":"serverShutdown","E":1722470400000}})", "exactly 'stream' and 'data'"},
      {R"({"result":null})", "field 'id': missing"},
      {R"({"result":null,"error":{"code":1,"msg":"x"},"id":1})", "both"},
      {R"({"u":1,"s":"X","b":"1","B":"1","a":"1"})", "bookTicker"},
      {R"([1,2])", "stream message"},
      {kTrade + " {}", "trailing bytes"},
  };
  for (const auto& c : cases) {
    const std::string err = error_of(c.json);
    EXPECT_NE(err.find(c.expect), std::string::npos) << c.json << "\n  got: " << err;
  }
}

TEST(StreamDecode, KindsHaveNames) {
  EXPECT_STREQ(to_string(Kind::partial_depth), "partial_depth");
  EXPECT_STREQ(to_string(Kind::error_reply), "error_reply");
}

}  // namespace
}  // namespace sf::exchange::binance
