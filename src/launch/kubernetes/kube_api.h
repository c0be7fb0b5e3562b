// A small client of the Kubernetes API for the Kubernetes launcher: where the API server is
// and who we are (a kubeconfig file or the pod's own service account), calls with retries,
// and watches. Plain HTTPS + JSON over src/http's client: no C++ Kubernetes client is
// packaged for Debian.
//
// Errors (Result values, never exceptions):
//   401 / 403               -> permission_denied, naming the verb, resource and namespace and
//                              the RBAC rule that would allow it
//   404                     -> not_found;  409 AlreadyExists -> already_exists
//   other 4xx               -> invalid_argument with the server's message
//   5xx, 429, 409 Conflict, lost connections -> retried with exponential backoff (honouring
//                              Retry-After), then unavailable / timeout
// Messages never contain a token.
//
// Threading: Api is thread-safe (calls are serialised on one kept-alive connection); each
// watch() runs on the caller's thread on a connection of its own.
#pragma once

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "base/env.h"
#include "base/result.h"
#include "http/client.h"

namespace sf::launch::kube {

// Where the service account's files are mounted in a pod.
inline constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

struct Credentials {
  std::string server;      // https://host:port
  std::string ca_pem;      // the cluster's CA, trusted on top of the system store
  std::string token;       // a fixed bearer token, or
  std::string token_file;  // a file read again when it changes (projected tokens rotate)
  std::string namespace_;  // the context's or the pod's namespace ("" if neither says)
  std::string source;      // "kubeconfig F (context C)" or "in-cluster service account"
};

// The current (or the named) context of a kubeconfig file: its cluster's server and CA
// (certificate-authority-data or certificate-authority, relative to the file) and its
// user's token or tokenFile. invalid_argument naming the file and the field for anything
// else (client certificates and exec plugins are not supported: use a token).
Result<Credentials> load_kubeconfig(const std::string& path, const std::string& context = {});

// The pod's own credentials: KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT from `env`,
// and `dir`'s token, ca.crt and namespace. invalid_argument when not in a pod.
Result<Credentials> in_cluster(const Env& env, const std::string& dir = kServiceAccountDir);

struct RetryPolicy {
  int attempts = 6;  // in all, the first included
  std::chrono::milliseconds first_delay{200};
  std::chrono::milliseconds max_delay{5000};
  std::chrono::milliseconds timeout{10000};  // one request
};

// What a call is, for error messages: "create jobs.batch in namespace sf".
struct Verb {
  std::string verb;      // create, get, list, watch, delete, patch
  std::string resource;  // jobs, pods
  std::string group;     // batch, "" for the core group
  std::string namespace_;
  std::string describe() const;
};

class Api {
 public:
  explicit Api(Credentials c, RetryPolicy r = {});

  // One request (path from the API root, e.g. "/apis/batch/v1/namespaces/x/jobs"), retried
  // as the header says; the parsed JSON answer of a 2xx.
  Result<boost::json::value> call(std::string_view method, const std::string& path,
                                  const Verb& verb, std::string_view body = {});

  // A watch (path with ?watch=1...): `on_event` gets each event's type (ADDED, MODIFIED,
  // DELETED, BOOKMARK, ERROR) and object, and returns false to stop. Returns when the server
  // ends the watch (normal: its timeoutSeconds), on_event stops it, `cancel` is set
  // (Errc::closed) or nothing arrives for `idle`. Not retried: the caller re-lists or
  // resumes from the last resourceVersion.
  Status watch(const std::string& path, const Verb& verb,
               const std::function<bool(const std::string&, const boost::json::object&)>& on_event,
               std::chrono::milliseconds idle, const std::atomic<bool>* cancel);

  const Credentials& credentials() const { return creds_; }

 private:
  // The bearer token now (the file's content, read again when it changed).
  Result<std::string> token();
  Error status_error(int status, std::string_view body, const Verb& verb) const;

  Credentials creds_;
  RetryPolicy retry_;
  std::mutex mu_;  // the call connection and the token cache
  http::Client client_;
  std::string file_token_;
  int64_t file_token_mtime_ = -1;
};

// "sf-<queue>-<telemetry>" as a DNS-1123 label of at most `max` characters (lower case,
// [a-z0-9-], starting and ending with an alphanumeric), with `suffix` appended after '-'.
std::string dns_label(std::string_view base, std::string_view suffix, size_t max = 63);
// `v` as a label value: at most 63 of [A-Za-z0-9._-], starting and ending with an
// alphanumeric; characters outside become '_' (values that need it exactly go into an
// annotation too).
std::string label_value(std::string_view v);

}  // namespace sf::launch::kube
