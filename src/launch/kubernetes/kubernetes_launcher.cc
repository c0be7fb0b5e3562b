#include "launch/kubernetes/kubernetes_launcher.h"

#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <chrono>
#include <cstdio>
#include <random>

#include "base/log.h"
#include "workers/worker_env.h"

namespace sf::launch {

namespace bj = boost::json;
using std::chrono::milliseconds;

namespace {

constexpr const char* kManagedBy = "app.kubernetes.io/managed-by";
constexpr const char* kInstance = "streamforge.io/instance";
constexpr const char* kQueueId = "streamforge.io/queue-id";
constexpr const char* kTarget = "streamforge.io/target";
constexpr const char* kTelemetryId = "streamforge.io/telemetry-id";

std::string enc(std::string_view s) {
  return boost::urls::encode(s, boost::urls::unreserved_chars);
}

const bj::object* obj_at(const bj::object& o, std::string_view key) {
  const bj::value* v = o.if_contains(key);
  return v && v->is_object() ? &v->as_object() : nullptr;
}
std::string str_at(const bj::object* o, std::string_view key) {
  if (!o) return {};
  const bj::value* v = o->if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}
int64_t int_at(const bj::object* o, std::string_view key, int64_t def) {
  if (!o) return def;
  const bj::value* v = o->if_contains(key);
  return v && v->is_int64() ? v->as_int64() : def;
}

// A DNS-1123 label as Kubernetes names namespaces, secrets and service accounts.
bool is_dns_label(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  return s.front() != '-' && s.back() != '-';
}
// A DNS-1123 subdomain (Secret and ServiceAccount names may have dots).
bool is_dns_subdomain(const std::string& s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (start <= s.size()) {
    size_t dot = s.find('.', start);
    if (dot == std::string::npos) dot = s.size();
    if (!is_dns_label(s.substr(start, dot - start))) return false;
    start = dot + 1;
  }
  return true;
}

// The Job's condition of `type` is True.
bool condition(const bj::object& job, std::string_view type, std::string* reason = nullptr,
               std::string* message = nullptr) {
  const bj::object* st = obj_at(job, "status");
  const bj::value* cs = st ? st->if_contains("conditions") : nullptr;
  if (!cs || !cs->is_array()) return false;
  for (const auto& c : cs->as_array()) {
    if (!c.is_object()) continue;
    const auto& co = c.as_object();
    if (str_at(&co, "type") == type && str_at(&co, "status") == "True") {
      if (reason) *reason = str_at(&co, "reason");
      if (message) *message = str_at(&co, "message");
      return true;
    }
  }
  return false;
}

std::string hex8() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", static_cast<unsigned>(rng() & 0xffffffffu));
  return buf;
}

bool ends_with(const std::string& s, std::string_view tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

bool is_secret_variable(const std::string& name, const std::string& value) {
  for (std::string_view tail : {"_KEY", "_SECRET", "_TOKEN", "_PASSWORD", "_KEY_ID"})
    if (ends_with(name, tail)) return true;
  if (name == workers::env_names::kStore || name == workers::env_names::kArtifacts)
    return log::redact_url(value) != value;  // a URL with a password in it
  return false;
}

std::string job_name_for(const std::string& queue_id, const std::string& telemetry_id) {
  return kube::dns_label("sf-" + queue_id + "-" + telemetry_id, hex8());
}

Result<bj::object> job_manifest(const KubernetesLauncherOptions& o, const LaunchSpec& spec,
                                const std::string& job_name, const std::string& ns) {
  std::string image = spec.env.get_or(workers::env_names::kImage, "");
  if (image.empty()) image = o.image;
  if (image.empty())
    return Error(Errc::invalid_argument,
                 "target " + spec.telemetry_id +
                     " has no image: pass --k8s-image or an `image` in the start request",
                 "image");

  std::map<std::string, std::string> vars = o.env.vars();
  for (const auto& [k, v] : spec.env.vars()) vars[k] = v;
  vars[workers::env_names::kMetricsListen] = "0.0.0.0";
  vars[workers::env_names::kMetricsPort] = std::to_string(o.metrics_port);
  vars[workers::env_names::kLaunchedAtUs] =
      std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count());
  bj::array env;
  for (const auto& [k, v] : vars) {
    if (is_secret_variable(k, v)) {
      if (o.secret.empty())
        return Error(Errc::invalid_argument,
                     k +
                         " holds a secret, and Jobs get secrets only by reference: create a "
                         "Secret with the key " +
                         k + " and pass --k8s-secret NAME",
                     "k8s_secret");
      env.push_back(bj::object{
          {"name", k},
          {"valueFrom", bj::object{{"secretKeyRef", bj::object{{"name", o.secret}, {"key", k}}}}}});
    } else {
      env.push_back(bj::object{{"name", k}, {"value", v}});
    }
  }

  bj::object labels{{kManagedBy, "streamforge"},
                    {kInstance, kube::label_value(o.instance)},
                    {kQueueId, kube::label_value(spec.queue_id)},
                    {kTarget, kube::label_value(spec.target)},
                    {kTelemetryId, kube::label_value(spec.telemetry_id)}};
  bj::object annotations{{kQueueId, spec.queue_id}, {kTelemetryId, spec.telemetry_id}};
  bj::object pod_annotations = annotations;
  if (o.metrics_port > 0) {
    pod_annotations["prometheus.io/scrape"] = "true";
    pod_annotations["prometheus.io/port"] = std::to_string(o.metrics_port);
    pod_annotations["prometheus.io/path"] = "/metrics";
  }

  bj::array command;
  if (o.command.empty()) {
    command = {"streamforge", "worker"};
  } else {
    for (const auto& c : o.command) command.push_back(bj::value(c));
  }
  command.push_back(bj::value(spec.target));

  bj::object container{{"name", "worker"}, {"image", image}, {"command", command}, {"env", env}};
  bj::object resources;
  auto quantities = [](const std::map<std::string, std::string>& m) {
    bj::object q;
    for (const auto& [k, v] : m) q[k] = v;
    return q;
  };
  if (!o.requests.empty()) resources["requests"] = quantities(o.requests);
  if (!o.limits.empty()) resources["limits"] = quantities(o.limits);
  if (!resources.empty()) container["resources"] = resources;
  if (o.metrics_port > 0)
    container["ports"] =
        bj::array{bj::object{{"name", "metrics"}, {"containerPort", o.metrics_port}}};

  bj::object pod_spec{
      {"restartPolicy", "Never"},
      {"automountServiceAccountToken", false},
      {"terminationGracePeriodSeconds",
       std::max<int64_t>(1, std::chrono::ceil<std::chrono::seconds>(o.kill_grace).count())},
      {"containers", bj::array{container}}};
  if (!o.service_account.empty()) pod_spec["serviceAccountName"] = o.service_account;

  return bj::object{
      {"apiVersion", "batch/v1"},
      {"kind", "Job"},
      {"metadata", bj::object{{"name", job_name},
                              {"namespace", ns},
                              {"labels", labels},
                              {"annotations", annotations}}},
      {"spec", bj::object{{"backoffLimit", 0},
                          {"ttlSecondsAfterFinished", o.job_ttl_s},
                          {"template",
                           bj::object{{"metadata", bj::object{{"labels", labels},
                                                              {"annotations", pod_annotations}}},
                                      {"spec", pod_spec}}}}}};
}

KubernetesLauncher::KubernetesLauncher(workers::WorkerRegistry registry,
                                       KubernetesLauncherOptions options,
                                       kube::Credentials credentials)
    : RegistryLauncher(std::move(registry)),
      opts_(std::move(options)),
      ns_(!opts_.namespace_.empty()         ? opts_.namespace_
          : !credentials.namespace_.empty() ? credentials.namespace_
                                            : "default"),
      api_(std::move(credentials), opts_.retry) {}

Result<std::unique_ptr<KubernetesLauncher>> KubernetesLauncher::open(
    workers::WorkerRegistry registry, KubernetesLauncherOptions options,
    kube::Credentials credentials) {
  std::unique_ptr<KubernetesLauncher> l(
      new KubernetesLauncher(std::move(registry), std::move(options), std::move(credentials)));
  const auto& o = l->opts_;
  if (!is_dns_label(l->ns_))
    return Error(Errc::invalid_argument,
                 "namespace '" + l->ns_ + "' is not a Kubernetes name ([a-z0-9-], at most 63)",
                 "k8s_namespace");
  if (!o.secret.empty() && !is_dns_subdomain(o.secret))
    return Error(Errc::invalid_argument, "--k8s-secret '" + o.secret + "' is not a Kubernetes name",
                 "k8s_secret");
  if (!o.service_account.empty() && !is_dns_subdomain(o.service_account))
    return Error(Errc::invalid_argument,
                 "--k8s-service-account '" + o.service_account + "' is not a Kubernetes name",
                 "k8s_service_account");
  if (o.job_ttl_s < 0)
    return Error(Errc::invalid_argument, "--k8s-job-ttl must be 0 or more seconds", "k8s_job_ttl");

  // Every right the launcher uses, asked of the API server before the first workflow needs
  // it: a missing one fails the start with its name, not a launch hours later.
  struct Need {
    const char* verb;
    const char* resource;
    const char* group;
  };
  std::string missing;
  for (const Need& n :
       {Need{"create", "jobs", "batch"}, Need{"delete", "jobs", "batch"},
        Need{"list", "jobs", "batch"}, Need{"watch", "jobs", "batch"}, Need{"list", "pods", ""}}) {
    bj::object review{
        {"apiVersion", "authorization.k8s.io/v1"},
        {"kind", "SelfSubjectAccessReview"},
        {"spec", bj::object{{"resourceAttributes", bj::object{{"namespace", l->ns_},
                                                              {"verb", n.verb},
                                                              {"group", n.group},
                                                              {"resource", n.resource}}}}}};
    auto r = l->api_.call("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                          {"create", "selfsubjectaccessreviews", "authorization.k8s.io", ""},
                          bj::serialize(review));
    if (!r) return r.error();
    const bj::object* st = r->is_object() ? obj_at(r->as_object(), "status") : nullptr;
    const bj::value* allowed = st ? st->if_contains("allowed") : nullptr;
    if (!allowed || !allowed->is_bool() || !allowed->as_bool())
      missing += std::string(missing.empty() ? "" : ", ") + n.verb + " " + n.resource +
                 (*n.group ? std::string(".") + n.group : std::string());
  }
  if (!missing.empty())
    return Error(Errc::permission_denied,
                 "kubernetes: " + l->api_.credentials().source + " may not " + missing +
                     " in namespace " + l->ns_ +
                     ": bind it to a Role with those verbs (deploy/base/rbac.yaml)");

  auto list = l->api_.call("GET", l->jobs_path() + "?labelSelector=" + enc(l->selector()),
                           {"list", "jobs", "batch", l->ns_});
  if (!list) return list.error();
  if (!list->is_object()) return Error(Errc::io_error, "kubernetes: a Job list is not an object");
  l->resource_version_ = str_at(obj_at(list->as_object(), "metadata"), "resourceVersion");
  if (const bj::value* items = list->as_object().if_contains("items"); items && items->is_array()) {
    for (const auto& item : items->as_array()) {
      if (!item.is_object()) continue;
      const bj::object& job = item.as_object();
      const bj::object* meta = obj_at(job, "metadata");
      const bj::object* ann = meta ? obj_at(*meta, "annotations") : nullptr;
      Tracked t{str_at(ann, kQueueId), str_at(ann, kTelemetryId), str_at(meta, "name"), false,
                true};
      if (t.queue_id.empty() || t.telemetry_id.empty() || t.job_name.empty()) continue;
      Key key{t.queue_id, t.telemetry_id};
      if (l->tracked_.contains(key)) continue;  // an older Job of the same target: ignored
      l->adopted_.push_back(key);
      l->by_job_[t.job_name] = key;
      l->tracked_.emplace(key, std::move(t));
      if (auto e = l->on_job("ADDED", job)) l->pending_.push_back(std::move(*e));
    }
  }
  if (!l->adopted_.empty())
    log::info("kubernetes: adopted " + std::to_string(l->adopted_.size()) +
              " Jobs of a previous manager in namespace " + l->ns_);
  l->watcher_ = std::thread([p = l.get()] { p->watch_loop(); });
  return l;
}

KubernetesLauncher::~KubernetesLauncher() { shutdown(); }

std::string KubernetesLauncher::jobs_path() const {
  return "/apis/batch/v1/namespaces/" + ns_ + "/jobs";
}

std::string KubernetesLauncher::selector() const {
  return std::string(kManagedBy) + "=streamforge," + kInstance + "=" +
         kube::label_value(opts_.instance);
}

std::vector<std::pair<std::string, std::string>> KubernetesLauncher::adopted() const {
  std::lock_guard lk(mu_);
  return adopted_;
}

Status KubernetesLauncher::launch(const LaunchSpec& spec) {
  if (!knows(spec.target))
    return Error(Errc::invalid_argument, "unknown target '" + spec.target + "'", "target");
  const Key key{spec.queue_id, spec.telemetry_id};
  std::string name = job_name_for(spec.queue_id, spec.telemetry_id);
  auto manifest = job_manifest(opts_, spec, name, ns_);
  if (!manifest) return manifest.error();
  {
    std::lock_guard lk(mu_);
    if (closed_) return Error(Errc::closed, "the kubernetes launcher is shut down");
    if (tracked_.contains(key))
      return Error(Errc::already_exists,
                   "target " + spec.telemetry_id + " of queue " + spec.queue_id + " is running");
    // Tracked before the Job exists, so its first watch events find it.
    tracked_.emplace(key, Tracked{spec.queue_id, spec.telemetry_id, name});
    by_job_[name] = key;
  }
  auto r =
      api_.call("POST", jobs_path(), {"create", "jobs", "batch", ns_}, bj::serialize(*manifest));
  // The name is new to this launch: a 409 means a retried POST whose first try got through.
  if (!r && r.error().code != Errc::already_exists) {
    std::lock_guard lk(mu_);
    tracked_.erase(key);
    by_job_.erase(name);
    cv_.notify_all();
    return r.error();
  }
  {
    std::lock_guard lk(mu_);
    if (auto it = tracked_.find(key); it != tracked_.end() && it->second.job_name == name)
      it->second.created = true;
  }
  log::debug("kubernetes: created Job " + ns_ + "/" + name + " for " + spec.queue_id + "/" +
             spec.telemetry_id);
  return {};
}

Status KubernetesLauncher::delete_job(const std::string& name, const std::string& why) {
  const std::string body =
      R"({"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Background"})";
  auto r = api_.call("DELETE", jobs_path() + "/" + name, {"delete", "jobs", "batch", ns_}, body);
  if (!r && r.error().code != Errc::not_found) {
    log::warn("kubernetes: cannot delete Job " + name + " (" + why + "): " + r.error().message);
    return r.error();
  }
  return {};
}

void KubernetesLauncher::kill(const std::string& queue_id, const std::string& telemetry_id) {
  std::string name;
  {
    std::lock_guard lk(mu_);
    auto it = tracked_.find({queue_id, telemetry_id});
    if (it == tracked_.end() || it->second.killed) return;
    it->second.killed = true;
    name = it->second.job_name;
  }
  (void)delete_job(name, "stop");
}

size_t KubernetesLauncher::running() const {
  std::lock_guard lk(mu_);
  return tracked_.size();
}

void KubernetesLauncher::set_exit_callback(ExitCallback cb) {
  {
    std::lock_guard cbl(cb_mu_);
    cb_ = std::move(cb);
  }
  std::lock_guard lk(mu_);
  has_cb_ = true;
  cv_.notify_all();
}

void KubernetesLauncher::report(const ExitInfo& e) {
  std::lock_guard cbl(cb_mu_);
  if (cb_) cb_(e);
}

ExitInfo KubernetesLauncher::failed_exit(const Tracked& t, const bj::object& job) {
  ExitInfo e{t.queue_id, t.telemetry_id, 1, ""};
  std::string reason, message;
  condition(job, "Failed", &reason, &message);
  auto pods = api_.call("GET",
                        "/api/v1/namespaces/" + ns_ + "/pods?labelSelector=" +
                            enc("batch.kubernetes.io/job-name=" + t.job_name),
                        {"list", "pods", "", ns_});
  if (pods && pods->is_object()) {
    const bj::value* items = pods->as_object().if_contains("items");
    if (items && items->is_array()) {
      for (const auto& p : items->as_array()) {
        if (!p.is_object()) continue;
        const bj::object* st = obj_at(p.as_object(), "status");
        const bj::value* cs = st ? st->if_contains("containerStatuses") : nullptr;
        if (!cs || !cs->is_array() || cs->as_array().empty() || !cs->as_array()[0].is_object())
          continue;
        const bj::object* state = obj_at(cs->as_array()[0].as_object(), "state");
        const bj::object* term = state ? obj_at(*state, "terminated") : nullptr;
        if (!term) continue;
        e.exit_code = static_cast<int>(int_at(term, "exitCode", 1));
        const std::string why = str_at(term, "reason");
        e.reason = "exit status " + std::to_string(e.exit_code);
        if (!why.empty() && why != "Error" && why != "Completed") e.reason += " (" + why + ")";
        return e;
      }
    }
  } else if (!pods) {
    log::warn("kubernetes: cannot read why Job " + t.job_name + " failed: " + pods.error().message);
  }
  e.reason = "Job " + t.job_name + " failed" + (reason.empty() ? "" : ": " + reason) +
             (message.empty() ? "" : " (" + message + ")");
  return e;
}

std::optional<ExitInfo> KubernetesLauncher::on_job(const std::string& type, const bj::object& job) {
  const std::string name = str_at(obj_at(job, "metadata"), "name");
  Tracked t;
  {
    std::lock_guard lk(mu_);
    auto j = by_job_.find(name);
    if (j == by_job_.end()) return std::nullopt;
    auto it = tracked_.find(j->second);
    if (it == tracked_.end()) return std::nullopt;
    t = it->second;
  }
  std::optional<ExitInfo> e;
  if (condition(job, "Complete")) {
    e = ExitInfo{t.queue_id, t.telemetry_id, 0, ""};
  } else if (condition(job, "Failed")) {
    e = failed_exit(t, job);
  } else if (type == "DELETED") {
    e = t.killed ? ExitInfo{t.queue_id, t.telemetry_id, 143,
                            "killed after stop grace period (Job deleted)"}
                 : ExitInfo{t.queue_id, t.telemetry_id, 137,
                            "Job " + name + " was deleted (not by this launcher)"};
  }
  if (!e) return std::nullopt;
  std::lock_guard lk(mu_);
  auto j = by_job_.find(name);
  if (j == by_job_.end()) return std::nullopt;  // reported meanwhile
  tracked_.erase(j->second);
  by_job_.erase(j);
  cv_.notify_all();
  return e;
}

void KubernetesLauncher::watch_loop() {
  {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return has_cb_ || stop_; });
  }
  std::vector<ExitInfo> first;
  {
    std::lock_guard lk(mu_);
    first.swap(pending_);
  }
  for (const auto& e : first) report(e);

  const kube::Verb watch_verb{"watch", "jobs", "batch", ns_};
  bool relist = false;
  milliseconds backoff{200};
  while (!stop_) {
    if (relist) {
      auto list = api_.call("GET", jobs_path() + "?labelSelector=" + enc(selector()),
                            {"list", "jobs", "batch", ns_});
      if (list && list->is_object()) {
        std::map<std::string, const bj::object*> present;
        if (const bj::value* items = list->as_object().if_contains("items");
            items && items->is_array())
          for (const auto& item : items->as_array())
            if (item.is_object())
              present[str_at(obj_at(item.as_object(), "metadata"), "name")] = &item.as_object();
        std::vector<std::string> names;  // Jobs known to exist (not a POST in flight)
        {
          std::lock_guard lk(mu_);
          for (const auto& [n, k] : by_job_)
            if (tracked_.at(k).created) names.push_back(n);
        }
        for (const auto& n : names) {
          auto it = present.find(n);
          // Absent from the list: deleted while nobody watched (a GET makes sure).
          std::optional<ExitInfo> e;
          if (it != present.end()) {
            e = on_job("ADDED", *it->second);
          } else {
            bj::object gone{{"metadata", bj::object{{"name", n}}}};
            auto got = api_.call("GET", jobs_path() + "/" + n, {"get", "jobs", "batch", ns_});
            if (!got && got.error().code == Errc::not_found) e = on_job("DELETED", gone);
          }
          if (e) report(*e);
        }
        resource_version_ = str_at(obj_at(list->as_object(), "metadata"), "resourceVersion");
        relist = false;
      } else {
        log::warn("kubernetes: cannot list Jobs: " +
                  (list ? std::string("not an object") : list.error().message));
      }
    }
    if (!relist) {
      const std::string path =
          jobs_path() + "?labelSelector=" + enc(selector()) +
          "&watch=1&allowWatchBookmarks=true&timeoutSeconds=" +
          std::to_string(opts_.watch_timeout.count()) +
          (resource_version_.empty() ? "" : "&resourceVersion=" + enc(resource_version_));
      auto s = api_.watch(
          path, watch_verb,
          [&](const std::string& type, const bj::object& o) {
            if (type == "ERROR") {
              // 410 Gone: the resourceVersion is too old; anything else: start over too.
              log::info("kubernetes: the Job watch ended: " + str_at(&o, "message"));
              relist = true;
              return false;
            }
            const std::string rv = str_at(obj_at(o, "metadata"), "resourceVersion");
            if (!rv.empty()) resource_version_ = rv;
            if (type == "BOOKMARK") return true;
            if (auto e = on_job(type, o)) report(*e);
            backoff = milliseconds(200);
            return !stop_;
          },
          opts_.watch_timeout + std::chrono::seconds(30), &stop_);
      if (s.ok() || stop_) continue;
      if (s.error().code == Errc::not_found || s.error().code == Errc::invalid_argument)
        relist = true;  // e.g. 410 as an HTTP status
      log::warn("kubernetes: the Job watch failed (" + s.error().message + "); again in " +
                std::to_string(backoff.count()) + " ms");
    } else {
      log::warn("kubernetes: listing Jobs again in " + std::to_string(backoff.count()) + " ms");
    }
    std::unique_lock lk(mu_);
    cv_.wait_for(lk, backoff, [&] { return stop_.load(); });
    backoff = std::min(backoff * 2, milliseconds(5000));
  }
}

void KubernetesLauncher::shutdown() {
  std::vector<std::string> names;
  {
    std::lock_guard lk(mu_);
    if (closed_ && !watcher_.joinable()) return;
    closed_ = true;
    if (!opts_.keep_jobs_on_shutdown)
      for (auto& [k, t] : tracked_) {
        t.killed = true;
        names.push_back(t.job_name);
      }
  }
  for (const auto& n : names) (void)delete_job(n, "shutdown");
  std::vector<ExitInfo> left;
  {
    std::unique_lock lk(mu_);
    if (!names.empty() && has_cb_)
      cv_.wait_for(lk, opts_.kill_grace + std::chrono::seconds(15),
                   [&] { return tracked_.empty(); });
    stop_ = true;
    cv_.notify_all();
    if (!opts_.keep_jobs_on_shutdown)
      for (const auto& [k, t] : tracked_)
        left.push_back({t.queue_id, t.telemetry_id, 143,
                        "killed after stop grace period (Job deleted; its end was not seen)"});
    tracked_.clear();
    by_job_.clear();
  }
  if (watcher_.joinable()) watcher_.join();
  for (const auto& e : left) report(e);
}

}  // namespace sf::launch
