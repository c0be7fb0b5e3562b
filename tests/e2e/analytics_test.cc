// The analytical flow end to end (issue 13): `streamforge up` and the simulator (its
// correlated sectors), the test flow correlation_gnn (10 loaders and connectors, the
// graph-builder, the gnn-trainer), then what a user would check: the queue finished
// complete, the graph is stored, the model beats both baselines, and the artifacts load in
// Python's torch. Built twice: embedded (memory bus, in-process workers, SQLite, local
// artifacts) and, with SF_E2E_KAFKA + SF_E2E_PG + SF_E2E_S3, worker processes on the Kafka
// fixture, PostgreSQL and the S3 server.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "e2e.h"
#include "http/client.h"
#include "store/open.h"
#include "support/process.h"
#ifdef SF_E2E_S3
#include "artifacts/s3/s3_artifact_store.h"
#include "support/s3.h"
#else
#include "artifacts/local/local_artifact_store.h"
#endif

namespace bj = boost::json;
using namespace std::chrono_literals;
using sf::testing::json_text;

namespace {

class Analytics : public sf::testing::UpFixture {
 protected:
  void SetUp() override {
    dir_ = sf::testing::make_temp_dir("sf-analytics");
    sim_ = sf::testing::start_sim(
        dir_, {"--seed", "1", "--symbols", "DOGEUSDT,ADAUSDT,LTCUSDT,DOTUSDT,LINKUSDT"});
    const std::string tag = std::filesystem::path(dir_).filename().string();
    auto up = variant_up_argv(dir_ + "/data", tag, tag);
    std::map<std::string, std::string> env;
#ifdef SF_E2E_S3
    s3_ = sf::testing::s3_server_or_fail();
    ASSERT_TRUE(s3_.ok());
    prefix_ = "e2e-" + tag;
    up.insert(up.end(), {"--artifacts", "s3://" + s3_.bucket + "/" + prefix_ +
                                            "?endpoint=" + s3_.endpoint + "&region=" + s3_.region});
    env = {{"AWS_ACCESS_KEY_ID", s3_.access_key}, { "AWS_SECRET_ACCESS_KEY", s3_.secret_key }};
#endif
    std::filesystem::create_directories(dir_ + "/data");
    start_up(up, dir_ + "/up.log", env);
  }
  bj::object queue(const std::string& id) {
    auto r = client_->get("/queues/" + id);
    EXPECT_TRUE(r.ok());
    return r.ok() ? bj::parse(r->body).as_object() : bj::object{};
  }
  // The artifact `name` of the run (models/<queue>/...), through the store the manager used.
  std::string artifact(const std::string& name) {
#ifdef SF_E2E_S3
    sf::artifacts::S3Config c;
    c.endpoint = s3_.endpoint;
    c.bucket = s3_.bucket;
    c.prefix = prefix_;
    c.region = s3_.region;
    c.credentials = {s3_.access_key, s3_.secret_key, ""};
    auto store = sf::artifacts::S3ArtifactStore::open(c);
#else
    auto store = sf::artifacts::LocalArtifactStore::open(dir_ + "/data/artifacts");
#endif
    EXPECT_TRUE(store.ok()) << store.error().message;
    if (!store.ok()) return {};
    auto blob = (*store)->get(name);
    EXPECT_TRUE(blob.ok()) << name << ": " << blob.error().message;
    return blob.ok() ? *blob : std::string();
  }

#ifdef SF_E2E_S3
  sf::testing::S3TestServer s3_;
  std::string prefix_;
#endif
};

TEST_F(Analytics, CorrelationGnnFlowFinishesWithAGraphAModelThatBeatsTheBaselinesAndArtifacts) {
  auto r = client_->post(
      "/queues/start-test-flow",
      R"({"flow_name":"correlation_gnn","symbol":"BTCUSDT","time_range":"2024-08-01:2024-09-30"})");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 201) << r->body;
  const std::string id = json_text(bj::parse(r->body).at("queue_id"));

  std::string status;
  const auto deadline = std::chrono::steady_clock::now() + 600s;
  while (std::chrono::steady_clock::now() < deadline) {
    status = json_text(queue(id).at("status"));
    if (status == "finished" || status == "error" || status == "interrupted") break;
    std::this_thread::sleep_for(200ms);
  }
  const bj::object q = queue(id);
  ASSERT_EQ(status, "finished") << bj::serialize(q);
  EXPECT_EQ(json_text(q.at("message")), "") << "complete: every symbol's 1440 candles stored";

  // The graph: 60 days of 1h candles, windows of 24 every 3 candles -> 473 snapshots.
  std::string graph;
  for (const auto& t : q.at("targets").as_array()) {
    if (json_text(t.at("target")) != "graph-builder") continue;
    const std::string msg = json_text(t.at("message"));
    graph = msg.substr(6, msg.find(':') - 6);  // "graph <name>: ..."
    EXPECT_NE(msg.find("473 snapshots of 10 nodes"), std::string::npos) << msg;
  }
  ASSERT_FALSE(graph.empty());
  auto store = sf::store::open_data_store(store_url_, dir_ + "/data");
  ASSERT_TRUE(store.ok()) << store.error().message;
  EXPECT_EQ(*(*store)->count(graph + "_nodes"), 4730);
  EXPECT_GT(*(*store)->count(graph + "_edges"), 473) << "the sectors give edges";

  // The model against doing nothing, from its metrics.json.
  const std::string metrics_text = artifact("models/" + id + "/metrics.json");
  ASSERT_FALSE(metrics_text.empty());
  const bj::object m = bj::parse(metrics_text).as_object();
  const int64_t best = m.at("best_epoch").to_number<int64_t>();
  const bj::object& epoch = m.at("epochs").as_array().at(static_cast<size_t>(best - 1)).as_object();
  const double acc = epoch.at("val_accuracy").to_number<double>();
  const double majority = m.at("baselines").at("majority").at("val_accuracy").to_number<double>();
  const double last_sign = m.at("baselines").at("last_sign").at("val_accuracy").to_number<double>();
  std::printf("validation accuracy %.3f, majority %.3f, last sign %.3f\n", acc, majority,
              last_sign);
  EXPECT_GT(acc, majority);
  EXPECT_GT(acc, last_sign);
  EXPECT_EQ(m.at("graph").at("name").as_string(), graph);

  // The weights load and run in Python's torch (Debian's python3-torch).
  const std::string model = artifact("models/" + id + "/model.pt");
  ASSERT_FALSE(model.empty());
  const std::string pt = dir_ + "/model.pt";
  std::ofstream(pt, std::ios::binary) << model;
  const std::string py =
      "import torch; m = torch.jit.load('" + pt +
      "'); x = torch.randn(10, 7); ei = torch.tensor([[0, 1, 2], [1, 2, 0]]); "
      "w = torch.tensor([0.5, -0.3, 0.8]); out = m(x, ei, w); "
      "assert tuple(out.shape) == (10, 2), out.shape; print('python loaded', m.task, out.shape)";
  int st = 0;
  const std::string out = sf::testing::run_shell("/usr/bin/python3 -c \"" + py + "\" 2>&1", &st);
  EXPECT_EQ(st, 0) << out;
  EXPECT_NE(out.find("python loaded classification"), std::string::npos) << out;
}

}  // namespace
