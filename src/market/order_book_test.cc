#include "market/order_book.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace sf::market {
namespace {

TEST(OrderBook, LevelsOrderNumericallyBestFirst) {
  OrderBook b;
  b.set(BookSide::bid, *parse_units("9.5"), 1);
  b.set(BookSide::bid, *parse_units("10.0"), 2);
  b.set(BookSide::bid, *parse_units("9.75"), 3);
  b.set(BookSide::ask, *parse_units("10.5"), 4);
  b.set(BookSide::ask, *parse_units("10.25"), 5);
  EXPECT_EQ(b.best(BookSide::bid)->price, *parse_units("10"));
  EXPECT_EQ(b.best(BookSide::ask)->price, *parse_units("10.25"));
  const auto bids = b.levels(BookSide::bid);
  ASSERT_EQ(bids.size(), 3u);
  EXPECT_EQ(bids[1], (BookLevel{*parse_units("9.75"), 3}));
  EXPECT_EQ(b.levels(BookSide::ask, 1).size(), 1u);
  EXPECT_FALSE(b.crossed());
  b.set(BookSide::bid, *parse_units("10.25"), 1);
  EXPECT_TRUE(b.crossed()) << "a bid at the best ask";
}

TEST(OrderBook, QuantityIsAbsoluteAndZeroRemoves) {
  OrderBook b;
  b.set(BookSide::ask, 100, 5);
  b.set(BookSide::ask, 100, 7);
  EXPECT_EQ(b.best(BookSide::ask)->qty, 7);
  b.set(BookSide::ask, 100, 0);
  EXPECT_FALSE(b.best(BookSide::ask).has_value());
  b.set(BookSide::ask, 200, 0);  // removing a level that is not there is fine
  EXPECT_TRUE(b.empty());
  EXPECT_THROW(b.set(BookSide::bid, 100, -1), std::invalid_argument);
}

TEST(OrderBook, EqualityCoversLevelsAndUpdateId) {
  OrderBook a, b;
  a.set(BookSide::bid, 1, 1);
  b.set(BookSide::bid, 1, 1);
  EXPECT_EQ(a, b);
  b.set_last_update_id(3);
  EXPECT_NE(a, b);
  a.set_last_update_id(3);
  a.set(BookSide::bid, 1, 2);
  EXPECT_NE(a, b);
  a.clear();
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(a.last_update_id(), 0);
}

TEST(LevelsText, RoundTripsExactlyAndRefusesAnythingElse) {
  const std::vector<BookLevel> levels{{6400001000000, 50000000}, {6399999000000, 120000000}};
  const std::string t = levels_text(levels);
  EXPECT_EQ(t, R"([["64000.01000000","0.50000000"],["63999.99000000","1.20000000"]])");
  EXPECT_EQ(*parse_levels_text(t), levels);
  EXPECT_EQ(levels_text({}), "[]");
  EXPECT_TRUE(parse_levels_text("[]")->empty());
  EXPECT_TRUE(check_levels_text(R"([["1","0"]])").ok());
  for (const char* bad : {"", "[", "[[]]", R"([["1"]])", R"([["1","2"],])", R"([["1",2]])",
                          R"([["-1","2"]])", R"([["1","2"]] )", R"( [["1","2"]])",
                          R"([["1.123456789","2"]])", R"([["1","2"]["3","4"]])", R"({"a":1})"}) {
    auto r = parse_levels_text(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, Errc::invalid_argument) << bad;
    EXPECT_NE(r.error().message.find("levels text: "), std::string::npos) << r.error().message;
    EXPECT_FALSE(check_levels_text(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace sf::market
