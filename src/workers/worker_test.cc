#include <gtest/gtest.h>

#include <future>

#include "bus/memory/memory_bus.h"
#include "metrics/metrics.h"
#include "tests/support/worker.h"
#include "workers/dummy.h"

namespace sw = sf::workers;
namespace sp = sf::protocol;
using namespace std::chrono_literals;

namespace {

sw::WorkerConfig config(const std::string& params_json) {
  auto c =
      sf::testing::worker_config("wf-test", "dummy-service", "dummy__1", "BTCUSDT", "dummy", "");
  c.start_timeout_s = 5;
  c.params = boost::json::parse(params_json).as_object();
  return c;
}

class DummyTest : public ::testing::Test {
 protected:
  void command(sp::CommandType type, const std::string& telemetry_id = "dummy__1") {
    auto cfg = config("{}");
    cfg.telemetry_id = telemetry_id;
    ASSERT_TRUE(sf::testing::publish_command(bus_, cfg, type).ok());
  }
  std::future<int> run(const sw::WorkerConfig& cfg) {
    ctx_.env = cfg.to_env();
    ctx_.bus = &bus_;
    ctx_.metrics = &metrics_;
    return std::async(std::launch::async, [this] { return sw::run_dummy(ctx_); });
  }
  std::vector<sp::Event> events(size_t at_least, std::chrono::milliseconds timeout = 5s) {
    if (!consumer_) {
      auto c = bus_.subscribe({.group = "test",
                               .topics = {sf::bus::kEventsTopic},
                               .start_from = sf::bus::StartFrom::earliest});
      EXPECT_TRUE(c.ok());
      consumer_ = std::move(*c);
    }
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (seen_.size() < at_least && std::chrono::steady_clock::now() < deadline) {
      auto recs = consumer_->poll(100, 50ms);
      EXPECT_TRUE(recs.ok());
      for (const auto& r : *recs) {
        auto ev = sp::decode_event(r.value);
        EXPECT_TRUE(ev.ok()) << r.value;
        if (ev) seen_.push_back(*ev);
      }
    }
    return seen_;
  }

  sf::bus::MemoryBus bus_;
  sf::metrics::Registry metrics_;
  sw::WorkerContext ctx_;
  std::unique_ptr<sf::bus::Consumer> consumer_;
  std::vector<sp::Event> seen_;
};

}  // namespace

TEST(WorkerConfig, RoundTripsThroughEnvironment) {
  auto c = config(R"({"duration_s":1.5,"records":10})");
  c.kafka_topic = "topic-1";
  c.collection_name = "coll_1";
  c.time_range = "2024-08-01:2024-08-02";
  c.control_offset = 42;
  auto back = sw::WorkerConfig::from_env(c.to_env());
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->queue_id, "wf-test");
  EXPECT_EQ(*back->kafka_topic, "topic-1");
  EXPECT_EQ(*back->collection_name, "coll_1");
  EXPECT_EQ(back->control_offset, 42);
  EXPECT_DOUBLE_EQ(back->params.at("duration_s").as_double(), 1.5);
}

TEST(WorkerConfig, StrictAboutEnvironment) {
  auto env = config("{}").to_env();
  env.set("QUEUE_ID", "");
  auto r = sw::WorkerConfig::from_env(env);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().field, "QUEUE_ID");
  env = config("{}").to_env();
  env.set("COLLECTION_NAME", "x; drop table y");
  EXPECT_EQ(sw::WorkerConfig::from_env(env).error().field, "COLLECTION_NAME");
  env = config("{}").to_env();
  env.set("CONTROL_OFFSET", "ten");
  EXPECT_EQ(sw::WorkerConfig::from_env(env).error().field, "CONTROL_OFFSET");
  env = config("{}").to_env();
  env.set("TARGET_PARAMS", "[1]");
  EXPECT_EQ(sw::WorkerConfig::from_env(env).error().field, "TARGET_PARAMS");
}

TEST(DummySettings, ValidatesKnobs) {
  EXPECT_TRUE(sw::DummySettings::from_params({}).ok());
  EXPECT_EQ(sw::DummySettings::from_params(boost::json::parse(R"({"fail_at":1.5})").as_object())
                .error()
                .field,
            "fail_at");
  EXPECT_EQ(sw::DummySettings::from_params(boost::json::parse(R"({"records":"many"})").as_object())
                .error()
                .field,
            "records");
  EXPECT_FALSE(sw::DummySettings::from_params(
                   boost::json::parse(R"({"progress_interval_ms":0})").as_object())
                   .ok());
}

TEST_F(DummyTest, WaitsForStartThenReportsProgressAndFinishes) {
  auto done = run(config(R"({"duration_s":0.5,"records":1000,"progress_interval_ms":100})"));
  std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(events(1, 200ms).empty()) << "nothing before the start command";
  command(sp::CommandType::start, "someone-else");  // not for this worker
  command(sp::CommandType::start);
  ASSERT_EQ(done.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(done.get(), sw::kExitFinished);
  auto evs = events(100, 500ms);
  ASSERT_GE(evs.size(), 4u);
  EXPECT_EQ(evs.front().status, sp::RunStatus::started);
  EXPECT_EQ(evs.back().status, sp::RunStatus::finished);
  EXPECT_EQ(*evs.back().records_written, 1000);
  EXPECT_TRUE(*evs.back().finished);
  int64_t last = -1;
  size_t loading = 0;
  for (const auto& e : evs) {
    EXPECT_EQ(e.queue_id, "wf-test");
    EXPECT_EQ(e.producer, "dummy__1");
    EXPECT_GE(*e.records_written, last) << "progress never goes backwards";
    last = *e.records_written;
    loading += e.status == sp::RunStatus::loading;
  }
  EXPECT_GE(loading, 2u);
  EXPECT_NE(metrics_.expose().find("streamforge_dummy_events_sent_total"), std::string::npos);
}

TEST_F(DummyTest, StopInterruptsPromptly) {
  auto done = run(config(R"({"duration_s":600})"));
  command(sp::CommandType::start);
  events(2);
  auto t0 = std::chrono::steady_clock::now();
  command(sp::CommandType::stop);
  ASSERT_EQ(done.wait_for(2s), std::future_status::ready);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  EXPECT_EQ(done.get(), sw::kExitInterrupted);
  EXPECT_EQ(events(100, 200ms).back().status, sp::RunStatus::interrupted);
}

TEST_F(DummyTest, FailsAtTheGivenFractionWithItsMessage) {
  auto done = run(config(R"({"duration_s":0.4,"fail_at":0.5,"fail_message":"boom"})"));
  command(sp::CommandType::start);
  ASSERT_EQ(done.wait_for(3s), std::future_status::ready);
  EXPECT_EQ(done.get(), sw::kExitError);
  auto last = events(100, 200ms).back();
  EXPECT_EQ(last.status, sp::RunStatus::error);
  EXPECT_EQ(*last.message, "boom");
}

TEST_F(DummyTest, AnswersPingWithPong) {
  auto done = run(config(R"({"duration_s":600})"));
  command(sp::CommandType::start);
  events(1);
  command(sp::CommandType::ping);
  bool pong = false;
  for (const auto& e : events(3)) pong = pong || e.status == sp::RunStatus::pong;
  EXPECT_TRUE(pong);
  command(sp::CommandType::stop);
  EXPECT_EQ(done.get(), sw::kExitInterrupted);
}

TEST_F(DummyTest, NoStartCommandIsAnErrorAfterTheTimeout) {
  auto cfg = config("{}");
  cfg.start_timeout_s = 0.2;
  auto done = run(cfg);
  EXPECT_EQ(done.get(), sw::kExitError);
  auto evs = events(1);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].status, sp::RunStatus::error);
}

TEST_F(DummyTest, LauncherCancelEndsItWithoutWaitingForTheNextTick) {
  auto done = run(config(R"({"duration_s":600,"progress_interval_ms":30000})"));
  command(sp::CommandType::start);
  events(2);
  auto t0 = std::chrono::steady_clock::now();
  *ctx_.cancel = true;
  ASSERT_EQ(done.wait_for(2s), std::future_status::ready);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms);
  EXPECT_EQ(done.get(), sw::kExitInterrupted);
}
