#include "launch/process/process_launcher.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "tests/support/temp_dir.h"
#include "tests/support/text.h"

using namespace std::chrono_literals;
using sf::launch::ExitInfo;
using sf::launch::LaunchSpec;
using sf::launch::ProcessLauncher;
using sf::launch::ProcessLauncherOptions;

namespace {

sf::workers::WorkerRegistry registry() {
  sf::workers::WorkerRegistry r;
  // The entry points are never called here: the children run the test's commands.
  for (const char* t : {"script", "printenv"})
    r.add(t, sf::protocol::TargetRole::other, [](sf::workers::WorkerContext&) { return 0; });
  return r;
}

// Each launch runs the shell code in its SCRIPT variable.
ProcessLauncherOptions script_options(const sf::testing::TempDir& dir) {
  ProcessLauncherOptions o;
  o.command = {"/bin/sh", "-c", "eval \"$SCRIPT\""};
  o.log_dir = (dir.path() / "logs").string();
  o.kill_grace = 300ms;
  return o;
}

LaunchSpec script(const std::string& telemetry_id, const std::string& code,
                  const std::string& queue_id = "q1") {
  sf::Env env;
  env.set("SCRIPT", code);
  return {queue_id, "script", telemetry_id, env};
}

// Collects exit reports.
class Exits {
 public:
  explicit Exits(ProcessLauncher& l) {
    l.set_exit_callback([this](const ExitInfo& i) {
      std::lock_guard lk(mu_);
      got_.push_back(i);
      cv_.notify_all();
    });
  }
  std::optional<ExitInfo> wait(const std::string& telemetry_id, std::chrono::milliseconds t = 5s) {
    std::unique_lock lk(mu_);
    std::optional<ExitInfo> found;
    cv_.wait_for(lk, t, [&] {
      for (const auto& i : got_)
        if (i.telemetry_id == telemetry_id) found = i;
      return found.has_value();
    });
    return found;
  }
  size_t count() {
    std::lock_guard lk(mu_);
    return got_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<ExitInfo> got_;
};

using sf::testing::read_file;

bool wait_for_file_text(const std::string& path, const std::string& needle,
                        std::chrono::milliseconds t = 5s) {
  auto end = std::chrono::steady_clock::now() + t;
  while (std::chrono::steady_clock::now() < end) {
    if (read_file(path).find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

// Gone, or a zombie waiting for its (new) parent to reap it: either way not running.
bool process_gone(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  auto paren = stat.rfind(')');
  return stat.empty() ||
         (paren != std::string::npos && stat.size() > paren + 2 && stat[paren + 2] == 'Z');
}

}  // namespace

TEST(ProcessLauncher, ReportsExitStatuses) {
  sf::testing::TempDir dir;
  ProcessLauncher l(registry(), script_options(dir));
  Exits exits(l);
  ASSERT_TRUE(l.launch(script("ok", "exit 0")).ok());
  ASSERT_TRUE(l.launch(script("bad", "exit 3")).ok());
  auto ok = exits.wait("ok");
  auto bad = exits.wait("bad");
  ASSERT_TRUE(ok && bad);
  EXPECT_EQ(ok->queue_id, "q1");
  EXPECT_EQ(ok->exit_code, 0);
  EXPECT_EQ(ok->reason, "");
  EXPECT_EQ(bad->exit_code, 3);
  EXPECT_EQ(bad->reason, "exit status 3");
  EXPECT_EQ(l.running(), 0u);
}

TEST(ProcessLauncher, ReportsAChildKilledByASignal) {
  sf::testing::TempDir dir;
  ProcessLauncher l(registry(), script_options(dir));
  Exits exits(l);
  ASSERT_TRUE(l.launch(script("t1", "kill -9 $$")).ok());
  auto info = exits.wait("t1");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->exit_code, 128 + 9);
  EXPECT_EQ(info->reason, "killed by signal 9 (SIGKILL)");
}

TEST(ProcessLauncher, KillTerminatesAndEscalatesAfterTheGrace) {
  sf::testing::TempDir dir;
  ProcessLauncher l(registry(), script_options(dir));
  Exits exits(l);
  // One obeys SIGTERM, one ignores it.
  ASSERT_TRUE(l.launch(script("polite", "echo ready; exec sleep 60")).ok());
  ASSERT_TRUE(
      l.launch(script("stubborn", "trap '' TERM; echo ready; while :; do sleep 0.05; done")).ok());
  ASSERT_TRUE(wait_for_file_text(l.log_path("q1", "polite"), "ready"));
  ASSERT_TRUE(wait_for_file_text(l.log_path("q1", "stubborn"), "ready"));
  EXPECT_EQ(l.running(), 2u);

  auto t0 = std::chrono::steady_clock::now();
  l.kill("q1", "polite");
  l.kill("q1", "stubborn");
  auto polite = exits.wait("polite");
  ASSERT_TRUE(polite);
  EXPECT_EQ(polite->exit_code, 128 + SIGTERM);
  EXPECT_EQ(polite->reason, "killed after stop grace period (SIGTERM)");

  auto stubborn = exits.wait("stubborn");
  ASSERT_TRUE(stubborn);
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(stubborn->exit_code, 128 + SIGKILL);
  EXPECT_EQ(stubborn->reason, "killed after stop grace period (SIGKILL)");
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 3s);
  EXPECT_EQ(l.running(), 0u);
  l.kill("q1", "stubborn");  // no longer running: a no-op
}

TEST(ProcessLauncher, ShutdownLeavesNoChild) {
  sf::testing::TempDir dir;
  ProcessLauncher l(registry(), script_options(dir));
  Exits exits(l);
  std::string grandchild_file = (dir.path() / "grandchild.pid").string();
  ASSERT_TRUE(l.launch(script("a", "echo ready; exec sleep 60")).ok());
  ASSERT_TRUE(l.launch(script("b", "trap '' TERM; echo ready; while :; do sleep 0.05; done")).ok());
  // A worker's own child goes with it (same process group).
  ASSERT_TRUE(
      l.launch(script("c", "sleep 60 & echo $! > " + grandchild_file + "; echo ready; wait")).ok());
  std::vector<pid_t> pids;
  for (const char* t : {"a", "b", "c"}) {
    ASSERT_TRUE(wait_for_file_text(l.log_path("q1", t), "ready")) << t;
    pids.push_back(l.pid_of("q1", t));
    ASSERT_GT(pids.back(), 0);
  }
  pid_t grandchild = std::stoi(read_file(grandchild_file));
  ASSERT_FALSE(process_gone(grandchild));

  l.shutdown();
  EXPECT_EQ(l.running(), 0u);
  EXPECT_EQ(exits.count(), 3u);  // every exit was reported before shutdown() returned
  for (pid_t p : pids) EXPECT_TRUE(process_gone(p)) << p;
  auto deadline = std::chrono::steady_clock::now() + 2s;
  while (!process_gone(grandchild) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(process_gone(grandchild));
  auto late = l.launch(script("late", "exit 0"));
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code, sf::Errc::closed);
}

TEST(ProcessLauncher, TheEnvironmentIsExactlyWhatWasGiven) {
  sf::testing::TempDir dir;
  ::setenv("SF_NOT_FOR_WORKERS", "leak", 1);
  ProcessLauncherOptions o;
  o.command = {"/usr/bin/env"};  // `env printenv`: prints the environment it got, unchanged
  o.log_dir = (dir.path() / "logs").string();
  o.env.set("SF_BUS", "kafka://127.0.0.1:9");
  o.env.set("SHARED", "from options");
  ProcessLauncher l(registry(), o);
  ::unsetenv("SF_NOT_FOR_WORKERS");
  Exits exits(l);
  sf::Env env;
  env.set("QUEUE_ID", "q1");
  env.set("SHARED", "from the spec");
  env.set("TARGET_PARAMS", "{\"a\": \"b c\"}");
  ASSERT_TRUE(l.launch({"q1", "printenv", "t1", env}).ok());
  auto info = exits.wait("t1");
  ASSERT_TRUE(info);
  ASSERT_EQ(info->exit_code, 0) << info->reason;

  std::set<std::string> expected = {"SF_BUS=kafka://127.0.0.1:9", "QUEUE_ID=q1",
                                    "SHARED=from the spec", "TARGET_PARAMS={\"a\": \"b c\"}"};
  for (const char* k : {"PATH", "HOME", "TMPDIR", "LANG"})
    if (const char* v = std::getenv(k)) expected.insert(std::string(k) + "=" + v);
  std::set<std::string> got;
  std::istringstream lines(read_file(l.log_path("q1", "t1")));
  for (std::string line; std::getline(lines, line);) {
    // The launch moment, for the worker's start-up profile: a number, set by the launcher.
    if (line.rfind("SF_LAUNCHED_AT_US=", 0) == 0) {
      EXPECT_GT(std::stoll(line.substr(18)), 0) << line;
      continue;
    }
    got.insert(line);
  }
  EXPECT_EQ(got, expected);
}

TEST(ProcessLauncher, LogsLandWhereDocumented) {
  sf::testing::TempDir dir;
  auto o = script_options(dir);
  ProcessLauncher l(registry(), o);
  Exits exits(l);
  ASSERT_TRUE(l.launch(script("loader-1", "echo out; echo err >&2")).ok());
  ASSERT_TRUE(exits.wait("loader-1"));
  std::string plain = (dir.path() / "logs" / "q1" / "loader-1.log").string();
  EXPECT_EQ(l.log_path("q1", "loader-1"), plain);
  EXPECT_EQ(read_file(plain), "out\nerr\n");

  // Names cannot leave the log directory.
  ASSERT_TRUE(l.launch(script("../../x/y", "echo hostile", "../q/..")).ok());
  ASSERT_TRUE(exits.wait("../../x/y"));
  std::string path = l.log_path("../q/..", "../../x/y");
  EXPECT_EQ(path, (dir.path() / "logs" / "_._q_.." / "_._.._x_y.log").string());
  EXPECT_EQ(read_file(path), "hostile\n");
  std::set<std::string> entries;
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    entries.insert(e.path().filename().string());
  EXPECT_EQ(entries, std::set<std::string>{"logs"});
}

TEST(ProcessLauncher, RefusesDuplicatesUnknownTargetsAndMissingCommands) {
  sf::testing::TempDir dir;
  ProcessLauncher l(registry(), script_options(dir));
  Exits exits(l);
  ASSERT_TRUE(l.launch(script("t1", "echo run; sleep 0.3")).ok());
  auto dup = l.launch(script("t1", "exit 0"));
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, sf::Errc::already_exists);
  EXPECT_TRUE(l.launch(script("t1", "exit 0", "q2")).ok());  // another queue: fine
  ASSERT_TRUE(exits.wait("t1"));
  // Once it ended the same id may run again; its log is appended to.
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (l.pid_of("q1", "t1") > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(l.launch(script("t1", "echo run")).ok());
  auto deadline2 = std::chrono::steady_clock::now() + 5s;
  while (l.running() > 0 && std::chrono::steady_clock::now() < deadline2)
    std::this_thread::sleep_for(10ms);
  EXPECT_EQ(read_file(l.log_path("q1", "t1")), "run\nrun\n");

  auto unknown = l.launch({"q1", "warp-drive", "t9", {}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, sf::Errc::invalid_argument);

  auto o = script_options(dir);
  o.command = {(dir.path() / "no-such-program").string()};
  ProcessLauncher missing(registry(), o);
  auto s = missing.launch(script("t1", ""));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, sf::Errc::unavailable);
  EXPECT_NE(s.error().message.find("No such file"), std::string::npos) << s.error().message;
  EXPECT_EQ(missing.running(), 0u);
}

// The launcher contract (tests/contract/launcher_contract.h) on OS processes: the contract
// worker is a shell (the target name becomes its $0).
#include "tests/contract/launcher_contract.h"

namespace sf::launch::contract {
struct ProcessLauncherFactory {
  static std::unique_ptr<Launcher> make(const std::filesystem::path& scratch) {
    workers::WorkerRegistry r;
    r.add(kContractTarget, kContractRole,
          [](workers::WorkerContext&) { return 0; });  // never called here
    ProcessLauncherOptions o;
    o.command = {"/bin/sh", "-c",
                 "if [ -n \"$SF_CONTRACT_EXIT\" ]; then exit \"$SF_CONTRACT_EXIT\"; fi; "
                 "exec sleep 600"};
    o.log_dir = (scratch / "logs").string();
    o.kill_grace = std::chrono::milliseconds(300);
    return std::make_unique<ProcessLauncher>(std::move(r), std::move(o));
  }
};
INSTANTIATE_TYPED_TEST_SUITE_P(Process, LauncherContract, ::testing::Types<ProcessLauncherFactory>);
}  // namespace sf::launch::contract
