#include "json/flat_object.h"

#include <gtest/gtest.h>

#include <string>

namespace sfj = sf::json;

TEST(FlatObject, ReadsScalarMembersInOrder) {
  sfj::FlatObjectParser p;
  auto m = p.parse(
      R"({"s":"a\"b","i":-42,"d":1.5,"t":true,"f":false,"n":null,"a":[1,2],"o":{"x":1},"big":18446744073709551615})",
      1024);
  ASSERT_TRUE(m.ok()) << m.error().message;
  ASSERT_EQ(m->size(), 9u);
  const auto& v = *m;
  EXPECT_EQ(v[0].key, "s");
  EXPECT_EQ(v[0].type, sfj::FlatType::string);
  EXPECT_EQ(v[0].str, "a\"b");
  EXPECT_EQ(v[1].type, sfj::FlatType::integer);
  EXPECT_EQ(v[1].integer, -42);
  EXPECT_EQ(v[2].type, sfj::FlatType::number);
  EXPECT_EQ(v[3].type, sfj::FlatType::boolean);
  EXPECT_TRUE(v[3].boolean);
  EXPECT_FALSE(v[4].boolean);
  EXPECT_EQ(v[5].type, sfj::FlatType::null);
  EXPECT_EQ(v[6].type, sfj::FlatType::array);
  EXPECT_EQ(v[7].type, sfj::FlatType::object);
  EXPECT_EQ(v[8].type, sfj::FlatType::number) << "past int64 is not an integer";
  EXPECT_STREQ(sfj::to_string(v[7].type), "object");

  // Escapes in keys and values are undone; plain ones are read in place.
  auto esc = p.parse(R"({"k\"q":"a\\b\u00e9","plain":"12.5","\u0041":"\"x\""})", 1024);
  ASSERT_TRUE(esc.ok()) << esc.error().message;
  ASSERT_EQ(esc->size(), 3u);
  EXPECT_EQ((*esc)[0].key, "k\"q");
  EXPECT_EQ((*esc)[0].str, "a\\b\xc3\xa9");
  EXPECT_EQ((*esc)[1].key, "plain");
  EXPECT_EQ((*esc)[1].str, "12.5");
  EXPECT_EQ((*esc)[2].key, "A");
  EXPECT_EQ((*esc)[2].str, "\"x\"");

  // The parser is reused: a second object replaces the members.
  auto again = p.parse(R"({"k":"v"})", 1024);
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ((*again)[0].str, "v");
  auto empty = p.parse(" {} ", 1024);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(FlatObject, RefusesEverythingButOneWellFormedObject) {
  sfj::FlatObjectParser p;
  for (const std::string& bad : {
           std::string(""),
           std::string("not json"),
           std::string(R"({"a":)"),
           std::string(R"({"a":1)"),
           std::string(R"({"a":"x)"),
           std::string(R"({"a":1}{"b":2})"),
           std::string(R"({"a":1} x)"),
           std::string(R"({"a":tru})"),
           std::string(R"({"a":nul})"),
           std::string(R"({"a":01})"),
           std::string(R"({"a":1.})"),
           std::string(R"({"a":-})"),
           std::string(R"({a:1})"),
           std::string(R"({"a" 1})"),
           std::string(R"({"a":1,})"),
           std::string("{\"a\":\"\xff\"}"),
       }) {
    auto r = p.parse(bad, 1024);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, sf::Errc::parse_error) << bad;
  }
  // JSON forbids raw control characters in strings (keys and values alike).
  for (const std::string& ctl : {std::string("{\"a\":\"x\x01y\"}"), std::string("{\"a\x1f\":1}"),
                                 std::string("{\"a\":\"x\\\"\ty\"}")}) {
    auto r = p.parse(ctl, 1024);
    ASSERT_FALSE(r.ok()) << ctl;
    EXPECT_EQ(r.error().code, sf::Errc::parse_error) << ctl;
  }
  auto arr = p.parse("[1,2]", 1024);
  ASSERT_FALSE(arr.ok());
  EXPECT_EQ(arr.error().message, "expected a JSON object, got array");
  auto big = p.parse(std::string(100, ' '), 10);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code, sf::Errc::too_large);
}
