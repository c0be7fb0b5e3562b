// ScaledClock (base/clock.h), the simulator's `--speed`: simulated time X times as fast as
// real time. Here, next to its user, as base/ has no test of its clocks.
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

#include "base/clock.h"

namespace sf {
namespace {

TEST(ScaledClock, RunsSpeedTimesAsFastFromTheBasesNow) {
  ManualClock base(5'000);
  ScaledClock c(60, base);
  EXPECT_EQ(c.now_ms(), 5'000);
  base.advance(1'000);
  EXPECT_EQ(c.now_ms(), 65'000);
  EXPECT_EQ(c.steady_ms(), 6'000) << "steady time is not scaled";
  ScaledClock slow(0.5, base);
  base.advance(3);
  EXPECT_EQ(slow.now_ms(), 6'000 + 2);  // 1.5 rounded
  EXPECT_EQ(c.speed(), 60);
  for (double bad : {0.0, -1.0, std::nan(""), HUGE_VAL})
    EXPECT_THROW((void)ScaledClock(bad, base), std::invalid_argument) << bad;
  ScaledClock sys(10);
  const int64_t real = SystemClock::instance().now_ms();
  EXPECT_NEAR(static_cast<double>(sys.now_ms()), static_cast<double>(real), 1000.0)
      << "starts at the real current time";
}

}  // namespace
}  // namespace sf
