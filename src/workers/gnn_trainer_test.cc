#include "workers/gnn_trainer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>

#include "artifacts/local/local_artifact_store.h"
#include "bus/memory/memory_bus.h"
#include "exchange/sim/market.h"
#include "protocol/messages.h"
#include "store/sqlite/sqlite_data_store.h"
#include "tests/support/sqlite_worker_test.h"
#include "tests/support/worker.h"
#include "workers/graph_builder.h"

namespace sw = sf::workers;
namespace sp = sf::protocol;
namespace bj = boost::json;
using namespace std::chrono_literals;

namespace {

constexpr int64_t kT0 = 1'722'470'400'000;  // 2024-08-01T00:00:00Z
constexpr int64_t kHour = 3'600'000;
constexpr const char* kSymbols = "BTCUSDT,ETHUSDT,BNBUSDT,SOLUSDT,XRPUSDT";

// The simulator's 1h candles (its sectors: BTC leads ETH and BNB, SOL leads XRP) for 20
// days, and the graph-builder's graph `g` over them.
class GnnTrainerTest : public sf::testing::SqliteWorkerTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(SqliteWorkerTest::SetUp());
    auto a = sf::artifacts::LocalArtifactStore::open(dir_.path() / "artifacts");
    ASSERT_TRUE(a.ok()) << a.error().message;
    artifacts_ = std::move(*a);
    sf::exchange::sim::Market m(1);
    for (const char* sym : {"BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT"}) {
      std::vector<sf::market::Record> rows;
      for (int64_t h = 0; h < 20 * 24; ++h) {
        auto c = m.candle(sym, "1h", kT0 + h * kHour);
        ASSERT_TRUE(c.has_value());
        rows.emplace_back(*c);
      }
      std::string name(sym);
      for (char& ch : name) ch = static_cast<char>(std::tolower(ch));
      ASSERT_TRUE(store_->upsert(name + "_candles_1h", sf::market::Kind::candle, rows).ok());
    }
    ASSERT_EQ(
        run(sw::run_graph_builder, "graph-builder",
            std::string(R"({"symbols":")") + kSymbols + R"(","window":24,"step":3,"max_lag":3})"),
        sw::kExitFinished);
  }

  // Runs `fn` as target `target` of queue `queue` on the graph `g` with `params`.
  int run(int (*fn)(sw::WorkerContext&), const std::string& target, const std::string& params,
          const std::string& queue = "wf-gnn", bool with_artifacts = true,
          const std::string& graph = "g") {
    cfg_ =
        sf::testing::worker_config(queue, target, target + "__1", "BTCUSDT", "api_candles_1h", "");
    cfg_.collection_name = graph;
    cfg_.time_range = "2024-08-01:2024-08-21";
    cfg_.start_timeout_s = 5;
    cfg_.params = bj::parse(params).as_object();
    sw::WorkerContext ctx;
    ctx.env = cfg_.to_env();
    ctx.bus = &bus_;
    ctx.data_store = store_.get();
    ctx.artifacts = with_artifacts ? artifacts_.get() : nullptr;
    EXPECT_TRUE(sf::testing::publish_command(bus_, cfg_).ok());
    return fn(ctx);
  }
  std::vector<sp::Event> events(const std::string& producer) {
    auto c = bus_.subscribe({.group = "ev" + std::to_string(++readers_),
                             .topics = {sf::bus::kEventsTopic},
                             .start_from = sf::bus::StartFrom::earliest});
    std::vector<sp::Event> out;
    for (;;) {
      auto recs = (*c)->poll(10'000, 100ms);
      if (!recs.ok() || recs->empty()) break;
      for (const auto& r : *recs)
        if (auto ev = sp::decode_event(r.value); ev && ev->producer == producer) out.push_back(*ev);
    }
    (*c)->close();
    return out;
  }
  // The epochs of a stored metrics.json without their timings.
  bj::array epochs(const std::string& queue) {
    auto text = artifacts_->get("models/" + queue + "/metrics.json");
    EXPECT_TRUE(text.ok()) << (text.ok() ? "" : text.error().message);
    if (!text.ok()) return {};
    bj::array e = bj::parse(*text).at("epochs").as_array();
    for (auto& x : e) x.as_object().erase("seconds");
    return e;
  }

  std::unique_ptr<sf::artifacts::LocalArtifactStore> artifacts_;
  sw::WorkerConfig cfg_;
  int readers_ = 0;
};

TEST(GnnTrainerSettings, DefaultsAndRefusalsNameTheSetting) {
  auto s = sw::GnnTrainerSettings::from_params({});
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->train.task, sf::gnn::Task::classification);
  EXPECT_EQ(s->wait_s, 0);
  auto field = [](const char* json) {
    auto r = sw::GnnTrainerSettings::from_params(bj::parse(json).as_object());
    return r.ok() ? std::string("ok") : r.error().field;
  };
  EXPECT_EQ(field(R"({"task":"ranking"})"), "task");
  EXPECT_EQ(field(R"({"heads":0})"), "heads");
  EXPECT_EQ(field(R"({"lr":0})"), "lr");
  EXPECT_EQ(field(R"({"seed":-1})"), "seed");
  EXPECT_EQ(field(R"({"wait_s":10})"), "wait_s") << "waiting needs the graph's shape";
  EXPECT_EQ(field(R"({"wait_s":10,"symbols":"BTCUSDT,ETHUSDT","window":24,"step":3})"), "ok");
  EXPECT_EQ(field(R"({"colour":"red"})"), "colour");
}

TEST_F(GnnTrainerTest, TrainsStoresTheModelAndTheSameSeedGivesTheSameMetrics) {
  const std::string params = R"({"max_epochs":40,"patience":0,"hidden":8,"heads":2,"seed":7})";
  ASSERT_EQ(run(sw::run_gnn_trainer, "gnn-trainer", params, "wf-a"), sw::kExitFinished);
  ASSERT_EQ(run(sw::run_gnn_trainer, "gnn-trainer", params, "wf-b"), sw::kExitFinished);
  const bj::array a = epochs("wf-a"), b = epochs("wf-b");
  ASSERT_EQ(a.size(), 40u);
  EXPECT_EQ(a, b) << "the same seed, the same losses and accuracies, epoch by epoch";
  ASSERT_EQ(run(sw::run_gnn_trainer, "gnn-trainer",
                R"({"max_epochs":40,"patience":0,"hidden":8,"heads":2,"seed":8})", "wf-c"),
            sw::kExitFinished);
  EXPECT_NE(epochs("wf-c"), a) << "another seed, another model";

  auto model = artifacts_->get("models/wf-a/model.pt");
  ASSERT_TRUE(model.ok());
  EXPECT_GT(model->size(), 1000u);
  const bj::object m = bj::parse(*artifacts_->get("models/wf-a/metrics.json")).as_object();
  EXPECT_EQ(m.at("graph").at("name").as_string(), "g");
  EXPECT_EQ(m.at("graph").at("symbols").as_array().size(), 5u);
  EXPECT_EQ(m.at("graph").at("features").as_array().size(), 7u);
  // 20 days: 153 snapshots, the last without a next step.
  EXPECT_EQ(m.at("graph").at("snapshots").as_int64(), 153);
  EXPECT_EQ(m.at("graph").at("versions").as_array().size(), 152u);

  auto evs = events("gnn-trainer__1");
  ASSERT_GE(evs.size(), 42u) << "started, the graph, one per epoch, finished";
  int per_epoch = 0;
  for (const auto& e : evs)
    per_epoch += e.status == sp::RunStatus::loading && e.message->starts_with("epoch ");
  EXPECT_EQ(per_epoch, 3 * 40);
  EXPECT_EQ(evs.back().status, sp::RunStatus::finished);
  EXPECT_NE(evs.back().message->find("majority class"), std::string::npos) << *evs.back().message;
  EXPECT_NE(evs.back().message->find("models/wf-c/model.pt"), std::string::npos);
}

TEST_F(GnnTrainerTest, NoArtifactStoreOrNoGraphEndsInErrorWithoutArtifacts) {
  EXPECT_EQ(run(sw::run_gnn_trainer, "gnn-trainer", "{}", "wf-x", false), sw::kExitError);
  auto evs = events("gnn-trainer__1");
  ASSERT_FALSE(evs.empty());
  EXPECT_NE(evs.back().message->find("artifact store"), std::string::npos) << *evs.back().message;
  EXPECT_EQ(run(sw::run_gnn_trainer, "gnn-trainer", "{}", "wf-y", true, "nope"),
            sw::kExitBadConfig);
  evs = events("gnn-trainer__1");
  EXPECT_NE(evs.back().message->find("cannot read graph nope"), std::string::npos)
      << *evs.back().message;
  // Waiting for a graph that never fills gives up and says how far it got.
  EXPECT_EQ(run(sw::run_gnn_trainer, "gnn-trainer",
                R"({"wait_s":0.3,"symbols":"BTCUSDT,ETHUSDT","window":24,"step":3})", "wf-z", true,
                "nope"),
            sw::kExitError);
  evs = events("gnn-trainer__1");
  EXPECT_NE(evs.back().message->find("graph nope holds 0 of 306 nodes"), std::string::npos)
      << *evs.back().message;
  for (const char* q : {"wf-x", "wf-y", "wf-z"}) {
    auto list = artifacts_->list(std::string("models/") + q + "/");
    ASSERT_TRUE(list.ok());
    EXPECT_TRUE(list->empty()) << q;
  }
}

TEST_F(GnnTrainerTest, AStopEndsTrainingInterruptedAndStoresNothing) {
  auto fut = std::async(std::launch::async, [&] {
    return run(sw::run_gnn_trainer, "gnn-trainer", R"({"max_epochs":100000,"patience":0})",
               "wf-stop");
  });
  std::this_thread::sleep_for(1500ms);
  ASSERT_TRUE(sf::testing::publish_command(bus_, cfg_, sp::CommandType::stop).ok());
  ASSERT_EQ(fut.wait_for(30s), std::future_status::ready);
  EXPECT_EQ(fut.get(), sw::kExitInterrupted);
  auto list = artifacts_->list("models/wf-stop/");
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty()) << "an interrupted training stores no model";
}

}  // namespace
