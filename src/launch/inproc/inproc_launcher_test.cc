#include "launch/inproc/inproc_launcher.h"

#include <gtest/gtest.h>

#include <future>

#include "bus/memory/memory_bus.h"

using namespace std::chrono_literals;

namespace {

sf::workers::WorkerRegistry registry() {
  sf::workers::WorkerRegistry r;
  // A worker that runs until cancelled, or exits with the code in its env at once.
  r.add("test-worker", [](sf::workers::WorkerContext& ctx) {
    auto code = ctx.env.get("EXIT_CODE");
    if (code) return std::stoi(*code);
    while (!*ctx.cancel) std::this_thread::sleep_for(5ms);
    return 2;
  });
  return r;
}

}  // namespace

TEST(InProcessLauncher, RunsTargetsAndReportsExits) {
  sf::bus::MemoryBus bus;
  sf::launch::InProcessLauncher l(registry(), bus, nullptr);
  std::promise<sf::launch::ExitInfo> exited;
  l.set_exit_callback([&](const sf::launch::ExitInfo& i) { exited.set_value(i); });
  sf::Env env;
  env.set("EXIT_CODE", "7");
  ASSERT_TRUE(l.launch({"q1", "test-worker", "t1", env}).ok());
  auto f = exited.get_future();
  ASSERT_EQ(f.wait_for(2s), std::future_status::ready);
  auto info = f.get();
  EXPECT_EQ(info.queue_id, "q1");
  EXPECT_EQ(info.telemetry_id, "t1");
  EXPECT_EQ(info.exit_code, 7);
  EXPECT_EQ(info.reason, "exit status 7");
}

TEST(InProcessLauncher, KillCancelsAndUnknownTargetsAreRefused) {
  sf::bus::MemoryBus bus;
  sf::launch::InProcessLauncher l(registry(), bus, nullptr);
  EXPECT_TRUE(l.knows("test-worker"));
  auto bad = l.launch({"q1", "warp-drive", "t1", {}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, sf::Errc::invalid_argument);

  std::promise<int> code;
  l.set_exit_callback([&](const sf::launch::ExitInfo& i) { code.set_value(i.exit_code); });
  ASSERT_TRUE(l.launch({"q1", "test-worker", "t1", {}}).ok());
  auto dup = l.launch({"q1", "test-worker", "t1", {}});
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, sf::Errc::already_exists);
  EXPECT_EQ(l.running(), 1u);
  l.kill("q1", "t1");
  auto f = code.get_future();
  ASSERT_EQ(f.wait_for(2s), std::future_status::ready);
  EXPECT_EQ(f.get(), 2);
}

TEST(InProcessLauncher, ShutdownEndsEverything) {
  sf::bus::MemoryBus bus;
  sf::launch::InProcessLauncher l(registry(), bus, nullptr);
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(l.launch({"q", "test-worker", "t" + std::to_string(i), {}}).ok());
  l.shutdown();
  EXPECT_EQ(l.running(), 0u);
  EXPECT_FALSE(l.launch({"q", "test-worker", "late", {}}).ok());
}
