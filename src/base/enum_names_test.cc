#include "base/enum_names.h"

#include <gtest/gtest.h>

namespace {
enum class Color { red, green, blue };
constexpr const char* kColors[] = {"red", "green", "blue"};
}  // namespace

TEST(EnumNames, BothWaysWithFallback) {
  EXPECT_STREQ(sf::enum_name(Color::green, kColors, "?"), "green");
  EXPECT_STREQ(sf::enum_name(static_cast<Color>(7), kColors, "?"), "?");
  EXPECT_EQ(sf::enum_from_name<Color>("blue", kColors), Color::blue);
  EXPECT_FALSE(sf::enum_from_name<Color>("Blue", kColors).has_value());
}
