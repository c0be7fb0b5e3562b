#include "store/arango/arango_state_store.h"

#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "json/json.h"
#include "store/arango/arango_client.h"
#include "store/state_fields.h"

namespace sf::store {
namespace {

using arango::ArangoClient;
using arango::get_int;
using arango::get_number;
using arango::get_string;
using arango::Reply;
using arango::Transaction;
namespace bj = boost::json;

constexpr const char* kQueues = "queues";
constexpr const char* kTargets = "targets";
constexpr const char* kEvents = "events";
constexpr const char* kState = "sf_state";
constexpr const char* kSeqKey = "queue_seq";
constexpr size_t kChunk = 5'000;
// AQL LIMIT's "everything": below 2^53, so exact as a number anywhere.
constexpr int64_t kAll = int64_t{1} << 50;

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < n; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

// ids joined as escaped parts; hashed when too long for a _key.
std::string state_key(std::initializer_list<std::string_view> parts) {
  std::string key;
  for (std::string_view p : parts) {
    if (!key.empty()) key += ':';
    key += arango::escape_key_part(p);
  }
  if (!key.empty() && key.size() <= arango::kMaxKeyBytes) return key;
  std::string joined;
  for (std::string_view p : parts) {
    joined += std::to_string(p.size()) + ":";
    joined += p;
  }
  return "%h" + sha256_hex(joined);
}

std::string random_token() {
  std::random_device rd;
  std::string out;
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 4; ++i) {
    uint32_t v = rd();
    for (int k = 0; k < 8; ++k) {
      out += kHex[v & 15];
      v >>= 4;
    }
  }
  return out;
}

int64_t clamp(size_t n) { return static_cast<int64_t>(std::min<uint64_t>(n, uint64_t(kAll))); }

// A field of a document: written with the writer's call for its type, read with the
// getter for its type (an error naming `what` when it is missing or of another type).
void write_field(json::Writer& w, const char* name, const std::string& v) { w.kv(name, v); }
void write_field(json::Writer& w, const char* name, double v) { w.kv_num(name, v); }
void write_field(json::Writer& w, const char* name, int64_t v) { w.kv_int(name, v); }
Status read_field(const bj::object& o, const char* name, const std::string& what, std::string& v) {
  SF_TRY_ASSIGN(v, get_string(o, name, what));
  return {};
}
Status read_field(const bj::object& o, const char* name, const std::string& what, double& v) {
  SF_TRY_ASSIGN(v, get_number(o, name, what));
  return {};
}
Status read_field(const bj::object& o, const char* name, const std::string& what, int64_t& v) {
  SF_TRY_ASSIGN(v, get_int(o, name, what));
  return {};
}

// The fields (state_fields.h) of a queue or target as members of the open object in `w`.
template <class R>
void write_fields(json::Writer& w, const R& r) {
  StateFields<R>::for_each([&](const char* name, auto member) { write_field(w, name, r.*member); });
}

// The fields of a queue or target from document `o`, named `what` in errors; the first
// missing or mistyped one is the error.
template <class R>
Status read_fields(const bj::object& o, const std::string& what, R& r) {
  Status st;
  StateFields<R>::for_each([&](const char* name, auto member) {
    if (st.ok()) st = read_field(o, name, what, r.*member);
  });
  return st;
}

void write_target(json::Writer& w, const std::string& queue_id, const TargetState& t,
                  int64_t ordinal) {
  w.begin_object()
      .kv("_key", state_key({queue_id, t.telemetry_id}))
      .kv("queue_id", queue_id)
      .kv_int("ordinal", ordinal);
  write_fields(w, t);
  w.end_object();
}

std::string what_of(const char* collection, const bj::object& o) {
  const bj::value* k = o.if_contains("_key");
  return std::string(collection) + "/" + (k && k->is_string() ? std::string(k->get_string()) : "?");
}

Result<QueueState> read_queue(const bj::value& v, int64_t* seq) {
  if (!v.is_object()) return Error(Errc::io_error, "ArangoDB queues holds a non-object");
  const bj::object& o = v.get_object();
  const std::string w = what_of(kQueues, o);
  QueueState q;
  SF_TRY(read_fields(o, w, q));
  if (seq) SF_TRY_ASSIGN(*seq, get_int(o, "seq", w));
  return q;
}

Result<std::pair<int64_t, TargetState>> read_target(const bj::value& v, std::string* queue_id) {
  if (!v.is_object()) return Error(Errc::io_error, "ArangoDB targets holds a non-object");
  const bj::object& o = v.get_object();
  const std::string w = what_of(kTargets, o);
  TargetState t;
  int64_t ordinal = 0;
  SF_TRY_ASSIGN(*queue_id, get_string(o, "queue_id", w));
  SF_TRY_ASSIGN(ordinal, get_int(o, "ordinal", w));
  SF_TRY(read_fields(o, w, t));
  return std::make_pair(ordinal, std::move(t));
}

Result<StoredEvent> read_event(const bj::value& v) {
  if (!v.is_object()) return Error(Errc::io_error, "ArangoDB events holds a non-object");
  const bj::object& o = v.get_object();
  const std::string w = what_of(kEvents, o);
  StoredEvent e;
  SF_TRY_ASSIGN(e.queue_id, get_string(o, "queue_id", w));
  SF_TRY_ASSIGN(e.timestamp, get_number(o, "timestamp", w));
  SF_TRY_ASSIGN(e.json, get_string(o, "json", w));
  return e;
}

std::string bind_queue(const std::string& queue_id) {
  std::string b;
  json::Writer(b).begin_object().kv("q", queue_id).end_object();
  return b;
}

}  // namespace

struct ArangoStateStore::Impl {
  std::unique_ptr<ArangoClient> client;
  std::mutex mu;
  bool commit_unknown = false;  // set by commit() for the running attempt

  std::string doc_path(const char* collection) const {
    return client->db_path(std::string("/_api/document/") + collection);
  }

  Status commit(Transaction& trx) {
    Transaction::Outcome outcome;
    Status st = trx.commit(&outcome);
    if (st.ok()) return st;
    Error e = st.error();
    if (outcome == Transaction::Outcome::unknown) {
      commit_unknown = true;
      e.field = arango::kRetryField;
    }
    return e;
  }

  // Runs fn(after_unknown) again while it fails with kRetryField; after_unknown stays true
  // once a commit's outcome was unknown (that attempt may have been committed).
  template <typename Fn>
  Status run(Fn&& fn) {
    bool after_unknown = false;
    return arango::retry_operation([&]() -> Status {
      commit_unknown = false;
      Status st = fn(after_unknown);
      after_unknown = after_unknown || commit_unknown;
      return st;
    });
  }

  // Sends keys[at, at + n) as a JSON array of strings with `method` to `path`: the answer,
  // an array of n entries, one per key (an error if it is anything else).
  Result<Reply> send_keys(const char* method, const std::string& path,
                          const std::vector<std::string>& keys, size_t at, size_t n,
                          const arango::RequestOptions& options) {
    std::string body = "[";
    for (size_t k = 0; k < n; ++k) {
      if (k) body += ',';
      body += arango::json_string(keys[at + k]);
    }
    body += ']';
    Reply r;
    SF_TRY_ASSIGN(r, client->request(method, path, body, options));
    if (!r.ok()) return client->error(r, method, path);
    if (!r.body.is_array() || r.body.get_array().size() != n) {
      return Error(Errc::io_error, "ArangoDB answer on " + std::string(method) + " " + path +
                                       " is not an array of " + std::to_string(n) + " entries");
    }
    return r;
  }

  // Documents by key inside `trx` (PUT ?onlyget): key -> document, missing keys absent.
  Result<std::unordered_map<std::string, bj::object>> get_many(
      Transaction& trx, const char* collection, const std::vector<std::string>& keys) {
    std::unordered_map<std::string, bj::object> out;
    const std::string path = doc_path(collection) + "?onlyget=true";
    for (size_t at = 0; at < keys.size(); at += kChunk) {
      const size_t n = std::min(kChunk, keys.size() - at);
      Reply r;
      SF_TRY_ASSIGN(r, send_keys("PUT", path, keys, at, n, trx.options(true)));
      bj::array& got = r.body.get_array();
      for (size_t k = 0; k < n; ++k) {
        if (!got[k].is_object()) {
          return Error(Errc::io_error, "ArangoDB answer on PUT " + path + ": entry " +
                                           std::to_string(k) + " is not an object");
        }
        bj::object& o = got[k].get_object();
        if (const bj::value* err = o.if_contains("error");
            err && err->is_bool() && err->get_bool()) {
          const bj::value* num = o.if_contains("errorNum");
          if (num && num->is_int64() && num->get_int64() == 1202) continue;
          Status st = arango::check_array_results(*client, r, n, "PUT", path, [&](size_t j) {
            return std::string(collection) + "/" + keys[at + j];
          });
          return st.ok() ? Error(Errc::io_error, "ArangoDB answer on PUT " + path +
                                                     ": an error entry without errorNum")
                         : st.error();
        }
        out.emplace(keys[at + k], std::move(o));
      }
    }
    return out;
  }

  // Sends an array of documents (JSON texts) with `method` to `path` in chunks and checks
  // every result.
  Status send_many(Transaction& trx, const char* method, const std::string& path,
                   const std::vector<std::string>& docs, bool idempotent, const char* what) {
    for (size_t at = 0; at < docs.size(); at += kChunk) {
      const size_t n = std::min(kChunk, docs.size() - at);
      std::string body = "[";
      for (size_t k = 0; k < n; ++k) {
        if (k) body += ',';
        body += docs[at + k];
      }
      body += ']';
      arango::RequestOptions o = trx.options(idempotent);
      o.fresh_connection = !idempotent;
      auto sent = client->request(method, path, body, o);
      if (!sent.ok()) {
        Error e = sent.error();
        // A lost request that must not be resent: the transaction is aborted (nothing of
        // it becomes visible) and the whole operation runs again.
        if (!idempotent && (e.code == Errc::timeout || e.code == Errc::unavailable)) {
          e.field = arango::kRetryField;
        }
        return e;
      }
      const Reply& r = *sent;
      SF_TRY(arango::check_array_results(*client, r, n, method, path, [&](size_t j) {
        return std::string(what) + " " + std::to_string(at + j);
      }));
    }
    return {};
  }

  Result<std::vector<std::pair<int64_t, TargetState>>> targets_of(const std::string& trx_id,
                                                                  const std::string& queue_id) {
    std::vector<std::pair<int64_t, TargetState>> out;
    // The persistent index (queue_id, ordinal) answers both the filter and the order.
    SF_TRY(client->query(
        "FOR d IN targets FILTER d.queue_id == @q SORT d.ordinal RETURN d", bind_queue(queue_id),
        trx_id,
        [&](bj::array& batch) -> Status {
          for (const bj::value& v : batch) {
            std::string qid;
            std::pair<int64_t, TargetState> t;
            SF_TRY_ASSIGN(t, read_target(v, &qid));
            // ICU equality aside, keep exact matches only.
            if (qid == queue_id) out.push_back(std::move(t));
          }
          return {};
        },
        [&] { out.clear(); }));
    return out;
  }

  Status create_once(const QueueState& q, const std::string& token, bool after_unknown) {
    auto begun = Transaction::begin(*client, {kQueues, kTargets, kState});
    if (!begun) return begun.error();
    Transaction& trx = *begun;
    // The creation sequence: a counter document every create_queue writes, so concurrent
    // creators conflict (1200) instead of sharing a number.
    int64_t seq = 0;
    {
      const std::string path = doc_path(kState) + "/" + kSeqKey;
      Reply r;
      SF_TRY_ASSIGN(r, client->request("GET", path, {}, trx.options(true)));
      if (r.ok()) {
        if (!r.body.is_object())
          return Error(Errc::io_error, "ArangoDB answer on " + path + " is not a document");
        SF_TRY_ASSIGN(seq,
                      get_int(r.body.get_object(), "value", std::string(kState) + "/" + kSeqKey));
      } else if (r.error_num != 1202) {
        return client->error(r, "GET", path);
      }
      ++seq;
      std::string body;
      json::Writer(body).begin_object().kv("_key", kSeqKey).kv_int("value", seq).end_object();
      const std::string put = doc_path(kState) + "?overwriteMode=replace";
      SF_TRY_ASSIGN(r, client->request("POST", put, body, trx.options(true)));
      if (!r.ok()) return client->error(r, "POST", put);
    }
    const std::string key = state_key({q.queue_id});
    {
      std::string body;
      json::Writer w(body);
      w.begin_object().kv("_key", key);
      write_fields(w, q);
      w.kv_int("seq", seq)
          .kv_int("next_ordinal", static_cast<int64_t>(q.targets.size()))
          .kv("create_token", token)
          .end_object();
      const std::string path = doc_path(kQueues);
      Reply r;
      // Without overwrite: a taken key is 1210. Resending after a lost answer would see
      // our own document, hence the token check below.
      SF_TRY_ASSIGN(r, client->request("POST", path, body, trx.options(true)));
      if (r.error_num == 1210) {
        if (after_unknown) {
          const std::string get = path + "/" + arango::path_escape(key);
          Reply g;
          SF_TRY_ASSIGN(g, client->request("GET", get, {}, trx.options(true)));
          const bj::value* t = g.ok() && g.body.is_object()
                                   ? g.body.get_object().if_contains("create_token")
                                   : nullptr;
          if (t && t->is_string() && t->get_string() == token) {
            trx.abort();
            return {};  // our earlier commit went through
          }
        }
        return Error(Errc::already_exists, "queue " + q.queue_id + " already exists", "queue_id");
      }
      if (!r.ok()) return client->error(r, "POST", path, "queue " + q.queue_id);
    }
    if (!q.targets.empty()) {
      std::vector<std::string> docs;
      for (size_t i = 0; i < q.targets.size(); ++i) {
        std::string d;
        json::Writer w(d);
        write_target(w, q.queue_id, q.targets[i], static_cast<int64_t>(i));
        docs.push_back(std::move(d));
      }
      SF_TRY(send_many(trx, "POST", doc_path(kTargets) + "?overwriteMode=replace", docs, true,
                       "target"));
    }
    return commit(trx);
  }

  Status apply_once(const StateBatch& batch, const std::string& token, bool after_unknown) {
    if (after_unknown && !batch.events.empty()) {
      // Did the attempt whose commit answer got lost go through? Its events carry the token.
      // Looked up queue by queue (the (queue_id, _key) index narrows each lookup to one
      // queue's events, bounded by trim_events): a batch's events all commit or none do, and
      // only those of existing queues were written, so any queue of the batch may hold them.
      std::unordered_set<std::string_view> asked;
      for (const auto& e : batch.events) {
        if (!asked.insert(e.queue_id).second) continue;
        std::string bind;
        json::Writer(bind).begin_object().kv("q", e.queue_id).kv("b", token).end_object();
        bool found = false;
        SF_TRY(client->query(
            "FOR d IN events FILTER d.queue_id == @q FILTER d.batch == @b LIMIT 1 RETURN d._key",
            bind, {}, [&](bj::array& a) -> Status {
              found = found || !a.empty();
              return {};
            }));
        if (found) return {};
      }
    }
    auto begun = Transaction::begin(*client, {kQueues, kTargets, kEvents});
    if (!begun) return begun.error();
    Transaction& trx = *begun;

    // The queues the batch addresses that exist.
    std::vector<std::string> qkeys;
    {
      std::unordered_set<std::string> seen;
      auto add = [&](const std::string& id) {
        std::string k = state_key({id});
        if (seen.insert(k).second) qkeys.push_back(std::move(k));
      };
      for (const auto& q : batch.queue_updates) add(q.queue_id);
      for (const auto& [qid, t] : batch.target_updates) add(qid);
      for (const auto& e : batch.events) add(e.queue_id);
    }
    std::unordered_map<std::string, bj::object> queues;
    SF_TRY_ASSIGN(queues, get_many(trx, kQueues, qkeys));
    struct QueuePatch {
      const QueueState* update = nullptr;
      int64_t next_ordinal = -1;  // -1: unchanged
    };
    std::map<std::string, QueuePatch> patches;  // by key
    std::unordered_map<std::string, int64_t> next_ordinal;
    for (auto& [k, o] : queues) {
      int64_t n = 0;
      SF_TRY_ASSIGN(n, get_int(o, "next_ordinal", std::string(kQueues) + "/" + k));
      next_ordinal[k] = n;
    }
    for (const auto& q : batch.queue_updates) {
      const std::string k = state_key({q.queue_id});
      if (queues.count(k)) patches[k].update = &q;  // the later update wins
    }

    // Targets: one document per (queue, telemetry id), the last update wins; new ones are
    // numbered in the order they first appear.
    struct TargetUpdate {
      std::string queue_id, queue_key, key;
      const TargetState* state;
    };
    std::vector<TargetUpdate> targets;
    {
      std::unordered_map<std::string, size_t> at;
      for (const auto& [qid, t] : batch.target_updates) {
        std::string qk = state_key({qid});
        if (!queues.count(qk)) continue;
        std::string k = state_key({qid, t.telemetry_id});
        auto [it, fresh] = at.try_emplace(k, targets.size());
        if (fresh) {
          targets.push_back({qid, std::move(qk), std::move(k), &t});
        } else {
          targets[it->second].state = &t;
        }
      }
    }
    if (!targets.empty()) {
      std::vector<std::string> tkeys;
      for (const auto& t : targets) tkeys.push_back(t.key);
      std::unordered_map<std::string, bj::object> stored;
      SF_TRY_ASSIGN(stored, get_many(trx, kTargets, tkeys));
      std::vector<std::string> docs;
      for (const auto& t : targets) {
        int64_t ordinal = 0;
        if (auto it = stored.find(t.key); it != stored.end()) {
          SF_TRY_ASSIGN(ordinal,
                        get_int(it->second, "ordinal", std::string(kTargets) + "/" + t.key));
        } else {
          ordinal = next_ordinal[t.queue_key]++;
          patches[t.queue_key].next_ordinal = next_ordinal[t.queue_key];
        }
        std::string d;
        json::Writer w(d);
        write_target(w, t.queue_id, *t.state, ordinal);
        docs.push_back(std::move(d));
      }
      SF_TRY(send_many(trx, "POST", doc_path(kTargets) + "?overwriteMode=replace", docs, true,
                       "target"));
    }
    if (!patches.empty()) {
      std::vector<std::string> docs;
      for (const auto& [k, p] : patches) {
        std::string d;
        json::Writer w(d);
        w.begin_object().kv("_key", k);
        if (p.update) {
          w.kv("status", p.update->status)
              .kv("message", p.update->message)
              .kv_num("updated_at", p.update->updated_at);
        }
        if (p.next_ordinal >= 0) w.kv_int("next_ordinal", p.next_ordinal);
        w.end_object();
        docs.push_back(std::move(d));
      }
      SF_TRY(send_many(trx, "PATCH", doc_path(kQueues), docs, true, "queue update"));
    }
    std::vector<std::string> events;
    for (const auto& e : batch.events) {
      if (!queues.count(state_key({e.queue_id}))) continue;
      std::string d;
      json::Writer(d)
          .begin_object()
          .kv("queue_id", e.queue_id)
          .kv_num("timestamp", e.timestamp)
          .kv("json", e.json)
          .kv("batch", token)
          .end_object();
      events.push_back(std::move(d));
    }
    // Server-generated keys: a resent insert would append the events twice, so a lost
    // answer fails the attempt (the transaction is aborted and the batch runs again).
    if (!events.empty()) {
      SF_TRY(send_many(trx, "POST", doc_path(kEvents), events, false, "event"));
    }
    return commit(trx);
  }
};

Result<std::unique_ptr<ArangoStateStore>> ArangoStateStore::open(const std::string& url) {
  arango::ArangoUrl u;
  SF_TRY_ASSIGN(u, arango::parse_url(url));
  auto impl = std::make_unique<Impl>();
  SF_TRY_ASSIGN(impl->client, ArangoClient::create(std::move(u)));
  ArangoClient& c = *impl->client;
  SF_TRY(c.ensure_database());
  SF_TRY(c.ensure_collection(kQueues, 2));
  SF_TRY(c.ensure_collection(kTargets, 2));
  SF_TRY(c.ensure_collection(kEvents, 2, "padded"));
  SF_TRY(c.ensure_collection(kState, 2));
  // Every read of targets and events is by queue: without these, each get_queue,
  // recent_events and trim_events would scan the whole collection. Ensured on every open
  // (idempotent), so a database made before they existed gets them too.
  SF_TRY(c.ensure_persistent_index(kTargets, {"queue_id", "ordinal"}));
  SF_TRY(c.ensure_persistent_index(kEvents, {"queue_id", "_key"}));
  return std::unique_ptr<ArangoStateStore>(new ArangoStateStore(std::move(impl)));
}

ArangoStateStore::ArangoStateStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ArangoStateStore::~ArangoStateStore() = default;

std::string ArangoStateStore::describe() const { return impl_->client->url().redacted; }

std::string ArangoStateStore::queue_key(const std::string& queue_id) {
  return state_key({queue_id});
}

std::string ArangoStateStore::target_key(const std::string& queue_id,
                                         const std::string& telemetry_id) {
  return state_key({queue_id, telemetry_id});
}

Status ArangoStateStore::create_queue(const QueueState& q) {
  {
    std::unordered_set<std::string_view> ids;
    for (const auto& t : q.targets) {
      if (!ids.insert(t.telemetry_id).second) {
        return Error(Errc::invalid_argument,
                     "queue " + q.queue_id + ": duplicate telemetry_id " + t.telemetry_id,
                     "targets");
      }
    }
  }
  const std::string token = random_token();
  std::lock_guard lock(impl_->mu);
  return impl_->run(
      [&](bool after_unknown) { return impl_->create_once(q, token, after_unknown); });
}

Result<QueueState> ArangoStateStore::get_queue(const std::string& queue_id) {
  std::lock_guard lock(impl_->mu);
  Impl& s = *impl_;
  QueueState q;
  // One snapshot for the queue and its targets: a read-only stream transaction.
  SF_TRY(s.run([&](bool) -> Status {
    auto begun = Transaction::begin(*s.client, {}, {kQueues, kTargets});
    if (!begun) return begun.error();
    Transaction& trx = *begun;
    const std::string path = s.doc_path(kQueues) + "/" + arango::path_escape(state_key({queue_id}));
    Reply r;
    SF_TRY_ASSIGN(r, s.client->request("GET", path, {}, trx.options(true)));
    if (r.status == 404 && r.error_num == 1202) {
      return Error(Errc::not_found, "queue " + queue_id + " not found");
    }
    if (!r.ok()) return s.client->error(r, "GET", path);
    SF_TRY_ASSIGN(q, read_queue(r.body, nullptr));
    if (q.queue_id != queue_id) return Error(Errc::not_found, "queue " + queue_id + " not found");
    std::vector<std::pair<int64_t, TargetState>> targets;
    SF_TRY_ASSIGN(targets, s.targets_of(trx.id(), queue_id));
    trx.abort();  // read-only: nothing to commit
    for (auto& [ordinal, t] : targets) q.targets.push_back(std::move(t));
    return {};
  }));
  return q;
}

Result<std::vector<QueueState>> ArangoStateStore::list_queues() {
  std::lock_guard lock(impl_->mu);
  Impl& s = *impl_;
  std::vector<std::pair<int64_t, QueueState>> queues;  // seq, queue
  std::unordered_map<std::string, std::vector<std::pair<int64_t, TargetState>>> targets;
  SF_TRY(s.run([&](bool) -> Status {
    queues.clear();
    targets.clear();
    auto begun = Transaction::begin(*s.client, {}, {kQueues, kTargets});
    if (!begun) return begun.error();
    Transaction& trx = *begun;
    SF_TRY(s.client->query(
        "FOR d IN queues RETURN d", "{}", trx.id(),
        [&](bj::array& batch) -> Status {
          for (const bj::value& v : batch) {
            int64_t seq = 0;
            QueueState q;
            SF_TRY_ASSIGN(q, read_queue(v, &seq));
            queues.emplace_back(seq, std::move(q));
          }
          return {};
        },
        [&] { queues.clear(); }));
    SF_TRY(s.client->query(
        "FOR d IN targets RETURN d", "{}", trx.id(),
        [&](bj::array& batch) -> Status {
          for (const bj::value& v : batch) {
            std::string qid;
            std::pair<int64_t, TargetState> t;
            SF_TRY_ASSIGN(t, read_target(v, &qid));
            targets[qid].push_back(std::move(t));
          }
          return {};
        },
        [&] { targets.clear(); }));
    trx.abort();
    return {};
  }));
  std::sort(queues.begin(), queues.end(), [](const auto& a, const auto& b) {
    return std::tie(a.second.created_at, a.first) < std::tie(b.second.created_at, b.first);
  });
  std::vector<QueueState> out;
  out.reserve(queues.size());
  for (auto& [seq, q] : queues) {
    if (auto it = targets.find(q.queue_id); it != targets.end()) {
      std::sort(it->second.begin(), it->second.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      for (auto& [ordinal, t] : it->second) q.targets.push_back(std::move(t));
    }
    out.push_back(std::move(q));
  }
  return out;
}

Status ArangoStateStore::apply(const StateBatch& batch) {
  if (batch.queue_updates.empty() && batch.target_updates.empty() && batch.events.empty()) {
    return ok_status();
  }
  const std::string token = random_token();
  std::lock_guard lock(impl_->mu);
  return impl_->run(
      [&](bool after_unknown) { return impl_->apply_once(batch, token, after_unknown); });
}

Result<std::vector<StoredEvent>> ArangoStateStore::recent_events(const std::string& queue_id,
                                                                 size_t limit) {
  std::vector<StoredEvent> out;
  if (limit == 0) return out;
  std::lock_guard lock(impl_->mu);
  std::string bind;
  json::Writer(bind).begin_object().kv("q", queue_id).kv_int("n", clamp(limit)).end_object();
  // Index (queue_id, _key) read backwards: the newest `limit` entries, no sort.
  SF_TRY(impl_->client->query(
      "FOR d IN events FILTER d.queue_id == @q SORT d._key DESC LIMIT @n RETURN d", bind, {},
      [&](bj::array& batch) -> Status {
        for (const bj::value& v : batch) {
          StoredEvent e;
          SF_TRY_ASSIGN(e, read_event(v));
          if (e.queue_id != queue_id) continue;  // ICU equality aside, exact matches only
          out.push_back(std::move(e));
        }
        return {};
      },
      [&] { out.clear(); }));
  std::reverse(out.begin(), out.end());
  return out;
}

Status ArangoStateStore::trim_events(const std::string& queue_id, size_t keep) {
  std::lock_guard lock(impl_->mu);
  Impl& s = *impl_;
  std::string bind;
  json::Writer(bind)
      .begin_object()
      .kv("q", queue_id)
      .kv_int("keep", clamp(keep))
      .kv_int("all", kAll)
      .end_object();
  std::vector<std::string> keys;
  SF_TRY(s.client->query(
      "FOR d IN events FILTER d.queue_id == @q SORT d._key DESC LIMIT @keep, @all RETURN d._key",
      bind, {},
      [&](bj::array& batch) -> Status {
        for (const bj::value& v : batch) {
          if (!v.is_string())
            return Error(Errc::io_error, "ArangoDB events: a _key that is not a string");
          keys.emplace_back(v.get_string());
        }
        return {};
      },
      [&] { keys.clear(); }));
  const std::string path = s.doc_path(kEvents);
  for (size_t at = 0; at < keys.size(); at += kChunk) {
    const size_t n = std::min(kChunk, keys.size() - at);
    Reply r;
    // Deleting the same keys twice is harmless (the second time they are 1202).
    SF_TRY_ASSIGN(r, s.send_keys("DELETE", path, keys, at, n, {}));
    for (const bj::value& v : r.body.get_array()) {
      const bj::value* err = v.is_object() ? v.get_object().if_contains("error") : nullptr;
      if (!err || !err->is_bool() || !err->get_bool()) continue;
      const bj::value* num = v.get_object().if_contains("errorNum");
      if (num && num->is_int64() && num->get_int64() == 1202) continue;
      return arango::check_array_results(*s.client, r, n, "DELETE", path,
                                         [&](size_t j) { return "event " + keys[at + j]; });
    }
  }
  return {};
}

}  // namespace sf::store
