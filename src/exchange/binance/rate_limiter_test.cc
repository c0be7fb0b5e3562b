#include "exchange/binance/rate_limiter.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

namespace sf::exchange::binance {
namespace {

using namespace std::chrono_literals;

// 2024-08-01T00:00:00Z: a minute boundary.
constexpr int64_t kT0 = 1722470400000;

// Single-threaded tests: "sleeping" jumps the fake clock to the wake-up time.
class JumpWaiter final : public Waiter {
 public:
  explicit JumpWaiter(ManualClock& c) : clock_(c) {}
  void wait_until(std::condition_variable&, std::unique_lock<std::mutex>&, const Clock&,
                  int64_t until_ms) override {
    waits.push_back(until_ms);
    if (clock_.now_ms() < until_ms) clock_.set(until_ms);
  }
  std::vector<int64_t> waits;

 private:
  ManualClock& clock_;
};

// Multi-threaded tests: waiters poll the fake clock, which only the test moves.
class PollWaiter final : public Waiter {
 public:
  void wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, const Clock&,
                  int64_t) override {
    ++waiting;
    cv.wait_for(lock, 1ms);
    --waiting;
  }
  std::atomic<int> waiting{0};
};

TEST(RateLimiter, StaysUnderFractionAndWaitsForNextWindow) {
  ManualClock clock(kT0 + 1000);
  JumpWaiter waiter(clock);
  RateLimiter lim({.weight_limit_per_minute = 100, .fraction = 0.8}, clock, waiter);
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(lim.acquire(2, 1s).ok());  // 80 = 80% of 100
  EXPECT_TRUE(waiter.waits.empty());
  EXPECT_EQ(lim.stats().used_weight, 80);
  // The 81st unit waits for the next wall-clock minute, not 60 s from the first request.
  auto g = lim.acquire(2, 2min);
  ASSERT_TRUE(g.ok());
  ASSERT_EQ(waiter.waits.size(), 1u);
  EXPECT_EQ(waiter.waits[0], kT0 + 60'000);
  EXPECT_EQ(g->window_start_ms, kT0 + 60'000);
  EXPECT_EQ(lim.stats().used_weight, 2);
}

TEST(RateLimiter, DeadlineTooShortFailsWithoutSleeping) {
  ManualClock clock(kT0 + 30'000);
  JumpWaiter waiter(clock);
  RateLimiter lim({.weight_limit_per_minute = 10, .fraction = 1.0}, clock, waiter);
  ASSERT_TRUE(lim.acquire(10, 0ms).ok());
  auto r = lim.acquire(1, 10s);  // the window ends in 30 s
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::timeout);
  EXPECT_NE(r.error().message.find("budget"), std::string::npos);
  EXPECT_TRUE(waiter.waits.empty());
  EXPECT_EQ(lim.acquire(11, 1h).error().code, Errc::invalid_argument);
  EXPECT_EQ(lim.acquire(0, 1h).error().code, Errc::invalid_argument);
}

TEST(RateLimiter, HeaderCorrectsCountUpwardsOnlyForSameWindow) {
  ManualClock clock(kT0 + 5000);
  JumpWaiter waiter(clock);
  RateLimiter lim({.weight_limit_per_minute = 1000, .fraction = 0.8}, clock, waiter);
  auto g = lim.acquire(2, 1s);
  ASSERT_TRUE(g.ok());
  // Another process on this IP used 700: the exchange says so.
  lim.observe(*g, 200, 702, std::nullopt);
  EXPECT_EQ(lim.stats().used_weight, 702);
  // A lower header never lowers our count (max of both).
  lim.observe(*g, 200, 10, std::nullopt);
  EXPECT_EQ(lim.stats().used_weight, 702);
  // Budget is 800: 98 more fit, then the next minute.
  for (int i = 0; i < 49; ++i) ASSERT_TRUE(lim.acquire(2, 0ms).ok());
  EXPECT_FALSE(lim.acquire(2, 0ms).ok());
  auto g2 = lim.acquire(2, 2min);
  ASSERT_TRUE(g2.ok());
  EXPECT_EQ(g2->window_start_ms, kT0 + 60'000);
  // A late header from the previous window does not inflate the new one.
  lim.observe(*g, 200, 790, std::nullopt);
  EXPECT_EQ(lim.stats().used_weight, 2);
}

TEST(RateLimiter, SetLimitFromExchangeInfo) {
  ManualClock clock(kT0);
  JumpWaiter waiter(clock);
  RateLimiter lim({}, clock, waiter);
  EXPECT_EQ(lim.stats().budget, 4800);
  lim.set_limit(1200);
  EXPECT_EQ(lim.stats().budget, 960);
  lim.set_limit(0);  // ignored
  EXPECT_EQ(lim.stats().limit, 1200);
}

TEST(RateLimiter, Http429WaitsRetryAfterForEveryCaller) {
  ManualClock clock(kT0 + 10'000);
  JumpWaiter waiter(clock);
  RateLimiter lim({}, clock, waiter);
  auto g = lim.acquire(1, 1s);
  ASSERT_TRUE(g.ok());
  lim.observe(*g, 429, 300, 7);
  EXPECT_EQ(lim.stats().throttled, 1);
  EXPECT_EQ(lim.stats().blocked_until_ms, kT0 + 17'000);
  EXPECT_FALSE(lim.banned_until().has_value());
  auto r = lim.acquire(1, 3s);  // 7 s > 3 s: fails at once
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::timeout);
  EXPECT_NE(r.error().message.find("HTTP 429"), std::string::npos);
  ASSERT_TRUE(lim.acquire(1, 10s).ok());
  ASSERT_FALSE(waiter.waits.empty());
  EXPECT_EQ(waiter.waits[0], kT0 + 17'000);
  // Without Retry-After: until the next window.
  ManualClock c2(kT0 + 10'000);
  JumpWaiter w2(c2);
  RateLimiter l2({}, c2, w2);
  auto g2 = l2.acquire(1, 1s);
  l2.observe(*g2, 429, std::nullopt, std::nullopt);
  EXPECT_EQ(l2.stats().blocked_until_ms, kT0 + 60'000);
}

TEST(RateLimiter, Http418BansAllThreadsUntilBanEnds) {
  ManualClock clock(kT0);
  PollWaiter waiter;
  RateLimiter lim({}, clock, waiter);
  auto g = lim.acquire(1, 1s);
  ASSERT_TRUE(g.ok());
  lim.observe(*g, 418, std::nullopt, 120);
  ASSERT_TRUE(lim.last_ban().has_value());
  EXPECT_EQ(lim.last_ban()->since_ms, kT0);
  EXPECT_EQ(lim.last_ban()->until_ms, kT0 + 120'000);
  EXPECT_EQ(lim.banned_until(), kT0 + 120'000);

  std::atomic<int> done{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      auto r = lim.acquire(2, std::chrono::minutes(5));
      EXPECT_TRUE(r.ok());
      ++done;
    });
  }
  while (waiter.waiting.load() < 4) std::this_thread::yield();
  clock.set(kT0 + 119'999);
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(done.load(), 0) << "a request went out during the ban";
  clock.set(kT0 + 120'000);
  for (auto& t : threads) t.join();
  EXPECT_EQ(done.load(), 4);
  EXPECT_FALSE(lim.banned_until().has_value());
  EXPECT_TRUE(lim.last_ban().has_value());  // still reported after it ended
  EXPECT_EQ(lim.stats().bans, 1);
}

TEST(RateLimiter, CloseWakesWaiters) {
  ManualClock clock(kT0);
  PollWaiter waiter;
  RateLimiter lim({.weight_limit_per_minute = 10, .fraction = 1.0}, clock, waiter);
  ASSERT_TRUE(lim.acquire(10, 0ms).ok());
  std::thread t([&] {
    auto r = lim.acquire(1, std::chrono::minutes(5));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::closed);
  });
  while (waiter.waiting.load() < 1) std::this_thread::yield();
  lim.close();
  t.join();
}

TEST(RateLimiter, KeepWaitingIsAskedInShortSlicesAndCanGiveUp) {
  ManualClock clock(kT0 + 1000);
  JumpWaiter waiter(clock);
  RateLimiter lim({.weight_limit_per_minute = 10, .fraction = 1.0}, clock, waiter);
  ASSERT_TRUE(lim.acquire(10, 1s).ok());  // the minute's budget is spent
  int asked = 0;
  // Asked every kKeepWaitingPollMs while waiting for the next window; the 5th answer gives
  // up, long before the window.
  auto r = lim.acquire(2, 2min, [&] { return ++asked < 5; });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::closed);
  EXPECT_EQ(asked, 5);
  ASSERT_EQ(waiter.waits.size(), 4u);
  for (size_t i = 0; i < waiter.waits.size(); ++i)
    EXPECT_EQ(waiter.waits[i], kT0 + 1000 + static_cast<int64_t>(i + 1) * 100) << i;
  // Waiting on to the next window succeeds, having asked all along.
  asked = 0;
  ASSERT_TRUE(lim.acquire(2, 2min, [&] { return ++asked > 0; }).ok());
  EXPECT_EQ(clock.now_ms(), kT0 + 60'000);
  EXPECT_GE(asked, 580);
  int unasked = 0;
  ASSERT_TRUE(lim.acquire(2, 1s, [&] { return ++unasked > 0; }).ok());
  EXPECT_EQ(unasked, 0) << "no wait, no question";
}

TEST(RateLimiter, MinuteWindowAndFormat) {
  EXPECT_EQ(minute_window(kT0 + 59'999), kT0);
  EXPECT_EQ(minute_window(kT0 + 60'000), kT0 + 60'000);
  EXPECT_EQ(format_utc_ms(kT0 + 1234), "2024-08-01T00:00:01.234Z");
}

// Two limiters (two loader processes of one host) sharing a budget file: together they
// never get more than one budget a window, and a 429 one of them sees stops the other.
TEST(RateLimiter, LimitersSharingAFileSpendFromOneBudget) {
  const std::string path = ::testing::TempDir() + "/sf-shared-weight-" + std::to_string(::getpid());
  std::remove(path.c_str());
  ManualClock clock(kT0 + 1000);
  JumpWaiter waiter(clock);
  RateLimiter a({.weight_limit_per_minute = 100, .fraction = 0.8}, clock, waiter);
  RateLimiter b({.weight_limit_per_minute = 100, .fraction = 0.8}, clock, waiter);
  ASSERT_TRUE(a.share_through(path).ok());
  ASSERT_TRUE(b.share_through(path).ok());
  int granted = 0;
  for (int i = 0; i < 40; ++i) {
    // Alternating, and never waiting: a wait would be for the next window.
    granted += a.acquire(2, 0ms).ok();
    granted += b.acquire(2, 0ms).ok();
  }
  EXPECT_EQ(granted, 40) << "80 of weight, the budget of one window, for both together";
  EXPECT_TRUE(waiter.waits.empty());
  // The next window: both may spend again; b learns from a header the IP used 70.
  clock.set(kT0 + 60'000);
  auto g = a.acquire(2, 1s);
  ASSERT_TRUE(g.ok());
  a.observe(*g, 200, 70, std::nullopt);
  EXPECT_TRUE(b.acquire(8, 0ms).ok());
  EXPECT_FALSE(b.acquire(3, 0ms).ok()) << "70 (a header: a's 2 included) + 8 + 3 is over 80";
  // A 429 seen by a blocks b too, for Retry-After.
  clock.set(kT0 + 120'000);
  g = a.acquire(1, 1s);
  ASSERT_TRUE(g.ok());
  a.observe(*g, 429, std::nullopt, 5);
  waiter.waits.clear();
  ASSERT_TRUE(b.acquire(1, 10s).ok());
  ASSERT_FALSE(waiter.waits.empty());
  EXPECT_EQ(waiter.waits.front(), kT0 + 125'000);
  std::remove(path.c_str());
}

// A loader whose own exchangeInfo has not been answered yet spends by the limit another
// loader of the host read, not by the default (an exchangeInfo of weight 20 was granted
// past a spent budget of 400: SharedBudget.EightLoaderProcesses... saw 421).
TEST(RateLimiter, ALimiterOnTheDefaultLimitAdoptsTheOneAnotherRead) {
  const std::string path = ::testing::TempDir() + "/sf-shared-limit-" + std::to_string(::getpid());
  std::remove(path.c_str());
  ManualClock clock(kT0 + 1000);
  JumpWaiter waiter(clock);
  RateLimiter a({.fraction = 0.8}, clock, waiter);
  RateLimiter b({.fraction = 0.8}, clock, waiter);
  ASSERT_TRUE(a.share_through(path).ok());
  ASSERT_TRUE(b.share_through(path).ok());
  a.set_limit(500);  // a's exchangeInfo: budget 400
  ASSERT_TRUE(a.acquire(390, 0ms).ok());
  auto late = b.acquire(20, 0ms);  // b's exchangeInfo, before b knows the limit
  ASSERT_FALSE(late.ok()) << "390 + 20 is over the host's budget of 400";
  EXPECT_EQ(late.error().code, Errc::timeout);
  EXPECT_EQ(b.stats().limit, 500);
  EXPECT_TRUE(b.acquire(10, 0ms).ok());
  // A limit b reads itself is its own, and the file's from then on.
  b.set_limit(1000);
  clock.set(kT0 + 60'000);
  EXPECT_TRUE(a.acquire(400, 0ms).ok());
  EXPECT_FALSE(a.acquire(1, 0ms).ok()) << "a keeps the limit it read: budget 400";
  std::remove(path.c_str());
}

TEST(RateLimiter, AnUnusableSharedFileIsAClearError) {
  RateLimiter lim;
  auto s = lim.share_through("/nonexistent-dir-of-the-test/budget");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::io_error);
  EXPECT_NE(s.error().message.find("/nonexistent-dir-of-the-test/budget"), std::string::npos);
}

}  // namespace
}  // namespace sf::exchange::binance
