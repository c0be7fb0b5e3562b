// The process launcher running the real `streamforge worker dummy-service` against the test
// broker: the worker gets its configuration from the launcher's environment, talks to the
// bus, and its exit is reported; kill() makes it end `interrupted`.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "bus/open.h"
#include "launch/process/process_launcher.h"
#include "protocol/messages.h"
#include "support/kafka.h"
#include "support/process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/text.h"
#include "workers/worker.h"

namespace sp = sf::protocol;
using namespace std::chrono_literals;

namespace {

class ProcessLauncherKafka : public ::testing::Test {
 protected:
  void SetUp() override {
    auto bootstrap = sf::testing::kafka_bootstrap();
    ASSERT_TRUE(bootstrap) << "no test broker (run under ctest, or set SF_TEST_KAFKA_BOOTSTRAP)";
    url_ = "kafka://" + *bootstrap;
    // Topics of this test alone: other tests share the broker.
    std::string suffix = std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}());
    control_ = "plk-control-" + suffix;
    events_ = "plk-events-" + suffix;
    sf::bus::BusConfig cfg;
    cfg.url = url_;
    auto bus = sf::bus::open_bus(cfg);
    ASSERT_TRUE(bus.ok()) << bus.error().message;
    bus_ = std::move(*bus);
    ASSERT_TRUE(bus_->ensure_topic({control_}).ok());
    ASSERT_TRUE(bus_->ensure_topic({events_}).ok());

    sf::launch::ProcessLauncherOptions o;
    o.command = {sf::testing::streamforge_binary(), "worker"};
    o.log_dir = (dir_.path() / "logs").string();
    o.env.set("SF_BUS", url_);
    o.kill_grace = 5s;
    launcher_ =
        std::make_unique<sf::launch::ProcessLauncher>(sf::workers::WorkerRegistry::builtin(), o);
    launcher_->set_exit_callback([this](const sf::launch::ExitInfo& i) {
      std::lock_guard lk(mu_);
      exits_.push_back(i);
      cv_.notify_all();
    });
  }
  void TearDown() override {
    if (launcher_) launcher_->shutdown();
  }

  sf::launch::LaunchSpec spec(const std::string& telemetry_id, const std::string& params) {
    sf::workers::WorkerConfig c;
    c.queue_id = "wf-plk";
    c.target = "dummy-service";
    c.telemetry_id = telemetry_id;
    c.symbol = "BTCUSDT";
    c.type = "dummy";
    c.control_topic = control_;
    c.events_topic = events_;
    c.control_offset = 0;
    c.start_timeout_s = 20;
    c.params = boost::json::parse(params).as_object();
    return {c.queue_id, c.target, telemetry_id, c.to_env()};
  }
  void send_start(const std::string& telemetry_id) {
    sp::Command c;
    c.command = sp::CommandType::start;
    c.queue_id = "wf-plk";
    c.telemetry_id = telemetry_id;
    c.target = "dummy-service";
    c.timestamp = 1;
    auto p = bus_->producer();
    ASSERT_TRUE(p.ok());
    ASSERT_TRUE((*p)->produce(control_, "wf-plk", sp::encode(c)).ok());
    ASSERT_TRUE((*p)->flush(10s).ok());
  }
  // Waits for an event of `telemetry_id` with `status`.
  bool wait_event(const std::string& telemetry_id, const std::string& status,
                  std::chrono::milliseconds timeout = 30s) {
    if (!consumer_) {
      auto c = bus_->subscribe({.group = "plk-" + events_,
                                .topics = {events_},
                                .start_from = sf::bus::StartFrom::earliest});
      EXPECT_TRUE(c.ok());
      if (!c) return false;
      consumer_ = std::move(*c);
    }
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      for (const auto& ev : seen_)
        if (ev.producer == telemetry_id && sp::to_string(ev.status) == status) return true;
      if (std::chrono::steady_clock::now() >= deadline) return false;
      auto recs = consumer_->poll(100, 200ms);
      if (!recs) continue;
      for (const auto& r : *recs)
        if (auto ev = sp::decode_event(r.value)) seen_.push_back(*ev);
    }
  }
  std::optional<sf::launch::ExitInfo> wait_exit(const std::string& telemetry_id,
                                                std::chrono::milliseconds t = 30s) {
    std::unique_lock lk(mu_);
    std::optional<sf::launch::ExitInfo> found;
    cv_.wait_for(lk, t, [&] {
      for (const auto& i : exits_)
        if (i.telemetry_id == telemetry_id) found = i;
      return found.has_value();
    });
    return found;
  }
  std::string log_of(const std::string& telemetry_id) {
    return sf::testing::read_file(launcher_->log_path("wf-plk", telemetry_id));
  }

  sf::testing::TempDir dir_;
  std::string url_, control_, events_;
  std::unique_ptr<sf::bus::Bus> bus_;
  std::unique_ptr<sf::bus::Consumer> consumer_;
  std::vector<sp::Event> seen_;
  std::unique_ptr<sf::launch::ProcessLauncher> launcher_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<sf::launch::ExitInfo> exits_;
};

}  // namespace

TEST_F(ProcessLauncherKafka, AWorkerProcessRunsToFinishedOverKafka) {
  ASSERT_TRUE(launcher_
                  ->launch(spec("dummy-a", R"({"duration_s":1,"records":10,
                                                     "progress_interval_ms":200})"))
                  .ok());
  send_start("dummy-a");
  EXPECT_TRUE(wait_event("dummy-a", "started")) << log_of("dummy-a");
  EXPECT_TRUE(wait_event("dummy-a", "finished")) << log_of("dummy-a");
  auto exit = wait_exit("dummy-a");
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->exit_code, 0) << exit->reason << "\n" << log_of("dummy-a");
  std::string log = log_of("dummy-a");
  EXPECT_NE(log.find("running (bus " + url_), std::string::npos) << log;
  EXPECT_NE(log.find("/metrics)"), std::string::npos) << log;
}

TEST_F(ProcessLauncherKafka, KillEndsAWorkerInterrupted) {
  ASSERT_TRUE(launcher_->launch(spec("dummy-b", R"({"duration_s":120})")).ok());
  send_start("dummy-b");
  ASSERT_TRUE(wait_event("dummy-b", "started")) << log_of("dummy-b");
  launcher_->kill("wf-plk", "dummy-b");
  EXPECT_TRUE(wait_event("dummy-b", "interrupted", 10s)) << log_of("dummy-b");
  auto exit = wait_exit("dummy-b", 10s);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->exit_code, sf::workers::kExitInterrupted) << exit->reason;
  EXPECT_EQ(exit->reason, "exit status 2");
}

using sf::testing::read_file;

// What a user sees when asking for worker processes without a shared bus.
TEST(StreamforgeCli, WorkerProcessesNeedASharedBus) {
  sf::testing::TempDir dir;
  std::string err = (dir.path() / "stderr").string();
  {
    sf::testing::Process up({sf::testing::streamforge_binary(), "up", "--port", "0", "--data-dir",
                             (dir.path() / "data").string(), "--launcher", "process"},
                            err);
    EXPECT_EQ(up.wait(20s), 1);
  }
  EXPECT_NE(read_file(err).find("--launcher process needs a bus shared between processes"),
            std::string::npos)
      << read_file(err);
  // The same through the environment, for queue-manager.
  std::string err2 = (dir.path() / "stderr2").string();
  {
    sf::testing::Process qm({sf::testing::streamforge_binary(), "queue-manager", "--port", "0",
                             "--data-dir", (dir.path() / "data").string()},
                            err2, {{"SF_LAUNCHER", "process"}, {"SF_BUS", "memory"}});
    EXPECT_EQ(qm.wait(20s), 1);
  }
  EXPECT_NE(read_file(err2).find("--launcher process needs a bus shared between processes"),
            std::string::npos)
      << read_file(err2);
  std::string err3 = (dir.path() / "stderr3").string();
  {
    sf::testing::Process worker({sf::testing::streamforge_binary(), "worker", "dummy-service"},
                                err3,
                                {{"SF_BUS", "memory"}, {"QUEUE_ID", "q"}, {"TELEMETRY_ID", "t"}});
    EXPECT_EQ(worker.wait(20s), sf::workers::kExitBadConfig);
  }
  EXPECT_NE(read_file(err3).find("SF_BUS=memory cannot be shared between processes"),
            std::string::npos)
      << read_file(err3);
}
