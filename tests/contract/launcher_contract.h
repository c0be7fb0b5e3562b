// The launcher contract suite: what every sf::launch::Launcher implementation guarantees
// (src/launch/launcher.h), as the manager relies on it.
//
// To run it against an implementation, define a factory type with
//
//     // A fresh launcher that runs kContractTarget (below); `scratch` is a directory the
//     // launcher may use (logs) that outlives it.
//     static std::unique_ptr<sf::launch::Launcher> make(const std::filesystem::path& scratch);
//
// and instantiate the typed suite in a test binary:
//
//     #include "tests/contract/launcher_contract.h"
//     namespace sf::launch::contract {
//     struct ProcessLauncherFactory { static std::unique_ptr<Launcher> make(...); };
//     INSTANTIATE_TYPED_TEST_SUITE_P(Process, LauncherContract,
//                                    ::testing::Types<ProcessLauncherFactory>);
//     }  // namespace sf::launch::contract
//
// kContractTarget, registered with the role kContractRole, must behave the same on every
// implementation: with SF_CONTRACT_EXIT=N in its environment it ends at once with exit
// status N; without it, it runs until killed. That is all a worker needs to show the
// launcher's part: its role, configuration reaching the target, exits reported once with
// their code, kill, duplicates, shutdown.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "launch/launcher.h"
#include "tests/support/temp_dir.h"

namespace sf::launch::contract {

using std::chrono::milliseconds;

inline constexpr const char* kContractTarget = "contract-worker";
// The role kContractTarget is registered with (any but `other`, which unknown targets get).
inline constexpr protocol::TargetRole kContractRole = protocol::TargetRole::connector;
inline constexpr milliseconds kDeadline{10'000};  // upper bound for an expected exit
inline constexpr milliseconds kQuiet{300};        // how long "no further report" is checked

inline LaunchSpec spec(const std::string& queue_id, const std::string& telemetry_id,
                       std::optional<int> exit_code = std::nullopt) {
  Env env;
  if (exit_code) env.set("SF_CONTRACT_EXIT", std::to_string(*exit_code));
  return {queue_id, kContractTarget, telemetry_id, env};
}

// Every exit report the launcher made, in order.
class ExitLog {
 public:
  ExitCallback callback() {
    return [this](const ExitInfo& i) {
      std::lock_guard lk(mu_);
      got_.push_back(i);
      cv_.notify_all();
    };
  }
  // The report for (queue_id, telemetry_id), waiting up to `t` for it.
  std::optional<ExitInfo> wait(const std::string& queue_id, const std::string& telemetry_id,
                               milliseconds t = kDeadline) {
    std::unique_lock lk(mu_);
    std::optional<ExitInfo> found;
    cv_.wait_for(lk, t, [&] {
      for (const auto& i : got_)
        if (i.queue_id == queue_id && i.telemetry_id == telemetry_id) found = i;
      return found.has_value();
    });
    return found;
  }
  // Waits up to `t` until (queue_id, telemetry_id) has `n` reports.
  bool wait_count(const std::string& queue_id, const std::string& telemetry_id, size_t n,
                  milliseconds t = kDeadline) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, t, [&] { return count_locked(queue_id, telemetry_id) == n; });
  }
  size_t count(const std::string& queue_id, const std::string& telemetry_id) {
    std::lock_guard lk(mu_);
    return count_locked(queue_id, telemetry_id);
  }
  size_t size() {
    std::lock_guard lk(mu_);
    return got_.size();
  }

 private:
  size_t count_locked(const std::string& queue_id, const std::string& telemetry_id) const {
    return std::count_if(got_.begin(), got_.end(), [&](const ExitInfo& i) {
      return i.queue_id == queue_id && i.telemetry_id == telemetry_id;
    });
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<ExitInfo> got_;
};

// Polls `running()` until it equals `want` or the deadline passes.
inline bool wait_running(Launcher& l, size_t want, milliseconds t = kDeadline) {
  const auto deadline = std::chrono::steady_clock::now() + t;
  while (l.running() != want) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return true;
}

template <typename Factory>
class LauncherContract : public ::testing::Test {
 protected:
  void SetUp() override {
    launcher_ = Factory::make(scratch_.path());
    ASSERT_TRUE(launcher_);
    launcher_->set_exit_callback(exits_.callback());
  }
  void TearDown() override {
    if (launcher_) launcher_->shutdown();
  }
  Launcher& l() { return *launcher_; }

  sf::testing::TempDir scratch_{"sf-launcher-contract"};
  ExitLog exits_;
  std::unique_ptr<Launcher> launcher_;
};

TYPED_TEST_SUITE_P(LauncherContract);

TYPED_TEST_P(LauncherContract, KnowsItsTargetsAndRefusesOthers) {
  auto targets = this->l().targets();
  EXPECT_NE(std::find(targets.begin(), targets.end(), kContractTarget), targets.end());
  EXPECT_TRUE(this->l().knows(kContractTarget));
  EXPECT_FALSE(this->l().knows("warp-drive"));
  EXPECT_EQ(this->l().role(kContractTarget), kContractRole) << "the role its kind registered";
  EXPECT_EQ(this->l().role("warp-drive"), protocol::TargetRole::other);
  auto bad = this->l().launch({"q", "warp-drive", "t", {}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Errc::invalid_argument);
  std::this_thread::sleep_for(kQuiet);
  EXPECT_EQ(this->exits_.size(), 0u) << "a refused launch must not report an exit";
  EXPECT_EQ(this->l().running(), 0u);
}

TYPED_TEST_P(LauncherContract, ReportsEachExitOnceWithItsCode) {
  ASSERT_TRUE(this->l().launch(spec("q1", "ok", 0)).ok());
  ASSERT_TRUE(this->l().launch(spec("q1", "bad", 7)).ok());
  auto ok = this->exits_.wait("q1", "ok");
  auto bad = this->exits_.wait("q1", "bad");
  ASSERT_TRUE(ok && bad) << "an exit was not reported";
  EXPECT_EQ(ok->exit_code, 0);
  EXPECT_EQ(ok->reason, "");
  EXPECT_EQ(bad->exit_code, 7);
  EXPECT_EQ(bad->reason, "exit status 7");
  EXPECT_TRUE(wait_running(this->l(), 0));
  std::this_thread::sleep_for(kQuiet);
  EXPECT_EQ(this->exits_.count("q1", "ok"), 1u);
  EXPECT_EQ(this->exits_.count("q1", "bad"), 1u);
}

TYPED_TEST_P(LauncherContract, SameIdIsRefusedWhileRunningAndAcceptedAfterItsExit) {
  ASSERT_TRUE(this->l().launch(spec("q1", "t")).ok());
  auto dup = this->l().launch(spec("q1", "t", 0));
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, Errc::already_exists);
  // The same telemetry id in another queue is another target.
  ASSERT_TRUE(this->l().launch(spec("q2", "t")).ok());
  EXPECT_TRUE(wait_running(this->l(), 2));
  this->l().kill("q1", "t");
  ASSERT_TRUE(this->exits_.wait("q1", "t"));
  EXPECT_EQ(this->exits_.count("q2", "t"), 0u) << "kill ended another queue's target";
  // Once its exit is reported, the id is free again.
  ASSERT_TRUE(this->l().launch(spec("q1", "t", 3)).ok());
  EXPECT_TRUE(this->exits_.wait_count("q1", "t", 2));
  this->l().kill("q2", "t");
  EXPECT_TRUE(this->exits_.wait("q2", "t"));
}

TYPED_TEST_P(LauncherContract, KillEndsARunningTargetAndIsANoOpOtherwise) {
  this->l().kill("q1", "nobody");  // nothing running: nothing happens
  ASSERT_TRUE(this->l().launch(spec("q1", "t")).ok());
  EXPECT_TRUE(wait_running(this->l(), 1));
  std::this_thread::sleep_for(kQuiet);
  EXPECT_EQ(this->exits_.size(), 0u) << "a target without SF_CONTRACT_EXIT must keep running";
  this->l().kill("q1", "t");
  auto e = this->exits_.wait("q1", "t");
  ASSERT_TRUE(e) << "kill did not end the target";
  EXPECT_TRUE(wait_running(this->l(), 0));
  this->l().kill("q1", "t");  // already ended
  std::this_thread::sleep_for(kQuiet);
  EXPECT_EQ(this->exits_.size(), 1u);
}

TYPED_TEST_P(LauncherContract, ConcurrentLaunchesAreEachReportedWithTheirOwnCode) {
  constexpr int kThreads = 4, kEach = 5;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([this, t] {
      for (int i = 0; i < kEach; ++i) {
        const int code = t * kEach + i + 1;
        EXPECT_TRUE(this->l().launch(spec("q", "t" + std::to_string(code), code)).ok());
      }
    });
  for (auto& th : threads) th.join();
  for (int code = 1; code <= kThreads * kEach; ++code) {
    auto e = this->exits_.wait("q", "t" + std::to_string(code));
    ASSERT_TRUE(e) << "no exit for t" << code;
    EXPECT_EQ(e->exit_code, code);
  }
  EXPECT_TRUE(wait_running(this->l(), 0));
  EXPECT_EQ(this->exits_.size(), static_cast<size_t>(kThreads * kEach));
}

TYPED_TEST_P(LauncherContract, ReplacedExitCallbackIsNoLongerCalled) {
  ExitLog second;
  this->l().set_exit_callback(second.callback());
  ASSERT_TRUE(this->l().launch(spec("q1", "t", 4)).ok());
  auto e = second.wait("q1", "t");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->exit_code, 4);
  EXPECT_EQ(this->exits_.size(), 0u);
  this->l().set_exit_callback(this->exits_.callback());  // `second` goes before the launcher
}

TYPED_TEST_P(LauncherContract, ShutdownEndsEverythingAndRefusesLaterLaunches) {
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(this->l().launch(spec("q", "t" + std::to_string(i))).ok());
  EXPECT_TRUE(wait_running(this->l(), 5));
  this->l().shutdown();
  EXPECT_EQ(this->l().running(), 0u);
  // Every ended target was reported by the time shutdown() returned: the manager learns of
  // each end, also on its way down.
  EXPECT_EQ(this->exits_.size(), 5u);
  auto late = this->l().launch(spec("q", "late", 0));
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code, Errc::closed);
}

REGISTER_TYPED_TEST_SUITE_P(LauncherContract, KnowsItsTargetsAndRefusesOthers,
                            ReportsEachExitOnceWithItsCode,
                            SameIdIsRefusedWhileRunningAndAcceptedAfterItsExit,
                            KillEndsARunningTargetAndIsANoOpOtherwise,
                            ConcurrentLaunchesAreEachReportedWithTheirOwnCode,
                            ReplacedExitCallbackIsNoLongerCalled,
                            ShutdownEndsEverythingAndRefusesLaterLaunches);

}  // namespace sf::launch::contract
