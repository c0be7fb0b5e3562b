#include "workers/analytics_settings.h"

#include <gtest/gtest.h>

#include <regex>

namespace sf::workers {
namespace {

TEST(SymbolList, ParsesTrimsAndRefusesRepeatsEmptiesAndCounts) {
  auto ok = parse_symbol_list(" BTCUSDT, ETHUSDT ,SOLUSDT", "symbols", 2, 3);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(*ok, (std::vector<std::string>{"BTCUSDT", "ETHUSDT", "SOLUSDT"}));

  auto twice = parse_symbol_list("BTCUSDT,ETHUSDT,BTCUSDT", "symbols", 2, 3);
  ASSERT_FALSE(twice);
  EXPECT_NE(twice.error().message.find(kRepeatedSymbol), std::string::npos);
  EXPECT_NE(twice.error().message.find("BTCUSDT"), std::string::npos);
  EXPECT_EQ(twice.error().field, "symbols");

  EXPECT_FALSE(parse_symbol_list("", "symbols", 1, 3));
  EXPECT_FALSE(parse_symbol_list("BTCUSDT,,ETHUSDT", "symbols", 1, 3));
  EXPECT_FALSE(parse_symbol_list("btcusdt,ETHUSDT", "symbols", 1, 3));
  auto few = parse_symbol_list("BTCUSDT", "symbols", 2, 3);
  ASSERT_FALSE(few);
  EXPECT_NE(few.error().message.find("must list 2 to 3 symbols, not 1"), std::string::npos);
  EXPECT_FALSE(parse_symbol_list("AA,BB,CC,DD", "symbols", 2, 3));
}

// The document's pattern accepts a list exactly when the parser does (written without
// spaces; repeats are the one check beyond it).
TEST(SymbolList, SchemaPatternAgreesWithTheParser) {
  const auto schema = symbol_list_schema(2, 3, "d");
  const std::regex pattern(std::string(schema.at("pattern").as_string()));
  for (std::string list :
       {"AA,BB", "AA,BB,CC", "AA", "AA,BB,CC,DD", "AA,,BB", "aa,BB", "A,BB", "AA,BB,", ",AA,BB",
        "ABCDEFGHIJKLMNOPQRST,BB", "ABCDEFGHIJKLMNOPQRSTU,BB", "1INCH,BB"}) {
    EXPECT_EQ(std::regex_match(list, pattern),
              static_cast<bool>(parse_symbol_list(list, "symbols", 2, 3)))
        << list;
  }
}

TEST(FixedInterval, SchemaListsEveryFixedLengthIntervalButTheMonth) {
  const auto schema = fixed_interval_schema("d");
  const auto& e = schema.at("enum").as_array();
  EXPECT_NE(std::find(e.begin(), e.end(), boost::json::value("1h")), e.end());
  EXPECT_NE(std::find(e.begin(), e.end(), boost::json::value("1w")), e.end());
  EXPECT_EQ(std::find(e.begin(), e.end(), boost::json::value("1M")), e.end());
  EXPECT_EQ(e.size(), 15u);
}

TEST(SettingsSchema, CarriesRequiredAndTheChecksBeyondIt) {
  auto doc = boost::json::parse(settings_schema(
      boost::json::object{{"a", boost::json::object{{"type", "integer"}}}}, {"a"}, {"a vs b"}));
  EXPECT_EQ(doc.at("x-required"), boost::json::array({"a"}));
  EXPECT_EQ(doc.at("x-checks-beyond-schema"), boost::json::array({"a vs b"}));
  EXPECT_TRUE(doc.at("a").is_object());
}

}  // namespace
}  // namespace sf::workers
