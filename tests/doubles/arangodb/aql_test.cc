// The AQL subset parser and AQL's value order, without a server.
#include "aql.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace sf::testing::aql {
namespace {

namespace json = boost::json;

TEST(ArangoDoubleAql, ParsesTheStreamForgeStatements) {
  auto q = parse(
      "FOR d IN @@col\n  FILTER d.symbol == @s AND d.t >= 10\n  FILTER d.x.y != null\n"
      "  SORT d.t DESC, d._key\n  LIMIT @off, 100\n  RETURN d.t");
  ASSERT_TRUE(q.ok()) << q.error().message;
  EXPECT_EQ(q->variable, "d");
  EXPECT_EQ(q->collection_bind, "col");
  ASSERT_EQ(q->filters.size(), 3u);
  EXPECT_EQ(q->filters[0].path, std::vector<std::string>{"symbol"});
  EXPECT_EQ(q->filters[0].rhs.bind, "s");
  EXPECT_EQ(q->filters[1].op, CmpOp::ge);
  EXPECT_EQ(q->filters[1].rhs.literal, 10);
  EXPECT_EQ(q->filters[2].path, (std::vector<std::string>{"x", "y"}));
  EXPECT_TRUE(q->filters[2].rhs.literal.is_null());
  ASSERT_EQ(q->sort.size(), 2u);
  EXPECT_TRUE(q->sort[0].descending);
  EXPECT_FALSE(q->sort[1].descending);
  EXPECT_EQ(q->offset->bind, "off");
  EXPECT_EQ(q->limit->value, 100);
  EXPECT_EQ(q->ret, ReturnKind::attribute);
  EXPECT_EQ(bind_keys(*q), (std::set<std::string>{"@col", "s", "off"}));

  q = parse("for c in candles filter c.a == 'x\\'y' collect with count into n return n");
  ASSERT_TRUE(q.ok()) << q.error().message;
  EXPECT_EQ(q->collection, "candles");
  EXPECT_EQ(q->filters[0].rhs.literal, "x'y");
  EXPECT_EQ(q->ret, ReturnKind::count);
  EXPECT_TRUE(bind_keys(*q).empty());

  q = parse("FOR d IN c FILTER d.f == -2.5e1 FILTER d.b == TRUE LIMIT 3 RETURN d // comment");
  ASSERT_TRUE(q.ok()) << q.error().message;
  EXPECT_EQ(q->filters[0].rhs.literal, -25.0);
  EXPECT_EQ(q->filters[1].rhs.literal, true);
  EXPECT_FALSE(q->offset);
  EXPECT_EQ(q->limit->value, 3);
  EXPECT_EQ(q->ret, ReturnKind::document);
}

TEST(ArangoDoubleAql, RefusesEverythingElse) {
  for (const char* bad :
       {"", "FOR d IN c", "FOR d IN c RETURN x", "FOR d IN c FILTER x.a == 1 RETURN d",
        "FOR d IN c FILTER d.a = 1 RETURN d", "FOR d IN c FILTER d.a == 1 OR d.b == 2 RETURN d",
        "FOR d IN c SORT d.a LIMIT -1 RETURN d", "FOR d IN c RETURN d.a.",
        "FOR d IN c COLLECT WITH COUNT INTO n RETURN m", "FOR d IN c RETURN d extra",
        "FOR d IN c LIMIT 1 SORT d.a RETURN d", "FOR d IN c FILTER d.a == \"open RETURN d",
        "FOR d IN c FILTER d.a IN [1,2] RETURN d", "UPSERT {} INSERT {} UPDATE {} IN c"}) {
    auto q = parse(bad);
    EXPECT_FALSE(q.ok()) << bad;
    if (!q.ok()) {
      EXPECT_NE(q.error().message.find("test double"), std::string::npos);
    }
  }
}

TEST(ArangoDoubleAql, TypeOrder) {
  std::vector<json::value> ordered = {nullptr,
                                      false,
                                      true,
                                      -1,
                                      2.5,
                                      10,
                                      "10",
                                      "B",
                                      "a",
                                      "ab",
                                      json::array{},
                                      json::array{1},
                                      json::array{1, 2},
                                      json::array{2},
                                      json::object{},
                                      json::object{{"a", 1}}};
  for (size_t i = 0; i < ordered.size(); ++i) {
    for (size_t j = 0; j < ordered.size(); ++j) {
      int c = compare(ordered[i], ordered[j]);
      EXPECT_EQ(c < 0, i < j) << json::serialize(ordered[i]) << " vs "
                              << json::serialize(ordered[j]);
      EXPECT_EQ(c == 0, i == j) << json::serialize(ordered[i]) << " vs "
                                << json::serialize(ordered[j]);
    }
  }
  EXPECT_EQ(compare(json::value(10), json::value(10.0)), 0);
  EXPECT_EQ(compare(json::value(uint64_t{18446744073709551615ull}), json::value(int64_t{-1})), 1);
  // Objects: attribute names of both sorted, the first differing value decides (missing = null).
  EXPECT_LT(compare(json::parse(R"({"b":1})"), json::parse(R"({"a":1})")), 0);
  EXPECT_EQ(compare(json::parse(R"({"a":1,"b":null})"), json::parse(R"({"a":1})")), 0);
  EXPECT_TRUE(lookup(json::parse(R"({"a":{"b":3}})"), {"a", "b"}) == 3);
  EXPECT_TRUE(lookup(json::parse(R"({"a":5})"), {"a", "b"}).is_null());
}

}  // namespace
}  // namespace sf::testing::aql
