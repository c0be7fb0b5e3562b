#include "exchange/binance/decode.h"

#include <gtest/gtest.h>

#include <string>

namespace sf::exchange::binance {
namespace {

const std::string kKlines =
    R"([[1722470400000,"65000.01000000","65010.00000000","64990.12000000","65005.55000000",)"
    R"("12.34567000",1722470459999,"802345.12345678",100,"6.12345000","398000.12345678","0"],)"
    R"([1722470460000,"65005.55000000","65020.00000000","65001.00000000","65019.99000000",)"
    R"("1.00000000",1722470519999,"65019.99000000",7,"0.50000000","32509.99500000","0"]])";

const std::string kKlinesUs =
    R"([[1722470400000000,"1.0","2.0","0.5","1.5","10",1722470459999999,"15.0",3,"5","7.5","0"]])";

const std::string kAgg =
    R"([{"a":26129,"p":"0.01633102","q":"4.70443515","f":27781,"l":27781,"T":1722470400123,)"
    R"("m":true,"M":true},{"a":26130,"p":"0.01633103","q":"1","f":27782,"l":27790,)"
    R"("T":1722470400500,"m":false,"M":false,"x":"ignored"}])";

const std::string kTrades =
    R"([{"id":28457,"price":"4.00000100","qty":"12.00000000","quoteQty":"48.000012",)"
    R"("time":1722470400123,"isBuyerMaker":true,"isBestMatch":true}])";

const std::string kInfo =
    R"({"timezone":"UTC","serverTime":1722470400000,"rateLimits":[)"
    R"({"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":6000},)"
    R"({"rateLimitType":"ORDERS","interval":"SECOND","intervalNum":10,"limit":100},)"
    R"({"rateLimitType":"RAW_REQUESTS","interval":"MINUTE","intervalNum":5,"limit":61000}],)"
    R"("exchangeFilters":[],"symbols":[{"symbol":"BTCUSDT","status":"TRADING","filters":[]},)"
    R"({"symbol":"LUNAUSDT","status":"BREAK","baseAsset":"LUNA"}]})";

TEST(BinanceDecode, KlinesGoodPage) {
  auto r = decode_klines(kKlines, "BTCUSDT", "1m", TimeUnit::millisecond);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 2u);
  const market::Candle& c = (*r)[0];
  EXPECT_EQ(c.symbol, "BTCUSDT");
  EXPECT_EQ(c.interval, "1m");
  EXPECT_EQ(c.open_time, 1722470400000);
  EXPECT_EQ(c.close_time, 1722470459999);
  EXPECT_EQ(c.open, "65000.01000000");  // verbatim, trailing zeros kept
  EXPECT_EQ(c.high, "65010.00000000");
  EXPECT_EQ(c.low, "64990.12000000");
  EXPECT_EQ(c.close, "65005.55000000");
  EXPECT_EQ(c.volume, "12.34567000");
  EXPECT_EQ(c.quote_volume, "802345.12345678");
  EXPECT_EQ(c.trades, 100);
  EXPECT_EQ(c.taker_buy_base_volume, "6.12345000");
  EXPECT_EQ(c.taker_buy_quote_volume, "398000.12345678");
  EXPECT_TRUE(c.closed);
  EXPECT_EQ((*r)[1].open_time, 1722470460000);
  EXPECT_EQ((*r)[1].trades, 7);
}

TEST(BinanceDecode, KlinesMicroseconds) {
  auto r = decode_klines(kKlinesUs, "X", "1m", TimeUnit::microsecond);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ((*r)[0].open_time, 1722470400000);
  EXPECT_EQ((*r)[0].close_time, 1722470459999);  // floored, not rounded
  // The same bytes read as ms are absurd (year > 2100): rejected, not silently wrong.
  auto bad = decode_klines(kKlinesUs, "X", "1m", TimeUnit::millisecond);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Errc::parse_error);
  EXPECT_NE(bad.error().message.find("row 0: field 'open_time'"), std::string::npos)
      << bad.error().message;
  // And ms values read as µs land in 1970: rejected too.
  EXPECT_FALSE(decode_klines(kKlines, "X", "1m", TimeUnit::microsecond).ok());
}

TEST(BinanceDecode, EmptyPage) {
  auto r = decode_klines("[]", "X", "1m", TimeUnit::millisecond);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
  EXPECT_TRUE(decode_agg_trades(" [ ] ", "X", TimeUnit::millisecond).ok());
}

// Every proper prefix of a valid body is malformed JSON and must fail with parse_error.
template <typename F>
void expect_all_cuts_fail(const std::string& body, F decode) {
  for (size_t cut = 0; cut < body.size(); ++cut) {
    auto r = decode(body.substr(0, cut));
    ASSERT_FALSE(r.ok()) << "cut at " << cut << ": " << body.substr(0, cut);
    EXPECT_EQ(r.error().code, Errc::parse_error) << "cut at " << cut;
  }
  ASSERT_TRUE(decode(body).ok());
}

TEST(BinanceDecode, TruncatedAtEveryCutPoint) {
  expect_all_cuts_fail(kKlines, [](const std::string& s) {
    return decode_klines(s, "BTCUSDT", "1m", TimeUnit::millisecond);
  });
  expect_all_cuts_fail(
      kAgg, [](const std::string& s) { return decode_agg_trades(s, "X", TimeUnit::millisecond); });
  expect_all_cuts_fail(
      kTrades, [](const std::string& s) { return decode_trades(s, "X", TimeUnit::millisecond); });
  expect_all_cuts_fail(
      kInfo, [](const std::string& s) { return decode_exchange_info(s, TimeUnit::millisecond); });
  expect_all_cuts_fail(std::string(R"({"serverTime":1722470400000})"), [](const std::string& s) {
    return decode_server_time(s, TimeUnit::millisecond);
  });
  expect_all_cuts_fail(std::string(R"({"code":-1121,"msg":"Invalid symbol."})"),
                       [](const std::string& s) { return decode_error_body(s); });
}

std::string kline_row(const std::string& replace_at_index, int index) {
  std::vector<std::string> f = {"1722470400000", "\"1.0\"",       "\"2.0\"",  "\"0.5\"", "\"1.5\"",
                                "\"10\"",        "1722470459999", "\"15.0\"", "3",       "\"5\"",
                                "\"7.5\"",       "\"0\""};
  if (index >= 0) f[static_cast<size_t>(index)] = replace_at_index;
  std::string row = "[";
  for (size_t i = 0; i < f.size(); ++i) row += (i ? "," : "") + f[i];
  return row + "]";
}

TEST(BinanceDecode, KlinesWrongTypesNameRowAndField) {
  std::string good = kline_row("", -1);
  struct Case {
    int index;
    std::string value;
    std::string field;
  } cases[] = {
      {0, "\"1722470400000\"", "open_time"},  // time as string
      {1, "1.0", "open"},                     // price as number
      {2, "\"abc\"", "high"},
      {3, "\"1e5\"", "low"},
      {4, "\"-\"", "close"},
      {5, "\"1.\"", "volume"},
      {6, "1.5", "close_time"},
      {7, "null", "quote_volume"},
      {8, "\"3\"", "trades"},
      {8, "-1", "trades"},
      {9, "true", "taker_buy_base_volume"},
      {10, "\" 7.5\"", "taker_buy_quote_volume"},
      {6, "1722470399999", "close_time"},  // before open_time
  };
  for (const auto& c : cases) {
    std::string body = "[" + good + "," + kline_row(c.value, c.index) + "]";
    auto r = decode_klines(body, "X", "1m", TimeUnit::millisecond);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.error().code, Errc::parse_error);
    EXPECT_NE(r.error().message.find("klines: row 1: field '" + c.field + "'"), std::string::npos)
        << r.error().message;
  }
  // Row shape.
  auto r = decode_klines("[[1722470400000,\"1\"]]", "X", "1m", TimeUnit::millisecond);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("2 elements, expected 12"), std::string::npos);
  std::string thirteen = good;
  thirteen.insert(thirteen.size() - 1, ",1");
  EXPECT_FALSE(decode_klines("[" + thirteen + "]", "X", "1m", TimeUnit::millisecond).ok());
  EXPECT_FALSE(decode_klines("{}", "X", "1m", TimeUnit::millisecond).ok());
  EXPECT_FALSE(decode_klines("[{}]", "X", "1m", TimeUnit::millisecond).ok());
  EXPECT_FALSE(decode_klines("[" + good + "] x", "X", "1m", TimeUnit::millisecond).ok());
  EXPECT_FALSE(decode_klines("[" + good + "][]", "X", "1m", TimeUnit::millisecond).ok());
  EXPECT_FALSE(decode_klines("", "X", "1m", TimeUnit::millisecond).ok());
}

TEST(BinanceDecode, DecoderReusesOutputAndClearsOnError) {
  Decoder d;
  std::vector<market::Candle> out;
  ASSERT_TRUE(d.klines(kKlines, "BTCUSDT", "1m", TimeUnit::millisecond, &out).ok());
  ASSERT_EQ(out.size(), 2u);
  out[0].closed = false;
  ASSERT_TRUE(d.klines(kKlinesUs, "ETHUSDT", "1h", TimeUnit::microsecond, &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].symbol, "ETHUSDT");
  EXPECT_EQ(out[0].open, "1.0");
  EXPECT_TRUE(out[0].closed);
  EXPECT_FALSE(d.klines("[[1]]", "X", "1m", TimeUnit::millisecond, &out).ok());
  EXPECT_TRUE(out.empty());
  // Padded input decodes in place.
  std::string padded = kKlines + std::string(kPadding, '\0');
  ASSERT_TRUE(d.klines(Decoder::Input(std::string_view(padded.data(), kKlines.size()), true),
                       "BTCUSDT", "1m", TimeUnit::millisecond, &out)
                  .ok());
  EXPECT_EQ(out.size(), 2u);
}

TEST(BinanceDecode, AggTrades) {
  auto r = decode_agg_trades(kAgg, "BTCUSDT", TimeUnit::millisecond);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 2u);
  const market::AggTrade& t = (*r)[0];
  EXPECT_EQ(t.symbol, "BTCUSDT");
  EXPECT_EQ(t.agg_id, 26129);
  EXPECT_EQ(t.price, "0.01633102");
  EXPECT_EQ(t.qty, "4.70443515");
  EXPECT_EQ(t.first_trade_id, 27781);
  EXPECT_EQ(t.last_trade_id, 27781);
  EXPECT_EQ(t.time, 1722470400123);
  EXPECT_TRUE(t.is_buyer_maker);
  EXPECT_TRUE(t.is_best_match);
  EXPECT_FALSE((*r)[1].is_buyer_maker);
  EXPECT_FALSE((*r)[1].is_best_match);

  auto missing =
      decode_agg_trades(R"([{"a":1,"p":"1","q":"1","f":1,"l":1,"T":1722470400123,"m":true}])", "X",
                        TimeUnit::millisecond);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("row 0: field 'M': missing"), std::string::npos)
      << missing.error().message;
  auto wrong = decode_agg_trades(
      R"([{"a":1,"p":"1","q":"1","f":1,"l":1,"T":1722470400123,"m":"true","M":true}])", "X",
      TimeUnit::millisecond);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.error().message.find("field 'm'"), std::string::npos);
  EXPECT_FALSE(decode_agg_trades(
                   R"([{"a":1,"p":"1","q":"1","f":5,"l":4,"T":1722470400123,"m":true,"M":true}])",
                   "X", TimeUnit::millisecond)
                   .ok());
  EXPECT_FALSE(
      decode_agg_trades(
          R"([{"a":1,"a":2,"p":"1","q":"1","f":1,"l":1,"T":1722470400123,"m":true,"M":true}])", "X",
          TimeUnit::millisecond)
          .ok());
  auto us = decode_agg_trades(
      R"([{"a":1,"p":"1","q":"1","f":1,"l":1,"T":1722470400123456,"m":true,"M":true}])", "X",
      TimeUnit::microsecond);
  ASSERT_TRUE(us.ok());
  EXPECT_EQ((*us)[0].time, 1722470400123);
}

TEST(BinanceDecode, HistoricalTrades) {
  auto r = decode_trades(kTrades, "BTCUSDT", TimeUnit::millisecond);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].trade_id, 28457);
  EXPECT_EQ((*r)[0].price, "4.00000100");
  EXPECT_EQ((*r)[0].quote_qty, "48.000012");
  EXPECT_EQ((*r)[0].time, 1722470400123);
  std::string bad = kTrades;
  bad.replace(bad.find("\"12.00000000\""), 13, "12");
  auto e = decode_trades(bad, "X", TimeUnit::millisecond);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message.find("historicalTrades: row 0: field 'qty'"), std::string::npos)
      << e.error().message;
}

TEST(BinanceDecode, ExchangeInfo) {
  auto r = decode_exchange_info(kInfo, TimeUnit::millisecond);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->server_time, 1722470400000);
  EXPECT_EQ(r->request_weight_per_minute(), 6000);
  ASSERT_TRUE(r->raw_requests().has_value());
  EXPECT_EQ(r->raw_requests()->first, 61000);
  EXPECT_EQ(r->raw_requests()->second, 300'000);
  ASSERT_EQ(r->symbols.size(), 2u);
  ASSERT_NE(r->find("LUNAUSDT"), nullptr);
  EXPECT_EQ(r->find("LUNAUSDT")->status, "BREAK");
  EXPECT_EQ(r->find("NOPE"), nullptr);

  auto no_limits = decode_exchange_info(R"({"symbols":[]})", TimeUnit::millisecond);
  ASSERT_FALSE(no_limits.ok());
  EXPECT_NE(no_limits.error().message.find("rateLimits"), std::string::npos);
  auto bad_limit = decode_exchange_info(
      R"({"rateLimits":[{"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":"6000"}],"symbols":[]})",
      TimeUnit::millisecond);
  ASSERT_FALSE(bad_limit.ok());
  EXPECT_NE(bad_limit.error().message.find("rateLimits: row 0: field 'limit'"), std::string::npos)
      << bad_limit.error().message;
}

TEST(BinanceDecode, ServerTimeAndErrorBody) {
  auto t = decode_server_time(R"({"serverTime":1722470400000})", TimeUnit::millisecond);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, 1722470400000);
  auto tu = decode_server_time(R"({"serverTime":1722470400000123})", TimeUnit::microsecond);
  ASSERT_TRUE(tu.ok());
  EXPECT_EQ(*tu, 1722470400000);
  EXPECT_FALSE(decode_server_time(R"({"serverTime":"1722470400000"})", TimeUnit::millisecond).ok());
  EXPECT_FALSE(decode_server_time(R"({})", TimeUnit::millisecond).ok());

  auto e = decode_error_body(R"({"code":-1121,"msg":"Invalid symbol."})");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->code, -1121);
  EXPECT_EQ(e->msg, "Invalid symbol.");
  EXPECT_FALSE(decode_error_body(R"({"code":"-1121","msg":"x"})").ok());
  EXPECT_FALSE(decode_error_body("<html>502 Bad Gateway</html>").ok());
}

}  // namespace
}  // namespace sf::exchange::binance
