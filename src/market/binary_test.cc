#include "market/binary.h"

#include <gtest/gtest.h>

#include <vector>

namespace sm = sf::market;

namespace {

sm::Candle candle(int64_t i) {
  sm::Candle c;
  c.symbol = "BTCUSDT";
  c.interval = "1m";
  c.open_time = 1722470400000 + i * 60'000;
  c.close_time = c.open_time + 59'999;
  c.open = "64000.01000000";
  c.high = "64010.00000000";
  c.low = "-0.00";  // kept as the exchange's text, sign and trailing zeros included
  c.close = "64005.12000000";
  c.volume = std::to_string(i) + ".5";
  c.quote_volume = "790123.45678900";
  c.trades = 321 + i;
  c.taker_buy_base_volume = "6";
  c.taker_buy_quote_volume = "384000.00000000";
  c.closed = i % 2 == 0;
  return c;
}

std::vector<sm::Candle> candles(int n) {
  std::vector<sm::Candle> v;
  for (int i = 0; i < n; ++i) v.push_back(candle(i));
  return v;
}

std::string page(const std::vector<sm::Candle>& v) {
  std::string out;
  sm::encode_page_to(out, std::span<const sm::Candle>(v));
  return out;
}

}  // namespace

TEST(BinaryPage, RoundTripsEveryKindExactly) {
  const auto cs = candles(1000);
  const std::string bytes = page(cs);
  EXPECT_TRUE(sm::is_binary_page(bytes));
  EXPECT_EQ(sm::binary_page_count(bytes), 1000u);
  EXPECT_EQ(sm::binary_page_count(sm::encode(cs[0])), std::nullopt);
  EXPECT_EQ(sm::binary_page_count(bytes.substr(0, 5)), std::nullopt);
  // A third of the JSON form's bytes or less.
  EXPECT_LT(bytes.size() * 2, sm::encode(cs[0]).size() * cs.size());
  std::vector<sm::Record> rows;
  auto n = sm::decode_message(sm::Kind::candle, bytes, rows, 0);
  ASSERT_TRUE(n.ok()) << n.error().message;
  ASSERT_EQ(*n, 1000u);
  for (size_t i = 0; i < cs.size(); ++i) EXPECT_EQ(std::get<sm::Candle>(rows[i]), cs[i]) << i;

  const std::vector<sm::AggTrade> as{
      {"ETHUSDT", 42, "3100.10", "0.00100000", 100, 105, 1722470400123, true, true},
      {"ETHUSDT", 43, "3100.11", "2", 106, 106, 1722470400124, false, false}};
  std::string ab;
  sm::encode_page_to(ab, std::span<const sm::AggTrade>(as));
  ASSERT_EQ(*sm::decode_message(sm::Kind::agg_trade, ab, rows, 0), 2u);
  EXPECT_EQ(std::get<sm::AggTrade>(rows[0]), as[0]);
  EXPECT_EQ(std::get<sm::AggTrade>(rows[1]), as[1]);

  const std::vector<sm::Trade> ts{
      {"SOLUSDT", 7, "140.5", "2", "281.0", 1722470400999, false, true}};
  std::string tb;
  sm::encode_page_to(tb, std::span<const sm::Trade>(ts));
  ASSERT_EQ(*sm::decode_message(sm::Kind::trade, tb, rows, 5), 1u);
  EXPECT_EQ(std::get<sm::Trade>(rows[5]), ts[0]);
}

TEST(BinaryPage, JsonMessagesDecodeAsOneRecord) {
  std::vector<sm::Record> rows(3);
  auto n = sm::decode_message(sm::Kind::candle, sm::encode(candle(7)), rows, 3);
  ASSERT_TRUE(n.ok()) << n.error().message;
  EXPECT_EQ(*n, 1u);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(std::get<sm::Candle>(rows[3]), candle(7));
  EXPECT_EQ(sm::decode_message(sm::Kind::candle, "{\"nope\":1}", rows, 0).error().field, "nope");
}

TEST(BinaryPage, RefusesEveryMalformedPageNamingRecordAndField) {
  const std::string good = page(candles(3));
  std::vector<sm::Record> rows;
  auto fails = [&](const std::string& bytes, sf::Errc code, const std::string& says) {
    auto r = sm::decode_message(sm::Kind::candle, bytes, rows, 0);
    ASSERT_FALSE(r.ok()) << says;
    EXPECT_EQ(r.error().code, code) << r.error().message;
    EXPECT_NE(r.error().message.find(says), std::string::npos) << r.error().message;
  };
  // Every truncation is refused, never read past the end.
  for (size_t len = 0; len < good.size(); ++len)
    EXPECT_FALSE(sm::decode_message(sm::Kind::candle, good.substr(0, len), rows, 0).ok()) << len;
  fails(good.substr(0, 100), sf::Errc::parse_error, "truncated");
  fails(good + "x", sf::Errc::parse_error, "1 bytes after the last of 3 records");
}

TEST(BinaryPage, RefusesWrongKindCountAndFieldValues) {
  std::vector<sm::Record> rows;
  const std::string good = page(candles(3));
  auto error_of = [&](const std::string& bytes, sm::Kind kind = sm::Kind::candle) {
    auto r = sm::decode_message(kind, bytes, rows, 0);
    EXPECT_FALSE(r.ok());
    return r ? sf::Error() : r.error();
  };
  EXPECT_NE(error_of(good, sm::Kind::trade).message.find("kind candle, expected trade"),
            std::string::npos);
  std::string zero = good;
  zero[2] = zero[3] = zero[4] = zero[5] = 0;
  EXPECT_NE(error_of(zero).message.find("holds 0 records"), std::string::npos);

  // Record 1's fields, each made invalid in place.
  auto bad = candles(3);
  bad[1].symbol = "btc";
  auto e = error_of(page(bad));
  EXPECT_EQ(e.field, "symbol");
  EXPECT_NE(e.message.find("record 1"), std::string::npos) << e.message;
  bad = candles(3);
  bad[1].interval = "7m";
  EXPECT_EQ(error_of(page(bad)).field, "interval");
  bad = candles(3);
  bad[1].open = "64,000.01";
  EXPECT_EQ(error_of(page(bad)).field, "open");
  bad = candles(3);
  bad[2].trades = -1;
  EXPECT_EQ(error_of(page(bad)).field, "trades");
  bad = candles(3);
  bad[0].close_time = bad[0].open_time - 1;  // Schema<Candle>::check
  e = error_of(page(bad));
  EXPECT_EQ(e.field, "close_time");
  EXPECT_NE(e.message.find("record 0"), std::string::npos) << e.message;
  // The last byte of the page is record 2's `closed`.
  std::string b = good;
  b.back() = 2;
  e = error_of(b);
  EXPECT_EQ(e.field, "closed");
  EXPECT_EQ(e.code, sf::Errc::parse_error);
}

TEST(BinaryPage, RecordFormatNames) {
  EXPECT_EQ(*sm::record_format_from_string("json"), sm::RecordFormat::json);
  EXPECT_EQ(*sm::record_format_from_string("binary"), sm::RecordFormat::binary);
  auto bad = sm::record_format_from_string("avro");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().field, "record_format");
  EXPECT_STREQ(sm::to_string(sm::RecordFormat::binary), "binary");
}

TEST(BinaryPage, AnOversizedFieldIsRefusedByTheDecoderAndABadPageSizeIsABug) {
  auto cs = candles(2);
  cs[1].symbol = std::string(sm::kMaxRecordTextBytes + 1, 'B');  // written whole, never cut
  std::vector<sm::Record> rows;
  auto r = sm::decode_message(sm::Kind::candle, page(cs), rows, 0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, sf::Errc::too_large);
  EXPECT_NE(r.error().message.find("record 1: field 'symbol'"), std::string::npos)
      << r.error().message;
  std::string out;
  EXPECT_THROW(sm::encode_page_to(out, std::span<const sm::Candle>()), std::invalid_argument);
  const std::vector<sm::Candle> too_many(sm::kMaxPageRecords + 1, candle(0));
  EXPECT_THROW(sm::encode_page_to(out, std::span<const sm::Candle>(too_many)),
               std::invalid_argument);
  EXPECT_TRUE(out.empty()) << "nothing written for a refused page";
}
