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

}  // namespace
}  // namespace sf::market
