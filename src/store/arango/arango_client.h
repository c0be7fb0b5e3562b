// A small synchronous client for ArangoDB's HTTP API (3.11), shared by ArangoDataStore and
// ArangoStateStore (library sf_store_arango). It sends only what the documented API accepts:
// the subset listed in README.md ("ArangoDB implementation"), checked against the 3.11 docs.
//
// URL (the --store value):
//   arangodb+http[s]://[USER[:PASSWORD]@]HOST[:PORT][/DATABASE][?PARAM=VALUE&...]
//   default port 8529, default database "streamforge". USER and PASSWORD may be
//   percent-encoded. Parameters (anything else is invalid_argument naming it):
//     auth=basic|jwt        basic (the default when USER is given): every request carries
//                           Authorization: Basic. jwt: log in once at POST /_open/auth with
//                           USER:PASSWORD, send the token as a bearer, log in again (once) on
//                           a 401 (the token expired).
//     token_file=PATH       a pre-issued JWT (e.g. a superuser token derived from the
//                           server's JWT secret), read at open, sent as a bearer; no USER.
//     timeout_ms=N          per request (connect, send, answer), default 30000.
//     retry_budget_ms=N     how long one request may be retried (503, timeouts, lost
//                           connections), default 30000.
//     ca_file=PATH          extra CA certificates (PEM) for https, beside the system store.
//     create_database=true|false   default true: create DATABASE via _system if missing.
//     max_transaction_bytes=N       default 33554432 (32 MiB), 65536..1073741824: the most
//                           document bytes (as sent, JSON) a store writes in one stream
//                           transaction; a larger batch is split into several
//                           (arango_data_store.h). Keep it well under the server's limit
//                           (128 MiB in 3.11; --transaction.streaming-max-transaction-size
//                           from 3.12), which also counts index entries and overhead.
//
// Retries (request()): a 503 answer (the server did not run the request), a timeout or a
// lost/refused connection is retried with capped exponential backoff (100 ms doubling to
// 2 s) until retry_budget_ms has passed; then Errc::unavailable (timeout if the last
// attempt timed out). Timeouts and lost connections are retried only for requests marked
// idempotent (RequestOptions::idempotent): the server may have run the first attempt. A
// 4xx answer is never retried.
//
// Errors: a 401 is Errc::invalid_argument, "ArangoDB authentication failed for ...": a wrong
// password does not fix itself, so callers (the store connector) fail with a clear message
// instead of retrying forever. error() turns any other error answer into an Error whose
// message carries the errorNum, e.g. "ArangoDB error 1221 (illegal document key) on POST
// /_db/x/_api/document/c: <errorMessage>", with the code of errc_for(). Neither messages nor
// describe() ever contain the password or a token.
//
// Thread-safety: every method may be called from any thread; one kept-alive connection,
// serialised by a mutex (a store serialises its operations anyway).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "base/result.h"
#include "store/arango/arango_errors.h"

namespace sf::store::arango {

namespace bj = boost::json;

enum class AuthMode { none, basic, jwt, token_file };

// max_transaction_bytes (above): the default, a quarter of ArangoDB 3.11's fixed 128 MiB
// stream-transaction limit (docs "Stream Transactions", Limitations), and the bounds.
inline constexpr size_t kDefaultMaxTransactionBytes = size_t{32} << 20;
inline constexpr size_t kMinTransactionBytes = size_t{64} << 10;
inline constexpr size_t kMaxTransactionBytes = size_t{1} << 30;

struct ArangoUrl {
  bool tls = false;
  std::string host;  // without brackets for IPv6
  uint16_t port = 8529;
  std::string database = "streamforge";
  std::string username;
  std::string password;
  AuthMode auth = AuthMode::none;
  std::string token_file;
  std::chrono::milliseconds timeout{30'000};
  std::chrono::milliseconds retry_budget{30'000};
  std::string ca_file;
  bool create_database = true;
  size_t max_transaction_bytes = kDefaultMaxTransactionBytes;
  std::string redacted;  // the URL without the password, for describe() and messages

  std::string base_url() const;  // "http[s]://host:port"
};

// Parses an arangodb+http[s]:// URL (above). invalid_argument (field "store") otherwise;
// messages never contain the password.
Result<ArangoUrl> parse_url(std::string_view url);

// ArangoDB's rule for database names (traditional naming): a letter, then letters, digits,
// '_' or '-', 1..64 bytes.
bool is_valid_database_name(std::string_view name);

// The Errc for an error answer: see README.md. 1202/1203/1228/1655/1600/1924 not_found,
// 1207/1210/1925 already_exists, 1200 (write-write conflict), 1654 (transaction aborted) and
// 503 unavailable, 32 (resource limit exceeded), 401/403 and other 4xx invalid_argument,
// other 5xx io_error. Numbers and names as in ArangoDB's lib/Basics/errors.dat.
Errc errc_for(int http_status, int error_num);

struct RequestOptions {
  std::vector<std::pair<std::string, std::string>> headers;  // e.g. x-arango-trx-id
  // Whether a timeout or lost connection may be retried: false for requests whose second
  // execution would differ (an insert with server-generated keys, a cursor's next batch).
  bool idempotent = true;
  // Send over a new connection: http::Client resends a request once, silently, when a
  // kept-alive connection turns out closed before any answer byte, which must not happen
  // to a request that may not run twice (an insert with server-generated keys, a cursor's
  // next batch). Costs a TCP (and TLS) handshake.
  bool fresh_connection = false;
};

// One answer. error_num/error_message come from ArangoDB's error body (0/"" when absent).
struct Reply {
  int status = 0;
  int error_num = 0;
  std::string error_message;
  bj::value body;           // the parsed JSON body (null when empty)
  std::string error_codes;  // X-Arango-Error-Codes (array operations with failed entries)
  bool ok() const { return status >= 200 && status < 300; }
};

class ArangoClient {
 public:
  // Reads token_file / ca_file; no request is sent yet. invalid_argument / io_error for
  // unreadable files (the message names the path, never the content).
  static Result<std::unique_ptr<ArangoClient>> create(ArangoUrl url);
  ~ArangoClient();
  ArangoClient(const ArangoClient&) = delete;
  ArangoClient& operator=(const ArangoClient&) = delete;

  // Sends one request with retries (above). The Reply holds any answer other than a 401
  // (a 503 only once the retries are used up, its error_message saying so); errors are
  // transport failures after the retries, the 401, and an unparseable success body.
  Result<Reply> request(std::string_view method, const std::string& path, std::string_view body,
                        const RequestOptions& opts = {});

  // "/_db/<database>" + path (path starts with "/_api/").
  std::string db_path(std::string_view path) const;

  // The Error for an error answer, naming the request.
  Error error(const Reply& r, std::string_view method, std::string_view path,
              std::string_view context = {}) const;

  // Runs an AQL query (bind_vars: a JSON object text) and hands each batch's results to
  // `each`; pages with batchSize, deletes a cursor left unfinished. A next-batch request
  // whose answer got lost is not resent (a batch could be skipped): with `restart` given,
  // the query runs again once from its start after restart() (which drops what `each`
  // collected); otherwise the error is returned.
  Status query(std::string_view aql, std::string_view bind_vars, const std::string& trx_id,
               const std::function<Status(bj::array&)>& each,
               const std::function<void()>& restart = {}, int batch_size = 10'000);

  // Makes sure the URL's database exists (create_database) and the credentials work.
  Status ensure_database();
  // Creates a collection (type 2 document, 3 edge; key_generator "traditional" or
  // "padded") unless it exists; an existing one of another type is invalid_argument.
  Status ensure_collection(const std::string& name, int type,
                           std::string_view key_generator = "traditional");
  // Makes sure `collection` has a non-unique, non-sparse persistent index on `fields` (in
  // this order): POST /_api/index?collection=NAME answers 201 for a new index and 200 for an
  // identical existing one, so calling it on every open is cheap and idempotent. Built with
  // inBackground (writers are not blocked while a large collection is indexed); an index
  // build that outlasts timeout_ms fails the call with Errc::timeout.
  Status ensure_persistent_index(const std::string& collection,
                                 const std::vector<std::string>& fields);

  const ArangoUrl& url() const { return url_; }

  // Transactions whose commit or abort failed for want of a server: they may still hold
  // document locks there (until its idle timeout), so the next Transaction::begin aborts
  // them first, best effort.
  void add_orphan(std::string trx_id);
  void abort_orphans();

 private:
  explicit ArangoClient(ArangoUrl url, std::string token, std::string ca_pem);
  struct Impl;
  ArangoUrl url_;
  std::unique_ptr<Impl> impl_;
};

// A stream transaction. begin() declares the collections; every request inside passes
// headers(). The destructor aborts a transaction that was neither committed nor aborted.
class Transaction {
 public:
  enum class Outcome { committed, not_committed, unknown };

  static Result<Transaction> begin(ArangoClient& c, const std::vector<std::string>& write,
                                   const std::vector<std::string>& read = {});
  Transaction(Transaction&&) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();

  RequestOptions options(bool idempotent = true) const;
  const std::string& id() const { return id_; }

  // Commits. Committing is idempotent in ArangoDB (a second commit of a committed
  // transaction answers 200), so a commit whose answer was lost is sent again. *outcome:
  // committed (ok), not_committed (the server aborted it: 400 1653 "already aborted" or
  // "already expired", 410 1654; or 404 1655 on the first attempt: it expired and was
  // forgotten), unknown (404 1655 after a lost answer: it may have been committed and
  // forgotten). The error says which and, unless the last answer was a 503, carries
  // kRetryField (the operation may run again).
  Status commit(Outcome* outcome);
  void abort();

 private:
  Transaction(ArangoClient& c, std::string id) : client_(&c), id_(std::move(id)) {}
  ArangoClient* client_;
  std::string id_;
  bool open_ = true;
};

// Error::field of errors after which the whole store operation may run again: a write-write
// conflict (1200), or its transaction aborted/expired on the server (nothing committed).
// The stores retry such operations a few times and clear the field before returning.
inline constexpr const char* kRetryField = "arangodb:retry";

// Runs fn() again while it fails with field kRetryField (a write-write conflict or an
// aborted transaction), up to 10 times with a jittered, doubling pause (20 ms .. 1 s);
// then Errc::unavailable with "(gave up after 10 attempts)". The stores' operations use it.
Status retry_operation(const std::function<Status()>& fn);

// A pause drawn uniformly from [d/2, 3d/2]: retries of clients that collided spread out.
std::chrono::milliseconds jittered(std::chrono::milliseconds d);

// Percent-encoding of a key, name or id for a URL path segment ('%' travels as %25).
std::string path_escape(std::string_view s);

// The JSON text of a string (quoted, escaped).
std::string json_string(std::string_view s);

// Escapes `s` for use inside a document _key: bytes outside ArangoDB's key alphabet
// [A-Za-z0-9_\-.@()+,=;$!*'], and ':' (our separator) and '%' (the escape), become %XX.
// Injective; the result uses only key characters.
std::string escape_key_part(std::string_view s);
// Inverse of escape_key_part (for tests and diagnostics); invalid_argument on bad escapes.
Result<std::string> unescape_key_part(std::string_view s);
// True for a valid ArangoDB document key: 1..254 bytes of the key alphabet.
bool is_valid_key(std::string_view key);
inline constexpr size_t kMaxKeyBytes = 254;

// Parses a JSON answer (at most max_bytes, depth 64) with every number exact: doubles are
// converted from their text with std::from_chars (correctly rounded, like ArangoDB's own
// parser), not with Boost.JSON 1.81's conversion, which may miss the last bit. Integers as
// Boost.JSON parses them (int64, else uint64). parse_error / too_large otherwise.
Result<bj::value> parse_json(std::string_view text, size_t max_bytes);

// Strict readers of document attributes: io_error naming the attribute and `what` (e.g.
// "candles/BTCUSDT:1m:1722470400000") when missing or of another type.
Result<std::string> get_string(const bj::object& o, std::string_view key, std::string_view what);
Result<int64_t> get_int(const bj::object& o, std::string_view key, std::string_view what);
Result<double> get_number(const bj::object& o, std::string_view key, std::string_view what);
Result<bool> get_bool(const bj::object& o, std::string_view key, std::string_view what);

// Checks the answer of an array document operation (POST/PUT/PATCH/DELETE with an array
// body of n entries): an array of n objects, none with "error": true. The first failed entry
// becomes an Error with its errorNum; describe(i) names input i in the message.
Status check_array_results(const ArangoClient& c, const Reply& r, size_t n, std::string_view method,
                           std::string_view path,
                           const std::function<std::string(size_t)>& describe);

}  // namespace sf::store::arango
