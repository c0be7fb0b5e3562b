#include "base/env.h"

#include <gtest/gtest.h>

TEST(Env, TypedGettersValidate) {
  sf::Env env({{"A", "12"}, {"B", "x1"}, {"C", "0.25"}});
  EXPECT_EQ(*env.get_int("A", 0), 12);
  EXPECT_EQ(*env.get_int("MISSING", 7), 7);
  auto bad = env.get_int("B", 0);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().field, "B");
  EXPECT_DOUBLE_EQ(*env.get_double("C", 0), 0.25);
  EXPECT_FALSE(env.require("MISSING").ok());
}
