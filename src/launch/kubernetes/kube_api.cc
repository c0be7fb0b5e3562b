#include "launch/kubernetes/kube_api.h"

#include <yaml-cpp/yaml.h>

#include <sys/stat.h>
#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

#include "base/log.h"
#include "base/text.h"
#include "json/json.h"

namespace sf::launch::kube {

namespace fs = std::filesystem;
namespace bj = boost::json;

namespace {

constexpr size_t kMaxFileBytes = 1 << 20;  // kubeconfig, token and CA files
constexpr size_t kMaxAnswerBytes = 64 << 20;
constexpr size_t kMaxWatchLine = 16 << 20;

Result<std::string> read_small_file(const fs::path& p, std::string_view what) {
  std::ifstream in(p, std::ios::binary);
  if (!in)
    return Error(Errc::invalid_argument, "cannot read " + std::string(what) + " " + p.string());
  std::string out;
  char buf[8192];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    out.append(buf, static_cast<size_t>(in.gcount()));
    if (out.size() > kMaxFileBytes)
      return Error(Errc::invalid_argument, std::string(what) + " " + p.string() + " is over 1 MiB");
  }
  return out;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\n')) ++i;
  return s.substr(i);
}

// A named entry ({name: N, <field>: {...}}) of a kubeconfig list, if it is a mapping.
std::optional<YAML::Node> named(const YAML::Node& list, const std::string& name,
                                const char* field) {
  if (!list || !list.IsSequence()) return std::nullopt;
  for (const auto& item : list)
    if (item.IsMap() && item["name"] && item["name"].as<std::string>("") == name && item[field] &&
        item[field].IsMap())
      return item[field];
  return std::nullopt;
}

int64_t mtime_ns(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

// The server's own message from a Status body, else the body's start.
std::string server_message(std::string_view body) {
  auto v = json::parse(body, kMaxAnswerBytes);
  if (v && v->is_object()) {
    if (const auto* m = v->as_object().if_contains("message"); m && m->is_string())
      return std::string(m->as_string());
  }
  return std::string(utf8_prefix(body, 200));
}

std::string status_reason(std::string_view body) {
  auto v = json::parse(body, kMaxAnswerBytes);
  if (v && v->is_object()) {
    if (const auto* m = v->as_object().if_contains("reason"); m && m->is_string())
      return std::string(m->as_string());
  }
  return {};
}

bool retryable(int status, std::string_view body) {
  if (status == 429 || status >= 500) return true;
  return status == 409 && status_reason(body) == "Conflict";  // not AlreadyExists
}

}  // namespace

std::string Verb::describe() const {
  std::string r = resource + (group.empty() ? "" : "." + group);
  return verb + " " + r + (namespace_.empty() ? "" : " in namespace " + namespace_);
}

Result<Credentials> load_kubeconfig(const std::string& path, const std::string& context) {
  std::string text;
  SF_TRY_ASSIGN(text, read_small_file(path, "kubeconfig"));
  auto bad = [&](const std::string& why) {
    return Error(Errc::invalid_argument, "kubeconfig " + path + ": " + why, "k8s_kubeconfig");
  };
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return bad(std::string("not YAML: ") + e.what());
  }
  if (!root.IsMap()) return bad("not a kubeconfig (no mapping at the top)");
  try {
    const std::string ctx_name =
        context.empty() ? root["current-context"].as<std::string>("") : context;
    if (ctx_name.empty()) return bad("no current-context (pass a context)");
    auto found_ctx = named(root["contexts"], ctx_name, "context");
    if (!found_ctx) return bad("no context '" + ctx_name + "'");
    const YAML::Node ctx = *found_ctx;
    const std::string cluster_name = ctx["cluster"].as<std::string>("");
    const std::string user_name = ctx["user"].as<std::string>("");
    auto found_cluster = named(root["clusters"], cluster_name, "cluster");
    if (!found_cluster) return bad("context '" + ctx_name + "' names no known cluster");
    auto found_user = named(root["users"], user_name, "user");
    if (!found_user) return bad("context '" + ctx_name + "' names no known user");
    const YAML::Node cluster = *found_cluster, user = *found_user;

    Credentials c;
    c.source = "kubeconfig " + path + " (context " + ctx_name + ")";
    c.namespace_ = ctx["namespace"].as<std::string>("");
    c.server = cluster["server"].as<std::string>("");
    if (c.server.rfind("https://", 0) != 0 && c.server.rfind("http://", 0) != 0)
      return bad("cluster '" + cluster_name + "' has no http(s) server");
    while (!c.server.empty() && c.server.back() == '/') c.server.pop_back();
    const fs::path base = fs::path(path).parent_path();
    auto rel = [&](const std::string& p) {
      return fs::path(p).is_absolute() ? fs::path(p) : base / p;
    };
    if (auto d = cluster["certificate-authority-data"]) {
      auto pem = base64_decode(d.as<std::string>(""));
      if (!pem)
        return bad("certificate-authority-data of cluster '" + cluster_name + "' is not base64");
      c.ca_pem = *pem;
    } else if (auto f = cluster["certificate-authority"]) {
      SF_TRY_ASSIGN(c.ca_pem, read_small_file(rel(f.as<std::string>("")), "certificate authority"));
    }
    if (cluster["insecure-skip-tls-verify"].as<bool>(false))
      return bad("insecure-skip-tls-verify is not supported: give the cluster's CA");
    if (auto t = user["token"]) {
      c.token = t.as<std::string>("");
    } else if (auto f = user["tokenFile"]) {
      c.token_file = rel(f.as<std::string>("")).string();
    } else if (user["client-certificate"] || user["client-certificate-data"]) {
      return bad("user '" + user_name +
                 "' signs in with a client certificate, which is not supported: give it a token "
                 "(kubectl create token SERVICE_ACCOUNT)");
    } else if (user["exec"] || user["auth-provider"]) {
      return bad("user '" + user_name +
                 "' uses an exec or auth-provider plugin, which is not "
                 "supported: give it a token");
    } else {
      return bad("user '" + user_name + "' has no token or tokenFile");
    }
    return c;
  } catch (const YAML::Exception& e) {
    return bad(std::string("unexpected shape: ") + e.what());
  }
}

Result<Credentials> in_cluster(const Env& env, const std::string& dir) {
  auto host = env.get("KUBERNETES_SERVICE_HOST");
  auto port = env.get("KUBERNETES_SERVICE_PORT");
  if (!host || host->empty() || !port || port->empty())
    return Error(Errc::invalid_argument,
                 "not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST/PORT unset): pass "
                 "--k8s-kubeconfig FILE",
                 "k8s_kubeconfig");
  Credentials c;
  c.source = "in-cluster service account (" + dir + ")";
  const bool v6 = host->find(':') != std::string::npos;
  c.server = "https://" + (v6 ? "[" + *host + "]" : *host) + ":" + *port;
  c.token_file = (fs::path(dir) / "token").string();
  if (!fs::exists(c.token_file))
    return Error(Errc::invalid_argument, "no service account token at " + c.token_file +
                                             " (automountServiceAccountToken off?)");
  SF_TRY_ASSIGN(c.ca_pem, read_small_file(fs::path(dir) / "ca.crt", "cluster CA"));
  auto ns = read_small_file(fs::path(dir) / "namespace", "namespace file");
  if (ns) c.namespace_ = trim(*ns);
  return c;
}

Api::Api(Credentials c, RetryPolicy r)
    : creds_(std::move(c)),
      retry_(r),
      client_(creds_.server, {}, r.timeout, http::ClientTlsOptions{creds_.ca_pem}) {}

Result<std::string> Api::token() {
  if (creds_.token_file.empty()) return creds_.token;
  const int64_t m = mtime_ns(creds_.token_file);
  if (m != file_token_mtime_ || file_token_.empty()) {
    std::string t;
    SF_TRY_ASSIGN(t, read_small_file(creds_.token_file, "service account token"));
    file_token_ = trim(std::move(t));
    file_token_mtime_ = m;
  }
  return file_token_;
}

Error Api::status_error(int status, std::string_view body, const Verb& verb) const {
  const std::string msg = server_message(body);
  const std::string what = "kubernetes: cannot " + verb.describe() + " (" + creds_.source + ")";
  if (status == 401)
    return Error(Errc::permission_denied,
                 what +
                     ": 401 Unauthorized: the API server does not accept the token (expired, "
                     "or for another cluster)");
  if (status == 403)
    return Error(Errc::permission_denied,
                 what + ": 403 Forbidden: " + msg + ". The account needs a Role with verbs [" +
                     verb.verb + "] on resources [" + verb.resource + "] in apiGroups [\"" +
                     verb.group + "\"]" +
                     (verb.namespace_.empty() ? "" : " in namespace " + verb.namespace_) +
                     " (deploy/base/rbac.yaml)");
  if (status == 404) return Error(Errc::not_found, what + ": 404: " + msg);
  if (status == 409) return Error(Errc::already_exists, what + ": 409: " + msg);
  if (status >= 500 || status == 429)
    return Error(Errc::unavailable, what + ": " + std::to_string(status) + ": " + msg);
  return Error(Errc::invalid_argument, what + ": " + std::to_string(status) + ": " + msg);
}

Result<bj::value> Api::call(std::string_view method, const std::string& path, const Verb& verb,
                            std::string_view body) {
  std::lock_guard lk(mu_);
  std::chrono::milliseconds delay = retry_.first_delay;
  thread_local std::minstd_rand rng{std::random_device{}()};
  bool reread_token = false;
  for (int attempt = 1;; ++attempt) {
    std::string tok;
    SF_TRY_ASSIGN(tok, token());
    const std::string_view type =
        method == "PATCH" ? "application/merge-patch+json" : "application/json";
    auto r = client_.request(method, path, body, type,
                             {{"Authorization", "Bearer " + tok}, {"Accept", "application/json"}});
    std::chrono::milliseconds wait = delay;
    Error last;
    if (r && r->status >= 200 && r->status < 300) {
      if (r->body.empty()) return bj::value();
      auto v = json::parse(r->body, kMaxAnswerBytes);
      if (!v)
        return Error(Errc::io_error, "kubernetes: " + verb.describe() +
                                         ": the answer is not JSON: " + v.error().message);
      return std::move(*v);
    }
    if (r) {
      // A rotated token file may be newer than our copy: read it again once.
      if (r->status == 401 && !creds_.token_file.empty() && !reread_token) {
        reread_token = true;
        file_token_.clear();
        continue;
      }
      last = status_error(r->status, r->body, verb);
      if (!retryable(r->status, r->body)) return last;
      int secs = 0;
      const auto ra = r->header("Retry-After");
      if (std::from_chars(ra.data(), ra.data() + ra.size(), secs).ec == std::errc() && secs > 0)
        wait = std::min(std::chrono::milliseconds(secs * 1000), retry_.max_delay);
    } else {
      last = Error(r.error().code == Errc::timeout ? Errc::timeout : Errc::unavailable,
                   "kubernetes: cannot " + verb.describe() + ": " + r.error().message);
    }
    if (attempt >= retry_.attempts) return last;
    log::warn(last.message + "; retrying in " + std::to_string(wait.count()) + " ms");
    // Full jitter keeps many launchers from retrying in step.
    std::uniform_int_distribution<int64_t> jitter(wait.count() / 2, wait.count());
    std::this_thread::sleep_for(std::chrono::milliseconds(jitter(rng)));
    delay = std::min(delay * 2, retry_.max_delay);
  }
}

Status Api::watch(const std::string& path, const Verb& verb,
                  const std::function<bool(const std::string&, const bj::object&)>& on_event,
                  std::chrono::milliseconds idle, const std::atomic<bool>* cancel) {
  std::string tok;
  {
    std::lock_guard lk(mu_);
    SF_TRY_ASSIGN(tok, token());
  }
  http::Client c(creds_.server, {}, retry_.timeout, http::ClientTlsOptions{creds_.ca_pem});
  std::string line;
  std::optional<Error> failed;
  auto on_body = [&](std::string_view piece) {
    size_t at = 0;
    while (at < piece.size()) {
      const size_t nl = piece.find('\n', at);
      const size_t end = nl == std::string_view::npos ? piece.size() : nl;
      line.append(piece.substr(at, end - at));
      at = end;
      if (line.size() > kMaxWatchLine) {
        failed = Error(Errc::too_large,
                       "kubernetes: watch " + verb.describe() + ": an event is over 16 MiB");
        return false;
      }
      if (nl == std::string_view::npos) break;
      ++at;
      if (line.empty()) continue;
      auto v = json::parse(line, kMaxWatchLine);
      line.clear();
      const bj::object* o = v && v->is_object() ? &v->as_object() : nullptr;
      const bj::value* type = o ? o->if_contains("type") : nullptr;
      const bj::value* obj = o ? o->if_contains("object") : nullptr;
      if (!type || !type->is_string() || !obj || !obj->is_object()) {
        failed = Error(Errc::io_error,
                       "kubernetes: watch " + verb.describe() + ": an event is not {type, object}");
        return false;
      }
      if (!on_event(std::string(type->as_string()), obj->as_object())) return false;
    }
    return true;
  };
  auto r =
      c.stream("GET", path, {{"Authorization", "Bearer " + tok}, {"Accept", "application/json"}},
               on_body, idle, cancel);
  if (failed) return *failed;
  if (!r) return r.error();
  if (r->status < 200 || r->status >= 300) return status_error(r->status, r->body, verb);
  return {};
}

std::string dns_label(std::string_view base, std::string_view suffix, size_t max) {
  std::string out;
  for (char ch : base) {
    char c = (ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch + 32) : ch;
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (ok) {
      out += c;
    } else if (!out.empty() && out.back() != '-') {
      out += '-';
    }
  }
  const size_t room = suffix.empty() ? max : max - std::min(max, suffix.size() + 1);
  if (out.size() > room) out.resize(room);
  while (!out.empty() && out.back() == '-') out.pop_back();
  if (out.empty()) out = "x";
  if (!suffix.empty()) out += "-" + std::string(suffix);
  return out;
}

std::string label_value(std::string_view v) {
  std::string out;
  for (char c : v) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    out += ok ? c : '_';
    if (out.size() == 63) break;
  }
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  while (!out.empty() && !alnum(out.back())) out.pop_back();
  size_t i = 0;
  while (i < out.size() && !alnum(out[i])) ++i;
  return out.substr(i);
}

}  // namespace sf::launch::kube
