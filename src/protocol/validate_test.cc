#include "protocol/validate.h"

#include <gtest/gtest.h>

namespace sp = sf::protocol;

TEST(TimeRange, DatesAreHalfOpenUtcDays) {
  auto r = sp::parse_time_range("2024-08-01:2024-08-02");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->start_ms, 1722470400000);  // 2024-08-01T00:00:00Z
  EXPECT_EQ(r->end_ms - r->start_ms, 86'400'000) << "one day";
}

TEST(TimeRange, AcceptsTimesWithAndWithoutSeconds) {
  auto a = sp::parse_time_range("2024-08-01T10:30:2024-08-01T11:00");
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->start_ms, 1722470400000 + (10 * 3600 + 30 * 60) * 1000LL);
  EXPECT_EQ(a->end_ms - a->start_ms, 30 * 60 * 1000);
  auto b = sp::parse_time_range("2024-08-01T10:30:15Z:2024-08-01T10:30:16Z");
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_EQ(b->end_ms - b->start_ms, 1000);
  auto c = sp::parse_time_range("2024-08-01:2024-08-01T00:00:01");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->end_ms - c->start_ms, 1000);
}

TEST(TimeRange, RejectsBadShapesAndOrder) {
  for (const char* bad :
       {"", "2024-08-01", "2024-08-01:", "2024-8-1:2024-8-2", "2024-02-30:2024-03-01",
        "2024-13-01:2024-12-01", "2024-08-01;2024-08-02", "2024-08-01:2024-08-02x",
        "2024-08-01T25:00:2024-08-02", "2024-08-02:2024-08-01", "2024-08-01:2024-08-01"}) {
    auto r = sp::parse_time_range(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.error().field, "time_range");
    }
  }
  EXPECT_TRUE(sp::parse_time_range("2024-02-29:2024-03-01").ok()) << "leap day";
}

TEST(TimeRange, FormatsBackToWhatItParses) {
  EXPECT_EQ(sp::format_instant(1722470400000), "2024-08-01T00:00:00");
  EXPECT_EQ(sp::format_instant(951782400000 + 3661000), "2000-02-29T01:01:01");
  auto r = sp::parse_time_range(sp::format_time_range(1722470400000, 1722474000000));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->start_ms, 1722470400000);
  EXPECT_EQ(r->end_ms, 1722474000000);
}

TEST(Names, SymbolsAndSafeIdentifiers) {
  EXPECT_TRUE(sp::is_valid_symbol("BTCUSDT"));
  EXPECT_TRUE(sp::is_valid_symbol("1000SATSUSDT"));
  EXPECT_FALSE(sp::is_valid_symbol("B"));
  EXPECT_FALSE(sp::is_valid_symbol("btcusdt"));
  EXPECT_FALSE(sp::is_valid_symbol("BTC-USDT"));
  EXPECT_FALSE(sp::is_valid_symbol(std::string(21, 'A')));
  EXPECT_TRUE(sp::is_safe_name("wf-btcusdt-api_candles_5m-20240801-a1b2c3-data"));
  EXPECT_FALSE(sp::is_safe_name("-leading"));
  EXPECT_FALSE(sp::is_safe_name("a/b"));
  EXPECT_FALSE(sp::is_safe_name("a b"));
  EXPECT_FALSE(sp::is_safe_name(""));
  EXPECT_TRUE(sp::is_safe_collection("btcusdt_api_candles_5m_2024_08_01"));
  EXPECT_FALSE(sp::is_safe_collection("1abc"));
  EXPECT_FALSE(sp::is_safe_collection("a-b"));
  EXPECT_FALSE(sp::is_safe_collection("x\"; DROP TABLE queues; --"));
  EXPECT_FALSE(sp::is_safe_collection(std::string(64, 'a')));
}
