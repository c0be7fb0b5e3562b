#include "market/records.h"

#include <span>

#include "market/binary.h"

#include <gtest/gtest.h>

#include "tests/support/text.h"

namespace sm = sf::market;

namespace {

sm::Candle candle() {
  sm::Candle c;
  c.symbol = "BTCUSDT";
  c.interval = "1m";
  c.open_time = 1722470400000;
  c.close_time = 1722470459999;
  c.open = "64000.01000000";
  c.high = "64010.00000000";
  c.low = "63990.50000000";
  c.close = "64005.12000000";
  c.volume = "12.34567000";
  c.quote_volume = "790123.45678900";
  c.trades = 321;
  c.taker_buy_base_volume = "6.00000000";
  c.taker_buy_quote_volume = "384000.00000000";
  c.closed = true;
  return c;
}

using sf::testing::replace_once;

}  // namespace

TEST(Records, RoundTripKeepsDecimalTextExactly) {
  auto c = candle();
  auto back = sm::decode(sm::Kind::candle, sm::encode(c));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(std::get<sm::Candle>(*back), c);
  sm::AggTrade a{"ETHUSDT", 42, "3100.10", "0.00100000", 100, 105, 1722470400123, true, true};
  EXPECT_EQ(std::get<sm::AggTrade>(*sm::decode(sm::Kind::agg_trade, sm::encode(a))), a);
  sm::Trade t{"SOLUSDT", 7, "140.5", "2", "281.0", 1722470400999, false, true};
  EXPECT_EQ(std::get<sm::Trade>(*sm::decode(sm::Kind::trade, sm::encode(t))), t);
  EXPECT_EQ(sm::natural_key(c), "BTCUSDT|1m|1722470400000");
}

TEST(Records, OrderBookKindsRoundTripInBothForms) {
  sm::BookSnapshot snap{"BTCUSDT", 1027024, 1722470400123, R"([["64000.01000000","0.50000000"]])",
                        R"([["64000.02000000","1.00000000"]])"};
  sm::BookDiff diff{
      "BTCUSDT", 1027030, 1027025, 1722470400223, R"([["64000.01000000","0.00000000"]])", "[]"};
  auto s = sm::decode(sm::Kind::book_snapshot, sm::encode(snap));
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(std::get<sm::BookSnapshot>(*s), snap);
  auto d = sm::decode(sm::Kind::book_diff, sm::encode(diff));
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(std::get<sm::BookDiff>(*d), diff);
  std::string page;
  sm::encode_page_to(page, std::span<const sm::BookDiff>(&diff, 1));
  std::vector<sm::Record> rows;
  ASSERT_EQ(*sm::decode_message(sm::Kind::book_diff, page, rows, 0), 1u);
  EXPECT_EQ(std::get<sm::BookDiff>(rows[0]), diff);
  // Levels text is checked in both forms; U above u is refused.
  sm::BookDiff bad = diff;
  bad.bids = R"([["1","x"]])";
  auto e = sm::decode(sm::Kind::book_diff, sm::encode(bad));
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().field, "bids");
  page.clear();
  sm::encode_page_to(page, std::span<const sm::BookDiff>(&bad, 1));
  EXPECT_FALSE(sm::decode_message(sm::Kind::book_diff, page, rows, 0).ok());
  bad = diff;
  bad.first_update_id = bad.last_update_id + 1;
  EXPECT_EQ(sm::decode(sm::Kind::book_diff, sm::encode(bad)).error().field, "last_update_id");
}

TEST(Records, StrictDecodingNamesTheField) {
  std::string good = sm::encode(candle());
  struct Case {
    std::string json;
    std::string field;
  } cases[] = {
      {replace_once(good, "\"64000.01000000\"", "64000.01"), "open"},
      {replace_once(good, "\"64000.01000000\"", "\"64,000.01\""), "open"},
      {replace_once(good, "\"trades\":321", "\"trades\":\"321\""), "trades"},
      {replace_once(good, ",\"closed\":true", ""), "closed"},
      {replace_once(good, "\"BTCUSDT\"", "\"btc\""), "symbol"},
      {replace_once(good, "1722470459999", "1722470300000"), "close_time"},
      {replace_once(good, "\"closed\":true", "\"closed\":true,\"extra\":1"), "extra"},
  };
  for (const auto& c : cases) {
    auto r = sm::decode(sm::Kind::candle, c.json);
    ASSERT_FALSE(r.ok()) << c.json;
    EXPECT_EQ(r.error().field, c.field) << r.error().message;
  }
  EXPECT_FALSE(sm::decode(sm::Kind::candle, good.substr(0, good.size() / 2)).ok());
  EXPECT_EQ(sm::decode(sm::Kind::candle, "not json").error().code, sf::Errc::parse_error);
}

TEST(Records, DecimalsAndTypes) {
  for (const char* ok : {"0", "1.5", "-0.00000001", "64000.01000000"})
    EXPECT_TRUE(sm::is_decimal(ok)) << ok;
  for (const char* bad : {"", ".5", "1.", "1e5", "NaN", "1.2.3", " 1", "+1"})
    EXPECT_FALSE(sm::is_decimal(bad)) << bad;
  EXPECT_EQ(*sm::kind_for_type("api_candles_5m"), sm::Kind::candle);
  EXPECT_EQ(*sm::interval_for_type("api_candles_1M"), "1M");
  EXPECT_EQ(*sm::kind_for_type("api_agg_trades"), sm::Kind::agg_trade);
  EXPECT_EQ(*sm::kind_for_type("api_trades"), sm::Kind::trade);
  EXPECT_FALSE(sm::kind_for_type("api_candles_7m").ok());
  EXPECT_FALSE(sm::kind_for_type("dummy").ok());
  EXPECT_EQ(sm::interval_ms("1h"), 3'600'000);
}
