#include "json/json.h"

#include <gtest/gtest.h>

namespace sfj = sf::json;

TEST(Json, ParseRejectsMalformedAndOversize) {
  auto bad = sfj::parse("{\"a\":");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, sf::Errc::parse_error);
  auto big = sfj::parse(std::string(100, ' '), 10);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code, sf::Errc::too_large);
  EXPECT_FALSE(sfj::parse_object("[1]").ok());
}

TEST(Json, FieldsNameTheOffendingField) {
  auto obj = *sfj::parse_object(R"({"s":"x","n":5,"d":1.5,"b":true,"bad":"7"})");
  sfj::Fields f(obj, "targets[0].");
  EXPECT_EQ(*f.str("s"), "x");
  EXPECT_EQ(*f.int64("n"), 5);
  EXPECT_DOUBLE_EQ(*f.number("d"), 1.5);
  EXPECT_DOUBLE_EQ(*f.number("n"), 5.0);
  auto missing = f.str("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().field, "targets[0].nope");
  EXPECT_NE(missing.error().message.find("missing"), std::string::npos);
  auto wrong = f.int64("bad");
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().message, "field 'targets[0].bad' must be an integer, got string");
  EXPECT_FALSE(f.int64("d").ok()) << "1.5 is not an integer";
  auto unknown = f.only({"s", "n", "d", "b"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().field, "targets[0].bad");
}

TEST(Json, WriterPrintsNumbersAsPeopleWriteThem) {
  std::string out;
  sfj::Writer w(out);
  w.begin_object()
      .kv_num("ts", 1722500000.123)
      .kv_num("whole", 15000.0)
      .kv_int("i", -3)
      .kv("s", "a\"b\n")
      .kv_bool("f", false)
      .key("arr")
      .begin_array()
      .int64(1)
      .null()
      .end_array()
      .end_object();
  EXPECT_EQ(out,
            R"({"ts":1722500000.123,"whole":15000,"i":-3,"s":"a\"b\n","f":false,"arr":[1,null]})");
  auto back = sfj::parse(out);
  ASSERT_TRUE(back.ok());
  EXPECT_DOUBLE_EQ(back->at("ts").as_double(), 1722500000.123);
}

TEST(Json, WriterRoundTripsArbitraryValues) {
  const char* text = R"({"a":[1,2.5,"x",{"b":null}],"c":true,"d":18446744073709551615})";
  auto v = *sfj::parse(text);
  std::string out;
  sfj::Writer(out).value(v);
  EXPECT_EQ(*sfj::parse(out), v);
}

TEST(Json, ParseReadsEveryDoubleExactly) {
  // Boost.JSON 1.81's own conversion misses the last bit of some doubles; parse() does not.
  for (double d :
       {123456789.12345679, 0.30000000000000004, 1e-300, 1.7976931348623157e308, -2.5e-17, 0.1}) {
    std::string text;
    sf::json::Writer(text).begin_array().number(d).end_array();
    auto v = sf::json::parse(text);
    ASSERT_TRUE(v.ok()) << text;
    EXPECT_EQ(v->as_array().at(0).as_double(), d) << text;
  }
  auto deep = sf::json::parse(std::string(65, '[') + std::string(65, ']'));
  EXPECT_EQ(deep.error().code, sf::Errc::parse_error) << "nesting is bounded";
  EXPECT_EQ(sf::json::parse("[1] x").error().code, sf::Errc::parse_error);
}
