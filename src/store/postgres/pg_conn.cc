#include "store/postgres/pg_conn.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <utility>

namespace sf::store::pg {
namespace {

bool is_schema_name(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  if (!(s[0] == '_' || (s[0] >= 'a' && s[0] <= 'z'))) return false;
  for (char c : s)
    if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  // pg_* schemas are the server's own.
  return !s.starts_with("pg_");
}

}  // namespace

std::string redact_url(std::string_view url) {
  std::string out(url);
  const size_t scheme_end = out.find("://");
  if (scheme_end != std::string::npos) {
    const size_t auth_begin = scheme_end + 3;
    size_t auth_end = out.find_first_of("/?", auth_begin);
    if (auth_end == std::string::npos) auth_end = out.size();
    const size_t at = out.rfind('@', auth_end);
    if (at != std::string::npos && at >= auth_begin) {
      const size_t colon = out.find(':', auth_begin);
      if (colon != std::string::npos && colon < at) out.erase(colon, at - colon);
    }
  }
  // password=... among the query parameters.
  const size_t q = out.find('?');
  if (q == std::string::npos) return out;
  std::string query = out.substr(q + 1), kept;
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string::npos) amp = query.size();
    std::string_view p(query.data() + pos, amp - pos);
    if (!p.empty() && !p.starts_with("password=")) {
      if (!kept.empty()) kept += '&';
      kept += p;
    }
    pos = amp + 1;
  }
  out.erase(q);
  if (!kept.empty()) out += "?" + kept;
  return out;
}

Result<Url> parse_url(std::string_view url) {
  if (!url.starts_with("postgresql://") && !url.starts_with("postgres://")) {
    return Error(Errc::invalid_argument,
                 "postgres: '" + redact_url(url.substr(0, 200)) + "' is not a postgresql:// URL");
  }
  Url out;
  out.schema = "public";
  const size_t q = url.find('?');
  std::string base(url.substr(0, q == std::string_view::npos ? url.size() : q));
  std::string kept;
  if (q != std::string_view::npos) {
    std::string_view query = url.substr(q + 1);
    size_t pos = 0;
    while (pos <= query.size()) {
      size_t amp = query.find('&', pos);
      if (amp == std::string_view::npos) amp = query.size();
      std::string_view p = query.substr(pos, amp - pos);
      if (p.starts_with("schema=")) {
        out.schema = std::string(p.substr(7));
        if (!is_schema_name(out.schema)) {
          return Error(Errc::invalid_argument,
                       "postgres: schema '" + out.schema.substr(0, 80) +
                           "' is not a lower-case identifier ([a-z_][a-z0-9_]{0,62}, not pg_*)",
                       "schema");
        }
      } else if (!p.empty()) {
        if (!kept.empty()) kept += '&';
        kept += p;
      }
      pos = amp + 1;
    }
  }
  out.conninfo = kept.empty() ? base : base + "?" + kept;
  out.redacted = redact_url(out.conninfo);
  if (out.schema != "public") {
    out.redacted += (out.redacted.find('?') == std::string::npos ? "?schema=" : "&schema=");
    out.redacted += out.schema;
  }
  return out;
}

std::string quote_ident(std::string_view id) {
  std::string out = "\"";
  for (char c : id) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

Errc errc_for_sqlstate(std::string_view s) {
  if (s.size() != 5) return Errc::unavailable;  // no SQLSTATE: the connection failed
  const std::string_view cls = s.substr(0, 2);
  if (cls == "08" || cls == "53" || cls == "40" || s == "57P01" || s == "57P02" || s == "57P03" ||
      s == "57014") {
    return Errc::unavailable;
  }
  if (cls == "22" || cls == "23" || cls == "42") return Errc::invalid_argument;
  if (cls == "58") return Errc::io_error;
  return Errc::internal;
}

int64_t to_int64(std::string_view s) {
  int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

double to_double(std::string_view s) {
  // The server's float8 output is the shortest text that reads back exactly.
  std::string t(s);
  return std::strtod(t.c_str(), nullptr);
}

std::string param(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

Connection::Connection(Url url) : url_(std::move(url)) {}

Connection::~Connection() { reset(); }

void Connection::reset() {
  if (conn_ != nullptr) PQfinish(conn_);
  conn_ = nullptr;
  prepared_.clear();
}

Status Connection::connect() {
  if (conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK) return {};
  reset();
  // Defaults first: the URL (expanded from dbname) overrides any of them.
  const char* keys[] = {
      "connect_timeout",     "application_name", "client_encoding", "keepalives_idle",
      "keepalives_interval", "keepalives_count", "dbname",          nullptr};
  const char* values[] = {"5", "streamforge",         "UTF8", "30", "10",
                          "3", url_.conninfo.c_str(), nullptr};
  conn_ = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (conn_ == nullptr) return Error(Errc::unavailable, "postgres: out of memory connecting");
  if (PQstatus(conn_) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(conn_);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    reset();
    return Error(Errc::unavailable, "postgres: cannot connect to " + url_.redacted + ": " + msg);
  }
  ++generation_;
  // Identifiers are schema-qualified everywhere; an empty search_path keeps a user's
  // objects from shadowing anything (temporary tables are always named pg_temp.*).
  PQclear(PQexec(conn_, "SET search_path = pg_catalog"));
  return {};
}

void Connection::rollback() {
  if (conn_ == nullptr) return;
  if (PQstatus(conn_) != CONNECTION_OK) {
    reset();
    return;
  }
  ResultPtr r(PQexec(conn_, "ROLLBACK"));
  if (!r || PQresultStatus(r.get()) != PGRES_COMMAND_OK) reset();
}

Error Connection::error(const PGresult* r, std::string_view what) {
  std::string msg = r != nullptr ? PQresultErrorMessage(r) : "";
  if (msg.empty() && conn_ != nullptr) msg = PQerrorMessage(conn_);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  const char* state = r != nullptr ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  last_sqlstate_ = state ? state : "";
  const bool lost = conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK;
  Errc code = lost ? Errc::unavailable : errc_for_sqlstate(state ? state : "");
  if (lost) reset();
  std::string full = "postgres: " + std::string(what) + ": " + msg;
  if (state != nullptr) full += std::string(" (SQLSTATE ") + state + ")";
  if (lost) full += " [connection to " + url_.redacted + " lost]";
  return Error(code, std::move(full));
}

Result<ResultPtr> Connection::check(PGresult* raw, std::string_view what) {
  ResultPtr r(raw);
  const ExecStatusType st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return r;
  return error(r.get(), what);
}

Status Connection::command(const std::string& sql, std::string_view what) {
  auto r = exec(sql, what);
  if (!r) return r.error();
  return {};
}

Result<ResultPtr> Connection::exec(const std::string& sql, std::string_view what) {
  SF_TRY(connect());
  return check(PQexec(conn_, sql.c_str()), what);
}

Result<ResultPtr> Connection::prepared(const std::string& name, const std::string& sql,
                                       const std::vector<const char*>& params,
                                       std::string_view what) {
  SF_TRY(connect());
  if (!prepared_.contains(name)) {
    auto p =
        check(PQprepare(conn_, name.c_str(), sql.c_str(), static_cast<int>(params.size()), nullptr),
              what);
    if (!p) return p.error();
    prepared_.insert(name);
  }
  return check(PQexecPrepared(conn_, name.c_str(), static_cast<int>(params.size()), params.data(),
                              nullptr, nullptr, 0),
               what);
}

Result<ResultPtr> Connection::exec_params(const std::string& sql,
                                          const std::vector<const char*>& params,
                                          std::string_view what) {
  SF_TRY(connect());
  return check(PQexecParams(conn_, sql.c_str(), static_cast<int>(params.size()), nullptr,
                            params.data(), nullptr, nullptr, 0),
               what);
}

Status Connection::copy_in(const std::string& copy_sql, std::string_view data,
                           std::string_view what) {
  SF_TRY(copy_start(copy_sql, what));
  // Large batches go in pieces: libpq buffers each call.
  constexpr size_t kChunk = 1 << 20;
  for (size_t off = 0; off < data.size(); off += kChunk) {
    if (auto s = copy_put(data.substr(off, kChunk), what); !s) {
      (void)copy_end(what);
      return s;
    }
  }
  return copy_end(what);
}

Status Connection::copy_start(const std::string& copy_sql, std::string_view what) {
  SF_TRY(connect());
  ResultPtr r(PQexec(conn_, copy_sql.c_str()));
  if (!r || PQresultStatus(r.get()) != PGRES_COPY_IN) return error(r.get(), what);
  return {};
}

Status Connection::copy_put(std::string_view data, std::string_view what) {
  if (data.empty()) return {};
  if (conn_ == nullptr || PQputCopyData(conn_, data.data(), static_cast<int>(data.size())) != 1) {
    return error(nullptr, what);
  }
  return {};
}

Status Connection::copy_end(std::string_view what) {
  if (conn_ == nullptr) return error(nullptr, what);
  if (PQputCopyEnd(conn_, nullptr) != 1) return error(nullptr, what);
  Status out;
  while (PGresult* raw = PQgetResult(conn_)) {
    ResultPtr r(raw);
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK && out.ok()) out = error(r.get(), what);
  }
  return out;
}

Status Connection::copy_out(const std::string& copy_sql,
                            const std::function<Status(std::string_view)>& on_data,
                            std::string_view what) {
  SF_TRY(connect());
  ResultPtr r(PQexec(conn_, copy_sql.c_str()));
  if (!r || PQresultStatus(r.get()) != PGRES_COPY_OUT) return error(r.get(), what);
  Status out;
  for (;;) {
    char* buf = nullptr;
    const int n = PQgetCopyData(conn_, &buf, /*async=*/0);
    if (n < 0) break;  // -1: done (the result follows); -2: failed (error() reads why)
    std::unique_ptr<char, decltype(&PQfreemem)> owned(buf, &PQfreemem);
    if (out.ok()) out = on_data(std::string_view(buf, static_cast<size_t>(n)));
  }
  while (PGresult* raw = PQgetResult(conn_)) {
    ResultPtr end(raw);
    if (PQresultStatus(end.get()) != PGRES_COMMAND_OK && out.ok()) out = error(end.get(), what);
  }
  if (out.ok() && PQstatus(conn_) != CONNECTION_OK) return error(nullptr, what);
  return out;
}

Result<std::string> Connection::literal(std::string_view v, std::string_view what) {
  SF_TRY(connect());
  std::unique_ptr<char, decltype(&PQfreemem)> q(PQescapeLiteral(conn_, v.data(), v.size()),
                                                &PQfreemem);
  if (!q) {
    return Error(Errc::invalid_argument,
                 std::string(what) + ": cannot quote a value: " + PQerrorMessage(conn_));
  }
  return std::string(q.get());
}

}  // namespace sf::store::pg
