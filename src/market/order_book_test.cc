#include "market/order_book.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace sf::market {
namespace {

TEST(ParseUnits, ExchangeDecimalsExactly) {
  EXPECT_EQ(parse_units("64000.01000000"), 6'400'001'000'000);
  EXPECT_EQ(parse_units("0.00000001"), 1);
  EXPECT_EQ(parse_units("5"), 500'000'000);
  EXPECT_EQ(parse_units("0.5"), 50'000'000);
  EXPECT_EQ(parse_units("00.5"), 50'000'000);
  EXPECT_EQ(parse_units("0"), 0);
  EXPECT_EQ(parse_units("92233720368.54775807"), INT64_MAX);
}

TEST(ParseUnits, RefusesWhatItCannotHoldExactly) {
  for (const char* bad : {"", ".", "1.", ".5", "-1", "+1", "1e5", "1.123456789", "1.2.3", " 1",
                          "1 ", "0x10", "92233720368.54775808", "99999999999999999999", "nan"})
    EXPECT_FALSE(parse_units(bad).has_value()) << bad;
}

TEST(ParseUnits, FormatRoundTrips) {
  EXPECT_EQ(format_units(6'400'001'000'000), "64000.01000000");
  EXPECT_EQ(format_units(1), "0.00000001");
  EXPECT_EQ(format_units(0), "0.00000000");
  for (int64_t v : {int64_t{0}, int64_t{7}, int64_t{123'456'789'012}, INT64_MAX})
    EXPECT_EQ(parse_units(format_units(v)), v);
}

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
