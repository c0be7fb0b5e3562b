// Test support: the test Kubernetes control plane. `make test` starts one for the `kube`
// label (a CTest fixture `kube` running `scripts/kube start`: kube-apiserver, controller-
// manager, scheduler, etcd and a kwok node on 127.0.0.1, whose pods scripts/kube-pod-runner
// runs as real processes; see tests/CMakeLists.txt) and stops it, removing its data, after.
//
// Lookup: the environment variable SF_TEST_KUBE_DIR (the DIR of a `scripts/kube start` you
// ran yourself), else the fixture's folder (a compile definition set by sf_test(... FIXTURES
// kube); nullptr in a binary without that fixture). Its files: url, ca.crt, admin-token,
// kubeconfig. Tests that need a cluster fail, not skip, when neither gives one.
//
// KubeAdmin makes what a cluster administrator would (namespaces, service accounts, RBAC,
// tokens) through the API with the admin token. Header-only; links sf_http and gtest.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <string>

#include "http/client.h"

namespace sf::testing {

struct KubeTestCluster {
  std::string dir;
  std::string url;  // https://127.0.0.1:PORT
  std::string ca_pem;
  std::string admin_token;
  std::string kubeconfig;  // admin
};

inline std::string read_kube_file(const std::string& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

inline std::optional<KubeTestCluster> kube_test_cluster() {
  std::string dir;
  if (const char* e = std::getenv("SF_TEST_KUBE_DIR"); e && *e) {
    dir = e;
  } else if (SF_TEST_KUBE_DIR != nullptr) {
    dir = SF_TEST_KUBE_DIR;
  } else {
    return std::nullopt;
  }
  KubeTestCluster c{dir, read_kube_file(dir + "/url"), read_kube_file(dir + "/ca.crt") + "\n",
                    read_kube_file(dir + "/admin-token"), dir + "/kubeconfig"};
  if (c.url.empty() || c.admin_token.empty()) return std::nullopt;
  return c;
}

// A lower-case name nobody else in this run uses: "<prefix>-<8 hex>".
inline std::string kube_unique_name(const std::string& prefix) {
  static thread_local std::mt19937 rng{std::random_device{}()};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", static_cast<unsigned>(rng()));
  return prefix + "-" + buf;
}

class KubeAdmin {
 public:
  explicit KubeAdmin(const KubeTestCluster& c)
      : c_(c),
        client_(c.url, c.admin_token, std::chrono::seconds(20), http::ClientTlsOptions{c.ca_pem}) {}

  // A request as the administrator; the parsed answer, or a test failure and null.
  boost::json::value call(const std::string& method, const std::string& path,
                          const std::string& body = {}, int* status = nullptr) {
    auto r =
        client_.request(method, path, body,
                        method == "PATCH" ? "application/merge-patch+json" : "application/json");
    if (!r) {
      ADD_FAILURE() << method << " " << path << ": " << r.error().message;
      return nullptr;
    }
    if (status) *status = r->status;
    if (!status && (r->status < 200 || r->status >= 300))
      ADD_FAILURE() << method << " " << path << ": HTTP " << r->status << " " << r->body;
    boost::system::error_code ec;
    auto v = boost::json::parse(r->body, ec);
    return ec ? boost::json::value(nullptr) : v;
  }

  void create_namespace(const std::string& ns) {
    call("POST", "/api/v1/namespaces",
         R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":")" + ns + R"("}})");
  }
  void delete_namespace(const std::string& ns) {
    int status = 0;
    call("DELETE", "/api/v1/namespaces/" + ns, {}, &status);
  }

  // A service account in `ns` bound to a Role with `rules` (a JSON array of PolicyRules).
  void service_account_with_role(const std::string& ns, const std::string& sa,
                                 const std::string& rules) {
    call("POST", "/api/v1/namespaces/" + ns + "/serviceaccounts",
         R"({"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":")" + sa + R"("}})");
    call("POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/" + ns + "/roles",
         R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":")" + sa +
             R"("},"rules":)" + rules + "}");
    call(
        "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/" + ns + "/rolebindings",
        R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{"name":")" +
            sa + R"("},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":")" +
            sa + R"("},"subjects":[{"kind":"ServiceAccount","name":")" + sa + R"(","namespace":")" +
            ns + R"("}]})");
  }

  // A token of the service account (TokenRequest), bound to `secret` (an existing Secret's
  // name and uid) when given: deleting that Secret then revokes the token.
  std::string token(const std::string& ns, const std::string& sa,
                    const std::string& bound_secret = {}, const std::string& bound_uid = {}) {
    std::string spec = R"({"expirationSeconds":3600)";
    if (!bound_secret.empty())
      spec += R"(,"boundObjectRef":{"kind":"Secret","apiVersion":"v1","name":")" + bound_secret +
              R"(","uid":")" + bound_uid + R"("})";
    spec += "}";
    auto v = call(
        "POST", "/api/v1/namespaces/" + ns + "/serviceaccounts/" + sa + "/token",
        R"({"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":)" + spec + "}");
    if (!v.is_object()) return {};
    return std::string(v.at("status").at("token").as_string());
  }

  const KubeTestCluster& cluster() const { return c_; }

 private:
  KubeTestCluster c_;
  http::Client client_;
};

// What the launcher needs in its namespace (deploy/base's Role says the same).
inline constexpr const char* kLauncherRules =
    R"([{"apiGroups":["batch"],"resources":["jobs"],"verbs":["create","get","list","watch","delete"]},)"
    R"({"apiGroups":[""],"resources":["pods"],"verbs":["get","list","watch"]}])";

}  // namespace sf::testing
