// libpq helpers shared by the PostgreSQL stores (state and data): URL handling without
// credentials in logs, one reconnecting connection with lazily prepared statements, COPY,
// and SQLSTATE -> Errc mapping. Internal to src/store/postgres (and its tests).
//
// Failures: a connection that cannot be made or is lost is Errc::unavailable (the caller may
// retry the same call; the next call reconnects). Server errors map by SQLSTATE class
// (errc_for_sqlstate). Messages never contain the password: they name the redacted URL.
//
// Thread-safety: none. A Connection is used by one thread at a time (the stores hold a
// mutex around every use).
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace sf::store::pg {

// A postgresql:// (or postgres://) URL taken apart for the stores.
struct Url {
  std::string conninfo;  // what libpq gets: the URL without StreamForge's own parameters
  std::string schema;    // from ?schema=NAME, "public" by default
  std::string redacted;  // for describe() and errors: no password (userinfo or parameter)
};

// Parses a libpq connection URL. StreamForge's own query parameter `schema` (a lower-case
// identifier [a-z_][a-z0-9_]{0,62}) selects the schema both stores use; it is removed before
// libpq sees the URL. invalid_argument (message without the password) if the scheme is not
// postgresql:// / postgres:// or the schema name is not an identifier.
Result<Url> parse_url(std::string_view url);

// The URL without a password in its userinfo or in a `password=` parameter.
std::string redact_url(std::string_view url);

// "name" with embedded quotes doubled: for identifiers StreamForge made or validated.
std::string quote_ident(std::string_view id);

// Errc for a server SQLSTATE: connection exceptions (08), operator intervention (57: shutdown,
// cannot connect now), insufficient resources (53), serialization failures and deadlocks (40)
// are unavailable (retryable); data exceptions (22) and integrity violations (23)
// invalid_argument; disk full / io (58) io_error; the rest internal.
Errc errc_for_sqlstate(std::string_view sqlstate);

struct ResultClear {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultClear>;

// Text of field (row, col); "" for NULL.
inline std::string_view text(const PGresult* r, int row, int col) {
  return {PQgetvalue(r, row, col), static_cast<size_t>(PQgetlength(r, row, col))};
}
int64_t to_int64(std::string_view s);
double to_double(std::string_view s);
// Text for a parameter: exact round trip for doubles ("%.17g").
std::string param(double v);

class Connection {
 public:
  explicit Connection(Url url);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Connects if there is no healthy connection. unavailable if the server cannot be reached
  // or refuses the login.
  Status connect();
  // Drops the connection (the next call reconnects).
  void reset();
  // Bumped on every new connection: per-connection state (temporary tables) is keyed by it.
  uint64_t generation() const { return generation_; }

  // A simple query (several statements allowed, no parameters); the last result.
  Result<ResultPtr> exec(const std::string& sql, std::string_view what);
  // A parameterised statement, prepared once per connection under `name`. Parameters are
  // text; nullptr is NULL.
  Result<ResultPtr> prepared(const std::string& name, const std::string& sql,
                             const std::vector<const char*>& params, std::string_view what);
  // A one-off parameterised statement (dynamic SQL such as the read helpers' filters).
  Result<ResultPtr> exec_params(const std::string& sql, const std::vector<const char*>& params,
                                std::string_view what);
  // COPY ... FROM STDIN with `data` as the whole stream.
  Status copy_in(const std::string& copy_sql, std::string_view data, std::string_view what);
  // The same in pieces, so the server parses while the caller still encodes: copy_start(),
  // copy_put() for each piece, then copy_end() for the COPY's result (always call it once
  // copy_start() succeeded, also after a failed copy_put()). A server error during the
  // COPY (e.g. a unique violation) is reported by copy_end().
  Status copy_start(const std::string& copy_sql, std::string_view what);
  Status copy_put(std::string_view data, std::string_view what);
  Status copy_end(std::string_view what);
  // COPY (...) TO STDOUT: `on_data` gets each CopyData message of the server in order, as
  // it arrives (PostgreSQL sends one row a message; a binary COPY's header comes with the
  // first row), so the caller works while the server still produces. A failing on_data is
  // not called again: the rest of the COPY is read and dropped, and its error returned.
  Status copy_out(const std::string& copy_sql,
                  const std::function<Status(std::string_view)>& on_data, std::string_view what);
  // `v` as an SQL string literal quoted for this connection (PQescapeLiteral), for the
  // statements that take no parameters (COPY). invalid_argument if it cannot be quoted.
  Result<std::string> literal(std::string_view v, std::string_view what);

  // BEGIN / COMMIT / ROLLBACK. rollback() is best effort and resets a broken connection.
  Status begin(const char* begin_sql = "BEGIN") { return command(begin_sql, "begin"); }
  Status commit() { return command("COMMIT", "commit"); }
  void rollback();

  const Url& url() const { return url_; }
  // SQLSTATE of the last failed call ("" when it had none, e.g. a lost connection).
  const std::string& last_sqlstate() const { return last_sqlstate_; }

 private:
  Status command(const std::string& sql, std::string_view what);
  // Error for a failed call: the server's message and SQLSTATE, or a lost connection (then
  // the connection is dropped).
  Error error(const PGresult* r, std::string_view what);
  Result<ResultPtr> check(PGresult* raw, std::string_view what);

  Url url_;
  PGconn* conn_ = nullptr;
  uint64_t generation_ = 0;
  std::set<std::string> prepared_;  // statement names prepared on conn_
  std::string last_sqlstate_;
};

// Rolls back on scope exit unless committed.
class Txn {
 public:
  explicit Txn(Connection& c) : c_(c) {}
  ~Txn() {
    if (open_) c_.rollback();
  }
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  // A `sql` of several statements (BEGIN; SET LOCAL ...) may fail after BEGIN took: the
  // rollback then ends the aborted transaction, which would otherwise refuse every later
  // call on the connection (ROLLBACK outside a transaction only warns).
  Status begin(const char* sql = "BEGIN") {
    if (auto st = c_.begin(sql); !st) {
      c_.rollback();
      return st;
    }
    open_ = true;
    return {};
  }
  Status commit() {
    open_ = false;
    return c_.commit();
  }

 private:
  Connection& c_;
  bool open_ = false;
};

}  // namespace sf::store::pg
