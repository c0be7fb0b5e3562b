// End-to-end on Kubernetes (the cluster deployment): `streamforge up --launcher kubernetes`
// against the real API server of the `kube` fixture, as a service account with only the
// launcher's Role in a namespace of the test's own; every target a Job, whose pod the kwok
// node's pod runner (scripts/kube-pod-runner) runs as a real `streamforge worker` process of
// this machine with the pod's environment. Kafka and PostgreSQL from their fixtures, the
// exchange from `streamforge sim`.
#include <signal.h>

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "base/text.h"
#include "e2e/e2e.h"
#include "http/client.h"
#include "launch/kubernetes/kube_api.h"
#include "store/open.h"
#include "support/kafka.h"
#include "support/kube.h"
#include "support/postgres.h"
#include "support/process.h"

namespace bj = boost::json;
using namespace std::chrono_literals;
using sf::testing::json_text;

namespace {

constexpr uint64_t kSeed = 7;

class Kube : public sf::testing::UpFixture {
 protected:
  void SetUp() override {
    dir_ = sf::testing::make_temp_dir("sf-kube");
    tag_ = std::filesystem::path(dir_).filename().string();
    auto cluster = sf::testing::kube_test_cluster();
    ASSERT_TRUE(cluster) << "no test Kubernetes cluster: run under ctest (fixture kube) or set "
                            "SF_TEST_KUBE_DIR";
    admin_ = std::make_unique<sf::testing::KubeAdmin>(*cluster);
    ns_ = sf::testing::kube_unique_name("sf-e2e");
    admin_->create_namespace(ns_);
    admin_->service_account_with_role(ns_, "sf-launcher", sf::testing::kLauncherRules);
    // The kubeconfig an operator would hand the manager: the cluster's CA and the launcher's
    // service account token, nothing more.
    kubeconfig_ = dir_ + "/kubeconfig";
    std::ofstream(kubeconfig_) << "apiVersion: v1\nkind: Config\ncurrent-context: sf\n"
                               << "clusters:\n- name: test\n  cluster:\n    server: "
                               << cluster->url << "\n    certificate-authority-data: "
                               << sf::base64_encode(cluster->ca_pem) << "\n"
                               << "contexts:\n- name: sf\n  context: {cluster: test, user: sf, "
                                  "namespace: "
                               << ns_ << "}\nusers:\n- name: sf\n  user:\n    token: "
                               << admin_->token(ns_, "sf-launcher") << "\n";
    sim_ = sf::testing::start_sim(dir_, {"--seed", std::to_string(kSeed)});
    store_url_ = sf::testing::e2e_store_url(tag_);
    // The store URL carries the database password: the workers get it from a Secret.
    admin_->call("POST", "/api/v1/namespaces/" + ns_ + "/secrets",
                 bj::serialize(bj::object{
                     {"apiVersion", "v1"},
                     {"kind", "Secret"},
                     {"metadata", bj::object{{"name", "streamforge-workers"}}},
                     {"data", bj::object{{"SF_STORE", sf::base64_encode(store_url_)}}}}));
    launch_up();
  }
  void TearDown() override {
    up_.reset();
    sim_.proc.reset();
    // Deleting the namespace deletes its Jobs; the pod runner stops their processes.
    if (admin_) admin_->delete_namespace(ns_);
    UpFixture::TearDown();
  }
  void launch_up() {
    client_.reset();
    up_.reset();
    auto bootstrap = sf::testing::kafka_bootstrap();
    ASSERT_TRUE(bootstrap) << "no test broker (fixture kafka)";
    auto up = sf::testing::up_command(dir_, sim_.url);
    up.insert(up.end(), {"--store", store_url_, "--stop-grace", "3"});
    // The single-host flags (topics and group of the test's own) but the launcher.
    auto flags = sf::testing::kafka_up_flags(*bootstrap, tag_);
    for (size_t i = 0; i < flags.size(); ++i) {
      if (flags[i] == "--launcher") {
        ++i;
        continue;
      }
      up.push_back(flags[i]);
    }
    for (const char* f : {"--launcher", "kubernetes", "--k8s-image", "streamforge:test",
                          "--k8s-metrics-port", "0", "--k8s-job-ttl", "600"})
      up.push_back(f);
    up.insert(up.end(), {"--k8s-kubeconfig", kubeconfig_, "--k8s-instance", tag_, "--k8s-secret",
                         "streamforge-workers"});
    start_up(up, dir_ + "/up.log", {}, "streamforge up --launcher kubernetes");
  }
  std::string start(const std::string& flow, const std::string& symbol, const std::string& range) {
    auto r =
        client_->post("/queues/start-test-flow", sf::testing::test_flow_body(flow, symbol, range));
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r->status, 201) << r->body;
    return r->status == 201 ? json_text(bj::parse(r->body).at("queue_id")) : "";
  }
  bj::object queue(const std::string& id) {
    auto r = client_->get("/queues/" + id);
    EXPECT_TRUE(r.ok());
    return r.ok() && r->status == 200 ? bj::parse(r->body).as_object() : bj::object{};
  }
  std::string status(const std::string& id) {
    auto q = queue(id);
    return q.contains("status") ? json_text(q.at("status")) : "";
  }
  std::string wait_end(const std::string& id, std::chrono::seconds timeout = 120s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string st;
    while (std::chrono::steady_clock::now() < deadline) {
      st = status(id);
      if (st == "finished" || st == "error" || st == "interrupted") return st;
      std::this_thread::sleep_for(100ms);
    }
    return st;
  }
  // The queue's status once it is `loading` (a Job is fetching), or after 60 s.
  std::string wait_loading(const std::string& id) {
    auto deadline = std::chrono::steady_clock::now() + 60s;
    std::string st = status(id);
    while (std::chrono::steady_clock::now() < deadline && st != "loading") {
      std::this_thread::sleep_for(50ms);
      st = status(id);
    }
    return st;
  }
  int64_t stored(const std::string& collection) {
    auto store = sf::store::open_data_store(store_url_, dir_);
    if (!store.ok()) return -1;
    auto n = (*store)->count(collection);
    return n.ok() ? *n : -1;
  }
  // The Jobs of a queue as the API server has them.
  bj::array jobs_of(const std::string& queue_id) {
    auto v = admin_->call("GET", "/apis/batch/v1/namespaces/" + ns_ +
                                     "/jobs?labelSelector=streamforge.io%2Fqueue-id%3D" +
                                     sf::launch::kube::label_value(queue_id));
    return v.is_object() ? v.at("items").as_array() : bj::array{};
  }
  static bool has_condition(const bj::value& job, const char* type) {
    const auto* st = job.as_object().if_contains("status");
    const auto* cs = st && st->is_object() ? st->as_object().if_contains("conditions") : nullptr;
    if (!cs || !cs->is_array()) return false;
    for (const auto& c : cs->as_array())
      if (json_text(c.at("type")) == type && json_text(c.at("status")) == "True") return true;
    return false;
  }

  std::string tag_, ns_, kubeconfig_;
  std::unique_ptr<sf::testing::KubeAdmin> admin_;
};

}  // namespace

TEST_F(Kube, AWorkflowsTargetsRunAsJobsAndItsCandlesLand) {
  const std::string id = start("historical_candles", "BTCUSDT", "2024-08-01:2024-08-02");
  EXPECT_EQ(wait_end(id), "finished") << json_text(queue(id).at("message"));
  EXPECT_EQ(stored("btcusdt_candles_1m"), 1440);
  // The Job controller marks the Jobs Complete once their pods' ends are in.
  bj::array jobs;
  size_t complete = 0;
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    jobs = jobs_of(id);
    complete = 0;
    for (const auto& j : jobs) complete += has_condition(j, "Complete");
    if (complete == 2) break;
    std::this_thread::sleep_for(200ms);
  }
  ASSERT_EQ(jobs.size(), 2u) << "a loader and a connector Job";
  EXPECT_EQ(complete, 2u);
  for (const auto& j : jobs)
    EXPECT_EQ(json_text(j.at("metadata").at("labels").at("app.kubernetes.io/managed-by")),
              "streamforge");
}

TEST_F(Kube, AFailingWorkersPodEndsTheQueueInErrorWithItsMessage) {
  const std::string id = start("historical_candles", "NOPEUSDT", "2024-08-01:2024-08-02");
  EXPECT_EQ(wait_end(id), "error");
  EXPECT_NE(json_text(queue(id).at("message")).find("-1121: Invalid symbol."), std::string::npos)
      << json_text(queue(id).at("message"));
  bool failed = false;
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!failed && std::chrono::steady_clock::now() < deadline) {
    for (const auto& j : jobs_of(id)) failed = failed || has_condition(j, "Failed");
    if (!failed) std::this_thread::sleep_for(200ms);
  }
  EXPECT_TRUE(failed) << "the loader's Job failed with its pod";
}

TEST_F(Kube, AStoppedWorkflowEndsInterruptedAndItsJobsEnd) {
  sf::testing::control_sim(sim_.url, R"({"latency_ms":300})");
  const std::string id = start("historical_candles", "BTCUSDT", "2024-08-01:2024-08-08");
  ASSERT_EQ(wait_loading(id), "loading");
  ASSERT_EQ(client_->post("/queues/stop", R"({"queue_id":")" + id + "\"}")->status, 200);
  EXPECT_EQ(wait_end(id, 60s), "interrupted");
  EXPECT_LT(stored("btcusdt_candles_1m"), 10080);
  // Every Job ended: complete after a polite stop, or deleted after the grace.
  auto deadline = std::chrono::steady_clock::now() + 30s;
  size_t active = 1;
  while (active > 0 && std::chrono::steady_clock::now() < deadline) {
    active = 0;
    for (const auto& j : jobs_of(id))
      active += !has_condition(j, "Complete") && !has_condition(j, "Failed");
    if (active > 0) std::this_thread::sleep_for(200ms);
  }
  EXPECT_EQ(active, 0u);
}

TEST_F(Kube, TheManagerRestartedMidWorkflowFollowsItsJobsToTheEnd) {
  // A month of minutes: 44 pages of 1000, several seconds at 200 ms a request.
  sf::testing::control_sim(sim_.url, R"({"latency_ms":200})");
  const std::string id = start("historical_candles", "BTCUSDT", "2024-08-01:2024-08-31");
  ASSERT_EQ(wait_loading(id), "loading");
  up_->signal(SIGKILL);  // the manager's pod dies; its Jobs do not
  ASSERT_TRUE(up_->wait(10s));
  std::this_thread::sleep_for(1s);
  launch_up();
  EXPECT_EQ(wait_end(id, 180s), "finished") << json_text(queue(id).at("message"));
  EXPECT_EQ(stored("btcusdt_candles_1m"), 30 * 1440) << "one row per minute, nothing lost";
  std::ifstream log(dir_ + "/up.log");
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("followed on"), std::string::npos) << "the new manager adopted the Jobs";
}
