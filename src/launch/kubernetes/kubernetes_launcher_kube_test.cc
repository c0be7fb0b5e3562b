// The Kubernetes launcher against a real API server (the `kube` fixture: kube-apiserver,
// controller-manager, scheduler, etcd and a kwok node whose pods run as real processes of
// this machine, scripts/kube). Each test works in a namespace of its own, as a service
// account with only the Role the launcher needs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "launch/kubernetes/kubernetes_launcher.h"
#include "tests/contract/launcher_contract.h"
#include "tests/support/kube.h"

namespace sf::launch {
namespace {

using namespace std::chrono_literals;
using sf::testing::KubeAdmin;

// The contract worker as a shell, as the process launcher's contract test has it: the pod
// runner (started with --allow-shell-pods) executes the container's command on this machine.
constexpr const char* kContractScript =
    "if [ -n \"$SF_CONTRACT_EXIT\" ]; then exit \"$SF_CONTRACT_EXIT\"; fi; exec sleep 600";

workers::WorkerRegistry contract_registry() {
  workers::WorkerRegistry r;
  r.add(contract::kContractTarget, contract::kContractRole,
        [](workers::WorkerContext&) { return 0; });  // never called here
  return r;
}

KubeAdmin admin() {
  auto c = sf::testing::kube_test_cluster();
  if (!c) {
    ADD_FAILURE() << "no test Kubernetes cluster: run under `make test` (fixture kube) or set "
                     "SF_TEST_KUBE_DIR to the DIR of `scripts/kube start --dir DIR`";
    return KubeAdmin(sf::testing::KubeTestCluster{});
  }
  return KubeAdmin(*c);
}

// A namespace with the launcher's service account; its credentials.
kube::Credentials launcher_namespace(KubeAdmin& a, const std::string& prefix,
                                     const char* rules = sf::testing::kLauncherRules) {
  const std::string ns = sf::testing::kube_unique_name(prefix);
  a.create_namespace(ns);
  a.service_account_with_role(ns, "sf-launcher", rules);
  kube::Credentials c;
  c.server = a.cluster().url;
  c.ca_pem = a.cluster().ca_pem;
  c.token = a.token(ns, "sf-launcher");
  c.namespace_ = ns;
  c.source = "test service account " + ns + "/sf-launcher";
  return c;
}

KubernetesLauncherOptions contract_options() {
  KubernetesLauncherOptions o;
  o.image = "streamforge:test";
  o.command = {"sh", "-c", kContractScript};
  o.kill_grace = 1s;
  o.keep_jobs_on_shutdown = false;
  o.job_ttl_s = 60;
  return o;
}

}  // namespace

namespace contract {
struct KubernetesLauncherFactory {
  static std::unique_ptr<Launcher> make(const std::filesystem::path&) {
    auto a = admin();
    auto l = KubernetesLauncher::open(contract_registry(), contract_options(),
                                      launcher_namespace(a, "sf-contract"));
    if (!l) {
      ADD_FAILURE() << l.error().message;
      return nullptr;
    }
    return std::move(*l);
  }
};
INSTANTIATE_TYPED_TEST_SUITE_P(Kubernetes, LauncherContract,
                               ::testing::Types<KubernetesLauncherFactory>);
}  // namespace contract

namespace {

TEST(KubernetesLauncherRbac, MissingRightsFailTheStartNamingThem) {
  auto a = admin();
  auto creds = launcher_namespace(a, "sf-rbac");
  // The same service account elsewhere: no right at all there.
  auto o = contract_options();
  o.namespace_ = "default";
  auto elsewhere = KubernetesLauncher::open(contract_registry(), o, creds);
  ASSERT_FALSE(elsewhere.ok());
  EXPECT_EQ(elsewhere.error().code, Errc::permission_denied);
  EXPECT_NE(elsewhere.error().message.find("create jobs.batch"), std::string::npos)
      << elsewhere.error().message;
  EXPECT_NE(elsewhere.error().message.find("namespace default"), std::string::npos);

  // A Role without delete: named, and nothing else.
  auto partial = launcher_namespace(
      a, "sf-rbac",
      R"([{"apiGroups":["batch"],"resources":["jobs"],"verbs":["create","get","list","watch"]},)"
      R"({"apiGroups":[""],"resources":["pods"],"verbs":["get","list","watch"]}])");
  auto l = KubernetesLauncher::open(contract_registry(), contract_options(), partial);
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.error().code, Errc::permission_denied);
  EXPECT_NE(l.error().message.find("may not delete jobs.batch in namespace"), std::string::npos)
      << l.error().message;
  EXPECT_EQ(l.error().message.find("create"), std::string::npos) << l.error().message;

  // A 403 from the API itself: creating a Job in default with the launcher's token.
  sf::http::Client raw(a.cluster().url, creds.token, 10s, {a.cluster().ca_pem});
  auto r = raw.post("/apis/batch/v1/namespaces/default/jobs",
                    R"({"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"x"},"spec":{}})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 403) << r->body;
}

TEST(KubernetesLauncherAdoption, ANewLauncherFollowsTheJobsOfThePreviousOne) {
  auto a = admin();
  auto creds = launcher_namespace(a, "sf-adopt");
  auto o = contract_options();
  o.keep_jobs_on_shutdown = true;  // as the service runs it
  contract::ExitLog first_exits;
  {
    auto first = KubernetesLauncher::open(contract_registry(), o, creds);
    ASSERT_TRUE(first.ok()) << first.error().message;
    (*first)->set_exit_callback(first_exits.callback());
    ASSERT_TRUE((*first)->launch(contract::spec("q1", "runs")).ok());
    ASSERT_TRUE((*first)->launch(contract::spec("q1", "ends", 5)).ok());
    ASSERT_TRUE(first_exits.wait("q1", "ends"));
    (*first)->shutdown();  // the manager goes away; its Jobs do not
  }
  EXPECT_EQ(first_exits.size(), 1u) << "a kept Job is not reported at shutdown";
  // While no launcher runs, a Job of the instance finishes.
  {
    auto side = KubernetesLauncher::open(contract_registry(), o, creds);
    ASSERT_TRUE(side.ok());
    ASSERT_TRUE((*side)->launch(contract::spec("q2", "done-meanwhile", 0)).ok());
    (*side)->shutdown();
  }
  std::this_thread::sleep_for(3s);

  auto second = KubernetesLauncher::open(contract_registry(), o, creds);
  ASSERT_TRUE(second.ok()) << second.error().message;
  auto adopted = (*second)->adopted();
  std::sort(adopted.begin(), adopted.end());
  ASSERT_EQ(adopted.size(), 3u) << "the running Job, the failed one and the finished one";
  contract::ExitLog exits;
  (*second)->set_exit_callback(exits.callback());
  auto done = exits.wait("q2", "done-meanwhile");
  ASSERT_TRUE(done) << "a Job that finished while no launcher ran is reported";
  EXPECT_EQ(done->exit_code, 0);
  auto ended = exits.wait("q1", "ends");
  ASSERT_TRUE(ended);
  EXPECT_EQ(ended->exit_code, 5);
  EXPECT_EQ((*second)->running(), 1u);
  (*second)->kill("q1", "runs");
  auto killed = exits.wait("q1", "runs");
  ASSERT_TRUE(killed) << "the adopted running Job can be stopped";
  EXPECT_EQ(killed->reason, "killed after stop grace period (Job deleted)");
  (*second)->shutdown();
}

TEST(KubernetesLauncherCredentials, ARotatedTokenFileIsReadAgain) {
  auto a = admin();
  auto creds = launcher_namespace(a, "sf-rotate");
  const std::string ns = creds.namespace_;
  // Two tokens, each bound to a Secret: deleting the Secret revokes its token.
  auto bound = [&](const std::string& name) {
    auto s = a.call("POST", "/api/v1/namespaces/" + ns + "/secrets",
                    R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":")" + name + R"("}})");
    return a.token(ns, "sf-launcher", name, std::string(s.at("metadata").at("uid").as_string()));
  };
  sf::testing::TempDir dir("sf-kube-token");
  const auto file = dir.path() / "token";
  std::ofstream(file) << bound("t1") << "\n";
  creds.token.clear();
  creds.token_file = file.string();
  auto l = KubernetesLauncher::open(contract_registry(), contract_options(), creds);
  ASSERT_TRUE(l.ok()) << l.error().message;
  contract::ExitLog exits;
  (*l)->set_exit_callback(exits.callback());
  ASSERT_TRUE((*l)->launch(contract::spec("q", "a", 0)).ok());
  ASSERT_TRUE(exits.wait("q", "a"));

  // The kubelet writes a new token and the old one is revoked.
  {
    std::ofstream out(file.string() + ".new");
    out << bound("t2") << "\n";
  }
  std::filesystem::rename(file.string() + ".new", file);
  int status = 0;
  a.call("DELETE", "/api/v1/namespaces/" + ns + "/secrets/t1", {}, &status);
  ASSERT_EQ(status, 200);
  ASSERT_TRUE((*l)->launch(contract::spec("q", "b", 0)).ok())
      << "the launcher must use the rotated token";
  ASSERT_TRUE(exits.wait("q", "b"));
  (*l)->shutdown();
}

TEST(KubernetesLauncherJobs, AFailingPodsExitCodeAndTheJobsShapeReachTheServer) {
  auto a = admin();
  auto creds = launcher_namespace(a, "sf-jobs");
  auto o = contract_options();
  o.requests = {{"cpu", "50m"}, {"memory", "32Mi"}};
  o.limits = {{"memory", "64Mi"}};
  o.job_ttl_s = 120;
  auto l = KubernetesLauncher::open(contract_registry(), o, creds);
  ASSERT_TRUE(l.ok()) << l.error().message;
  contract::ExitLog exits;
  (*l)->set_exit_callback(exits.callback());
  ASSERT_TRUE((*l)->launch(contract::spec("q-9", "fails", 9)).ok());
  auto e = exits.wait("q-9", "fails", 20s);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->exit_code, 9);
  EXPECT_EQ(e->reason, "exit status 9");
  // What the API server stored, as `kubectl get job -o json` shows it.
  auto jobs = a.call("GET", "/apis/batch/v1/namespaces/" + creds.namespace_ +
                                "/jobs?labelSelector=streamforge.io%2Fqueue-id%3Dq-9");
  ASSERT_EQ(jobs.at("items").as_array().size(), 1u);
  const auto& job = jobs.at("items").as_array()[0];
  EXPECT_EQ(job.at("spec").at("backoffLimit").as_int64(), 0);
  EXPECT_EQ(job.at("spec").at("ttlSecondsAfterFinished").as_int64(), 120);
  EXPECT_EQ(job.at("metadata").at("labels").at("streamforge.io/telemetry-id").as_string(), "fails");
  const auto& c = job.at("spec").at("template").at("spec").at("containers").as_array()[0];
  EXPECT_EQ(c.at("resources").at("limits").at("memory").as_string(), "64Mi");
  (*l)->shutdown();
}

}  // namespace
}  // namespace sf::launch
