#include "protocol/validate.h"

#include <gtest/gtest.h>

#include <random>
#include <regex>
#include <string>
#include <vector>

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
  struct Case {
    const char* name;
    bool (*check)(std::string_view);
    std::vector<std::string> accepted, refused;
  };
  const Case cases[] = {
      {"is_valid_symbol",
       sp::is_valid_symbol,
       {"BTCUSDT", "1000SATSUSDT"},
       {"B", "btcusdt", "BTC-USDT", std::string(21, 'A')}},
      {"is_safe_name",
       sp::is_safe_name,
       {"wf-btcusdt-api_candles_5m-20240801-a1b2c3-data"},
       {"-leading", "a/b", "a b", ""}},
      {"is_safe_collection",
       sp::is_safe_collection,
       {"btcusdt_api_candles_5m_2024_08_01"},
       {"1abc", "a-b", "x\"; DROP TABLE queues; --", std::string(64, 'a')}},
  };
  for (const auto& c : cases) {
    for (const auto& s : c.accepted) EXPECT_TRUE(c.check(s)) << c.name << "(\"" << s << "\")";
    for (const auto& s : c.refused) EXPECT_FALSE(c.check(s)) << c.name << "(\"" << s << "\")";
  }
}

// The OpenAPI document states the checks as patterns; they must agree with the checks.
TEST(Patterns, NamePatternsMatchExactlyWhatTheChecksAccept) {
  const std::string long200(200, 'a'), long201(201, 'a'), long63(63, 'a'), long64(64, 'a');
  const std::vector<std::string> samples = {"",
                                            "A",
                                            "AB",
                                            "BTCUSDT",
                                            "btcusdt",
                                            "BTC-USDT",
                                            "BTC USDT",
                                            std::string(20, 'A'),
                                            std::string(21, 'A'),
                                            "a",
                                            "0",
                                            "a.b_c-d",
                                            ".a",
                                            "-a",
                                            "_a",
                                            "a/b",
                                            "a b",
                                            "a\n",
                                            "é",
                                            long200,
                                            long201,
                                            long63,
                                            long64,
                                            "a;DROP",
                                            "A1_b2",
                                            "1abc",
                                            "list",
                                            "x:y",
                                            "a\tb"};
  const std::regex symbol{std::string(sp::kSymbolPattern)};
  const std::regex safe{std::string(sp::kSafeNamePattern)};
  const std::regex collection{std::string(sp::kCollectionPattern)};
  for (const auto& s : samples) {
    EXPECT_EQ(std::regex_search(s, symbol), sp::is_valid_symbol(s)) << "'" << s << "'";
    EXPECT_EQ(std::regex_search(s, safe), sp::is_safe_name(s)) << "'" << s << "'";
    EXPECT_EQ(std::regex_search(s, collection), sp::is_safe_collection(s)) << "'" << s << "'";
  }
}

TEST(Patterns, TimeRangePatternMatchesWhatParsesWhateverTheOrder) {
  const std::regex pattern{sp::time_range_pattern()};
  std::mt19937 rng(42);  // fixed: the same cases every run
  auto pick = [&](std::initializer_list<const char*> l) {
    return std::string(*(l.begin() + rng() % l.size()));
  };
  // Mostly plausible parts (so that many samples parse), edge cases the rest of the time.
  auto part = [&](std::initializer_list<const char*> usual,
                  std::initializer_list<const char*> edge) {
    return rng() % 4 != 0 ? pick(usual) : pick(edge);
  };
  auto instant = [&] {
    std::string s = part({"1970", "1999", "2000", "2023", "2024", "2400", "9999", "1972"},
                         {"1969", "0000", "1900", "2100", "1970"}) +
                    "-" + part({"01", "02", "04", "06", "09", "11", "12"}, {"00", "13", "02"}) +
                    "-" + part({"01", "09", "15", "28"}, {"00", "29", "30", "31", "32"});
    switch (rng() % 5) {
      case 0:
      case 1:
        break;
      case 2:
        s += "T" + part({"00", "09", "23"}, {"24", "30"}) + ":" + part({"00", "59"}, {"60", "5"});
        break;
      case 3:
        s += "T" + part({"00", "12", "23"}, {"24"}) + ":" + part({"00", "30"}, {"60"}) + ":" +
             part({"00", "59"}, {"60", "5"}) + part({"", "Z"}, {"ZZ", "z"});
        break;
      default:
        s += part({"T10:00Z", "T00:00:00Z"}, {"T", "t00:00", " 10:00", "Z", "T1:00"});
    }
    return s;
  };
  int matched = 0, total = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string text = instant() + part({":"}, {";", "::", ""}) + instant();
    if (rng() % 20 == 0) text += pick({"x", "\n", ":"});
    auto r = sp::parse_time_range(text);
    // Only the order of the ends escapes the pattern.
    bool parses = r.ok() || r.error().message.find("must be after its start") != std::string::npos;
    bool matches = std::regex_search(text, pattern);
    EXPECT_EQ(matches, parses) << text << (r.ok() ? "" : " -> " + r.error().message);
    matched += matches;
    ++total;
    if (HasFailure()) break;
  }
  EXPECT_GT(matched, total / 20) << "the samples exercise accepted ranges too";
  EXPECT_GT(total - matched, total / 20);
}

TEST(Patterns, ReservedIdsAndIntervals) {
  for (auto w : sp::kReservedQueueIds) EXPECT_TRUE(sp::is_reserved_queue_id(w));
  EXPECT_FALSE(sp::is_reserved_queue_id("lists"));
  EXPECT_TRUE(sp::is_kline_interval("1M"));
  EXPECT_FALSE(sp::is_kline_interval("1y"));
}

TEST(IdRange, ParsesWhatItFormatsAndNothingLoose) {
  using sf::protocol::format_id_range;
  using sf::protocol::IdRange;
  using sf::protocol::parse_id_range;
  EXPECT_EQ(format_id_range(1000, 1999), "id:1000-1999");
  auto r = parse_id_range("id:1000-1999", "f");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, (IdRange{1000, 1999}));
  EXPECT_EQ(*parse_id_range("id:0-0", "f"), (IdRange{0, 0}));
  EXPECT_EQ(*parse_id_range(format_id_range(0, INT64_MAX), "f"), (IdRange{0, INT64_MAX}));
  for (const char* bad : {"", "id:", "id:5", "id:5-", "id:-5", "id:7-6", "id:05-6", "id:5-06",
                          "id:1-9223372036854775808", "ID:1-2", "id:1 -2", "id:0x1-2", "1-2"}) {
    auto e = parse_id_range(bad, "missing_ranges");
    ASSERT_FALSE(e.ok()) << bad;
    EXPECT_EQ(e.error().field, "missing_ranges") << bad;
    EXPECT_NE(e.error().message.find("id:FROM-TO"), std::string::npos) << e.error().message;
  }
}
