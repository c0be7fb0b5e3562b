// sf::testing::ArangoDouble: a TEST DOUBLE of an ArangoDB 3.11 single server's HTTP API, for
// StreamForge's tests. It is not ArangoDB: it keeps everything in memory and implements only
// the subset of the documented API that StreamForge's ArangoDB store uses (see README.md in
// this folder for the full list and what is left out), answering with the documented status
// codes, JSON bodies and errorNum values so that a client passing against it would pass
// against a real server.
//
// Implemented: GET /_api/version; databases (current, create); collections (document/edge,
// key generators traditional/padded/autoincrement; list, create, properties, count, drop);
// documents (single and array create with overwriteMode, GET one, PUT onlyget, PATCH/PUT/
// DELETE arrays, X-Arango-Error-Codes); indexes as metadata (create/list/get/delete
// non-unique persistent indexes; queries still scan in memory); stream transactions
// (isolation, commit, abort, idle timeout, size limit, write-write conflicts); AQL cursors for
// one small grammar (FOR/FILTER/SORT/LIMIT/RETURN and COLLECT WITH COUNT); the gharial graph
// API (create, get, list); Basic and HS256 JWT auth (/_open/auth); body limits; fault
// injection (below).
// Not implemented: anything else (other index types, views, users, replication, cluster,
// full AQL, durability: a stopped double forgets everything).
//
// Contract:
// - start() listens on options.address:options.port (0 = a free port) and returns an
//   io_error when it cannot. stop() closes every connection; idempotent; the destructor
//   calls it. start()/stop() from one controlling thread.
// - Every API request needs Basic auth with username/password or a bearer JWT signed with
//   jwt_secret, except POST /_open/auth. Faults (fail/delay/drop) count API requests only;
//   requests()/clear_requests() and the fault setters are thread-safe.
// - The HTTP endpoints under /_double/ (faults, requests) exist only in the double; they
//   need the same auth.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"

namespace sf::testing {

struct ArangoDoubleOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0: any free port
  std::string username = "root";
  std::string password;                      // Basic auth with these; always required
  std::string jwt_secret;                    // HS256 secret; random when empty
  std::vector<std::string> databases = {};   // created at start besides _system
  size_t max_body_bytes = size_t{64} << 20;  // larger request bodies: 413
  int threads = 4;
  // A stream transaction idle longer than this is aborted (ArangoDB's
  // --transaction.streaming-idle-timeout, default 60 s, at most 120 s; here any value, so
  // tests can use short ones).
  std::chrono::milliseconds stream_trx_idle_timeout{60'000};
  // The most document bytes one stream transaction may write (README.md, "Stream
  // transactions"): ArangoDB 3.11's fixed 128 MiB, an option from 3.12 on
  // (--transaction.streaming-max-transaction-size). A write past it: errorNum 32.
  size_t stream_trx_max_bytes = size_t{128} << 20;
  // How long a finished (committed/aborted) transaction still answers commit, abort and
  // status requests before it is forgotten (404 1655), as ArangoDB keeps it a while.
  std::chrono::milliseconds finished_trx_ttl{600'000};
};

class ArangoDouble {
 public:
  explicit ArangoDouble(ArangoDoubleOptions opts = {});
  ~ArangoDouble();  // stop()s
  ArangoDouble(const ArangoDouble&) = delete;
  ArangoDouble& operator=(const ArangoDouble&) = delete;

  Status start();
  void stop();
  uint16_t port() const;
  std::string base_url() const;  // "http://127.0.0.1:PORT"

  // A superuser JWT signed with the secret (what an operator derives from
  // --server.jwt-secret): payload {"iss":"arangodb","server_id":"..."}, no username.
  std::string superuser_jwt() const;

  // Fault injection, counted over API requests (not /_double/*):
  // the next n requests are answered with this error body instead of being served,
  void fail_next(int n, int http_status = 503, int error_num = 503);
  // the next n requests are served after waiting d,
  void delay_next(int n, std::chrono::milliseconds d);
  // the next n requests get their connection closed without an answer.
  void drop_next(int n);

  // Inspection for tests: requests served so far, "METHOD target" each, oldest first
  // (API requests only; faulted ones included).
  std::vector<std::string> requests() const;
  void clear_requests();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace sf::testing
