#include "store/arango/arango_client.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <limits>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

#include "base/log.h"
#include "http/client.h"
#include "json/json.h"

namespace sf::store::arango {
namespace {

using Clock = std::chrono::steady_clock;

// JSON answers larger than this are refused (a cursor batch of 10,000 candles is ~4 MB).
constexpr size_t kMaxAnswerBytes = size_t{128} << 20;
constexpr size_t kMaxFileBytes = 1 << 20;  // token_file, ca_file

constexpr std::chrono::milliseconds kBackoffInitial{100};
constexpr std::chrono::milliseconds kBackoffMax{2'000};

Error url_error(std::string msg) { return Error(Errc::invalid_argument, std::move(msg), "store"); }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// s with every '%' and the two hex digits after it decoded; bad(truncated) is the error for a
// '%' without two hex digits after it (truncated: the text ends first).
template <class Bad>
Result<std::string> percent_decode_or(std::string_view s, Bad bad) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return bad(true);
    const int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
    if (hi < 0 || lo < 0) return bad(false);
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

Result<std::string> percent_decode(std::string_view s, const char* what) {
  return percent_decode_or(s, [&](bool) {
    return url_error(std::string("store URL: bad percent-encoding in the ") + what);
  });
}

Result<int64_t> parse_positive(std::string_view v, const char* name) {
  int64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size() || n <= 0 || n > 86'400'000) {
    return url_error(std::string("store URL: ") + name +
                     " must be a number of milliseconds between 1 and 86400000");
  }
  return n;
}

Result<std::string> read_small_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return Error(Errc::invalid_argument, std::string("cannot read the ") + what + " " + path);
  std::string data;
  char buf[4096];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    data.append(buf, static_cast<size_t>(in.gcount()));
    if (data.size() > kMaxFileBytes) {
      return Error(Errc::invalid_argument,
                   std::string("the ") + what + " " + path + " is over 1 MiB");
    }
  }
  return data;
}

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8) |
                       uint32_t(uint8_t(in[i + 2]));
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == in.size()) {
    const uint32_t v = uint32_t(uint8_t(in[i])) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    const uint32_t v = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

bool is_key_char(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '_':
    case '-':
    case ':':
    case '.':
    case '@':
    case '(':
    case ')':
    case '+':
    case ',':
    case '=':
    case ';':
    case '$':
    case '!':
    case '*':
    case '\'':
    case '%':
      return true;
    default:
      return false;
  }
}

// s with every byte for which keep(c) is false written as '%' and two upper-case hex digits.
template <class Keep>
std::string percent_encode(std::string_view s, Keep keep) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (keep(c)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

Status retry_operation(const std::function<Status()>& fn) {
  // Writers that collided must not retry in lock-step and collide again: jitter.
  constexpr int kAttempts = 10;
  std::chrono::milliseconds pause{20};
  for (int attempt = 1;; ++attempt) {
    Status st = fn();
    if (st.ok() || st.error().field != kRetryField) return st;
    if (attempt == kAttempts) {
      Error e = st.error();
      e.field.clear();
      e.code = Errc::unavailable;
      e.message += " (gave up after " + std::to_string(kAttempts) + " attempts)";
      return e;
    }
    std::this_thread::sleep_for(jittered(pause));
    pause = std::min(pause * 2, std::chrono::milliseconds(1000));
  }
}

std::chrono::milliseconds jittered(std::chrono::milliseconds d) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const int64_t ms = std::max<int64_t>(1, d.count());
  std::uniform_int_distribution<int64_t> pick(ms / 2, ms + ms / 2);
  return std::chrono::milliseconds(pick(rng));
}

std::string path_escape(std::string_view s) {
  return percent_encode(s, [](unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
}

// ---- URL ----------------------------------------------------------------------------

std::string ArangoUrl::base_url() const {
  const bool v6 = host.find(':') != std::string::npos;
  return std::string(tls ? "https://" : "http://") + (v6 ? "[" + host + "]" : host) + ":" +
         std::to_string(port);
}

bool is_valid_database_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  const char c0 = name[0];
  if (!((c0 >= 'a' && c0 <= 'z') || (c0 >= 'A' && c0 <= 'Z'))) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-')) {
      return false;
    }
  }
  return true;
}

Result<ArangoUrl> parse_url(std::string_view url) {
  ArangoUrl u;
  std::string_view rest;
  if (url.starts_with("arangodb+http://")) {
    rest = url.substr(16);
  } else if (url.starts_with("arangodb+https://")) {
    u.tls = true;
    rest = url.substr(17);
  } else {
    return url_error("store '" + log::redact_url(url.substr(0, 200)) +
                     "' is not an arangodb+http:// or arangodb+https:// URL");
  }
  // Split off the query, then the path.
  std::string_view query;
  if (size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  std::string_view path;
  std::string_view authority = rest;
  if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
    authority = rest.substr(0, slash);
    path = rest.substr(slash + 1);
  }
  // userinfo: the last '@' of the authority (a password may contain an unescaped '@').
  std::string_view hostport = authority;
  std::string user_shown;
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    hostport = authority.substr(at + 1);
    std::string_view user = userinfo, pass;
    bool has_pass = false;
    if (size_t colon = userinfo.find(':'); colon != std::string_view::npos) {
      user = userinfo.substr(0, colon);
      pass = userinfo.substr(colon + 1);
      has_pass = true;
    }
    SF_TRY_ASSIGN(u.username, percent_decode(user, "user name"));
    if (has_pass) SF_TRY_ASSIGN(u.password, percent_decode(pass, "password"));
    if (u.username.empty()) return url_error("store URL: the user name is empty");
    user_shown = std::string(user) + (has_pass ? ":***" : "") + "@";
  }
  // host[:port], IPv6 in brackets.
  std::string_view port_text;
  if (hostport.starts_with("[")) {
    size_t close = hostport.find(']');
    if (close == std::string_view::npos) return url_error("store URL: unterminated IPv6 address");
    u.host = std::string(hostport.substr(1, close - 1));
    std::string_view after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return url_error("store URL: unexpected text after the IPv6 address");
      port_text = after.substr(1);
    }
  } else {
    size_t colon = hostport.rfind(':');
    u.host = std::string(hostport.substr(0, colon));
    if (colon != std::string_view::npos) port_text = hostport.substr(colon + 1);
  }
  if (u.host.empty()) return url_error("store URL: the host is empty");
  for (char c : u.host) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '-' || c == ':' || c == '_')) {
      return url_error("store URL: the host contains a character that is not allowed");
    }
  }
  if (!port_text.empty()) {
    unsigned port = 0;
    auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || p != port_text.data() + port_text.size() || port == 0 ||
        port > 65535) {
      return url_error("store URL: the port must be a number between 1 and 65535");
    }
    u.port = static_cast<uint16_t>(port);
  }
  if (!path.empty()) {
    if (path.find('/') != std::string_view::npos || !is_valid_database_name(path)) {
      return url_error("store URL: database name '" + std::string(path.substr(0, 80)) +
                       "' is not valid (a letter, then letters, digits, '_' or '-', at most 64)");
    }
    u.database = std::string(path);
  }
  std::string auth;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view kv = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (kv.empty()) continue;
    size_t eq = kv.find('=');
    std::string_view key = kv.substr(0, eq);
    std::string value;
    if (eq != std::string_view::npos) {
      SF_TRY_ASSIGN(value, percent_decode(kv.substr(eq + 1), "parameters"));
    }
    if (key == "auth") {
      if (value != "basic" && value != "jwt") {
        return url_error("store URL: auth must be basic or jwt");
      }
      auth = value;
    } else if (key == "token_file") {
      if (value.empty()) return url_error("store URL: token_file is empty");
      u.token_file = value;
    } else if (key == "timeout_ms") {
      int64_t ms = 0;
      SF_TRY_ASSIGN(ms, parse_positive(value, "timeout_ms"));
      u.timeout = std::chrono::milliseconds(ms);
    } else if (key == "retry_budget_ms") {
      int64_t ms = 0;
      SF_TRY_ASSIGN(ms, parse_positive(value, "retry_budget_ms"));
      u.retry_budget = std::chrono::milliseconds(ms);
    } else if (key == "ca_file") {
      if (value.empty()) return url_error("store URL: ca_file is empty");
      u.ca_file = value;
    } else if (key == "create_database") {
      if (value != "true" && value != "false") {
        return url_error("store URL: create_database must be true or false");
      }
      u.create_database = value == "true";
    } else if (key == "max_transaction_bytes") {
      size_t n = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || p != value.data() + value.size() || n < kMinTransactionBytes ||
          n > kMaxTransactionBytes) {
        return url_error("store URL: max_transaction_bytes must be a number of bytes between " +
                         std::to_string(kMinTransactionBytes) + " (64 KiB) and " +
                         std::to_string(kMaxTransactionBytes) + " (1 GiB)");
      }
      u.max_transaction_bytes = n;
    } else {
      // The name only: the value may be something secret put in the wrong place.
      return url_error("store URL: unknown parameter '" + std::string(key.substr(0, 40)) +
                       "' (known: auth, token_file, timeout_ms, retry_budget_ms, ca_file, "
                       "create_database, max_transaction_bytes)");
    }
  }
  if (!u.token_file.empty()) {
    if (!auth.empty()) return url_error("store URL: token_file and auth exclude each other");
    if (!u.username.empty()) {
      return url_error("store URL: token_file replaces the user name and password; give one");
    }
    u.auth = AuthMode::token_file;
  } else if (auth == "jwt") {
    if (u.username.empty()) return url_error("store URL: auth=jwt needs USER[:PASSWORD]@");
    u.auth = AuthMode::jwt;
  } else if (!u.username.empty()) {
    u.auth = AuthMode::basic;
  } else if (auth == "basic") {
    return url_error("store URL: auth=basic needs USER[:PASSWORD]@");
  }
  const bool v6 = u.host.find(':') != std::string::npos;
  u.redacted = std::string(u.tls ? "arangodb+https://" : "arangodb+http://") + user_shown +
               (v6 ? "[" + u.host + "]" : u.host) + ":" + std::to_string(u.port) + "/" + u.database;
  if (size_t q = url.find('?'); q != std::string_view::npos) {
    u.redacted += log::redact_url(url.substr(q));
  }
  return u;
}

// ---- errors -------------------------------------------------------------------------
//
// errorNums and their names are ArangoDB's (lib/Basics/errors.dat in arangodb/arangodb, as
// in 3.11); the HTTP status a server sends with each is its lib/Rest/GeneralResponse.cpp
// (e.g. 1653 400, 1654 410, 1655 404, 32 and anything unlisted 500).

Errc errc_for(int status, int num) {
  switch (num) {
    case 1202:  // document not found
    case 1203:  // collection or view not found
    case 1228:  // database not found
    case 1600:  // cursor not found
    case 1655:  // transaction not found
    case 1924:  // graph not found
      return Errc::not_found;
    case 1207:  // duplicate name
    case 1210:  // unique constraint violated
    case 1925:  // graph already exists
      return Errc::already_exists;
    case 1200:  // write-write conflict
    case 1654:  // transaction aborted (by the server: it had expired)
    case 503:
      return Errc::unavailable;
    case 32:  // resource limit exceeded (e.g. a stream transaction over its size limit): the
              // same request cannot succeed, however often it is sent
      return Errc::invalid_argument;
    default:
      break;
  }
  if (status == 503) return Errc::unavailable;
  if (status == 408 || status == 504) return Errc::timeout;
  if (status == 404) return Errc::not_found;
  if (status == 409) return Errc::already_exists;
  if (status >= 400 && status < 500) return Errc::invalid_argument;
  return Errc::io_error;
}

namespace {

std::string describe_error(int status, int num, std::string_view method, std::string_view path,
                           std::string_view message) {
  std::string out = "ArangoDB error ";
  if (num != 0) {
    out += std::to_string(num);
    if (const char* n = error_name(num); *n) out += std::string(" (") + n + ")";
  } else {
    out += "HTTP " + std::to_string(status);
  }
  out += " on " + std::string(method) + " " + std::string(path);
  if (!message.empty()) out += ": " + std::string(message.substr(0, 500));
  return out;
}

}  // namespace

Error ArangoClient::error(const Reply& r, std::string_view method, std::string_view path,
                          std::string_view context) const {
  std::string msg = describe_error(r.status, r.error_num, method, path, r.error_message);
  if (!context.empty()) msg += " (" + std::string(context) + ")";
  if (r.error_num == 32) {
    msg += "; the store writes up to max_transaction_bytes=" +
           std::to_string(url_.max_transaction_bytes) +
           " bytes of documents per transaction: set it (store URL) well below the server's "
           "stream-transaction size limit";
  }
  Error e(errc_for(r.status, r.error_num), msg);
  // A write-write conflict, or the transaction gone (1654 aborted by the server, 1655 expired
  // and forgotten): the whole operation may run again. (1653 means a commit found the
  // transaction already aborted or expired: Transaction::commit() handles it.)
  if (r.error_num == 1200 || r.error_num == 1654 || r.error_num == 1655) e.field = kRetryField;
  return e;
}

// ---- the client ----------------------------------------------------------------------

struct ArangoClient::Impl {
  std::mutex mu;
  std::mutex orphans_mu;
  std::vector<std::string> orphans;
  http::Client http;
  std::string static_auth;  // "Basic ..." or "bearer <token_file token>"
  std::string jwt;          // auth=jwt: the current token ("" before the first login)

  Impl(const ArangoUrl& u, std::string token, std::string ca_pem)
      : http(u.base_url(), {}, u.timeout, http::ClientTlsOptions{std::move(ca_pem)}) {
    if (u.auth == AuthMode::basic) {
      static_auth = "Basic " + base64(u.username + ":" + u.password);
    } else if (u.auth == AuthMode::token_file) {
      static_auth = "bearer " + token;
    }
  }
};

Result<std::unique_ptr<ArangoClient>> ArangoClient::create(ArangoUrl url) {
  std::string token, ca;
  if (url.auth == AuthMode::token_file) {
    SF_TRY_ASSIGN(token, read_small_file(url.token_file, "token_file"));
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ' ||
                              token.back() == '\t')) {
      token.pop_back();
    }
    size_t start = token.find_first_not_of(" \t\r\n");
    token = start == std::string::npos ? std::string() : token.substr(start);
    if (token.empty() || token.find_first_of(" \t\r\n") != std::string::npos) {
      return Error(Errc::invalid_argument,
                   "the token_file " + url.token_file + " does not hold one token", "store");
    }
  }
  if (!url.ca_file.empty()) {
    if (!url.tls) {
      return Error(Errc::invalid_argument, "store URL: ca_file needs arangodb+https://", "store");
    }
    SF_TRY_ASSIGN(ca, read_small_file(url.ca_file, "ca_file"));
  }
  return std::unique_ptr<ArangoClient>(
      new ArangoClient(std::move(url), std::move(token), std::move(ca)));
}

ArangoClient::ArangoClient(ArangoUrl url, std::string token, std::string ca_pem)
    : url_(std::move(url)),
      impl_(std::make_unique<Impl>(url_, std::move(token), std::move(ca_pem))) {}
ArangoClient::~ArangoClient() = default;

void ArangoClient::add_orphan(std::string trx_id) {
  std::lock_guard lock(impl_->orphans_mu);
  if (impl_->orphans.size() < 1000) impl_->orphans.push_back(std::move(trx_id));
}

void ArangoClient::abort_orphans() {
  std::vector<std::string> ids;
  {
    std::lock_guard lock(impl_->orphans_mu);
    ids.swap(impl_->orphans);
  }
  for (const std::string& id : ids) {
    // Once each: 200 (aborted now or before), 410 1654 (it had expired), 404 1655 (expired and
    // forgotten) all leave no locks behind; 400 1653 (it was committed after all) neither.
    (void)request("DELETE", db_path("/_api/transaction/" + path_escape(id)), {});
  }
}

std::string ArangoClient::db_path(std::string_view path) const {
  return "/_db/" + url_.database + std::string(path);
}

Result<bj::value> parse_json(std::string_view text, size_t max_bytes) {
  return json::parse(text, max_bytes);
}

namespace {

// Parses an answer body into the Reply (error fields of error answers too).
Status fill_reply(Reply& r, const http::ClientResponse& res, std::string_view method,
                  std::string_view path) {
  r.status = res.status;
  r.error_codes = std::string(res.header("X-Arango-Error-Codes"));
  if (res.body.empty()) return ok_status();
  auto v = parse_json(res.body, kMaxAnswerBytes);
  if (!v) {
    if (r.ok()) {
      return Error(Errc::io_error, "ArangoDB answered " + std::string(method) + " " +
                                       std::string(path) + " with HTTP " +
                                       std::to_string(res.status) +
                                       " and a body that is not JSON: " + v.error().message);
    }
    r.error_message = res.body.substr(0, 200);
    return ok_status();
  }
  r.body = std::move(*v);
  if (!r.ok() && r.body.is_object()) {
    const bj::object& o = r.body.get_object();
    if (auto* n = o.if_contains("errorNum"); n && n->is_int64()) {
      r.error_num = static_cast<int>(n->get_int64());
    }
    if (auto* m = o.if_contains("errorMessage"); m && m->is_string()) {
      r.error_message = std::string(m->get_string());
    }
  }
  return ok_status();
}

}  // namespace

Result<Reply> ArangoClient::request(std::string_view method, const std::string& path,
                                    std::string_view body, const RequestOptions& opts) {
  std::lock_guard lock(impl_->mu);
  Impl& s = *impl_;
  const auto start = Clock::now();
  const auto deadline = start + url_.retry_budget;
  auto backoff = kBackoffInitial;
  bool relogged = false;
  int attempts = 0;
  for (;;) {
    ++attempts;
    // Auth=jwt: log in when there is no token yet.
    if (url_.auth == AuthMode::jwt && s.jwt.empty()) {
      std::string login;
      json::Writer w(login);
      w.begin_object().kv("username", url_.username).kv("password", url_.password).end_object();
      auto res = s.http.request("POST", "/_open/auth", login);
      if (res.ok() && res->status == 200) {
        auto v = json::parse_object(res->body, 1 << 16);
        const bj::value* jwt = v.ok() ? v->if_contains("jwt") : nullptr;
        if (!jwt || !jwt->is_string() || jwt->get_string().empty()) {
          return Error(Errc::io_error, "ArangoDB login at " + url_.redacted +
                                           ": the answer carries no \"jwt\" string");
        }
        s.jwt = std::string(jwt->get_string());
      } else if (res.ok() && res->status == 401) {
        return Error(Errc::invalid_argument, "ArangoDB authentication failed for user '" +
                                                 url_.username + "' at " + url_.redacted +
                                                 " (POST /_open/auth answered 401: wrong user "
                                                 "name or password)");
      } else if (res.ok() && res->status != 503) {
        Reply r;
        (void)fill_reply(r, *res, "POST", "/_open/auth");
        return error(r, "POST", "/_open/auth", "log in at " + url_.redacted);
      } else if (Clock::now() + backoff < deadline) {
        // 503 or a transport failure: logging in is safe to repeat.
        std::this_thread::sleep_for(backoff);
        backoff = std::min(backoff * 2, kBackoffMax);
        continue;
      } else {
        return res.ok()
                   ? Error(Errc::unavailable, "ArangoDB at " + url_.redacted +
                                                  " answered 503 to every login for " +
                                                  std::to_string(url_.retry_budget.count()) + " ms")
                   : Error(res.error().code == Errc::timeout ? Errc::timeout : Errc::unavailable,
                           "ArangoDB login at " + url_.redacted + ": " + res.error().message);
      }
    }
    http::HeaderList headers = opts.headers;
    if (url_.auth == AuthMode::jwt) {
      headers.emplace_back("Authorization", "bearer " + s.jwt);
    } else if (!s.static_auth.empty()) {
      headers.emplace_back("Authorization", s.static_auth);
    }
    // A new connection: a lost request is then reported, never resent by http::Client.
    if (opts.fresh_connection) s.http.disconnect();
    auto res = s.http.request(method, path, body, "application/json", headers);
    bool retry = false;
    Error last;
    std::optional<Reply> unavailable;  // the last 503 answer
    if (!res.ok()) {
      // Transport failure: http::Client already resent once over a stale kept-alive
      // connection. A refused connection never sent the request; a timeout or a lost
      // connection may have run it.
      last = res.error();
      if (last.code == Errc::invalid_argument) return last;  // bad base URL / TLS set-up
      retry = opts.idempotent || last.code == Errc::unavailable;
      if (last.code == Errc::io_error) last.code = Errc::unavailable;
    } else if (res->status == 401) {
      if (url_.auth == AuthMode::jwt && !relogged) {
        relogged = true;  // the token expired: log in again, once
        s.jwt.clear();
        continue;
      }
      std::string who = url_.auth == AuthMode::token_file ? "the token in " + url_.token_file
                        : url_.auth == AuthMode::none     ? std::string("no credentials")
                                                          : "user '" + url_.username + "'";
      return Error(Errc::invalid_argument, "ArangoDB authentication failed for " + who + " at " +
                                               url_.redacted + " (" + std::string(method) + " " +
                                               path + " answered 401)");
    } else {
      Reply r;
      SF_TRY(fill_reply(r, *res, method, path));
      if (r.status != 503) return r;
      unavailable = std::move(r);
      retry = true;  // the server did not run it
    }
    const auto now = Clock::now();
    if (!retry || now + backoff >= deadline) {
      const std::string gave_up =
          " (gave up after " + std::to_string(attempts) + " attempts in " +
          std::to_string(
              std::chrono::duration_cast<std::chrono::milliseconds>(now - start).count()) +
          " ms)";
      if (unavailable) {
        unavailable->error_message += gave_up;
        return std::move(*unavailable);
      }
      if (retry) last.message += gave_up;
      return last;
    }
    if (attempts == 1) {
      // Once per request: an operator sees why the connector stalls; the rest is debug.
      log::warn("arangodb: " + std::string(method) + " " + path + " failed (" +
                (unavailable ? std::string("HTTP 503 service unavailable") : last.message) +
                "); retrying for up to " +
                std::to_string(
                    std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count()) +
                " ms");
    } else if (log::enabled(log::Level::debug)) {
      log::debug("arangodb: retrying " + std::string(method) + " " + path + " in " +
                 std::to_string(backoff.count()) +
                 " ms: " + (unavailable ? "HTTP 503" : last.message));
    }
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, kBackoffMax);
  }
}

Status ArangoClient::query(std::string_view aql, std::string_view bind_vars,
                           const std::string& trx_id, const std::function<Status(bj::array&)>& each,
                           const std::function<void()>& restart, int batch_size) {
  RequestOptions opts;
  if (!trx_id.empty()) opts.headers.emplace_back("x-arango-trx-id", trx_id);
  std::string body = "{\"query\":" + json_string(aql) +
                     ",\"bindVars\":" + std::string(bind_vars.empty() ? "{}" : bind_vars) +
                     ",\"batchSize\":" + std::to_string(batch_size) + "}";
  const std::string cursor_path = db_path("/_api/cursor");
  for (int run = 0;; ++run) {
    Reply r;
    SF_TRY_ASSIGN(r, request("POST", cursor_path, body, opts));
    if (r.status != 201 && r.status != 200)
      return error(r, "POST", cursor_path, aql.substr(0, 200));
    for (;;) {
      if (!r.body.is_object()) {
        return Error(Errc::io_error,
                     "ArangoDB cursor answer on " + cursor_path + " is not an object");
      }
      bj::object& o = r.body.get_object();
      bj::value* result = o.if_contains("result");
      bj::value* more = o.if_contains("hasMore");
      if (!result || !result->is_array() || !more || !more->is_bool()) {
        return Error(Errc::io_error, "ArangoDB cursor answer on " + cursor_path +
                                         " lacks \"result\" (array) or \"hasMore\" (boolean)");
      }
      std::string cursor_id;
      if (more->get_bool()) {
        bj::value* id = o.if_contains("id");
        if (!id || !id->is_string() || id->get_string().empty()) {
          return Error(Errc::io_error, "ArangoDB cursor answer on " + cursor_path +
                                           " has more results but no cursor \"id\" string");
        }
        cursor_id = std::string(id->get_string());
      }
      Status st = each(result->get_array());
      const std::string next_path = cursor_path + "/" + path_escape(cursor_id);
      if (!st.ok() || cursor_id.empty()) {
        if (!cursor_id.empty()) (void)request("DELETE", next_path, {}, opts);
        return st;
      }
      // The next batch moves the cursor: never resent on a lost answer (a batch would be
      // skipped). Instead the whole query runs again once, after restart().
      RequestOptions next = opts;
      next.idempotent = false;
      next.fresh_connection = true;
      auto nr = request("POST", next_path, {}, next);
      if (nr.ok() && nr->ok()) {
        r = std::move(*nr);
        continue;
      }
      (void)request("DELETE", next_path, {}, opts);
      if (nr.ok()) return error(*nr, "POST", next_path);
      const bool lost = nr.error().code == Errc::timeout || nr.error().code == Errc::unavailable;
      if (!lost || run > 0 || !restart) return nr.error();
      restart();
      break;
    }
  }
}

Status ArangoClient::ensure_database() {
  const std::string current = db_path("/_api/database/current");
  Reply r;
  SF_TRY_ASSIGN(r, request("GET", current, {}));
  if (r.ok()) return ok_status();
  if (r.error_num != 1228 || !url_.create_database) {
    Error e = error(r, "GET", current, "open " + url_.redacted);
    if (r.error_num == 1228) {
      e.message += "; the database does not exist and create_database=false";
    }
    return e;
  }
  std::string body;
  json::Writer(body).begin_object().kv("name", url_.database).end_object();
  const std::string create = "/_db/_system/_api/database";
  SF_TRY_ASSIGN(r, request("POST", create, body));
  if (r.ok() || r.error_num == 1207) return ok_status();  // made, or made meanwhile
  Error e = error(r, "POST", create, "create database " + url_.database);
  if (r.status == 401 || r.status == 403) {
    e.message = "cannot create ArangoDB database '" + url_.database + "' at " + url_.redacted +
                ": not permitted for these credentials (create it, or grant the right; " +
                e.message + ")";
    e.code = Errc::invalid_argument;
  }
  return e;
}

Status ArangoClient::ensure_collection(const std::string& name, int type,
                                       std::string_view key_generator) {
  const std::string path = db_path("/_api/collection");
  std::string body;
  json::Writer w(body);
  w.begin_object().kv("name", name).kv_int("type", type).key("keyOptions").begin_object();
  w.kv("type", key_generator).kv_bool("allowUserKeys", true).end_object().end_object();
  Reply r;
  SF_TRY_ASSIGN(r, request("POST", path, body));
  if (r.ok()) return ok_status();
  if (r.error_num != 1207) return error(r, "POST", path, "create collection " + name);
  // It exists (made meanwhile, or earlier): it must be of the same type.
  const std::string get = db_path("/_api/collection/" + path_escape(name));
  SF_TRY_ASSIGN(r, request("GET", get, {}));
  if (!r.ok()) return error(r, "GET", get);
  if (!r.body.is_object())
    return Error(Errc::io_error, "ArangoDB answer on " + get + " is not an object");
  int64_t got = 0;
  SF_TRY_ASSIGN(got, get_int(r.body.get_object(), "type", "collection " + name));
  if (got != type) {
    return Error(Errc::invalid_argument,
                 "ArangoDB collection " + name + " exists as " +
                     (got == 3 ? "an edge" : "a document") + " collection, not " +
                     (type == 3 ? "an edge" : "a document") + " collection",
                 "collection_name");
  }
  return ok_status();
}

Status ArangoClient::ensure_persistent_index(const std::string& collection,
                                             const std::vector<std::string>& fields) {
  const std::string path = db_path("/_api/index?collection=" + path_escape(collection));
  std::string body;
  json::Writer w(body);
  w.begin_object().kv("type", "persistent").key("fields").begin_array();
  for (const auto& f : fields) w.str(f);
  w.end_array().kv_bool("unique", false).kv_bool("sparse", false).kv_bool("inBackground", true);
  w.end_object();
  Reply r;
  // Idempotent: a second request for the same definition answers 200 with the same index.
  SF_TRY_ASSIGN(r, request("POST", path, body));
  if (r.status != 200 && r.status != 201) {
    std::string what = "index on " + collection + " (";
    for (size_t i = 0; i < fields.size(); ++i) what += (i ? ", " : "") + fields[i];
    return error(r, "POST", path, what + ")");
  }
  return ok_status();
}

// ---- transactions ----------------------------------------------------------------------

Result<Transaction> Transaction::begin(ArangoClient& c, const std::vector<std::string>& write,
                                       const std::vector<std::string>& read) {
  std::string body;
  json::Writer w(body);
  w.begin_object().key("collections").begin_object().key("write").begin_array();
  for (const auto& n : write) w.str(n);
  w.end_array();
  if (!read.empty()) {
    w.key("read").begin_array();
    for (const auto& n : read) w.str(n);
    w.end_array();
  }
  w.end_object().end_object();
  c.abort_orphans();
  const std::string path = c.db_path("/_api/transaction/begin");
  // Not repeated on a lost answer: a second begin would leave the first transaction open
  // until the server's idle timeout (harmless, but it holds write locks on some engines).
  RequestOptions opts;
  opts.idempotent = false;
  auto sent = c.request("POST", path, body, opts);
  if (!sent.ok()) {
    Error e = sent.error();
    // Lost on the way (or its answer was): nothing was written yet, so the operation may
    // start again with a new transaction.
    if (e.code == Errc::timeout || e.code == Errc::unavailable) e.field = kRetryField;
    return e;
  }
  Reply& r = *sent;
  if (!r.ok()) return c.error(r, "POST", path);
  const bj::value* res = r.body.is_object() ? r.body.get_object().if_contains("result") : nullptr;
  if (!res || !res->is_object()) {
    return Error(Errc::io_error, "ArangoDB answer on " + path + " lacks \"result\"");
  }
  std::string id;
  SF_TRY_ASSIGN(id, get_string(res->get_object(), "id", "transaction"));
  return Transaction(c, std::move(id));
}

Transaction::Transaction(Transaction&& o) noexcept
    : client_(o.client_), id_(std::move(o.id_)), open_(o.open_) {
  o.open_ = false;
}

Transaction::~Transaction() {
  if (open_) abort();
}

RequestOptions Transaction::options(bool idempotent) const {
  RequestOptions o;
  o.headers.emplace_back("x-arango-trx-id", id_);
  o.idempotent = idempotent;
  return o;
}

Status Transaction::commit(Outcome* outcome) {
  open_ = false;
  const std::string path = client_->db_path("/_api/transaction/" + path_escape(id_));
  // The first attempt is sent alone (503s aside, which the server did not run): only then do
  // we know whether an answer got lost. Committing is idempotent in ArangoDB, so after a
  // lost answer the commit is sent again with the usual retries.
  RequestOptions once;
  once.idempotent = false;
  auto r = client_->request("PUT", path, {}, once);
  bool lost = false;
  if (!r.ok() && (r.error().code == Errc::timeout || r.error().code == Errc::unavailable)) {
    lost = true;
    r = client_->request("PUT", path, {}, RequestOptions{});
  }
  if (!r.ok() || r->status == 503) client_->add_orphan(id_);  // may still hold locks
  if (!r.ok()) {
    *outcome = lost ? Outcome::unknown : Outcome::not_committed;
    Error e = r.error();
    e.message =
        "commit of ArangoDB transaction " + id_ + (lost ? ": outcome unknown: " : ": ") + e.message;
    if (e.code != Errc::invalid_argument) e.code = Errc::unavailable;
    return e;
  }
  if (r->ok()) {
    *outcome = Outcome::committed;
    return ok_status();
  }
  // What a 3.11 server answers a commit with (arangod/Transaction/Manager.cpp,
  // updateTransaction): 400 1653 "transaction was already aborted|expired" (the server
  // aborted it, e.g. after its idle timeout), 410 1654 (it had expired and is aborted now):
  // not committed. 404 1655: unknown, i.e. expired and forgotten after its tombstone time,
  // unless an earlier attempt of this commit got lost: then it may have been committed and
  // forgotten since.
  Error e = client_->error(*r, "PUT", path, "commit");
  if (r->status == 404 && lost) {
    *outcome = Outcome::unknown;
    e.message += "; an earlier commit attempt got no answer: it may have been committed";
  } else {
    *outcome = Outcome::not_committed;
  }
  e.code = Errc::unavailable;
  if (r->status != 503) e.field = kRetryField;  // aborted, expired or gone: run it again
  return e;
}

void Transaction::abort() {
  if (!open_) return;
  open_ = false;
  const std::string path = client_->db_path("/_api/transaction/" + path_escape(id_));
  // Best effort: if it fails, the next begin() tries again (and the server aborts it after
  // its idle timeout anyway).
  auto r = client_->request("DELETE", path, {});
  if (!r.ok() || r->status == 503) client_->add_orphan(id_);
}

// ---- keys and documents ----------------------------------------------------------------

std::string json_string(std::string_view s) {
  std::string out;
  json::append_escaped(out, s);
  return out;
}

std::string escape_key_part(std::string_view s) {
  return percent_encode(s, [](unsigned char c) { return is_key_char(c) && c != ':' && c != '%'; });
}

Result<std::string> unescape_key_part(std::string_view s) {
  return percent_decode_or(s, [](bool truncated) {
    return Error(Errc::invalid_argument,
                 truncated ? "truncated escape in key part" : "bad escape in key part");
  });
}

bool is_valid_key(std::string_view key) {
  if (key.empty() || key.size() > kMaxKeyBytes) return false;
  for (unsigned char c : key)
    if (!is_key_char(c)) return false;
  return true;
}

namespace {

Error attr_error(std::string_view key, std::string_view what, const char* want,
                 const bj::value* got) {
  return Error(Errc::io_error,
               "ArangoDB document " + std::string(what) + ": attribute '" + std::string(key) +
                   "' " +
                   (got ? std::string("is ") + json::kind_name(*got) + ", not " + want
                        : std::string("is missing")));
}

}  // namespace

Result<std::string> get_string(const bj::object& o, std::string_view key, std::string_view what) {
  const bj::value* v = o.if_contains(bj::string_view(key.data(), key.size()));
  if (!v || !v->is_string()) return attr_error(key, what, "a string", v);
  return std::string(v->get_string());
}

Result<int64_t> get_int(const bj::object& o, std::string_view key, std::string_view what) {
  const bj::value* v = o.if_contains(bj::string_view(key.data(), key.size()));
  if (v && v->is_int64()) return v->get_int64();
  if (v && v->is_uint64() && v->get_uint64() <= uint64_t(std::numeric_limits<int64_t>::max())) {
    return static_cast<int64_t>(v->get_uint64());
  }
  return attr_error(key, what, "an integer", v);
}

Result<double> get_number(const bj::object& o, std::string_view key, std::string_view what) {
  const bj::value* v = o.if_contains(bj::string_view(key.data(), key.size()));
  if (v && v->is_double()) return v->get_double();
  if (v && v->is_int64()) return static_cast<double>(v->get_int64());
  if (v && v->is_uint64()) return static_cast<double>(v->get_uint64());
  return attr_error(key, what, "a number", v);
}

Result<bool> get_bool(const bj::object& o, std::string_view key, std::string_view what) {
  const bj::value* v = o.if_contains(bj::string_view(key.data(), key.size()));
  if (!v || !v->is_bool()) return attr_error(key, what, "a boolean", v);
  return v->get_bool();
}

Status check_array_results(const ArangoClient& c, const Reply& r, size_t n, std::string_view method,
                           std::string_view path,
                           const std::function<std::string(size_t)>& describe) {
  if (!r.ok()) return c.error(r, method, path, n > 0 ? describe(0) : std::string());
  if (!r.body.is_array() || r.body.get_array().size() != n) {
    return Error(Errc::io_error, "ArangoDB answer on " + std::string(method) + " " +
                                     std::string(path) + " is not an array of " +
                                     std::to_string(n) + " results");
  }
  const bj::array& a = r.body.get_array();
  for (size_t i = 0; i < n; ++i) {
    if (!a[i].is_object()) {
      return Error(Errc::io_error, "ArangoDB answer on " + std::string(method) + " " +
                                       std::string(path) + ": result " + std::to_string(i) +
                                       " is not an object");
    }
    const bj::object& o = a[i].get_object();
    const bj::value* err = o.if_contains("error");
    if (err && err->is_bool() && err->get_bool()) {
      Reply e;
      e.status = 400;
      if (auto* num = o.if_contains("errorNum"); num && num->is_int64()) {
        e.error_num = static_cast<int>(num->get_int64());
      }
      if (auto* m = o.if_contains("errorMessage"); m && m->is_string()) {
        e.error_message = std::string(m->get_string());
      }
      e.status = e.error_num == 1202 || e.error_num == 1203   ? 404
                 : e.error_num == 1210 || e.error_num == 1200 ? 409
                                                              : 400;
      return c.error(e, method, path, describe(i));
    }
  }
  return ok_status();
}

}  // namespace sf::store::arango
