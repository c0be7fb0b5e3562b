#include "market/units.h"

#include <gtest/gtest.h>

#include <cstdint>

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
  EXPECT_EQ(format_units(-50'000'000), "-0.50000000") << "signed, for the simulator's changes";
  for (int64_t v : {int64_t{0}, int64_t{7}, int64_t{123'456'789'012}, INT64_MAX})
    EXPECT_EQ(parse_units(format_units(v)), v);
}

}  // namespace
}  // namespace sf::market
