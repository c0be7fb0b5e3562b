// Loaders in processes of their own share one exchange weight budget (issue 11): eight
// candle loaders started at once as `streamforge worker` processes (`--launcher process`,
// the `kafka` fixture's broker) against `streamforge sim` with its limits on never get a
// 429 and together use most of the budget. The simulator's counters and its
// X-MBX-USED-WEIGHT-1M header are the judge.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "e2e/e2e.h"
#include "http/client.h"
#include "support/kafka.h"
#include "support/process.h"

namespace bj = boost::json;
using namespace std::chrono_literals;
using sf::testing::Process;

namespace {

constexpr int64_t kWeightLimit = 500;  // the simulator's REQUEST_WEIGHT per minute
constexpr double kFraction = 0.8;      // streamforge up's default share of it
constexpr int kLoaders = 8;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

TEST(SharedBudget, EightLoaderProcessesNeverGetA429AndUseMostOfTheBudget) {
  auto bootstrap = sf::testing::kafka_bootstrap();
  ASSERT_TRUE(bootstrap) << "no test broker: run under ctest (fixture kafka)";
  const std::string dir = sf::testing::make_temp_dir("sf-budget");
  const std::string tag = std::filesystem::path(dir).filename().string();
  auto sim = sf::testing::start_sim(dir, {"--weight-limit", std::to_string(kWeightLimit)});
  auto argv = sf::testing::up_command(dir, sim.url);
  for (auto& flag : sf::testing::kafka_up_flags(*bootstrap, tag)) argv.push_back(flag);
  auto up = std::make_unique<Process>(argv, dir + "/up.log");
  sf::http::Client api(sf::testing::listening_url(*up, "streamforge up", dir + "/up.log"));
  sf::http::Client exchange(sim.url);

  // Start early in a wall-clock minute (the exchange's window), so the first window is long
  // enough for the loaders to spend its whole budget.
  if (now_ms() % 60'000 > 20'000)
    std::this_thread::sleep_for(std::chrono::milliseconds(60'000 - now_ms() % 60'000 + 200));
  const int64_t window_end = now_ms() - now_ms() % 60'000 + 60'000;
  // 24 days of minutes each: 35 pages of weight 2, 560 in all plus the loaders' exchangeInfo
  // (8 x 20): more than a minute's budget of 400, so the budget, not the work, is the bound.
  std::vector<std::string> ids;
  for (int i = 0; i < kLoaders; ++i) {
    const std::string id = tag + "-" + std::to_string(i);
    auto r = api.post("/queues/start",
                      R"({"queue_id":")" + id +
                          R"(","symbol":"BTCUSDT","type":"api_candles_1m",)"
                          R"("time_range":"2024-08-01:2024-08-25","targets":[{"target":)"
                          R"("loader-producer","kafka_topic":")" +
                          id + R"(-data"}]})");
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->status, 201) << r->body;
    ids.push_back(id);
  }
  auto status = [&](const std::string& id) {
    auto r = api.get("/queues/" + id);
    return r.ok() ? std::string(bj::parse(r->body).at("status").as_string()) : std::string();
  };
  // Just before the first window ends: what the exchange counted for it (the probe, weight
  // 1, included), and whether the loaders are still at work.
  std::this_thread::sleep_until(
      std::chrono::system_clock::time_point(std::chrono::milliseconds(window_end - 700)));
  auto probe = exchange.get("/api/v3/ping");
  ASSERT_TRUE(probe.ok());
  ASSERT_LT(now_ms(), window_end) << "the probe must fall in the first window";
  const int64_t used = std::stoll(std::string(probe->header("X-MBX-USED-WEIGHT-1M")));
  int running = 0;
  for (const auto& id : ids) running += status(id) != "finished";
  std::printf("first window: weight %lld used, %d of %d loaders still loading\n",
              static_cast<long long>(used), running, kLoaders);

  const auto deadline = std::chrono::steady_clock::now() + 60s;
  for (const auto& id : ids) {
    std::string st;
    while (std::chrono::steady_clock::now() < deadline) {
      st = status(id);
      if (st == "finished" || st == "error" || st == "interrupted") break;
      std::this_thread::sleep_for(200ms);
    }
    EXPECT_EQ(st, "finished") << id;
  }
  auto control = exchange.get("/sim/control");
  ASSERT_TRUE(control.ok());
  const auto counters = bj::parse(control->body).at("counters").as_object();
  EXPECT_EQ(counters.at("responses_429").as_int64(), 0) << bj::serialize(counters);
  EXPECT_EQ(counters.at("responses_418").as_int64(), 0) << bj::serialize(counters);
  const auto budget = static_cast<int64_t>(kWeightLimit * kFraction);
  EXPECT_GT(running, 0) << "the loaders' work must outlast the first window's budget";
  EXPECT_GE(used, budget * 7 / 10) << "weight used in the first window of a budget of " << budget;
  EXPECT_LE(used, budget + 1) << "over the budget of " << budget;

  up.reset();
  sim.proc.reset();
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);
}
