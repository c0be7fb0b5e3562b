// Unit tests of the Kubernetes launcher's parts that need no cluster: the Job it writes,
// secrets by reference, names, kubeconfig and in-cluster credentials, and the API client's
// retries and errors against a scripted HTTP server. The launcher against a real API
// server: kubernetes_launcher_kube_test.cc.
#include "launch/kubernetes/kubernetes_launcher.h"

#include <gtest/gtest.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "base/text.h"
#include "http/server.h"
#include "tests/support/temp_dir.h"

namespace sf::launch {
namespace {

namespace bj = boost::json;

LaunchSpec spec() {
  Env env;
  env.set("QUEUE_ID", "Q_1");
  env.set("SYMBOL", "BTCUSDT");
  return {"Q_1", "loader-api-candles", "loader-api-candles-r1", env};
}

const bj::object& container(const bj::object& job) {
  return job.at("spec").at("template").at("spec").at("containers").as_array()[0].as_object();
}

std::map<std::string, bj::value> env_of(const bj::object& job) {
  std::map<std::string, bj::value> out;
  for (const auto& e : container(job).at("env").as_array())
    out[std::string(e.at("name").as_string())] =
        e.as_object().contains("value") ? e.at("value") : e.at("valueFrom");
  return out;
}

TEST(KubernetesJob, CarriesTheWorkersEnvironmentLabelsAndLimits) {
  KubernetesLauncherOptions o;
  o.image = "registry.example/streamforge:1.0";
  o.service_account = "sf-worker";
  o.requests = {{"cpu", "100m"}, {"memory", "128Mi"}};
  o.limits = {{"memory", "1Gi"}};
  o.job_ttl_s = 300;
  o.kill_grace = std::chrono::milliseconds(4500);
  o.env.set("SF_BUS", "kafka://kafka:9092");
  auto job = job_manifest(o, spec(), "sf-q-1-x-0000abcd", "market");
  ASSERT_TRUE(job.ok()) << job.error().message;
  const bj::object& j = *job;
  EXPECT_EQ(j.at("metadata").at("name").as_string(), "sf-q-1-x-0000abcd");
  EXPECT_EQ(j.at("metadata").at("namespace").as_string(), "market");
  const auto& labels = j.at("metadata").at("labels").as_object();
  EXPECT_EQ(labels.at("app.kubernetes.io/managed-by").as_string(), "streamforge");
  EXPECT_EQ(labels.at("streamforge.io/queue-id").as_string(), "Q_1");
  EXPECT_EQ(labels.at("streamforge.io/target").as_string(), "loader-api-candles");
  EXPECT_EQ(labels.at("streamforge.io/telemetry-id").as_string(), "loader-api-candles-r1");
  EXPECT_EQ(j.at("metadata").at("annotations").at("streamforge.io/queue-id").as_string(), "Q_1");
  EXPECT_EQ(j.at("spec").at("backoffLimit").as_int64(), 0);
  EXPECT_EQ(j.at("spec").at("ttlSecondsAfterFinished").as_int64(), 300);
  const auto& pod = j.at("spec").at("template").at("spec").as_object();
  EXPECT_EQ(pod.at("restartPolicy").as_string(), "Never");
  EXPECT_EQ(pod.at("serviceAccountName").as_string(), "sf-worker");
  EXPECT_EQ(pod.at("terminationGracePeriodSeconds").as_int64(), 5) << "the kill grace, rounded up";
  EXPECT_FALSE(pod.at("automountServiceAccountToken").as_bool());
  const auto& c = container(j);
  EXPECT_EQ(c.at("image").as_string(), "registry.example/streamforge:1.0");
  EXPECT_EQ(bj::serialize(c.at("command")), R"(["streamforge","worker","loader-api-candles"])");
  EXPECT_EQ(c.at("resources").at("requests").at("cpu").as_string(), "100m");
  EXPECT_EQ(c.at("resources").at("limits").at("memory").as_string(), "1Gi");
  auto env = env_of(j);
  EXPECT_EQ(env.at("SF_BUS").as_string(), "kafka://kafka:9092");
  EXPECT_EQ(env.at("SYMBOL").as_string(), "BTCUSDT");
  EXPECT_TRUE(env.contains("SF_LAUNCHED_AT_US"));
}

TEST(KubernetesJob, TheRequestsImageWinsAndNoImageIsAClearError) {
  KubernetesLauncherOptions o;
  auto s = spec();
  auto none = job_manifest(o, s, "n", "default");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, Errc::invalid_argument);
  EXPECT_NE(none.error().message.find("--k8s-image"), std::string::npos) << none.error().message;
  o.image = "default:1";
  s.env.set("IMAGE", "custom:2");
  auto job = job_manifest(o, s, "n", "default");
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(container(*job).at("image").as_string(), "custom:2");
}

TEST(KubernetesJob, SecretsGoByReferenceNeverInline) {
  EXPECT_TRUE(is_secret_variable("AWS_SECRET_ACCESS_KEY", "x"));
  EXPECT_TRUE(is_secret_variable("AWS_ACCESS_KEY_ID", "x"));
  EXPECT_TRUE(is_secret_variable("BINANCE_API_KEY", "x"));
  EXPECT_TRUE(is_secret_variable("SF_STORE", "postgresql://sf:hunter2@db:5432/sf"));
  EXPECT_FALSE(is_secret_variable("SF_STORE", "postgresql://sf@db:5432/sf"));
  EXPECT_FALSE(is_secret_variable("SYMBOL", "BTCUSDT"));

  KubernetesLauncherOptions o;
  o.image = "i";
  o.env.set("SF_STORE", "postgresql://sf:hunter2@db:5432/sf");
  o.env.set("AWS_SECRET_ACCESS_KEY", "s3cr3t");
  auto refused = job_manifest(o, spec(), "n", "default");
  ASSERT_FALSE(refused.ok()) << "a secret without a Secret to put it in";
  EXPECT_EQ(refused.error().field, "k8s_secret");
  EXPECT_EQ(refused.error().message.find("hunter2"), std::string::npos);

  o.secret = "streamforge-secrets";
  auto job = job_manifest(o, spec(), "n", "default");
  ASSERT_TRUE(job.ok()) << job.error().message;
  const std::string text = bj::serialize(*job);
  EXPECT_EQ(text.find("hunter2"), std::string::npos) << text;
  EXPECT_EQ(text.find("s3cr3t"), std::string::npos) << text;
  auto env = env_of(*job);
  EXPECT_EQ(bj::serialize(env.at("SF_STORE")),
            R"({"secretKeyRef":{"name":"streamforge-secrets","key":"SF_STORE"}})");
  EXPECT_EQ(bj::serialize(env.at("AWS_SECRET_ACCESS_KEY")),
            R"({"secretKeyRef":{"name":"streamforge-secrets","key":"AWS_SECRET_ACCESS_KEY"}})");
}

TEST(KubernetesJob, NamesAreDnsLabelsAndLabelValuesAreSafe) {
  const std::string n = job_name_for("My_Queue.2024", "loader-api-candles-r1");
  EXPECT_LE(n.size(), 63u);
  EXPECT_EQ(n.rfind("sf-my-queue-2024-loader-api-candles-r1-", 0), 0u) << n;
  EXPECT_NE(job_name_for("q", "t"), job_name_for("q", "t")) << "a fresh name per launch";
  const std::string long_name = job_name_for(std::string(200, 'a'), "t");
  EXPECT_EQ(long_name.size(), 63u);
  for (char c : long_name)
    EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
  EXPECT_EQ(kube::dns_label("--A--b--", ""), "a-b");
  EXPECT_EQ(kube::dns_label("***", "x1"), "x-x1");
  EXPECT_EQ(kube::label_value("queue id/1"), "queue_id_1");
  EXPECT_EQ(kube::label_value("-x-"), "x");
  EXPECT_EQ(kube::label_value(std::string(100, 'z')).size(), 63u);
}

class Kubeconfig : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::string& text) {
    const auto p = dir_.path() / name;
    std::ofstream(p) << text;
    return p.string();
  }
  sf::testing::TempDir dir_{"sf-kubeconfig"};
};

TEST_F(Kubeconfig, ReadsTheCurrentContextsServerCaAndToken) {
  const std::string ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  const std::string path = write("config", R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: c1
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority-data: )" + base64_encode(ca) +
                                               R"(
contexts:
- name: dev
  context: {cluster: c1, user: u1, namespace: market}
- name: other
  context: {cluster: c1, user: u2}
users:
- name: u1
  user: {token: abc.def}
- name: u2
  user: {tokenFile: tok}
)");
  auto c = kube::load_kubeconfig(path);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->server, "https://127.0.0.1:6443");
  EXPECT_EQ(c->ca_pem, ca);
  EXPECT_EQ(c->token, "abc.def");
  EXPECT_EQ(c->namespace_, "market");
  auto other = kube::load_kubeconfig(path, "other");
  ASSERT_TRUE(other.ok()) << other.error().message;
  EXPECT_EQ(other->token_file, (dir_.path() / "tok").string()) << "relative to the file";
  auto missing = kube::load_kubeconfig(path, "nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("no context 'nope'"), std::string::npos);
}

TEST_F(Kubeconfig, ClientCertificatesAndBrokenFilesAreClearErrors) {
  const std::string cert = write("cert", R"(current-context: x
clusters: [{name: c, cluster: {server: "https://h:6443"}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
users: [{name: u, user: {client-certificate-data: AAAA, client-key-data: BBBB}}]
)");
  auto c = kube::load_kubeconfig(cert);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("client certificate"), std::string::npos) << c.error().message;
  auto bad = kube::load_kubeconfig(write("bad", "{{{"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("not YAML"), std::string::npos) << bad.error().message;
  auto none = kube::load_kubeconfig((dir_.path() / "absent").string());
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, Errc::invalid_argument);
}

TEST_F(Kubeconfig, InClusterReadsTheServiceAccountFiles) {
  Env env;
  auto outside = kube::in_cluster(env, dir_.path().string());
  ASSERT_FALSE(outside.ok());
  EXPECT_NE(outside.error().message.find("--k8s-kubeconfig"), std::string::npos);
  env.set("KUBERNETES_SERVICE_HOST", "10.96.0.1");
  env.set("KUBERNETES_SERVICE_PORT", "443");
  write("token", "tok\n");
  write("ca.crt", "PEM");
  write("namespace", "market\n");
  auto c = kube::in_cluster(env, dir_.path().string());
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->server, "https://10.96.0.1:443");
  EXPECT_EQ(c->ca_pem, "PEM");
  EXPECT_EQ(c->namespace_, "market");
  EXPECT_EQ(c->token_file, (dir_.path() / "token").string());
}

}  // namespace
}  // namespace sf::launch

// The API client's answers to the server's failures, against a scripted HTTP server.
namespace sf::launch {
namespace {

class ScriptedApi : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.route("POST", "/apis/batch/v1/namespaces/ns/jobs", [this](const http::Request& r) {
      std::lock_guard lk(mu_);
      ++calls_;
      auth_.push_back(std::string(r.header("Authorization")));
      if (script_.empty()) return http::Response::json(201, R"({"kind":"Job"})");
      auto next = script_.front();
      script_.pop_front();
      return next;
    });
    ASSERT_TRUE(server_.start().ok());
  }
  kube::Api api(kube::Credentials c = {}) {
    c.server = server_.base_url();
    if (c.token.empty() && c.token_file.empty()) c.token = "t0k";
    c.source = "test";
    kube::RetryPolicy r;
    r.first_delay = std::chrono::milliseconds(10);
    r.max_delay = std::chrono::milliseconds(40);
    r.attempts = 4;
    return kube::Api(c, r);
  }
  static http::Response status(int code, const std::string& reason, const std::string& msg) {
    return http::Response::json(
        code, R"({"kind":"Status","reason":")" + reason + R"(","message":")" + msg + R"("})");
  }
  const kube::Verb create_{"create", "jobs", "batch", "ns"};
  http::Server server_{http::ServerOptions{}};
  std::mutex mu_;
  std::deque<http::Response> script_;
  std::vector<std::string> auth_;
  int calls_ = 0;
};

TEST_F(ScriptedApi, ServerErrorsThrottlingAndConflictsAreRetried) {
  script_ = {status(503, "ServiceUnavailable", "etcd"), status(429, "TooManyRequests", "slow"),
             status(409, "Conflict", "the object has been modified")};
  auto a = api();
  auto r = a.call("POST", "/apis/batch/v1/namespaces/ns/jobs", create_, "{}");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(calls_, 4);
  EXPECT_EQ(auth_.front(), "Bearer t0k");
}

TEST_F(ScriptedApi, GivingUpAfterTheLastAttemptSaysWhy) {
  for (int i = 0; i < 4; ++i) script_.push_back(status(500, "InternalError", "boom"));
  auto a = api();
  auto r = a.call("POST", "/apis/batch/v1/namespaces/ns/jobs", create_, "{}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::unavailable);
  EXPECT_NE(r.error().message.find("create jobs.batch in namespace ns"), std::string::npos);
  EXPECT_NE(r.error().message.find("boom"), std::string::npos);
  EXPECT_EQ(calls_, 4);
}

TEST_F(ScriptedApi, AlreadyExistsAndForbiddenAreAnsweredAtOnce) {
  script_ = {status(409, "AlreadyExists", "jobs.batch \"x\" already exists")};
  auto a = api();
  auto exists = a.call("POST", "/apis/batch/v1/namespaces/ns/jobs", create_, "{}");
  ASSERT_FALSE(exists.ok());
  EXPECT_EQ(exists.error().code, Errc::already_exists);
  EXPECT_EQ(calls_, 1) << "AlreadyExists is an answer, not a conflict to retry";

  script_ = {status(403, "Forbidden", "jobs.batch is forbidden")};
  auto denied = a.call("POST", "/apis/batch/v1/namespaces/ns/jobs", create_, "{}");
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.error().code, Errc::permission_denied);
  EXPECT_NE(denied.error().message.find("verbs [create] on resources [jobs] in apiGroups "
                                        "[\"batch\"] in namespace ns"),
            std::string::npos)
      << denied.error().message;
  EXPECT_EQ(calls_, 2);
  EXPECT_EQ(denied.error().message.find("t0k"), std::string::npos) << "no token in messages";
}

TEST_F(ScriptedApi, A401ReadsARotatedTokenFileOnceMore) {
  sf::testing::TempDir dir("sf-kube-rotate");
  const auto file = dir.path() / "token";
  std::ofstream(file) << "old\n";
  kube::Credentials c;
  c.token_file = file.string();
  auto a = api(c);
  ASSERT_TRUE(a.call("POST", "/apis/batch/v1/namespaces/ns/jobs", create_, "{}").ok());
  // The file is rotated, its modification time kept (so only the 401 can tell): the old
  // token is refused, the file read again, the call repeated with the new one.
  const auto when = std::filesystem::last_write_time(file);
  std::ofstream(file) << "new\n";
  std::filesystem::last_write_time(file, when);
  script_ = {status(401, "Unauthorized", "")};
  ASSERT_TRUE(a.call("POST", "/apis/batch/v1/namespaces/ns/jobs", create_, "{}").ok());
  ASSERT_EQ(auth_.size(), 3u);
  EXPECT_EQ(auth_[0], "Bearer old");
  EXPECT_EQ(auth_[1], "Bearer old");
  EXPECT_EQ(auth_[2], "Bearer new");
}

}  // namespace
}  // namespace sf::launch
