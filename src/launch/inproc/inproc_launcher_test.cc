// The in-process launcher is checked by the launcher contract
// (tests/contract/launcher_contract.h), which covers everything it promises.
#include "launch/inproc/inproc_launcher.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "bus/memory/memory_bus.h"
#include "tests/contract/launcher_contract.h"

namespace sf::launch::contract {
struct InProcessLauncherFactory {
  static std::unique_ptr<Launcher> make(const std::filesystem::path&) {
    static bus::MemoryBus bus;  // the contract worker never touches it
    workers::WorkerRegistry r;
    r.add(kContractTarget, kContractRole, [](workers::WorkerContext& ctx) {
      if (auto code = ctx.env.get("SF_CONTRACT_EXIT")) return std::stoi(*code);
      while (!*ctx.cancel) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      return 143;
    });
    return std::make_unique<InProcessLauncher>(std::move(r), bus, nullptr);
  }
};
INSTANTIATE_TYPED_TEST_SUITE_P(InProcess, LauncherContract,
                               ::testing::Types<InProcessLauncherFactory>);
}  // namespace sf::launch::contract
