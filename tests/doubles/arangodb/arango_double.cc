// The ArangoDB test double: one mutex over in-memory databases, stream transactions and
// cursors; routing of ArangoDB's paths on top of sf::http::Server's fallback handler.
// README.md lists what is implemented and how it differs from a real server.
#include "arango_double.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <thread>
#include <utility>

#include <boost/json.hpp>

#include "aql.h"
#include "http/server.h"
#include "json/json.h"
#include "store/arango/arango_errors.h"

namespace sf::testing {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;
using http::Request;
using http::Response;

namespace {

constexpr std::string_view kVersion = "3.11.10";
constexpr size_t kMaxLoggedRequests = 100'000;
constexpr size_t kDefaultBatchSize = 1000;
constexpr double kDefaultCursorTtlSeconds = 30;
// New databases get these (empty) system collections, as a real 3.11 server does.
const char* const kSystemCollections[] = {"_analyzers", "_appbundles", "_apps", "_aqlfunctions",
                                          "_frontend",  "_graphs",     "_jobs", "_queues"};

// ---------------------------------------------------------------------------------------
// Errors in ArangoDB's format

// The HTTP status ArangoDB answers an errorNum with (lib/Rest/GeneralResponse.cpp's table,
// GeneralResponse::responseCode(ErrorCode), for the numbers this double produces; a number
// that table does not list, such as 32, is 500).
int status_for(int num) {
  switch (num) {
    case 10:
    case 400:
    case 600:
    case 1205:
    case 1208:
    case 1218:
    case 1221:
    case 1222:
    case 1226:
    case 1227:
    case 1229:
    case 1232:
    case 1233:
    case 1501:
    case 1502:
    case 1504:
    case 1550:
    case 1551:
    case 1552:
    case 1553:
    case 1652:
    case 1653:  // also after commit of an aborted transaction (the HTTP API page says 409)
    case 1922:
    case 1923:
    case 1943:
    case 1944:
      return 400;
    case 401:
    case 11:
      return 401;
    case 1230:
      return 403;
    case 404:
    case 1202:
    case 1203:
    case 1212:
    case 1228:
    case 1600:
    case 1655:
    case 1924:
      return 404;
    case 405:
      return 405;
    case 1200:
    case 1207:
    case 1210:
    case 1925:
      return 409;
    case 1654:  // ERROR_TRANSACTION_ABORTED: 410 Gone
      return 410;
    case 503:
      return 503;
    default:
      return 500;
  }
}

// ArangoDB's default message for an errorNum (lib/Basics/errors.dat).
const char* default_message(int num) {
  const char* m = sf::store::arango::error_name(num);
  return *m ? m : "internal error";
}

struct ApiError {
  int num = 0;
  std::string message;
  int status = 0;  // 0: status_for(num)

  int http() const { return status ? status : status_for(num); }
};

ApiError err(int num, std::string message = {}, int status = 0) {
  if (message.empty()) message = default_message(num);
  return ApiError{num, std::move(message), status};
}

Response json_response(int status, const json::value& v) {
  Response r = Response::json(status, json::serialize(v));
  r.content_type = "application/json; charset=utf-8";
  return r;
}

json::object error_object(const ApiError& e) {
  json::object o;
  o["code"] = e.http();
  o["error"] = true;
  o["errorMessage"] = e.message;
  o["errorNum"] = e.num;
  return o;
}

Response error_response(const ApiError& e) { return json_response(e.http(), error_object(e)); }

// A success answer's body, {"error": false, "code": code}, to which the caller adds.
json::object ok_object(int code) {
  json::object o;
  o["error"] = false;
  o["code"] = code;
  return o;
}

// A success answer with one member besides error and code.
Response ok_response(int code, std::string_view key, json::value v) {
  json::object o = ok_object(code);
  o[key] = std::move(v);
  return json_response(code, o);
}

// Per-document failure inside an array answer (no "code", as ArangoDB writes them).
json::object entry_error(const ApiError& e) {
  json::object o;
  o["error"] = true;
  o["errorNum"] = e.num;
  o["errorMessage"] = e.message;
  return o;
}

template <typename T>
using Expected = std::variant<T, ApiError>;

// ---------------------------------------------------------------------------------------
// Names, keys, encodings

bool valid_name(std::string_view n, size_t max_len, bool allow_system) {
  if (n.empty() || n.size() > max_len) return false;
  char c0 = n[0];
  bool letter = std::isalpha(static_cast<unsigned char>(c0)) != 0;
  if (!letter && !(allow_system && c0 == '_')) return false;
  for (char c : n.substr(1)) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
  }
  return true;
}

bool valid_key(std::string_view k) {
  if (k.empty() || k.size() > 254) return false;
  for (char c : k) {
    if (std::isalnum(static_cast<unsigned char>(c))) continue;
    if (std::string_view("_-:.@()+,=;$!*'%").find(c) == std::string_view::npos) return false;
  }
  return true;
}

// "collection/key" with a valid collection name and key.
bool valid_handle(const json::value* v) {
  if (!v || !v->is_string()) return false;
  std::string_view s = v->get_string();
  auto slash = s.find('/');
  if (slash == std::string_view::npos) return false;
  return valid_name(s.substr(0, slash), 256, true) && valid_key(s.substr(slash + 1));
}

std::string b64_encode(std::string_view in, bool url) {
  static const char* std_alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  static const char* url_alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const char* a = url ? url_alpha : std_alpha;
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += a[v >> 18];
    out += a[(v >> 12) & 63];
    out += a[(v >> 6) & 63];
    out += a[v & 63];
  }
  if (i < in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    if (i + 1 < in.size()) v |= uint8_t(in[i + 1]) << 8;
    out += a[v >> 18];
    out += a[(v >> 12) & 63];
    if (i + 1 < in.size()) out += a[(v >> 6) & 63];
    if (!url) out += i + 1 < in.size() ? "=" : "==";
  }
  return out;
}

// Strict: only the alphabet, padding only for the standard form and only where due.
std::optional<std::string> b64_decode(std::string_view in, bool url) {
  auto val = [url](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == (url ? '-' : '+')) return 62;
    if (c == (url ? '_' : '/')) return 63;
    return -1;
  };
  if (!url) {
    if (in.size() % 4 != 0) return std::nullopt;
    if (!in.empty() && in.back() == '=') in.remove_suffix(1);
    if (!in.empty() && in.back() == '=') in.remove_suffix(1);
  }
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = val(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  return std::string(reinterpret_cast<const char*>(mac), len);
}

std::string random_hex(size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

bool equal_ct(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool flag(const Request& r, std::string_view name, bool dflt = false) {
  auto v = r.query_param(name);
  if (!v) return dflt;
  return iequals(*v, "true") || *v == "1" || iequals(*v, "yes") || iequals(*v, "on");
}

// Strict, bounded decoding of a request body (the size is bounded by the server's limit);
// numbers exact, as ArangoDB's parser reads them (sf::json::parse).
Expected<json::value> parse_body(const Request& r) {
  if (r.body.empty()) return err(600, "VelocyPack/JSON parse error: empty request body");
  auto v = sf::json::parse(r.body, r.body.size());
  if (!v) return err(600, "VelocyPack/JSON parse error: " + v.error().message);
  return std::move(*v);
}

// A request body that must be a JSON object: parse_body's errors, and error `num` for any
// other JSON value.
Expected<json::object> parse_object_body(const Request& r, int num) {
  auto body = parse_body(r);
  if (auto* e = std::get_if<ApiError>(&body)) return *e;
  json::value& v = std::get<json::value>(body);
  if (!v.is_object()) return err(num, "expecting an object");
  return std::move(v.get_object());
}

const json::value* field(const json::object& o, std::string_view k) { return o.if_contains(k); }

// The value at path in d, or null (AQL: a missing attribute is null).
const json::value& at_path(const json::object& d, const std::vector<std::string>& path) {
  static const json::value null_value;
  const json::object* cur = &d;
  const json::value* v = nullptr;
  for (const auto& step : path) {
    if (!cur) return null_value;
    v = cur->if_contains(step);
    if (!v) return null_value;
    cur = v->if_object();
  }
  return v ? *v : null_value;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// State

namespace {

using DocPtr = std::shared_ptr<const json::object>;
using DocRef = std::pair<std::string, std::string>;  // collection name, key

// A user-defined persistent index: metadata only (queries scan in memory either way).
struct PersistentIndex {
  std::string id;  // the number after "collection/"
  std::string name;
  std::vector<std::string> fields;
  bool sparse = false;
  bool deduplicate = true;
  bool estimates = true;
  bool cache_enabled = false;
  std::vector<std::string> stored_values;
};

struct Collection {
  std::string name;
  std::string id;
  int type = 2;
  bool is_system = false;
  bool wait_for_sync = false;
  std::string key_type = "traditional";
  bool allow_user_keys = true;
  uint64_t increment = 1;
  uint64_t offset = 0;
  uint64_t last_value = 0;
  std::map<std::string, DocPtr> docs;    // committed state, by key
  std::vector<PersistentIndex> indexes;  // besides primary (and edge): creation order
};

struct Database {
  std::string name;
  std::string id;
  std::map<std::string, std::unique_ptr<Collection>> cols;
};

enum class TrxStatus { running, committed, aborted };

const char* status_name(TrxStatus s) {
  return s == TrxStatus::running ? "running" : s == TrxStatus::committed ? "committed" : "aborted";
}

struct Trx {
  std::string id;
  std::string db;
  TrxStatus status = TrxStatus::running;
  std::set<std::string> write;  // write + exclusive
  std::set<std::string> read;
  bool allow_implicit = true;
  Clock::time_point last_used;
  // The transaction's own writes (nullptr: removed), invisible to others until commit.
  std::map<DocRef, DocPtr> writes;
  // Snapshot: the committed value (nullptr: absent) of every document that others changed
  // since the transaction began, so its reads keep seeing its start state.
  std::map<DocRef, DocPtr> before;
  // The size limit: bytes of the documents written so far (charge()), the most allowed, and
  // whether a write was refused for it (then every later write is too).
  size_t bytes = 0;
  size_t max_bytes = 0;
  bool over_limit = false;
  bool expired = false;  // aborted for being idle past the timeout
};

struct Cursor {
  std::string id;
  std::string db;
  std::vector<json::value> rows;
  size_t pos = 0;
  size_t batch = kDefaultBatchSize;
  std::chrono::milliseconds ttl{30'000};
  Clock::time_point deadline;  // last use + ttl
  std::optional<size_t> count;
};

struct OpOptions {
  std::string overwrite_mode;  // "", ignore, replace, update, conflict
  bool return_new = false;
  bool return_old = false;
  bool silent = false;
  bool keep_null = true;
  bool merge_objects = true;
  bool ignore_revs = true;
};

}  // namespace

struct ArangoDouble::Impl {
  explicit Impl(ArangoDoubleOptions o) : opts(std::move(o)) {}

  ArangoDoubleOptions opts;
  std::unique_ptr<http::Server> server;

  std::mutex mu;  // the data: everything up to the fault block
  std::map<std::string, std::unique_ptr<Database>> dbs;
  std::map<std::string, Trx> trxs;  // running and finished (kept a while, as ArangoDB does)
  std::set<Trx*> running;           // the running ones among trxs
  std::map<std::string, Cursor> cursors;
  // Expiry indexes for sweep(): finished transactions in finishing order (time, id), and
  // the cursors by deadline.
  std::deque<std::pair<Clock::time_point, std::string>> finished;
  std::set<std::pair<Clock::time_point, std::string>> cursor_deadlines;
  uint64_t tick = 0;

  mutable std::mutex fault_mu;  // faults and the request log
  int fail_n = 0;
  int fail_status = 503;
  int fail_num = 503;
  int delay_n = 0;
  std::chrono::milliseconds delay{0};
  int drop_n = 0;
  std::deque<std::string> log;

  // ----- identifiers -------------------------------------------------------------------

  uint64_t next_tick() { return ++tick; }
  std::string new_id() { return std::to_string(next_tick()); }

  // An opaque revision string like ArangoDB's (11 characters of a sortable alphabet).
  std::string new_rev() {
    static const char* alpha = "-_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    uint64_t v = next_tick();
    std::string s(11, '-');
    for (int i = 10; i >= 0; --i) {
      s[i] = alpha[v & 63];
      v >>= 6;
    }
    return s;
  }

  std::string generate_key(Collection& c) {
    if (c.key_type == "autoincrement") {
      uint64_t v = c.last_value < c.offset
                       ? c.offset
                       : c.last_value + c.increment - ((c.last_value - c.offset) % c.increment);
      c.last_value = v;
      return std::to_string(v);
    }
    if (c.key_type == "uuid") {
      std::string h = random_hex(16);
      return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
             "-" + h.substr(20);
    }
    uint64_t v = std::max(next_tick(), c.last_value + 1);
    c.last_value = v;
    if (c.key_type == "padded") {
      char buf[17];
      std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
      return buf;
    }
    return std::to_string(v);
  }

  // A numeric user key moves the generator on, so it never generates that key later.
  static void track_key(Collection& c, const std::string& key) {
    if (c.key_type != "traditional" && c.key_type != "autoincrement") return;
    if (key.empty() || key.size() > 19 ||
        !std::all_of(key.begin(), key.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
      return;
    }
    c.last_value = std::max<uint64_t>(c.last_value, std::stoull(key));
  }

  // ----- databases and collections -------------------------------------------------------

  Database& create_database(const std::string& name) {
    auto db = std::make_unique<Database>();
    db->name = name;
    db->id = new_id();
    for (const char* sys : kSystemCollections) {
      auto c = std::make_unique<Collection>();
      c->name = sys;
      c->id = new_id();
      c->is_system = true;
      db->cols.emplace(sys, std::move(c));
    }
    Database& ref = *db;
    dbs.emplace(name, std::move(db));
    return ref;
  }

  static Collection* find_col(Database& db, std::string_view name) {
    auto it = db.cols.find(std::string(name));
    return it == db.cols.end() ? nullptr : it->second.get();
  }

  static json::object key_options(const Collection& c) {
    json::object k;
    k["type"] = c.key_type;
    k["allowUserKeys"] = c.allow_user_keys;
    if (c.key_type == "autoincrement") {
      k["increment"] = c.increment;
      k["offset"] = c.offset;
    }
    k["lastValue"] = c.last_value;
    return k;
  }

  static json::object col_basic(const Collection& c) {
    json::object o = ok_object(200);
    o["id"] = c.id;
    o["name"] = c.name;
    o["status"] = 3;
    o["type"] = c.type;
    o["isSystem"] = c.is_system;
    o["globallyUniqueId"] = "h" + c.id + "/" + c.id;
    return o;
  }

  static json::object col_properties(const Collection& c) {
    json::object o = col_basic(c);
    o["statusString"] = "loaded";
    o["waitForSync"] = c.wait_for_sync;
    o["keyOptions"] = key_options(c);
    o["writeConcern"] = 1;
    o["cacheEnabled"] = false;
    o["computedValues"] = nullptr;
    o["schema"] = nullptr;
    o["syncByRevision"] = true;
    o["usesRevisionsAsDocumentIds"] = true;
    o["isSmartChild"] = false;
    o["isDisjoint"] = false;
    o["internalValidatorType"] = 0;
    o["objectId"] = c.id;
    return o;
  }

  // ----- transactions --------------------------------------------------------------------

  // Aborts stream transactions idle past the timeout, forgets finished ones after their
  // tombstone time and drops expired cursors. Called at every request (a client can only
  // observe any of it through a request), so it must not walk everything: finished
  // transactions and cursors are found through their time-ordered indexes; only the running
  // transactions (few, and walked by every write anyway) are checked one by one.
  void sweep() {
    auto now = Clock::now();
    for (auto it = running.begin(); it != running.end();) {
      Trx& t = **it;
      if (now - t.last_used > opts.stream_trx_idle_timeout) {
        t.status = TrxStatus::aborted;
        t.expired = true;
        t.writes.clear();
        t.before.clear();
        t.last_used = now;
        finished.emplace_back(now, t.id);
        it = running.erase(it);
      } else {
        ++it;
      }
    }
    // Finished transactions answer commit/abort/status for a while, then are forgotten.
    // `finished` is in finishing order (times taken under mu from a steady clock).
    while (!finished.empty() && now - finished.front().first > opts.finished_trx_ttl) {
      auto it = trxs.find(finished.front().second);
      if (it != trxs.end() && it->second.status != TrxStatus::running) trxs.erase(it);
      finished.pop_front();
    }
    while (!cursor_deadlines.empty() && cursor_deadlines.begin()->first < now) {
      cursors.erase(cursor_deadlines.begin()->second);
      cursor_deadlines.erase(cursor_deadlines.begin());
    }
  }

  // A cursor was created or used: it expires ttl after now.
  void touch_cursor(Cursor& c) {
    cursor_deadlines.erase({c.deadline, c.id});
    c.deadline = Clock::now() + c.ttl;
    cursor_deadlines.emplace(c.deadline, c.id);
  }

  void drop_cursor(std::map<std::string, Cursor>::iterator it) {
    cursor_deadlines.erase({it->second.deadline, it->second.id});
    cursors.erase(it);
  }

  // The running transaction named by x-arango-trx-id (nullptr without the header).
  Expected<Trx*> trx_of(const Request& r, const Database& db) {
    std::string_view id = r.header("x-arango-trx-id");
    if (id.empty()) return static_cast<Trx*>(nullptr);
    auto it = trxs.find(std::string(id));
    if (it == trxs.end() || it->second.db != db.name || it->second.status != TrxStatus::running) {
      return err(1655, "transaction '" + std::string(id) + "' not found");
    }
    it->second.last_used = Clock::now();
    return &it->second;
  }

  // Counts a write of `bytes` against its stream transaction's size limit (writes outside one
  // are not limited here). ArangoDB counts the memory of the transaction's RocksDB write
  // batch (documents as VelocyPack, keys, index entries) and, before each operation, refuses
  // it once that is over the limit: "Maximal transaction size limit of N bytes is reached",
  // errorNum 32 (RocksDBTrxBaseMethods::addOperation). The double counts the JSON bytes of
  // each stored document (the key of a removed one) and refuses the write that would go over
  // the limit, one document earlier than ArangoDB; every write after it in the transaction
  // is refused too, as on the server, where the usage stays over the limit.
  static std::optional<ApiError> charge(Trx* t, size_t bytes) {
    if (!t) return std::nullopt;
    if (t->over_limit || bytes > t->max_bytes - std::min(t->bytes, t->max_bytes)) {
      t->over_limit = true;
      return err(32, "Maximal transaction size limit of " + std::to_string(t->max_bytes) +
                         " bytes is reached");
    }
    t->bytes += bytes;
    return std::nullopt;
  }

  static size_t doc_bytes(const json::object& d) { return json::serialize(d).size(); }

  static std::optional<ApiError> check_access(const Trx* t, const std::string& col, bool write) {
    if (!t) return std::nullopt;
    if (t->write.count(col)) return std::nullopt;
    if (!write && (t->read.count(col) || t->allow_implicit)) return std::nullopt;
    return err(1652,
               std::string(default_message(1652)) + ": " + col + (write ? " [write]" : " [read]"));
  }

  // The document as the caller sees it (its transaction's writes and snapshot first).
  static DocPtr visible(const Collection& c, const std::string& key, const Trx* t) {
    if (t) {
      DocRef ref{c.name, key};
      if (auto it = t->writes.find(ref); it != t->writes.end()) return it->second;
      if (auto it = t->before.find(ref); it != t->before.end()) return it->second;
    }
    auto it = c.docs.find(key);
    return it == c.docs.end() ? nullptr : it->second;
  }

  // Every visible document of c, by key.
  static std::vector<DocPtr> scan(const Collection& c, const Trx* t) {
    if (!t) {
      std::vector<DocPtr> out;
      out.reserve(c.docs.size());
      for (const auto& [k, d] : c.docs) out.push_back(d);
      return out;
    }
    std::map<std::string, DocPtr> view(c.docs.begin(), c.docs.end());
    auto apply = [&](const std::map<DocRef, DocPtr>& m) {
      for (auto it = m.lower_bound({c.name, ""}); it != m.end() && it->first.first == c.name;
           ++it) {
        if (it->second)
          view[it->first.second] = it->second;
        else
          view.erase(it->first.second);
      }
    };
    apply(t->before);
    apply(t->writes);
    std::vector<DocPtr> out;
    for (const auto& [k, d] : view) out.push_back(d);
    return out;
  }

  // A write of (c, key) may go ahead: not locked by another running transaction's write,
  // and (inside a transaction) not changed by a commit since it began.
  std::optional<ApiError> write_conflict(const Database& db, const Collection& c,
                                         const std::string& key, const Trx* t) const {
    DocRef ref{c.name, key};
    for (const Trx* o : running) {
      if (o == t || o->db != db.name) continue;
      if (o->writes.count(ref)) return err(1200, "write-write conflict; conflicting key: " + key);
    }
    if (t && !t->writes.count(ref) && t->before.count(ref)) {
      return err(1200, "write-write conflict; conflicting key: " + key);
    }
    return std::nullopt;
  }

  // Applies a committed write, first keeping the old value in every other running
  // transaction's snapshot.
  void commit_write(const Database& db, Collection& c, const std::string& key, DocPtr doc) {
    DocRef ref{c.name, key};
    auto it = c.docs.find(key);
    DocPtr old = it == c.docs.end() ? nullptr : it->second;
    for (Trx* o : running) {
      if (o->db != db.name) continue;
      if (!o->writes.count(ref) && !o->before.count(ref)) o->before.emplace(ref, old);
    }
    if (doc)
      c.docs[key] = std::move(doc);
    else if (it != c.docs.end())
      c.docs.erase(it);
  }

  void put(const Database& db, Collection& c, const std::string& key, DocPtr doc, Trx* t) {
    if (t)
      t->writes[{c.name, key}] = std::move(doc);
    else
      commit_write(db, c, key, std::move(doc));
  }

  // ----- document operations (one input each) ------------------------------------------

  static json::object meta(const json::object& d) {
    json::object m;
    m["_id"] = d.at("_id");
    m["_key"] = d.at("_key");
    m["_rev"] = d.at("_rev");
    return m;
  }

  // The stored form: system attributes first, then the user's, _id/_rev from the input
  // ignored.
  json::object build(const Collection& c, const std::string& key, const json::object& body) {
    json::object d;
    d["_key"] = key;
    d["_id"] = c.name + "/" + key;
    if (c.type == 3) {
      if (auto* f = body.if_contains("_from")) d["_from"] = *f;
      if (auto* t = body.if_contains("_to")) d["_to"] = *t;
    }
    d["_rev"] = new_rev();
    for (const auto& kv : body) {
      std::string_view k = kv.key();
      if (k == "_key" || k == "_id" || k == "_rev" || k == "_from" || k == "_to") continue;
      d[k] = kv.value();
    }
    return d;
  }

  static std::optional<ApiError> check_edge(const Collection& c, const json::object& d) {
    if (c.type != 3) return std::nullopt;
    if (!valid_handle(d.if_contains("_from")) || !valid_handle(d.if_contains("_to"))) {
      return err(1233);
    }
    return std::nullopt;
  }

  static void merge_into(json::object& target, const json::object& patch, const OpOptions& o) {
    for (const auto& kv : patch) {
      std::string_view k = kv.key();
      if (k == "_key" || k == "_id" || k == "_rev") continue;
      if (kv.value().is_null() && !o.keep_null) {
        target.erase(k);
        continue;
      }
      json::value* cur = target.if_contains(k);
      if (o.merge_objects && cur && cur->is_object() && kv.value().is_object()) {
        merge_into(cur->get_object(), kv.value().get_object(), o);
      } else {
        target[k] = kv.value();
      }
    }
  }

  json::object success(const json::object& d, const DocPtr& old, const OpOptions& o) {
    json::object r = meta(d);
    if (old) r["_oldRev"] = old->at("_rev");
    if (o.return_old && old) r["old"] = *old;
    if (o.return_new) r["new"] = d;
    return r;
  }

  // Replaces or patches `old` (visible, non-null) with body; the caller checked the key.
  Expected<json::object> modify(const Database& db, Collection& c, const std::string& key,
                                const DocPtr& old, const json::object& body, bool patch,
                                const OpOptions& o, Trx* t) {
    if (!o.ignore_revs) {
      const json::value* rev = body.if_contains("_rev");
      if (rev && rev->is_string() && rev->get_string() != old->at("_rev").get_string()) {
        return err(1200, "conflict, _rev values do not match");
      }
    }
    if (auto e = write_conflict(db, c, key, t)) return *e;
    json::object d;
    if (patch) {
      d = *old;
      merge_into(d, body, o);
      d["_rev"] = new_rev();
    } else {
      d = build(c, key, body);
    }
    if (auto e = check_edge(c, d)) return *e;
    if (auto e = charge(t, doc_bytes(d))) return *e;
    auto stored = std::make_shared<const json::object>(std::move(d));
    put(db, c, key, stored, t);
    return success(*stored, old, o);
  }

  Expected<json::object> insert_one(const Database& db, Collection& c, const json::value& in,
                                    const OpOptions& o, Trx* t) {
    if (!in.is_object()) return err(1227);
    const json::object& body = in.get_object();
    std::string key;
    if (const json::value* k = body.if_contains("_key")) {
      if (!k->is_string() || !valid_key(k->get_string())) return err(1221);
      if (!c.allow_user_keys) return err(1222);
      key = std::string(k->get_string());
    }
    if (c.type == 3 &&
        (!valid_handle(body.if_contains("_from")) || !valid_handle(body.if_contains("_to")))) {
      return err(1233);
    }
    if (!key.empty()) {
      if (DocPtr old = visible(c, key, t)) {
        if (o.overwrite_mode == "ignore") return meta(*old);
        if (o.overwrite_mode == "replace") return modify(db, c, key, old, body, false, o, t);
        if (o.overwrite_mode == "update") return modify(db, c, key, old, body, true, o, t);
        return err(1210,
                   "unique constraint violated - in index primary of type primary over "
                   "'_key'; conflicting key: " +
                       key);
      }
      track_key(c, key);
    } else {
      key = generate_key(c);
    }
    if (auto e = write_conflict(db, c, key, t)) return *e;
    auto stored = std::make_shared<const json::object>(build(c, key, body));
    if (auto e = charge(t, doc_bytes(*stored))) return *e;
    put(db, c, key, stored, t);
    return success(*stored, nullptr, o);
  }

  // The key of a PUT/PATCH/DELETE/onlyget entry: a string, or an object's "_key".
  static std::optional<std::string> entry_key(const json::value& in) {
    if (in.is_string()) return std::string(in.get_string());
    if (in.is_object()) {
      if (const json::value* k = in.get_object().if_contains("_key"); k && k->is_string()) {
        return std::string(k->get_string());
      }
    }
    return std::nullopt;
  }

  Expected<json::object> modify_one(const Database& db, Collection& c, const json::value& in,
                                    bool patch, const OpOptions& o, Trx* t) {
    if (!in.is_object()) return err(1227);
    auto key = entry_key(in);
    if (!key) return err(1205);
    DocPtr old = visible(c, *key, t);
    if (!old) return err(1202);
    return modify(db, c, *key, old, in.get_object(), patch, o, t);
  }

  Expected<json::object> remove_one(const Database& db, Collection& c, const json::value& in,
                                    const OpOptions& o, Trx* t) {
    auto key = entry_key(in);
    if (!key) return err(1205);
    DocPtr old = visible(c, *key, t);
    if (!old) return err(1202);
    if (!o.ignore_revs && in.is_object()) {
      const json::value* rev = in.get_object().if_contains("_rev");
      if (rev && rev->is_string() && rev->get_string() != old->at("_rev").get_string()) {
        return err(1200, "conflict, _rev values do not match");
      }
    }
    if (auto e = write_conflict(db, c, *key, t)) return *e;
    if (auto e = charge(t, key->size())) return *e;
    json::object r = meta(*old);
    if (o.return_old) r["old"] = *old;
    put(db, c, *key, nullptr, t);
    return r;
  }

  // ----- request handling --------------------------------------------------------------

  Response handle(const Request& req);
  Response handle_double(const Request& req, const std::vector<std::string>& segs);
  std::optional<Response> authenticate(const Request& req) const;
  Response open_auth(const Request& req);
  Response api(const Request& req, Database& db, const std::vector<std::string>& rest);
  Response version(const Request& req, const std::vector<std::string>& rest);
  Response database_api(const Request& req, Database& db, const std::vector<std::string>& rest);
  Response collection_api(const Request& req, Database& db, const std::vector<std::string>& rest);
  Response document_api(const Request& req, Database& db, const std::vector<std::string>& rest);
  Response transaction_api(const Request& req, Database& db, const std::vector<std::string>& rest);
  Response cursor_api(const Request& req, Database& db, const std::vector<std::string>& rest);
  Response gharial_api(const Request& req, Database& db, const std::vector<std::string>& rest);
  Response index_api(const Request& req, Database& db, const std::vector<std::string>& rest);
  Expected<std::vector<json::value>> run_query(const Request& req, Database& db,
                                               const json::object& body, Trx* t, size_t* scanned,
                                               size_t* filtered);
  json::object cursor_batch(Cursor& c, int code, bool* more);

  std::string make_jwt(const json::object& payload) const {
    std::string head = b64_encode(R"({"alg":"HS256","typ":"JWT"})", true);
    std::string body = b64_encode(json::serialize(payload), true);
    std::string signing = head + "." + body;
    return signing + "." + b64_encode(hmac_sha256(opts.jwt_secret, signing), true);
  }

  // The payload of a well-formed HS256 token signed with the secret, unexpired.
  std::optional<json::object> verify_jwt(std::string_view token) const {
    auto d1 = token.find('.');
    if (d1 == std::string_view::npos) return std::nullopt;
    auto d2 = token.find('.', d1 + 1);
    if (d2 == std::string_view::npos) return std::nullopt;
    auto head = b64_decode(token.substr(0, d1), true);
    auto body = b64_decode(token.substr(d1 + 1, d2 - d1 - 1), true);
    if (!head || !body) return std::nullopt;
    // Compared in encoded form: a signature with altered padding bits is refused too.
    std::string expected = b64_encode(hmac_sha256(opts.jwt_secret, token.substr(0, d2)), true);
    if (!equal_ct(expected, token.substr(d2 + 1))) return std::nullopt;
    boost::system::error_code ec;
    json::value h = json::parse(*head, ec);
    if (ec || !h.is_object()) return std::nullopt;
    const json::value* alg = h.get_object().if_contains("alg");
    if (!alg || !alg->is_string() || alg->get_string() != "HS256") return std::nullopt;
    json::value p = json::parse(*body, ec);
    if (ec || !p.is_object()) return std::nullopt;
    const json::object& po = p.get_object();
    const json::value* iss = po.if_contains("iss");
    if (!iss || !iss->is_string() || iss->get_string() != "arangodb") return std::nullopt;
    if (const json::value* exp = po.if_contains("exp")) {
      if (!exp->is_number() || exp->to_number<double>() < static_cast<double>(unix_now())) {
        return std::nullopt;
      }
    }
    return po;
  }
};

namespace {

const std::string& seg(const std::vector<std::string>& v, size_t i) {
  static const std::string empty;
  return i < v.size() ? v[i] : empty;
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    out.emplace_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

Response unknown_path(const Request& r) {
  return error_response(err(404, "unknown path '" + r.path + "'"));
}

Response method_not_allowed() { return error_response(err(405)); }

}  // namespace

Response ArangoDouble::Impl::handle(const Request& req) {
  std::vector<std::string> segs = split_path(req.path);
  if (seg(segs, 0) == "_double") return handle_double(req, segs);

  // Faults first: they stand for the server (or the network) failing, whatever the request.
  bool drop = false;
  std::chrono::milliseconds wait{0};
  std::optional<ApiError> fail;
  {
    std::lock_guard lk(fault_mu);
    log.push_back(req.method + " " + req.target);
    if (log.size() > kMaxLoggedRequests) log.pop_front();
    if (drop_n > 0) {
      --drop_n;
      drop = true;
    } else if (fail_n > 0) {
      --fail_n;
      fail = err(fail_num,
                 fail_num == 503 ? "service unavailable (injected by the test double)"
                                 : "error injected by the test double",
                 fail_status);
    } else if (delay_n > 0) {
      --delay_n;
      wait = delay;
    }
  }
  if (drop) {
    Response r;
    r.drop_connection = true;
    return r;
  }
  if (fail) return error_response(*fail);
  if (wait.count() > 0) std::this_thread::sleep_for(wait);

  if (req.method == "OPTIONS") {  // CORS preflight: answered without authentication
    Response r = Response::text(200, "");
    r.headers.emplace_back("Allow", "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT");
    return r;
  }
  if (segs.size() == 2 && segs[0] == "_open" && segs[1] == "auth") {
    if (req.method != "POST") return method_not_allowed();
    return open_auth(req);
  }
  if (auto denied = authenticate(req)) return *denied;

  std::string db_name = "_system";
  size_t first = 0;
  if (seg(segs, 0) == "_db") {
    if (segs.size() < 2) return unknown_path(req);
    db_name = segs[1];
    first = 2;
  }
  std::vector<std::string> rest(segs.begin() + static_cast<std::ptrdiff_t>(first), segs.end());
  std::lock_guard lk(mu);
  sweep();
  auto it = dbs.find(db_name);
  if (it == dbs.end()) return error_response(err(1228));
  if (seg(rest, 0) != "_api") return unknown_path(req);
  return api(req, *it->second, rest);
}

std::optional<Response> ArangoDouble::Impl::authenticate(const Request& req) const {
  std::string_view h = req.header("Authorization");
  bool bearer = false;
  bool ok = false;
  auto sp = h.find(' ');
  std::string_view scheme = h.substr(0, sp);
  std::string_view cred = sp == std::string_view::npos ? std::string_view{} : h.substr(sp + 1);
  while (!cred.empty() && cred.front() == ' ') cred.remove_prefix(1);
  while (!cred.empty() && cred.back() == ' ') cred.remove_suffix(1);
  if (iequals(scheme, "basic")) {
    if (auto dec = b64_decode(cred, false)) {
      auto colon = dec->find(':');
      if (colon != std::string::npos) {
        // Both compared in full, so the time does not tell which part was wrong.
        bool user_ok = equal_ct(opts.username, std::string_view(*dec).substr(0, colon));
        bool pass_ok = equal_ct(opts.password, std::string_view(*dec).substr(colon + 1));
        ok = user_ok && pass_ok;
      }
    }
  } else if (iequals(scheme, "bearer")) {
    bearer = true;
    if (auto payload = verify_jwt(cred)) {
      const json::value* user = payload->if_contains("preferred_username");
      if (user) {
        ok = user->is_string() && user->get_string() == opts.username;
      } else {
        const json::value* sid = payload->if_contains("server_id");
        ok = sid && sid->is_string();  // a superuser token
      }
    }
  }
  if (ok) return std::nullopt;
  Response r = error_response(err(11, {}, 401));
  if (req.header("X-Omit-Www-Authenticate").empty()) {
    r.headers.emplace_back("Www-Authenticate", bearer
                                                   ? R"(Bearer token_type="JWT", realm="ArangoDB")"
                                                   : R"(Basic, realm="ArangoDB")");
  }
  return r;
}

Response ArangoDouble::Impl::open_auth(const Request& req) {
  auto body = parse_body(req);
  if (auto* e = std::get_if<ApiError>(&body)) return error_response(*e);
  const json::value& v = std::get<json::value>(body);
  const json::value* user = v.is_object() ? v.get_object().if_contains("username") : nullptr;
  const json::value* pass = v.is_object() ? v.get_object().if_contains("password") : nullptr;
  if (!user || !user->is_string() || !pass || !pass->is_string()) {
    return error_response(err(400, "invalid JSON"));
  }
  bool user_ok = equal_ct(opts.username, user->get_string());
  bool pass_ok = equal_ct(opts.password, pass->get_string());
  if (!user_ok || !pass_ok) return error_response(err(401, "Wrong credentials"));
  int64_t now = unix_now();
  json::object payload;
  payload["preferred_username"] = opts.username;
  payload["iss"] = "arangodb";
  payload["iat"] = now;
  payload["exp"] = now + 3600;
  json::object out;
  out["jwt"] = make_jwt(payload);
  return json_response(200, out);
}

Response ArangoDouble::Impl::handle_double(const Request& req, const std::vector<std::string>& s) {
  if (auto denied = authenticate(req)) return *denied;
  json::object ok = ok_object(200);
  if (seg(s, 1) == "faults" && s.size() == 2) {
    if (req.method != "POST") return method_not_allowed();
    auto body = parse_object_body(req, 400);
    if (auto* e = std::get_if<ApiError>(&body)) return error_response(*e);
    const json::object& o = std::get<json::object>(body);
    auto int_of = [&](std::string_view k, int64_t dflt) -> std::optional<int64_t> {
      const json::value* x = o.if_contains(k);
      if (!x) return dflt;
      if (!x->is_int64() || x->get_int64() < 0 || x->get_int64() > 1'000'000'000)
        return std::nullopt;
      return x->get_int64();
    };
    auto fail = int_of("fail", -1), status = int_of("status", 503), num = int_of("errorNum", 503),
         delay_ms = int_of("delay_ms", -1), count = int_of("count", 1), drop = int_of("drop", -1);
    if (!fail || !status || !num || !delay_ms || !count || !drop ||
        (*status < 100 || *status > 599)) {
      return error_response(err(400,
                                "faults: integer fields fail, status (100-599), errorNum, "
                                "delay_ms, count, drop"));
    }
    std::lock_guard lk(fault_mu);
    if (*fail >= 0) {
      fail_n = static_cast<int>(*fail);
      fail_status = static_cast<int>(*status);
      fail_num = static_cast<int>(*num);
    }
    if (*delay_ms >= 0) {
      delay_n = static_cast<int>(*count);
      delay = std::chrono::milliseconds(*delay_ms);
    }
    if (*drop >= 0) drop_n = static_cast<int>(*drop);
    return json_response(200, ok);
  }
  if (seg(s, 1) == "requests" && s.size() == 2) {
    std::lock_guard lk(fault_mu);
    if (req.method == "DELETE") {
      log.clear();
      return json_response(200, ok);
    }
    if (req.method != "GET") return method_not_allowed();
    json::array a;
    for (const auto& l : log) a.emplace_back(l);
    ok["requests"] = std::move(a);
    return json_response(200, ok);
  }
  return unknown_path(req);
}

Response ArangoDouble::Impl::api(const Request& req, Database& db,
                                 const std::vector<std::string>& rest) {
  const std::string& what = seg(rest, 1);
  if (what == "version") return version(req, rest);
  if (what == "database") return database_api(req, db, rest);
  if (what == "collection") return collection_api(req, db, rest);
  if (what == "document") return document_api(req, db, rest);
  if (what == "transaction") return transaction_api(req, db, rest);
  if (what == "cursor") return cursor_api(req, db, rest);
  if (what == "gharial") return gharial_api(req, db, rest);
  if (what == "index") return index_api(req, db, rest);
  return unknown_path(req);
}

Response ArangoDouble::Impl::version(const Request& req, const std::vector<std::string>& rest) {
  if (rest.size() != 2) return unknown_path(req);
  if (req.method != "GET") return method_not_allowed();
  json::object o;
  o["server"] = "arango";
  o["version"] = kVersion;
  o["license"] = "community";
  return json_response(200, o);
}

Response ArangoDouble::Impl::database_api(const Request& req, Database& db,
                                          const std::vector<std::string>& rest) {
  json::object ok;
  ok["error"] = false;
  if (rest.size() == 3 && rest[2] == "current") {
    if (req.method != "GET") return method_not_allowed();
    json::object r;
    r["name"] = db.name;
    r["id"] = db.id;
    r["isSystem"] = db.name == "_system";
    r["path"] = "/var/lib/arangodb3/databases/database-" + db.id;
    ok["code"] = 200;
    ok["result"] = std::move(r);
    return json_response(200, ok);
  }
  if (db.name != "_system" && !(rest.size() == 3 && rest[2] == "user")) {
    return error_response(err(1230));
  }
  if (rest.size() == 2 || (rest.size() == 3 && rest[2] == "user")) {
    if (rest.size() == 2 && req.method == "POST") {
      auto body = parse_body(req);
      if (auto* e = std::get_if<ApiError>(&body)) return error_response(*e);
      const json::value& v = std::get<json::value>(body);
      const json::value* name = v.is_object() ? v.get_object().if_contains("name") : nullptr;
      if (!name || !name->is_string() || !valid_name(name->get_string(), 64, false)) {
        return error_response(err(1229));
      }
      std::string n(name->get_string());
      if (dbs.count(n)) return error_response(err(1207));
      create_database(n);
      ok["code"] = 201;
      ok["result"] = true;
      return json_response(201, ok);
    }
    if (req.method != "GET") return method_not_allowed();
    json::array names;
    for (const auto& [n, d] : dbs) names.emplace_back(n);
    ok["code"] = 200;
    ok["result"] = std::move(names);
    return json_response(200, ok);
  }
  if (rest.size() == 3) {
    if (req.method != "DELETE") return method_not_allowed();
    if (rest[2] == "_system")
      return error_response(err(1230, "cannot drop the _system database", 403));
    auto it = dbs.find(rest[2]);
    if (it == dbs.end()) return error_response(err(1228));
    for (auto t = trxs.begin(); t != trxs.end();) {
      if (t->second.db == rest[2]) {
        running.erase(&t->second);
        t = trxs.erase(t);
      } else {
        ++t;
      }
    }
    dbs.erase(it);
    ok["code"] = 200;
    ok["result"] = true;
    return json_response(200, ok);
  }
  return unknown_path(req);
}

Response ArangoDouble::Impl::collection_api(const Request& req, Database& db,
                                            const std::vector<std::string>& rest) {
  if (rest.size() == 2) {
    if (req.method == "GET") {
      bool exclude = flag(req, "excludeSystem");
      json::array list;
      for (const auto& [n, c] : db.cols) {
        if (exclude && c->is_system) continue;
        json::object e = col_basic(*c);
        e.erase("error");
        e.erase("code");
        list.emplace_back(std::move(e));
      }
      return ok_response(200, "result", std::move(list));
    }
    if (req.method != "POST") return method_not_allowed();
    auto body = parse_object_body(req, 600);
    if (auto* e = std::get_if<ApiError>(&body)) return error_response(*e);
    const json::object& o = std::get<json::object>(body);
    const json::value* name = field(o, "name");
    const json::value* is_system = field(o, "isSystem");
    bool sys = is_system && is_system->is_bool() && is_system->get_bool();
    if (!name || !name->is_string() || !valid_name(name->get_string(), 256, sys)) {
      return error_response(err(1208));
    }
    auto c = std::make_unique<Collection>();
    c->name = std::string(name->get_string());
    c->is_system = c->name[0] == '_';
    if (const json::value* t = field(o, "type")) {
      if (!t->is_int64() || (t->get_int64() != 2 && t->get_int64() != 3)) {
        return error_response(err(1218));
      }
      c->type = static_cast<int>(t->get_int64());
    }
    if (const json::value* w = field(o, "waitForSync"); w && w->is_bool()) {
      c->wait_for_sync = w->get_bool();
    }
    if (const json::value* k = field(o, "keyOptions")) {
      if (!k->is_object()) return error_response(err(1232));
      const json::object& ko = k->get_object();
      if (const json::value* kt = field(ko, "type")) {
        if (!kt->is_string()) return error_response(err(1232));
        std::string type(kt->get_string());
        if (type != "traditional" && type != "padded" && type != "autoincrement" &&
            type != "uuid") {
          return error_response(err(1232));
        }
        c->key_type = type;
      }
      if (const json::value* a = field(ko, "allowUserKeys"); a && a->is_bool()) {
        c->allow_user_keys = a->get_bool();
      }
      for (auto [attr, target] : {std::pair{"increment", &c->increment}, {"offset", &c->offset}}) {
        if (const json::value* x = field(ko, attr)) {
          if (c->key_type != "autoincrement") continue;
          if (!x->is_number() || x->to_number<double>() < 0 || x->to_number<double>() > 1e18 ||
              (std::string_view(attr) == "increment" && x->to_number<double>() < 1)) {
            return error_response(err(1232, std::string("invalid value for '") + attr + "'"));
          }
          *target = static_cast<uint64_t>(x->to_number<double>());
        }
      }
    }
    if (db.cols.count(c->name)) return error_response(err(1207, "duplicate name: " + c->name));
    c->id = new_id();
    json::object props = col_properties(*c);
    db.cols.emplace(c->name, std::move(c));
    return json_response(200, props);
  }
  Collection* c = find_col(db, rest[2]);
  if (!c) return error_response(err(1203, "collection or view not found: " + rest[2]));
  if (rest.size() == 3) {
    if (req.method == "GET") return json_response(200, col_basic(*c));
    if (req.method != "DELETE") return method_not_allowed();
    json::object o = ok_object(200);
    o["id"] = c->id;
    std::string name = c->name;
    db.cols.erase(name);
    return json_response(200, o);
  }
  if (rest.size() != 4) return unknown_path(req);
  const std::string& sub = rest[3];
  if (sub == "properties" || sub == "count") {
    if (req.method != "GET") return method_not_allowed();
    json::object o = col_properties(*c);
    if (sub == "count") {
      auto t = trx_of(req, db);
      if (auto* e = std::get_if<ApiError>(&t)) return error_response(*e);
      Trx* trx = std::get<Trx*>(t);
      if (auto e = check_access(trx, c->name, false)) return error_response(*e);
      o["count"] = scan(*c, trx).size();
    }
    return json_response(200, o);
  }
  if (sub == "truncate") {
    if (req.method != "PUT") return method_not_allowed();
    auto t = trx_of(req, db);
    if (auto* e = std::get_if<ApiError>(&t)) return error_response(*e);
    Trx* trx = std::get<Trx*>(t);
    if (auto e = check_access(trx, c->name, true)) return error_response(*e);
    size_t bytes = 0;
    for (const DocPtr& d : scan(*c, trx)) {
      std::string key(d->at("_key").get_string());
      if (auto e = write_conflict(db, *c, key, trx)) return error_response(*e);
      bytes += key.size();
    }
    if (auto e = charge(trx, bytes)) return error_response(*e);
    for (const DocPtr& d : scan(*c, trx))
      put(db, *c, std::string(d->at("_key").get_string()), nullptr, trx);
    return json_response(200, col_basic(*c));
  }
  return unknown_path(req);
}

Response ArangoDouble::Impl::document_api(const Request& req, Database& db,
                                          const std::vector<std::string>& rest) {
  if (rest.size() < 3 || rest.size() > 4) return unknown_path(req);
  Collection* c = find_col(db, rest[2]);
  if (!c) return error_response(err(1203, "collection or view not found: " + rest[2]));
  auto tr = trx_of(req, db);
  if (auto* e = std::get_if<ApiError>(&tr)) return error_response(*e);
  Trx* t = std::get<Trx*>(tr);

  OpOptions o;
  o.overwrite_mode = req.query_param("overwriteMode").value_or("");
  if (o.overwrite_mode.empty() && flag(req, "overwrite")) o.overwrite_mode = "replace";
  o.return_new = flag(req, "returnNew");
  o.return_old = flag(req, "returnOld");
  o.silent = flag(req, "silent");
  o.keep_null = flag(req, "keepNull", true);
  o.merge_objects = flag(req, "mergeObjects", true);
  o.ignore_revs = flag(req, "ignoreRevs", true);
  bool sync = flag(req, "waitForSync") || c->wait_for_sync;

  const bool single = rest.size() == 4;
  const bool is_read =
      req.method == "GET" || req.method == "HEAD" || (req.method == "PUT" && flag(req, "onlyget"));
  if (req.method != "GET" && req.method != "HEAD" && req.method != "POST" && req.method != "PUT" &&
      req.method != "PATCH" && req.method != "DELETE") {
    return method_not_allowed();
  }
  if (single && req.method == "POST") return method_not_allowed();
  if (!single && (req.method == "GET" || req.method == "HEAD")) {
    return error_response(err(400, "expecting GET /_api/document/<collection>/<key>"));
  }
  if (auto e = check_access(t, c->name, !is_read)) return error_response(*e);

  if (single && (req.method == "GET" || req.method == "HEAD")) {
    DocPtr d = visible(*c, rest[3], t);
    if (!d) return error_response(err(1202));
    std::string etag = "\"" + std::string(d->at("_rev").get_string()) + "\"";
    if (std::string_view m = req.header("If-None-Match"); !m.empty() && m == etag) {
      Response r = Response::text(304, "");
      r.headers.emplace_back("Etag", etag);
      return r;
    }
    if (std::string_view m = req.header("If-Match"); !m.empty() && m != etag) {
      json::object x = error_object(err(1200, "conflict", 412));
      for (const char* k : {"_id", "_key", "_rev"}) x[k] = d->at(k);
      return json_response(412, x);
    }
    Response r = json_response(200, *d);
    r.headers.emplace_back("Etag", etag);
    if (req.method == "HEAD") r.body.clear();
    return r;
  }

  // One operation per input; single-document requests are one input without the array.
  json::array inputs;
  if (single && req.method == "DELETE") {
    inputs.emplace_back(json::string(rest[3]));
  } else {
    auto body = parse_body(req);
    if (auto* e = std::get_if<ApiError>(&body)) return error_response(*e);
    json::value& v = std::get<json::value>(body);
    if (single) {
      if (!v.is_object()) return error_response(err(1227));
      v.get_object()["_key"] = rest[3];
      inputs.emplace_back(std::move(v));
    } else if (req.method == "POST" && v.is_object()) {
      // POST takes one object too, answered as a single document.
      return [&] {
        auto r = insert_one(db, *c, v, o, t);
        if (auto* e = std::get_if<ApiError>(&r)) return error_response(*e);
        json::object& ok = std::get<json::object>(r);
        Response res = json_response(sync ? 201 : 202, o.silent ? json::object{} : ok);
        res.headers.emplace_back("Etag", "\"" + std::string(ok.at("_rev").get_string()) + "\"");
        res.headers.emplace_back("Location", "/_db/" + db.name + "/_api/document/" +
                                                 std::string(ok.at("_id").get_string()));
        return res;
      }();
    } else if (!v.is_array()) {
      return error_response(err(req.method == "POST" ? 1227 : 400,
                                req.method == "POST" ? "" : "expecting an array of documents"));
    } else {
      inputs = std::move(v.get_array());
    }
  }
  // If-Match is the single-document form of the _rev precondition.
  if (std::string_view m = req.header("If-Match"); single && !m.empty()) {
    DocPtr d = visible(*c, rest[3], t);
    if (d && m != "\"" + std::string(d->at("_rev").get_string()) + "\"") {
      json::object x = error_object(err(1200, "conflict, _rev values do not match", 412));
      for (const char* k : {"_id", "_key", "_rev"}) x[k] = d->at(k);
      return json_response(412, x);
    }
  }

  json::array results;
  std::map<int, int> error_counts;
  for (const json::value& in : inputs) {
    Expected<json::object> r = err(500);
    if (std::optional<ApiError> limit; !is_read && t && (limit = charge(t, 0))) {
      r = *limit;  // past the size limit: refused untried, as the entries after it on a server
    } else if (is_read) {
      auto key = entry_key(in);
      DocPtr d = key ? visible(*c, *key, t) : nullptr;
      if (d)
        r = *d;
      else
        r = err(1202);
    } else if (req.method == "POST") {
      r = insert_one(db, *c, in, o, t);
    } else if (req.method == "PUT" || req.method == "PATCH") {
      r = modify_one(db, *c, in, req.method == "PATCH", o, t);
    } else {
      r = remove_one(db, *c, in, o, t);
    }
    if (auto* e = std::get_if<ApiError>(&r)) {
      if (single) {
        json::object x = error_object(*e);
        if (e->num == 1200 && e->message.find("_rev") != std::string::npos) {
          // A failed revision precondition: 412 with the current revision.
          x["code"] = 412;
          DocPtr d = visible(*c, rest[3], t);
          if (d)
            for (const char* k : {"_id", "_key", "_rev"}) x[k] = d->at(k);
          return json_response(412, x);
        }
        return json_response(e->http(), x);
      }
      ++error_counts[e->num];
      results.emplace_back(entry_error(*e));
    } else if (!o.silent || is_read) {
      results.emplace_back(std::move(std::get<json::object>(r)));
    }
  }
  int status = is_read ? 200 : req.method == "DELETE" ? (sync ? 200 : 202) : (sync ? 201 : 202);
  if (single) {
    json::value out = o.silent || results.empty() ? json::value(json::object{}) : results.front();
    Response res = json_response(status, out);
    if (out.is_object() && out.get_object().contains("_rev")) {
      res.headers.emplace_back("Etag", "\"" + std::string(out.at("_rev").get_string()) + "\"");
    }
    return res;
  }
  Response res = json_response(status, o.silent && !is_read && error_counts.empty()
                                           ? json::value(json::object{})
                                           : json::value(std::move(results)));
  if (!error_counts.empty()) {
    json::object codes;
    for (auto [num, n] : error_counts) codes[std::to_string(num)] = n;
    res.headers.emplace_back("X-Arango-Error-Codes", json::serialize(codes));
  }
  return res;
}

Response ArangoDouble::Impl::transaction_api(const Request& req, Database& db,
                                             const std::vector<std::string>& rest) {
  auto answer = [](int code, const Trx& t) {
    json::object r;
    r["id"] = t.id;
    r["status"] = status_name(t.status);
    return ok_response(code, "result", std::move(r));
  };
  if (rest.size() == 2) {
    if (req.method != "GET") return method_not_allowed();
    json::array list;
    for (const auto& [id, t] : trxs) {
      if (t.db != db.name || t.status != TrxStatus::running) continue;
      json::object e;
      e["id"] = id;
      e["state"] = "running";
      list.emplace_back(std::move(e));
    }
    json::object o;
    o["transactions"] = std::move(list);
    return json_response(200, o);
  }
  if (rest.size() != 3) return unknown_path(req);
  if (rest[2] == "begin") {
    if (req.method != "POST") return method_not_allowed();
    auto body = parse_body(req);
    if (auto* e = std::get_if<ApiError>(&body)) return error_response(*e);
    const json::value& v = std::get<json::value>(body);
    const json::value* cols = v.is_object() ? v.get_object().if_contains("collections") : nullptr;
    if (!cols || !cols->is_object()) {
      return error_response(err(10, "missing or invalid 'collections' attribute"));
    }
    Trx t;
    for (const char* kind : {"read", "write", "exclusive"}) {
      const json::value* names = cols->get_object().if_contains(kind);
      if (!names) continue;
      json::array list;
      if (names->is_string())
        list.push_back(*names);
      else if (names->is_array())
        list = names->get_array();
      else
        return error_response(err(10, std::string("invalid '") + kind + "' collections"));
      for (const json::value& n : list) {
        if (!n.is_string()) return error_response(err(10, "collection names must be strings"));
        std::string name(n.get_string());
        if (!find_col(db, name))
          return error_response(err(1203, "collection or view not found: " + name));
        (std::string_view(kind) == "read" ? t.read : t.write).insert(name);
      }
    }
    if (const json::value* ai = v.get_object().if_contains("allowImplicit"); ai && ai->is_bool()) {
      t.allow_implicit = ai->get_bool();
    }
    // A transaction may ask for a smaller limit, never a larger one (createManagedTrx takes the
    // minimum of maxTransactionSize and the server's).
    t.max_bytes = opts.stream_trx_max_bytes;
    if (const json::value* m = v.get_object().if_contains("maxTransactionSize");
        m && m->is_number()) {
      const double want = m->to_number<double>();
      if (want >= 0 && want < static_cast<double>(t.max_bytes)) {
        t.max_bytes = static_cast<size_t>(want);
      }
    }
    t.id = new_id();
    t.db = db.name;
    t.last_used = Clock::now();
    Trx& stored = trxs.emplace(t.id, std::move(t)).first->second;
    running.insert(&stored);
    return answer(201, stored);
  }
  // Commit and abort answer as transaction::Manager::updateTransaction() in 3.11: unknown
  // (or forgotten) 404 1655; the finished state again 200 (idempotent); the other one 400
  // 1653 "transaction was already committed|aborted|expired". (Its window between the idle
  // timeout and the server's garbage collection, in which commit or abort answers 410 1654,
  // does not exist here: sweep() aborts idle transactions before any request is served.)
  auto it = trxs.find(rest[2]);
  if (it == trxs.end() || it->second.db != db.name) {
    return error_response(err(1655, "transaction " + rest[2] + " not found" +
                                        (req.method == "PUT"      ? " on commit operation"
                                         : req.method == "DELETE" ? " on abort operation"
                                                                  : "")));
  }
  Trx& t = it->second;
  if (req.method == "GET") return answer(200, t);
  if (req.method != "PUT" && req.method != "DELETE") return method_not_allowed();
  TrxStatus want = req.method == "PUT" ? TrxStatus::committed : TrxStatus::aborted;
  if (t.status == want) return answer(200, t);  // idempotent
  if (t.status != TrxStatus::running) {
    return error_response(err(1653, std::string("transaction was already ") +
                                        (t.expired ? "expired" : status_name(t.status))));
  }
  t.status = want;
  running.erase(&t);  // before applying: commit_write keeps no snapshot for t itself
  t.last_used = Clock::now();
  finished.emplace_back(t.last_used, t.id);
  if (want == TrxStatus::committed) {
    for (auto& [ref, doc] : t.writes) {
      if (Collection* c = find_col(db, ref.first)) commit_write(db, *c, ref.second, doc);
    }
  }
  t.writes.clear();
  t.before.clear();
  return answer(200, t);
}

Expected<std::vector<json::value>> ArangoDouble::Impl::run_query(const Request& req, Database& db,
                                                                 const json::object& body, Trx* t,
                                                                 size_t* scanned,
                                                                 size_t* filtered) {
  const json::value* qv = body.if_contains("query");
  if (!qv || !qv->is_string()) return err(600, "expecting attribute 'query' to be a string");
  std::string_view text = qv->get_string();
  if (std::all_of(text.begin(), text.end(),
                  [](char ch) { return std::isspace(static_cast<unsigned char>(ch)); })) {
    return err(1502);
  }
  json::object binds;
  if (const json::value* b = body.if_contains("bindVars"); b && !b->is_null()) {
    if (!b->is_object()) return err(1550);
    binds = b->get_object();
  }
  auto parsed = aql::parse(text);
  if (!parsed.ok()) return err(1501, parsed.error().message);
  const aql::Query& q = *parsed;
  auto declared = aql::bind_keys(q);
  for (const auto& k : declared) {
    if (!binds.contains(k)) {
      return err(1551, "no value specified for declared bind parameter '" + k + "'");
    }
  }
  for (const auto& kv : binds) {
    if (!declared.count(std::string(kv.key()))) {
      return err(1552,
                 "bind parameter '" + std::string(kv.key()) + "' was not declared in the query");
    }
  }
  std::string col_name = q.collection;
  if (!q.collection_bind.empty()) {
    const json::value& cv = binds.at("@" + q.collection_bind);
    if (!cv.is_string()) {
      return err(1553, "bind parameter '@" + q.collection_bind + "' has an invalid value or type");
    }
    col_name = std::string(cv.get_string());
  }
  Collection* c = find_col(db, col_name);
  if (!c) return err(1203, "AQL: collection or view not found: " + col_name + " (while parsing)");
  if (auto e = check_access(t, c->name, false)) return *e;

  auto value_of = [&](const aql::Operand& o) -> const json::value& {
    return o.bind.empty() ? o.literal : binds.at(o.bind);
  };
  auto limit_of = [&](const aql::LimitValue& l) -> std::optional<int64_t> {
    if (l.bind.empty()) return l.value;
    const json::value& v = binds.at(l.bind);
    if (v.is_int64() && v.get_int64() >= 0) return v.get_int64();
    if (v.is_uint64()) return static_cast<int64_t>(std::min<uint64_t>(v.get_uint64(), INT64_MAX));
    return std::nullopt;
  };

  std::vector<DocPtr> rows;
  std::vector<DocPtr> all = scan(*c, t);
  *scanned = all.size();
  for (DocPtr& d : all) {
    bool keep = true;
    for (const auto& f : q.filters) {
      int cmp = aql::compare(at_path(*d, f.path), value_of(f.rhs));
      switch (f.op) {
        case aql::CmpOp::eq:
          keep = cmp == 0;
          break;
        case aql::CmpOp::ne:
          keep = cmp != 0;
          break;
        case aql::CmpOp::lt:
          keep = cmp < 0;
          break;
        case aql::CmpOp::le:
          keep = cmp <= 0;
          break;
        case aql::CmpOp::gt:
          keep = cmp > 0;
          break;
        case aql::CmpOp::ge:
          keep = cmp >= 0;
          break;
      }
      if (!keep) break;
    }
    if (keep) rows.push_back(std::move(d));
  }
  *filtered = *scanned - rows.size();
  if (q.ret == aql::ReturnKind::count) return std::vector<json::value>{json::value(rows.size())};
  if (!q.sort.empty()) {
    std::vector<std::pair<std::vector<json::value>, DocPtr>> keyed;
    keyed.reserve(rows.size());
    for (DocPtr& d : rows) {
      std::vector<json::value> k;
      for (const auto& s : q.sort) k.push_back(at_path(*d, s.path));
      keyed.emplace_back(std::move(k), std::move(d));
    }
    std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& b) {
      for (size_t i = 0; i < q.sort.size(); ++i) {
        int cmp = aql::compare(a.first[i], b.first[i]);
        if (cmp != 0) return q.sort[i].descending ? cmp > 0 : cmp < 0;
      }
      return false;
    });
    rows.clear();
    for (auto& [k, d] : keyed) rows.push_back(std::move(d));
  }
  size_t from = 0, to = rows.size();
  if (q.offset) {
    auto off = limit_of(*q.offset);
    if (!off)
      return err(1553, "bind parameter '" + q.offset->bind + "' has an invalid value or type");
    from = static_cast<size_t>(std::min<int64_t>(*off, static_cast<int64_t>(rows.size())));
  }
  if (q.limit) {
    auto lim = limit_of(*q.limit);
    if (!lim)
      return err(1553, "bind parameter '" + q.limit->bind + "' has an invalid value or type");
    to = std::min(rows.size(), from + static_cast<size_t>(std::min<int64_t>(
                                          *lim, static_cast<int64_t>(rows.size()))));
  }
  std::vector<json::value> out;
  out.reserve(to - from);
  for (size_t i = from; i < to; ++i) {
    if (q.ret == aql::ReturnKind::attribute)
      out.push_back(at_path(*rows[i], q.return_path));
    else
      out.emplace_back(*rows[i]);
  }
  return out;
}

json::object ArangoDouble::Impl::cursor_batch(Cursor& c, int code, bool* more) {
  json::array batch;
  size_t end = std::min(c.rows.size(), c.pos + c.batch);
  for (; c.pos < end; ++c.pos) batch.push_back(std::move(c.rows[c.pos]));
  *more = c.pos < c.rows.size();
  json::object o;
  o["result"] = std::move(batch);
  o["hasMore"] = *more;
  if (*more) o["id"] = c.id;
  if (c.count) o["count"] = *c.count;
  o["cached"] = false;
  o["error"] = false;
  o["code"] = code;
  return o;
}

Response ArangoDouble::Impl::cursor_api(const Request& req, Database& db,
                                        const std::vector<std::string>& rest) {
  if (rest.size() == 2) {
    if (req.method != "POST") return method_not_allowed();
    auto tr = trx_of(req, db);
    if (auto* e = std::get_if<ApiError>(&tr)) return error_response(*e);
    Trx* t = std::get<Trx*>(tr);
    auto body = parse_object_body(req, 600);
    if (auto* e = std::get_if<ApiError>(&body)) return error_response(*e);
    const json::object& o = std::get<json::object>(body);
    Cursor c;
    if (const json::value* b = o.if_contains("batchSize"); b && !b->is_null()) {
      if (!b->is_number() || b->to_number<double>() < 1) {
        return error_response(err(10, "expecting non-zero value for 'batchSize'"));
      }
      c.batch = static_cast<size_t>(std::min(b->to_number<double>(), 1e9));
    }
    double ttl = kDefaultCursorTtlSeconds;
    if (const json::value* x = o.if_contains("ttl");
        x && x->is_number() && x->to_number<double>() > 0) {
      ttl = std::min(x->to_number<double>(), 86400.0);
    }
    c.ttl = std::chrono::milliseconds(static_cast<int64_t>(ttl * 1000));
    auto start = Clock::now();
    size_t scanned = 0, filtered = 0;
    auto rows = run_query(req, db, o, t, &scanned, &filtered);
    if (auto* e = std::get_if<ApiError>(&rows)) return error_response(*e);
    c.rows = std::move(std::get<std::vector<json::value>>(rows));
    if (const json::value* cnt = o.if_contains("count"); cnt && cnt->is_bool() && cnt->get_bool()) {
      c.count = c.rows.size();
    }
    c.id = new_id();
    c.db = db.name;
    bool more = false;
    json::object out = cursor_batch(c, 201, &more);
    json::object stats;
    stats["writesExecuted"] = 0;
    stats["writesIgnored"] = 0;
    stats["scannedFull"] = scanned;
    stats["scannedIndex"] = 0;
    stats["cursorsCreated"] = 0;
    stats["cursorsRearmed"] = 0;
    stats["cacheHits"] = 0;
    stats["cacheMisses"] = 0;
    stats["filtered"] = filtered;
    stats["httpRequests"] = 0;
    stats["executionTime"] = std::chrono::duration<double>(Clock::now() - start).count();
    stats["peakMemoryUsage"] = 0;
    json::object extra;
    extra["warnings"] = json::array{};
    extra["stats"] = std::move(stats);
    out["extra"] = std::move(extra);
    if (more) touch_cursor(cursors.emplace(c.id, std::move(c)).first->second);
    return json_response(201, out);
  }
  if (rest.size() != 3) return unknown_path(req);
  auto it = cursors.find(rest[2]);
  if (it == cursors.end() || it->second.db != db.name) return error_response(err(1600));
  if (req.method == "DELETE") {
    drop_cursor(it);
    json::object o;
    o["id"] = rest[2];
    o["error"] = false;
    o["code"] = 202;
    return json_response(202, o);
  }
  if (req.method != "POST" && req.method != "PUT") return method_not_allowed();
  touch_cursor(it->second);
  bool more = false;
  json::object out = cursor_batch(it->second, 200, &more);
  if (!more) drop_cursor(it);
  return json_response(200, out);
}

Response ArangoDouble::Impl::gharial_api(const Request& req, Database& db,
                                         const std::vector<std::string>& rest) {
  Collection* graphs = find_col(db, "_graphs");
  if (!graphs) return error_response(err(1203, "collection or view not found: _graphs"));
  auto graph_of = [](const json::object& d) {
    json::object g = d;
    g["name"] = d.at("_key");
    return g;
  };
  if (rest.size() == 2) {
    if (req.method == "GET") {
      json::array list;
      for (const auto& [k, d] : graphs->docs) list.emplace_back(graph_of(*d));
      return ok_response(200, "graphs", std::move(list));
    }
    if (req.method != "POST") return method_not_allowed();
    auto body = parse_object_body(req, 600);
    if (auto* e = std::get_if<ApiError>(&body)) return error_response(*e);
    const json::object& o = std::get<json::object>(body);
    const json::value* name = o.if_contains("name");
    if (!name || !name->is_string() || name->get_string().empty()) return error_response(err(1922));
    std::string gname(name->get_string());
    if (!valid_key(gname)) return error_response(err(1208, "graph name is invalid: " + gname));
    // Edge definitions: {collection, from: [...], to: [...]}; from/to sorted, unique.
    json::array defs;
    std::set<std::string> edge_cols, vertex_cols;
    if (const json::value* ed = o.if_contains("edgeDefinitions"); ed && !ed->is_null()) {
      if (!ed->is_array()) return error_response(err(1923));
      for (const json::value& d : ed->get_array()) {
        const json::object* dobj = d.if_object();
        const json::value* col = dobj ? dobj->if_contains("collection") : nullptr;
        if (!col || !col->is_string() || !valid_name(col->get_string(), 256, false)) {
          return error_response(err(1923));
        }
        json::object def;
        def["collection"] = *col;
        if (!edge_cols.insert(std::string(col->get_string())).second) {
          return error_response(err(1920, "multi use of edge collection in edge def", 400));
        }
        for (const char* side : {"from", "to"}) {
          const json::value* list = dobj->if_contains(side);
          if (!list || !list->is_array()) return error_response(err(1923));
          std::set<std::string> names;
          for (const json::value& n : list->get_array()) {
            if (!n.is_string() || !valid_name(n.get_string(), 256, false))
              return error_response(err(1923));
            names.insert(std::string(n.get_string()));
          }
          json::array sorted;
          for (const auto& n : names) {
            sorted.emplace_back(n);
            vertex_cols.insert(n);
          }
          def[side] = std::move(sorted);
        }
        defs.emplace_back(std::move(def));
      }
    }
    json::array orphans;
    if (const json::value* orph = o.if_contains("orphanCollections"); orph && !orph->is_null()) {
      if (!orph->is_array()) return error_response(err(1943));
      for (const json::value& n : orph->get_array()) {
        if (!n.is_string() || !valid_name(n.get_string(), 256, false))
          return error_response(err(1943));
        orphans.push_back(n);
        vertex_cols.insert(std::string(n.get_string()));
      }
    }
    if (graphs->docs.count(gname)) return error_response(err(1925));
    for (const auto& e : edge_cols) {
      if (Collection* c = find_col(db, e); c && c->type != 3) {
        return error_response(err(1944, std::string(default_message(1944)) + ": " + e));
      }
    }
    // Creates what is missing, as ArangoDB does.
    auto create = [&](const std::string& n, int type) {
      if (find_col(db, n)) return;
      auto c = std::make_unique<Collection>();
      c->name = n;
      c->type = type;
      c->id = new_id();
      db.cols.emplace(n, std::move(c));
    };
    for (const auto& e : edge_cols) create(e, 3);
    for (const auto& n : vertex_cols) create(n, 2);
    json::object doc;
    doc["edgeDefinitions"] = std::move(defs);
    doc["orphanCollections"] = std::move(orphans);
    doc["numberOfShards"] = 1;
    doc["replicationFactor"] = 1;
    doc["writeConcern"] = 1;
    doc["isSmart"] = false;
    doc["isDisjoint"] = false;
    auto stored = std::make_shared<const json::object>(build(*graphs, gname, doc));
    commit_write(db, *graphs, gname, stored);
    int code = flag(req, "waitForSync") ? 201 : 202;
    return ok_response(code, "graph", graph_of(*stored));
  }
  if (rest.size() != 3) return unknown_path(req);
  auto it = graphs->docs.find(rest[2]);
  if (it == graphs->docs.end())
    return error_response(err(1924, "graph '" + rest[2] + "' not found"));
  if (req.method == "GET") {
    return ok_response(200, "graph", graph_of(*it->second));
  }
  if (req.method != "DELETE") return method_not_allowed();
  DocPtr g = it->second;
  commit_write(db, *graphs, rest[2], nullptr);
  if (flag(req, "dropCollections")) {
    for (const json::value& d : g->at("edgeDefinitions").get_array()) {
      db.cols.erase(std::string(d.at("collection").get_string()));
    }
  }
  int code = flag(req, "waitForSync") ? 201 : 202;
  return ok_response(code, "removed", true);
}

// ---------------------------------------------------------------------------------------
// Indexes (metadata only)

namespace {

// An index attribute path: dot-separated non-empty names, none of them "_id", each
// optionally expanded with a trailing "[*]" (ArangoDB's array index syntax).
bool valid_index_path(std::string_view p) {
  if (p.empty()) return false;
  size_t i = 0;
  while (true) {
    size_t j = p.find('.', i);
    std::string_view part = p.substr(i, j == std::string_view::npos ? p.size() - i : j - i);
    if (part.size() >= 3 && part.substr(part.size() - 3) == "[*]") {
      part.remove_suffix(3);
    }
    if (part.empty() || part == "_id") return false;
    if (j == std::string_view::npos) return true;
    i = j + 1;
  }
}

// A list of index attribute paths (fields, storedValues): strings, valid, no duplicates.
std::optional<std::vector<std::string>> index_paths(const json::value& v) {
  if (!v.is_array()) return std::nullopt;
  std::vector<std::string> out;
  for (const json::value& f : v.get_array()) {
    if (!f.is_string() || !valid_index_path(f.get_string())) return std::nullopt;
    std::string s(f.get_string());
    if (std::find(out.begin(), out.end(), s) != out.end()) return std::nullopt;
    out.push_back(std::move(s));
  }
  return out;
}

bool bool_option(const json::object& o, std::string_view k, bool dflt) {
  const json::value* v = o.if_contains(k);
  return v && v->is_bool() ? v->get_bool() : dflt;
}

json::array string_array(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

// The descriptions GET /_api/index lists for c: primary, edge (edge collections), then the
// persistent indexes in creation order, with ArangoDB 3.11's attributes.
std::vector<json::object> index_descriptions(const Collection& c) {
  std::vector<json::object> out;
  // A built-in index, named after its type.
  auto builtin = [&](const char* type, json::array fields, const char* id, bool unique) {
    json::object o;
    o["fields"] = std::move(fields);
    o["id"] = c.name + "/" + id;
    o["name"] = type;
    o["selectivityEstimate"] = 1;
    o["sparse"] = false;
    o["type"] = type;
    o["unique"] = unique;
    return o;
  };
  out.push_back(builtin("primary", {"_key"}, "0", true));
  if (c.type == 3) out.push_back(builtin("edge", {"_from", "_to"}, "1", false));
  for (const PersistentIndex& i : c.indexes) {
    json::object o;
    o["cacheEnabled"] = i.cache_enabled;
    o["deduplicate"] = i.deduplicate;
    o["estimates"] = i.estimates;
    o["fields"] = string_array(i.fields);
    o["id"] = c.name + "/" + i.id;
    o["name"] = i.name;
    o["selectivityEstimate"] = 1;
    o["sparse"] = i.sparse;
    if (!i.stored_values.empty()) o["storedValues"] = string_array(i.stored_values);
    o["type"] = "persistent";
    o["unique"] = false;
    out.push_back(std::move(o));
  }
  return out;
}

// The description of c's index with this id (the number after "c/") or name.
std::optional<json::object> find_index(const Collection& c, std::string_view id_or_name) {
  for (json::object& d : index_descriptions(c)) {
    std::string_view id = d.at("id").get_string();
    id.remove_prefix(c.name.size() + 1);
    if (id == id_or_name || d.at("name").get_string() == id_or_name) return std::move(d);
  }
  return std::nullopt;
}

}  // namespace

Response ArangoDouble::Impl::index_api(const Request& req, Database& db,
                                       const std::vector<std::string>& rest) {
  const size_t n = rest.size() - 2;  // segments after /_api/index
  auto with_status = [](json::object o, int code) {
    o["error"] = false;
    o["code"] = code;
    return json_response(code, o);
  };
  auto named_collection = [&](const std::string& name) -> Collection* {
    return name.empty() ? nullptr : find_col(db, name);
  };
  auto no_collection = [](const std::string& name) {
    return error_response(err(1203, "collection or view not found: " + name));
  };

  if (req.method == "GET") {
    if (n == 0) {
      const std::string name = req.query_param("collection").value_or("");
      Collection* c = named_collection(name);
      if (!c) return no_collection(name);
      json::array list;
      json::object ids;
      for (json::object& d : index_descriptions(*c)) {
        ids[d.at("id").get_string()] = d;
        list.emplace_back(std::move(d));
      }
      json::object o;
      o["indexes"] = std::move(list);
      o["identifiers"] = std::move(ids);
      return with_status(std::move(o), 200);
    }
    if (n != 2) return error_response(err(400));
    Collection* c = named_collection(rest[2]);
    if (!c) return no_collection(rest[2]);
    auto d = find_index(*c, rest[3]);
    if (!d) return error_response(err(1212));
    return with_status(std::move(*d), 200);
  }

  if (req.method == "DELETE") {
    if (n != 2) {
      return error_response(err(400, "expecting DELETE /<collection-name>/<index-identifier>"));
    }
    Collection* c = named_collection(rest[2]);
    if (!c) return no_collection(rest[2]);
    auto d = find_index(*c, rest[3]);
    if (!d) return error_response(err(1212));
    std::string handle(d->at("id").get_string());
    const std::string id = handle.substr(c->name.size() + 1);
    auto it = std::find_if(c->indexes.begin(), c->indexes.end(),
                           [&](const PersistentIndex& i) { return i.id == id; });
    if (it == c->indexes.end()) {  // primary or edge index
      return error_response(
          err(11, "cannot drop the " + std::string(d->at("type").get_string()) + " index", 403));
    }
    c->indexes.erase(it);
    json::object o;
    o["id"] = handle;
    return with_status(std::move(o), 200);
  }

  if (req.method != "POST") return method_not_allowed();
  auto body = parse_body(req);
  if (auto* e = std::get_if<ApiError>(&body)) return error_response(*e);
  if (n != 0)
    return error_response(err(400, "expecting POST /_api/index?collection=<collection-name>"));
  const std::string name = req.query_param("collection").value_or("");
  Collection* c = named_collection(name);
  if (!c) return no_collection(name);
  const json::value& v = std::get<json::value>(body);
  if (!v.is_object()) return error_response(err(10, "expecting an index definition object"));
  const json::object& o = v.get_object();

  const json::value* type = o.if_contains("type");
  if (!type || !type->is_string()) return error_response(err(10, "invalid index type definition"));
  const std::string t(type->get_string());
  // hash and skiplist are documented aliases of persistent.
  if (t != "persistent" && t != "hash" && t != "skiplist") {
    static const char* const kOther[] = {"geo",      "geo1", "geo2", "fulltext",    "ttl",
                                         "inverted", "zkd",  "mdi",  "mdi-prefixed"};
    for (const char* other : kOther) {
      if (t == other) {
        return error_response(
            err(10, "index type '" + t + "' is not implemented by the ArangoDB test double"));
      }
    }
    return error_response(err(10, "invalid index type definition"));
  }
  const json::value* fields = o.if_contains("fields");
  std::optional<std::vector<std::string>> paths;
  if (fields) paths = index_paths(*fields);
  if (!paths || paths->empty()) {
    return error_response(err(10, "index fields must be a non-empty array of attribute paths"));
  }
  if (bool_option(o, "unique", false)) {
    return error_response(
        err(10, "unique indexes are not implemented by the ArangoDB test double"));
  }
  PersistentIndex idx;
  idx.fields = std::move(*paths);
  idx.sparse = bool_option(o, "sparse", false);
  idx.deduplicate = bool_option(o, "deduplicate", true);
  idx.estimates = bool_option(o, "estimates", true);
  idx.cache_enabled = bool_option(o, "cacheEnabled", false);
  if (const json::value* sv = o.if_contains("storedValues")) {
    auto stored = index_paths(*sv);
    if (!stored || stored->size() > 32) {
      return error_response(err(10, "storedValues must be an array of at most 32 attribute paths"));
    }
    for (const auto& p : *stored) {
      if (std::find(idx.fields.begin(), idx.fields.end(), p) != idx.fields.end()) {
        return error_response(err(10, "'" + p + "' is in both fields and storedValues"));
      }
    }
    idx.stored_values = std::move(*stored);
  }
  const json::value* given_name = o.if_contains("name");
  if (given_name &&
      (!given_name->is_string() || !valid_name(given_name->get_string(), 256, false))) {
    return error_response(err(1208, "illegal index name"));
  }

  // An identical index (type, fields in order, uniqueness, sparsity; storedValues and
  // cacheEnabled are documented not to count) is returned instead of a new one.
  for (const PersistentIndex& i : c->indexes) {
    if (i.fields == idx.fields && i.sparse == idx.sparse) {
      json::object d = *find_index(*c, i.id);
      d["isNewlyCreated"] = false;
      return with_status(std::move(d), 200);
    }
  }
  if (given_name) {
    idx.name = std::string(given_name->get_string());
    if (find_index(*c, idx.name)) {
      return error_response(err(1207, "duplicate value: index name " + idx.name, 400));
    }
  }
  idx.id = new_id();
  if (idx.name.empty()) idx.name = "idx_" + idx.id;
  c->indexes.push_back(std::move(idx));
  json::object d = *find_index(*c, c->indexes.back().id);
  d["isNewlyCreated"] = true;
  return with_status(std::move(d), 201);
}

// ---------------------------------------------------------------------------------------
// ArangoDouble

ArangoDouble::ArangoDouble(ArangoDoubleOptions opts)
    : impl_(std::make_shared<Impl>(std::move(opts))) {
  if (impl_->opts.jwt_secret.empty()) impl_->opts.jwt_secret = random_hex(32);
}

ArangoDouble::~ArangoDouble() { stop(); }

Status ArangoDouble::start() {
  Impl& s = *impl_;
  if (s.server) throw std::logic_error("ArangoDouble::start() called twice");
  if (s.opts.password.empty()) {
    return Error(Errc::invalid_argument, "the ArangoDB double needs a password", "password");
  }
  {
    std::lock_guard lk(s.mu);
    s.tick = static_cast<uint64_t>(unix_now()) * 1000;  // ids and keys grow across restarts
    s.create_database("_system");
    for (const auto& d : s.opts.databases) {
      if (!valid_name(d, 64, false)) {
        return Error(Errc::invalid_argument, "illegal database name '" + d + "'", "databases");
      }
      if (!s.dbs.count(d)) s.create_database(d);
    }
  }
  http::ServerOptions so;
  so.address = s.opts.address;
  so.port = s.opts.port;
  so.max_body_bytes = s.opts.max_body_bytes;
  so.threads = std::max(1, s.opts.threads);
  so.error_response = [](int status, std::string_view message) {
    if (status == 413) {
      // ArangoDB answers an oversized body with an empty 413 and closes the connection.
      return Response::text(413, "");
    }
    int num = status == 404 ? 404 : status == 405 ? 405 : status == 400 ? 400 : status;
    return error_response(err(num, std::string(message), status));
  };
  s.server = std::make_unique<http::Server>(so);
  std::weak_ptr<Impl> weak = impl_;
  s.server->fallback([weak](const Request& r) {
    auto impl = weak.lock();
    if (!impl) return error_response(err(503));
    return impl->handle(r);
  });
  return s.server->start();
}

void ArangoDouble::stop() {
  if (impl_->server) impl_->server->stop();
}

uint16_t ArangoDouble::port() const { return impl_->server ? impl_->server->port() : 0; }

std::string ArangoDouble::base_url() const {
  return impl_->server ? impl_->server->base_url() : std::string();
}

std::string ArangoDouble::superuser_jwt() const {
  json::object p;
  p["iss"] = "arangodb";
  p["server_id"] = "arangodb-double";
  p["iat"] = unix_now();
  return impl_->make_jwt(p);
}

void ArangoDouble::fail_next(int n, int http_status, int error_num) {
  std::lock_guard lk(impl_->fault_mu);
  impl_->fail_n = n;
  impl_->fail_status = http_status;
  impl_->fail_num = error_num;
}

void ArangoDouble::delay_next(int n, std::chrono::milliseconds d) {
  std::lock_guard lk(impl_->fault_mu);
  impl_->delay_n = n;
  impl_->delay = d;
}

void ArangoDouble::drop_next(int n) {
  std::lock_guard lk(impl_->fault_mu);
  impl_->drop_n = n;
}

std::vector<std::string> ArangoDouble::requests() const {
  std::lock_guard lk(impl_->fault_mu);
  return {impl_->log.begin(), impl_->log.end()};
}

void ArangoDouble::clear_requests() {
  std::lock_guard lk(impl_->fault_mu);
  impl_->log.clear();
}

}  // namespace sf::testing
