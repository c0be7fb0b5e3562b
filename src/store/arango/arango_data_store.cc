#include "store/arango/arango_data_store.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "json/json.h"
#include "store/arango/arango_client.h"

namespace sf::store {
namespace {

using arango::ArangoClient;
using arango::get_bool;
using arango::get_int;
using arango::get_string;
using arango::Reply;
using arango::Transaction;
using market::Kind;
namespace bj = boost::json;

constexpr const char* kCatalogue = "sf_collections";
// Documents per write request, and a byte bound on the body (ArangoDB's default maximum
// request body is 512 MiB; smaller bodies keep each request well under timeout_ms).
constexpr size_t kChunkDocs = 5'000;
constexpr size_t kChunkBytes = size_t{8} << 20;

using market::FieldInfo;
using market::KindInfo;

const std::string_view time_field(Kind k) { return market::kind_info(k).time_field; }
// The numeric part of the natural key (its last field).
std::string_view id_field(Kind k) {
  const KindInfo& info = market::kind_info(k);
  return info.fields[info.key_fields - 1].name;
}

// The text key fields a Query can fix: symbol, and interval (candles). A graph edge's target
// is a text key field no Query names.
bool query_fixes(std::string_view field) { return field == "symbol" || field == "interval"; }

// The persistent index of a data collection: the equality filters of count/scan/times
// (symbol, and interval for candles) first, then the time they filter by range. For candles
// it also gives the server's SORT by open_time when symbol and interval are fixed.
std::vector<std::string> index_fields(Kind k) {
  const KindInfo& info = market::kind_info(k);
  std::vector<std::string> out;
  for (size_t i = 0; i < info.key_fields; ++i)
    if (info.fields[i].type == market::FieldType::text && query_fixes(info.fields[i].name))
      out.emplace_back(info.fields[i].name);
  out.emplace_back(info.time_field);
  return out;
}

// The natural key's fields joined by ':', text parts escaped (`SYMBOL:INTERVAL:OPEN_TIME`).
std::string make_key(const market::Record& r) {
  std::string key;
  std::visit(
      [&](const auto& rec) {
        market::visit_fields(rec, market::AnyField{[&](const FieldInfo& f, size_t, const auto& v) {
                               if (!f.key) return;
                               if (!key.empty()) key += ':';
                               using T = std::remove_cvref_t<decltype(v)>;
                               if constexpr (std::is_same_v<T, std::string>) {
                                 key += arango::escape_key_part(v);
                               } else if constexpr (std::is_same_v<T, int64_t>) {
                                 key += std::to_string(v);
                               }  // key fields are text or integers
                             }});
      },
      r);
  return key;
}

// Writes a record's fields as the document's attributes.
struct DocWriter {
  json::Writer& w;
  void text(const FieldInfo& f, size_t, const std::string& v) { w.kv(f.name, v); }
  void decimal(const FieldInfo& f, size_t, const std::string& v) { w.kv(f.name, v); }
  void integer(const FieldInfo& f, size_t, int64_t v) { w.kv_int(f.name, v); }
  void boolean(const FieldInfo& f, size_t, bool v) { w.kv_bool(f.name, v); }
  void real(const FieldInfo& f, size_t, double v) { w.key(f.name).number(v); }
};

// The _key of the node (symbol, version) of a graph: what record_document_key() gives its
// graph_node record.
std::string node_key(const std::string& symbol, int64_t version) {
  market::GraphNode n;
  n.symbol = symbol;
  n.version = version;
  return make_key(market::Record(std::move(n)));
}

// A record's document; `nodes` (the graph's node collection) for a graph_edge record, whose
// document then links its ends: _from/_to = "<nodes>/<node _key>".
void write_doc(json::Writer& w, const std::string& key, const market::Record& rec,
               const std::string& nodes) {
  w.begin_object().kv("_key", key);
  if (const auto* e = std::get_if<market::GraphEdge>(&rec)) {
    w.kv("_from", nodes + "/" + node_key(e->symbol, e->version));
    w.kv("_to", nodes + "/" + node_key(e->target, e->version));
  }
  std::visit([&](const auto& r) { market::visit_fields(r, DocWriter{w}); }, rec);
  w.end_object();
}

std::string doc_name(const std::string& collection, const bj::object& o) {
  const bj::value* k = o.if_contains("_key");
  return collection + "/" + (k && k->is_string() ? std::string(k->get_string()) : "?");
}

// Strict reading of a stored document's attributes (each present with its type).
struct DocReader {
  const bj::object& o;
  const std::string& what;
  Status text(const FieldInfo& f, size_t, std::string& v) const {
    SF_TRY_ASSIGN(v, get_string(o, f.name, what));
    return {};
  }
  Status decimal(const FieldInfo& f, size_t i, std::string& v) const { return text(f, i, v); }
  Status integer(const FieldInfo& f, size_t, int64_t& v) const {
    SF_TRY_ASSIGN(v, get_int(o, f.name, what));
    return {};
  }
  Status boolean(const FieldInfo& f, size_t, bool& v) const {
    SF_TRY_ASSIGN(v, get_bool(o, f.name, what));
    return {};
  }
  Status real(const FieldInfo& f, size_t, double& v) const {
    SF_TRY_ASSIGN(v, arango::get_number(o, f.name, what));
    return {};
  }
};

// Strict decoding of a stored document of `kind`.
Result<market::Record> read_doc(const bj::value& v, Kind kind, const std::string& collection) {
  if (!v.is_object()) {
    return Error(Errc::io_error, "ArangoDB returned a " + std::string(json::kind_name(v)) +
                                     " instead of a document of " + collection);
  }
  const bj::object& o = v.get_object();
  const std::string what = doc_name(collection, o);
  return market::with_kind(kind, [&](auto type) -> Result<market::Record> {
    typename decltype(type)::type rec;
    SF_TRY(market::try_visit_fields(rec, DocReader{o, what}));
    return market::Record(std::move(rec));
  });
}

// The stream transactions a batch is written in: consecutive runs [first, last) of `docs`
// whose JSON sizes add up to at most `max_bytes` each (a larger document alone). ArangoDB
// refuses writes past a stream transaction's size limit (errorNum 32; 128 MiB in 3.11), and
// a batch may hold up to a million records.
std::vector<std::pair<size_t, size_t>> transaction_runs(const std::vector<std::string>& docs,
                                                        size_t max_bytes) {
  std::vector<std::pair<size_t, size_t>> runs;
  size_t first = 0, bytes = 0;
  for (size_t i = 0; i < docs.size(); ++i) {
    if (i > first && bytes + docs[i].size() > max_bytes) {
      runs.emplace_back(first, i);
      first = i;
      bytes = 0;
    }
    bytes += docs[i].size();
  }
  if (first < docs.size()) runs.emplace_back(first, docs.size());
  return runs;
}

// True when a query fixes every text part of the key (the symbol, and the interval of
// candles; never for graph edges, whose target no Query fixes): the server then orders by
// the numeric part exactly.
bool key_text_fixed(Kind kind, const Query& q) {
  const KindInfo& info = market::kind_info(kind);
  for (size_t i = 0; i < info.key_fields; ++i) {
    if (info.fields[i].type != market::FieldType::text) continue;
    const std::string_view f = info.fields[i].name;
    if (!(f == "symbol" ? q.symbol.has_value() : f == "interval" && q.interval.has_value()))
      return false;
  }
  return true;
}

// The named graph `g`'s definition as this store makes it: one edge definition, g.edges
// from [g.nodes] to [g.nodes]. Orphan collections are not looked at.
bool same_definition(const bj::value& graph, const GraphCollections& g) {
  const bj::value* defs =
      graph.is_object() ? graph.get_object().if_contains("edgeDefinitions") : nullptr;
  if (!defs || !defs->is_array() || defs->get_array().size() != 1) return false;
  const bj::value& d = defs->get_array()[0];
  if (!d.is_object()) return false;
  const bj::object& o = d.get_object();
  auto only_nodes = [&](const char* k) {
    const bj::value* v = o.if_contains(k);
    return v && v->is_array() && v->get_array().size() == 1 && v->get_array()[0].is_string() &&
           v->get_array()[0].get_string() == g.nodes;
  };
  const bj::value* c = o.if_contains("collection");
  return c && c->is_string() && c->get_string() == g.edges && only_nodes("from") &&
         only_nodes("to");
}

}  // namespace

struct ArangoDataStore::Impl {
  struct Entry {
    std::string name;
    std::string role;          // the catalogue's kind text (market::to_string), or a legacy role
    std::optional<Kind> kind;  // empty for a legacy role (below)
  };

  std::unique_ptr<ArangoClient> client;
  std::mutex mu;
  std::map<std::string, Entry> cache;  // by exact name, collections known to exist
  std::set<std::string> linked;  // graph_edge collections whose named graph is known to be ours

  std::string doc_path(const std::string& collection) const {
    return client->db_path("/_api/document/" + collection);
  }

  // The catalogue entry stored under lower(name), if any. Entries of the free-form graph API
  // of older StreamForge versions (kind "graph_vertex", or "graph_edge" with a "vertex"
  // attribute) hold no records: they get no kind, so they are neither listed nor read and
  // their names are refused to every kind.
  Result<std::optional<Entry>> lookup(const std::string& name) {
    const std::string path = doc_path(kCatalogue) + "/" + arango::path_escape(lower_ascii(name));
    Reply r;
    SF_TRY_ASSIGN(r, client->request("GET", path, {}));
    if (r.status == 404 && r.error_num == 1202) return std::optional<Entry>();
    if (!r.ok()) return client->error(r, "GET", path, "look up collection " + name);
    if (!r.body.is_object())
      return Error(Errc::io_error, "ArangoDB answer on " + path + " is not a document");
    const bj::object& o = r.body.get_object();
    const std::string what = std::string(kCatalogue) + "/" + lower_ascii(name);
    Entry e;
    SF_TRY_ASSIGN(e.name, get_string(o, "name", what));
    SF_TRY_ASSIGN(e.role, get_string(o, "kind", what));
    if (is_legacy(o)) {
      e.role = "older free-form " + e.role;
      return std::optional<Entry>(std::move(e));
    }
    e.kind = market::kind_from_string(e.role);
    if (!e.kind)
      return Error(Errc::io_error, "ArangoDB document " + what + ": unknown kind '" + e.role + "'");
    return std::optional<Entry>(std::move(e));
  }

  static bool is_legacy(const bj::object& catalogue_entry) {
    const bj::value* k = catalogue_entry.if_contains("kind");
    return (k && k->is_string() && k->get_string() == "graph_vertex") ||
           catalogue_entry.contains("vertex");
  }

  static Status check_kind(const Entry& e, Kind kind) {
    if (e.kind == kind) return {};
    return Error(
        Errc::invalid_argument,
        "collection " + e.name + " holds " + e.role + " documents, not " + market::to_string(kind),
        "collection_name");
  }

  // The collection `name` (exact case) if it exists; nullptr otherwise. Caller holds mu.
  Result<const Entry*> existing(const std::string& name) {
    if (auto it = cache.find(name); it != cache.end()) return &it->second;
    std::optional<Entry> e;
    SF_TRY_ASSIGN(e, lookup(name));
    if (!e || e->name != name) return static_cast<const Entry*>(nullptr);
    // Registered: the physical collection exists unless creating it failed half-way; a
    // read then reports not_found from the server, which is right.
    return &(cache[name] = std::move(*e));
  }

  Result<const Entry*> existing_market(const std::string& name) {
    SF_TRY(check_collection_name(name));
    const Entry* e = nullptr;
    SF_TRY_ASSIGN(e, existing(name));
    if (!e) return Error(Errc::not_found, "collection " + name + " does not exist");
    if (!e->kind) {
      return Error(Errc::invalid_argument,
                   "collection " + name + " holds " + e->role + " documents, not records",
                   "collection_name");
    }
    return e;
  }

  // The collection, registered and created for `kind` if missing (an edge collection for
  // graph_edge, a document collection otherwise). Caller holds mu.
  Result<const Entry*> ensure(const std::string& name, Kind kind) {
    if (auto it = cache.find(name); it != cache.end()) {
      SF_TRY(check_kind(it->second, kind));
      return &it->second;
    }
    const std::string role = market::to_string(kind);
    std::optional<Entry> e;
    for (int attempt = 0; attempt < 3 && !e; ++attempt) {
      SF_TRY_ASSIGN(e, lookup(name));
      if (e) break;
      // Register first: the catalogue's unique _key (the lower-case name) decides between
      // processes racing to create the same name, or names differing only in case.
      std::string body;
      json::Writer w(body);
      w.begin_object().kv("_key", lower_ascii(name)).kv("name", name).kv("kind", role);
      w.end_object();
      const std::string path = doc_path(kCatalogue);
      Reply r;
      SF_TRY_ASSIGN(r, client->request("POST", path, body));
      if (r.ok()) {
        e = Entry{name, role, kind};
      } else if (r.error_num != 1210) {
        return client->error(r, "POST", path, "register collection " + name);
      }
      // 1210: someone registered it meanwhile; read their entry.
    }
    if (!e)
      return Error(Errc::unavailable, "collection " + name + ": catalogue entry keeps changing");
    if (e->name != name) {
      return Error(
          Errc::invalid_argument,
          "collection name '" + name + "' differs only in case from the existing '" + e->name + "'",
          "collection_name");
    }
    SF_TRY(check_kind(*e, kind));
    // Create it (also after a crash between registering and creating); an existing one of
    // the right type is adopted.
    SF_TRY(client->ensure_collection(name, kind == Kind::graph_edge ? 3 : 2));
    SF_TRY(client->ensure_persistent_index(name, index_fields(kind)));
    return &(cache[name] = std::move(*e));
  }

  // The named graph of g (GET /_api/gharial/{graph}): nullopt if there is none, else whether
  // its definition is this store's (same_definition()).
  Result<std::optional<bool>> graph_state(const GraphCollections& g) {
    const std::string path = client->db_path("/_api/gharial/" + arango::path_escape(g.graph));
    Reply r;
    SF_TRY_ASSIGN(r, client->request("GET", path, {}));
    if (r.status == 404 && r.error_num == 1924) return std::optional<bool>();
    if (!r.ok()) return client->error(r, "GET", path, "look up graph " + g.graph);
    const bj::value* graph =
        r.body.is_object() ? r.body.get_object().if_contains("graph") : nullptr;
    if (!graph) return Error(Errc::io_error, "ArangoDB answer on GET " + path + " has no graph");
    return std::optional<bool>(same_definition(*graph, g));
  }

  Error other_graph(const GraphCollections& g) const {
    return Error(Errc::invalid_argument,
                 "ArangoDB graph " + g.graph + " exists with other edge definitions than " +
                     g.edges + ": " + g.nodes + " -> " + g.nodes,
                 "collection_name");
  }

  // A collection of `kind` as ensure() makes it; for graph_edge (G_edges) also the node
  // collection G_nodes and the named graph G (edge definition G_edges: G_nodes -> G_nodes).
  // What is refused (another kind or another case under one of the names, a graph G defined
  // otherwise) is refused before anything is created, barring races and collections of the
  // wrong type outside the catalogue. Caller holds mu.
  Status ensure_kind(const std::string& name, Kind kind) {
    if (kind != Kind::graph_edge) {
      SF_TRY(ensure(name, kind));
      return {};
    }
    if (cache.count(name) && linked.count(name)) return check_kind(cache.at(name), kind);
    std::string graph;
    SF_TRY_ASSIGN(graph, graph_of_collection(name, kind));
    GraphCollections g;
    SF_TRY_ASSIGN(g, graph_collections(graph));
    for (const auto& [n, k] : {std::pair{g.nodes, Kind::graph_node}, {g.edges, Kind::graph_edge}}) {
      std::optional<Entry> e;
      SF_TRY_ASSIGN(e, lookup(n));
      if (!e) continue;
      if (e->name != n)
        return Error(
            Errc::invalid_argument,
            "collection name '" + n + "' differs only in case from the existing '" + e->name + "'",
            "collection_name");
      SF_TRY(check_kind(*e, k));
    }
    std::optional<bool> same;
    SF_TRY_ASSIGN(same, graph_state(g));
    if (same && !*same) return other_graph(g);
    SF_TRY(ensure(g.nodes, Kind::graph_node));
    SF_TRY(ensure(g.edges, Kind::graph_edge));
    if (!same) {
      const std::string path = client->db_path("/_api/gharial");
      std::string body;
      json::Writer w(body);
      w.begin_object().kv("name", g.graph).key("edgeDefinitions").begin_array().begin_object();
      w.kv("collection", g.edges).key("from").begin_array().str(g.nodes).end_array();
      w.key("to").begin_array().str(g.nodes).end_array().end_object().end_array().end_object();
      Reply r;
      SF_TRY_ASSIGN(r, client->request("POST", path, body));
      if (!r.ok()) {
        if (r.error_num != 1925) return client->error(r, "POST", path, "create graph " + g.graph);
        // 1925: made meanwhile (another process, or a resent request): it must be ours.
        SF_TRY_ASSIGN(same, graph_state(g));
        if (!same || !*same) return other_graph(g);
      }
    }
    linked.insert(name);
    return {};
  }

  // Every data collection of the catalogue with its kind (legacy entries left out), in the
  // server's order.
  Result<std::vector<CollectionInfo>> market_collections() {
    std::vector<CollectionInfo> out;
    std::string bind;
    json::Writer(bind).begin_object().kv("@col", kCatalogue).end_object();
    SF_TRY(client->query(
        "FOR d IN @@col RETURN d", bind, {},
        [&](bj::array& batch) -> Status {
          for (const bj::value& v : batch) {
            if (!v.is_object()) return Error(Errc::io_error, "sf_collections holds a non-object");
            const bj::object& o = v.get_object();
            if (is_legacy(o)) continue;
            const std::string what = doc_name(kCatalogue, o);
            std::string name, kind;
            SF_TRY_ASSIGN(name, get_string(o, "name", what));
            SF_TRY_ASSIGN(kind, get_string(o, "kind", what));
            if (auto k = market::kind_from_string(kind)) out.push_back({std::move(name), *k});
          }
          return {};
        },
        [&] { out.clear(); }));
    return out;
  }

  // The persistent index of every data collection in the catalogue (idempotent: a database
  // written before the store made indexes gets them; one request per collection). A
  // registered collection that was never created (a crash in between) is skipped.
  Status ensure_indexes() {
    std::vector<CollectionInfo> market;
    SF_TRY_ASSIGN(market, market_collections());
    for (const auto& [name, kind] : market) {
      Status st = client->ensure_persistent_index(name, index_fields(kind));
      if (!st.ok() && st.error().code != Errc::not_found) return st;
    }
    return {};
  }

  // Writes `docs` (JSON object texts) into `collection` inside `trx`, in bounded bodies,
  // checking every per-document result. describe(i) names input i.
  Status write_docs(Transaction& trx, const std::string& collection, std::string_view mode,
                    const std::vector<std::string_view>& docs,
                    const std::function<std::string(size_t)>& describe) {
    const std::string path = doc_path(collection) + "?overwriteMode=" + std::string(mode);
    std::string body;
    size_t i = 0;
    while (i < docs.size()) {
      const size_t first = i;
      body.clear();
      body += '[';
      while (i < docs.size() && i - first < kChunkDocs &&
             (i == first || body.size() + docs[i].size() < kChunkBytes)) {
        if (i > first) body += ',';
        body += docs[i];
        ++i;
      }
      body += ']';
      Reply r;
      // overwriteMode=update/replace with our keys: running it twice writes the same.
      SF_TRY_ASSIGN(r, client->request("POST", path, body, trx.options(true)));
      SF_TRY(arango::check_array_results(*client, r, i - first, "POST", path,
                                         [&](size_t k) { return describe(first + k); }));
    }
    return {};
  }

  Status commit(Transaction& trx) {
    Transaction::Outcome outcome;
    Status st = trx.commit(&outcome);
    if (st.ok()) return st;
    Error e = st.error();
    // Every write of this store is idempotent: after an unknown outcome, writing the same
    // batch again gives the same result whether or not the first commit went through.
    if (outcome == Transaction::Outcome::unknown) e.field = arango::kRetryField;
    return e;
  }

  // Upserts rows[first, last) (documents docs, keys keys) in one transaction.
  Status upsert_once(const std::string& name, std::span<const market::Record* const> rows,
                     const std::vector<std::string>& keys, const std::vector<std::string>& docs,
                     size_t first, size_t last) {
    auto begun = Transaction::begin(*client, {name});
    if (!begun) return begun.error();
    Transaction& trx = *begun;
    // A final record (a closed candle) stays: read the stored versions of the batch's
    // records without the final flag.
    const std::string_view final_flag = market::kind_info(market::kind_of(*rows[0])).final_flag;
    std::vector<bool> skip(rows.size(), false);
    std::vector<size_t> open;
    for (size_t i = first; i < last && !final_flag.empty(); ++i) {
      if (!market::is_final(*rows[i])) open.push_back(i);
    }
    const std::string get_path = doc_path(name) + "?onlyget=true";
    for (size_t at = 0; at < open.size(); at += kChunkDocs) {
      const size_t n = std::min(kChunkDocs, open.size() - at);
      std::string body = "[";
      for (size_t k = 0; k < n; ++k) {
        if (k) body += ',';
        body += arango::json_string(keys[open[at + k]]);
      }
      body += ']';
      Reply r;
      SF_TRY_ASSIGN(r, client->request("PUT", get_path, body, trx.options(true)));
      if (!r.ok()) return client->error(r, "PUT", get_path);
      if (!r.body.is_array() || r.body.get_array().size() != n) {
        return Error(Errc::io_error, "ArangoDB answer on PUT " + get_path + " is not an array of " +
                                         std::to_string(n) + " entries");
      }
      const bj::array& got = r.body.get_array();
      for (size_t k = 0; k < n; ++k) {
        if (!got[k].is_object()) {
          return Error(Errc::io_error, "ArangoDB answer on PUT " + get_path + ": entry " +
                                           std::to_string(k) + " is not an object");
        }
        const bj::object& o = got[k].get_object();
        if (const bj::value* err = o.if_contains("error");
            err && err->is_bool() && err->get_bool()) {
          const bj::value* num = o.if_contains("errorNum");
          if (num && num->is_int64() && num->get_int64() == 1202) continue;  // not stored yet
          return arango::check_array_results(*client, r, n, "PUT", get_path, [&](size_t j) {
            return "record " + keys[open[at + j]];
          });
        }
        bool closed = false;
        SF_TRY_ASSIGN(closed, get_bool(o, final_flag, name + "/" + keys[open[at + k]]));
        if (closed) skip[open[at + k]] = true;
      }
    }
    std::vector<std::string_view> write;
    std::vector<size_t> index;  // write[j] is docs[index[j]]
    write.reserve(last - first);
    for (size_t i = first; i < last; ++i) {
      if (skip[i]) continue;
      write.push_back(docs[i]);
      index.push_back(i);
    }
    SF_TRY(write_docs(trx, name, "update", write,
                      [&](size_t j) { return "record " + market::natural_key(*rows[index[j]]); }));
    return commit(trx);
  }

  // Upserts the folded rows (keys[i] is rows[i]'s _key) in transactions of at most
  // max_transaction_bytes of documents each. Not atomic across those transactions: see
  // arango_data_store.h. `nodes`: for graph edges, their graph's node collection.
  Status upsert_rows(const std::string& name, std::span<const market::Record* const> rows,
                     const std::vector<std::string>& keys, const std::string& nodes) {
    std::vector<std::string> docs;
    docs.reserve(rows.size());
    for (size_t i = 0; i < rows.size(); ++i) {
      std::string d;
      json::Writer w(d);
      write_doc(w, keys[i], *rows[i], nodes);
      docs.push_back(std::move(d));
    }
    for (const auto& [first, last] : transaction_runs(docs, client->url().max_transaction_bytes)) {
      SF_TRY(arango::retry_operation(
          [&] { return upsert_once(name, rows, keys, docs, first, last); }));
    }
    return {};
  }

  // The AQL FILTER lines and bind variables of a query on a collection of `kind`.
  void filters(Kind kind, const Query& q, std::string& aql, json::Writer& bind) {
    if (q.symbol) {
      aql += " FILTER d.symbol == @symbol";
      bind.kv("symbol", *q.symbol);
    }
    if (q.interval && market::kind_info(kind).has("interval")) {
      aql += " FILTER d.interval == @interval";
      bind.kv("interval", *q.interval);
    }
    const std::string tf(time_field(kind));
    if (q.from_ms != std::numeric_limits<int64_t>::min()) {
      aql += " FILTER d." + tf + " >= @from";
      bind.kv_int("from", q.from_ms);
    }
    if (q.to_ms != std::numeric_limits<int64_t>::max()) {
      aql += " FILTER d." + tf + " < @to";
      bind.kv_int("to", q.to_ms);
    }
  }

  // Records of `name` matching q, in natural-key (byte) order, limited.
  Result<std::vector<market::Record>> read(const std::string& name, Kind kind, const Query& q) {
    std::string aql = "FOR d IN @@col", bind;
    json::Writer b(bind);
    b.begin_object().kv("@col", name);
    filters(kind, q, aql, b);
    // With every text part of the key fixed, the numeric part orders exactly on the server.
    const bool pushed = q.limit > 0 && key_text_fixed(kind, q);
    if (pushed) {
      aql += " SORT d." + std::string(id_field(kind)) + " LIMIT @limit";
      b.kv_int("limit", static_cast<int64_t>(std::min<size_t>(q.limit, size_t{1} << 62)));
    }
    aql += " RETURN d";
    b.end_object();
    std::vector<market::Record> out;
    SF_TRY(client->query(
        aql, bind, {},
        [&](bj::array& batch) -> Status {
          for (const bj::value& v : batch) {
            market::Record r;
            SF_TRY_ASSIGN(r, read_doc(v, kind, name));
            // AQL's == compares with ICU collation; keep exact byte matches only.
            if (q.symbol && market::text_of(r, "symbol") != *q.symbol) continue;
            if (q.interval && market::text_of(r, "interval").value_or(*q.interval) != *q.interval)
              continue;
            out.push_back(std::move(r));
          }
          return {};
        },
        [&] { out.clear(); }));
    std::stable_sort(out.begin(), out.end(), [](const market::Record& a, const market::Record& b) {
      return market::key_less(a, b);
    });
    if (q.limit > 0 && out.size() > q.limit) out.resize(q.limit);
    return out;
  }
};

Result<std::unique_ptr<ArangoDataStore>> ArangoDataStore::open(const std::string& url) {
  arango::ArangoUrl u;
  SF_TRY_ASSIGN(u, arango::parse_url(url));
  auto impl = std::make_unique<Impl>();
  SF_TRY_ASSIGN(impl->client, ArangoClient::create(std::move(u)));
  SF_TRY(impl->client->ensure_database());
  SF_TRY(impl->client->ensure_collection(kCatalogue, 2));
  SF_TRY(impl->ensure_indexes());
  return std::unique_ptr<ArangoDataStore>(new ArangoDataStore(std::move(impl)));
}

ArangoDataStore::ArangoDataStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ArangoDataStore::~ArangoDataStore() = default;

std::string ArangoDataStore::describe() const { return impl_->client->url().redacted; }

Result<std::string> ArangoDataStore::record_document_key(const market::Record& r) {
  std::string key = make_key(r);
  if (key.size() > arango::kMaxKeyBytes) {
    return Error(Errc::invalid_argument,
                 "record (" + market::natural_key(r).substr(0, 120) + "): its ArangoDB _key is " +
                     std::to_string(key.size()) + " bytes, over the limit of 254",
                 "symbol");
  }
  return key;
}

Status ArangoDataStore::ensure_collection(const std::string& name, Kind kind) {
  SF_TRY(check_collection(name, kind));
  std::lock_guard lock(impl_->mu);
  return impl_->ensure_kind(name, kind);
}

Status ArangoDataStore::upsert(const std::string& name, Kind kind,
                               std::span<const market::Record> records) {
  return upsert_records(name, kind, records, true);
}

Status ArangoDataStore::upsert_decoded(const std::string& name, Kind kind,
                                       std::span<const market::Record> records) {
  return upsert_records(name, kind, records, false);
}

Status ArangoDataStore::upsert_records(const std::string& name, Kind kind,
                                       std::span<const market::Record> records,
                                       bool check_decimal_text) {
  // Everything that can be refused is refused before the database is touched.
  SF_TRY(check_batch(name, kind, records, check_decimal_text));
  std::vector<std::string> keys;
  keys.reserve(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    std::string key;
    SF_TRY_ASSIGN(key, record_document_key(records[i]));
    keys.push_back(std::move(key));
  }
  // Fold duplicate keys: one document per key, as consecutive upserts would leave it.
  std::vector<const market::Record*> rows;
  std::vector<std::string> row_keys;
  {
    std::unordered_map<std::string_view, size_t> at;
    at.reserve(records.size());
    rows.reserve(records.size());
    for (size_t i = 0; i < records.size(); ++i) {
      auto [it, fresh] = at.try_emplace(keys[i], rows.size());
      if (fresh) {
        rows.push_back(&records[i]);
        row_keys.push_back(keys[i]);
      } else if (market::replaces(records[i], *rows[it->second])) {
        rows[it->second] = &records[i];
      }
    }
  }
  std::string nodes;  // graph edges link documents of their graph's node collection
  if (kind == Kind::graph_edge) {
    SF_TRY_ASSIGN(nodes, graph_of_collection(name, kind));
    nodes += kGraphNodesSuffix;
  }
  std::lock_guard lock(impl_->mu);
  SF_TRY(impl_->ensure_kind(name, kind));
  if (rows.empty()) return {};
  return impl_->upsert_rows(name, rows, row_keys, nodes);
}

Result<std::vector<CollectionInfo>> ArangoDataStore::collections() {
  std::lock_guard lock(impl_->mu);
  std::vector<CollectionInfo> out;
  SF_TRY_ASSIGN(out, impl_->market_collections());
  std::sort(out.begin(), out.end(),
            [](const CollectionInfo& a, const CollectionInfo& b) { return a.name < b.name; });
  return out;
}

Result<Kind> ArangoDataStore::collection_kind(const std::string& name) {
  std::lock_guard lock(impl_->mu);
  const Impl::Entry* e = nullptr;
  SF_TRY_ASSIGN(e, impl_->existing_market(name));
  return *e->kind;
}

Result<int64_t> ArangoDataStore::count(const std::string& name, const Query& q) {
  std::lock_guard lock(impl_->mu);
  const Impl::Entry* e = nullptr;
  SF_TRY_ASSIGN(e, impl_->existing_market(name));
  std::string aql = "FOR d IN @@col", bind;
  json::Writer b(bind);
  b.begin_object().kv("@col", name);
  impl_->filters(*e->kind, q, aql, b);
  aql += " COLLECT WITH COUNT INTO n RETURN n";
  b.end_object();
  std::optional<int64_t> n;
  SF_TRY(impl_->client->query(aql, bind, {}, [&](bj::array& batch) -> Status {
    for (const bj::value& v : batch) {
      if (!v.is_int64() || n) {
        return Error(Errc::io_error, "ArangoDB count of " + name + ": unexpected result " +
                                         std::string(json::kind_name(v)));
      }
      n = v.get_int64();
    }
    return {};
  }));
  if (!n) return Error(Errc::io_error, "ArangoDB count of " + name + ": no result");
  return *n;
}

Result<std::vector<market::Record>> ArangoDataStore::scan(const std::string& name, const Query& q) {
  std::lock_guard lock(impl_->mu);
  const Impl::Entry* e = nullptr;
  SF_TRY_ASSIGN(e, impl_->existing_market(name));
  return impl_->read(name, *e->kind, q);
}

Result<std::vector<int64_t>> ArangoDataStore::times(const std::string& name, const Query& q) {
  std::lock_guard lock(impl_->mu);
  const Impl::Entry* e = nullptr;
  SF_TRY_ASSIGN(e, impl_->existing_market(name));
  const Kind kind = *e->kind;
  // With the text parts of the key fixed, the server orders by the numeric part and only the
  // time attribute travels.
  if (key_text_fixed(kind, q)) {
    std::string aql = "FOR d IN @@col", bind;
    json::Writer b(bind);
    b.begin_object().kv("@col", name);
    impl_->filters(kind, q, aql, b);
    aql += " SORT d." + std::string(id_field(kind));
    if (q.limit > 0) {
      aql += " LIMIT @limit";
      b.kv_int("limit", static_cast<int64_t>(std::min<size_t>(q.limit, size_t{1} << 62)));
    }
    aql += " RETURN d." + std::string(time_field(kind));
    b.end_object();
    std::vector<int64_t> out;
    SF_TRY(impl_->client->query(
        aql, bind, {},
        [&](bj::array& batch) -> Status {
          for (const bj::value& v : batch) {
            if (!v.is_int64()) {
              return Error(Errc::io_error, "ArangoDB times of " + name + ": a " +
                                               std::string(json::kind_name(v)) +
                                               " instead of an integer time");
            }
            out.push_back(v.get_int64());
          }
          return {};
        },
        [&] { out.clear(); }));
    return out;
  }
  std::vector<market::Record> recs;
  SF_TRY_ASSIGN(recs, impl_->read(name, kind, q));
  std::vector<int64_t> out;
  out.reserve(recs.size());
  for (const auto& r : recs) out.push_back(market::time_of(r));
  return out;
}

Result<std::vector<IdRange>> ArangoDataStore::missing_ids(const std::string& name,
                                                          const IdGapQuery& q) {
  std::lock_guard lock(impl_->mu);
  const Impl::Entry* e = nullptr;
  SF_TRY_ASSIGN(e, impl_->existing_market(name));
  const Kind kind = *e->kind;
  SF_TRY(check_id_gap_query(name, kind, q));
  const std::string id(trade_id_field(kind));
  Query range;
  range.symbol = q.symbol;
  range.from_ms = q.from_ms;
  range.to_ms = q.to_ms;
  // Runs "FOR d IN @@col <range filters> <tail>" and hands every integer it returns to `each`;
  // `restart` (a lost next-batch answer: the query runs again) drops what was collected.
  auto run = [&](const std::string& tail, const std::function<void(int64_t)>& each,
                 const std::function<void()>& restart) -> Status {
    std::string aql = "FOR d IN @@col", bind;
    json::Writer b(bind);
    b.begin_object().kv("@col", name);
    impl_->filters(kind, range, aql, b);
    aql += tail;
    b.end_object();
    return impl_->client->query(
        aql, bind, {},
        [&](bj::array& batch) -> Status {
          for (const bj::value& v : batch) {
            if (!v.is_int64())
              return Error(Errc::io_error, "ArangoDB id check of " + name + ": a " +
                                               std::string(json::kind_name(v)) +
                                               " instead of an integer");
            each(v.get_int64());
          }
          return {};
        },
        restart);
  };
  auto one = [&](const std::string& tail, const char* what) -> Result<int64_t> {
    std::optional<int64_t> got;
    SF_TRY(run(
        tail, [&](int64_t v) { got = v; }, [&] { got.reset(); }));
    if (!got) return Error(Errc::io_error, "ArangoDB id check of " + name + ": no " + what);
    return *got;
  };
  StoredIds stored;
  SF_TRY_ASSIGN(stored.count, one(" COLLECT WITH COUNT INTO n RETURN n", "count"));
  std::vector<IdRange> gaps;
  std::optional<int64_t> last_gap_last;
  if (stored.count > 0) {
    SF_TRY_ASSIGN(stored.low, one(" SORT d." + id + " LIMIT 1 RETURN d." + id, "lowest id"));
    SF_TRY_ASSIGN(stored.high, one(" SORT d." + id + " DESC LIMIT 1 RETURN d." + id, "highest id"));
  }
  // Unique ids: as many as the span between the lowest and the highest means no gap.
  if (stored.count > 0 && stored.high - stored.low + 1 != stored.count) {
    std::optional<int64_t> prev;
    SF_TRY(run(
        " SORT d." + id + " RETURN d." + id,
        [&](int64_t v) {
          if (prev && v > *prev + 1) {
            if (gaps.size() <= q.max_ranges) gaps.push_back({*prev + 1, v - 1});
            last_gap_last = v - 1;
          }
          prev = v;
        },
        [&] {
          prev.reset();
          gaps.clear();
          last_gap_last.reset();
        }));
  }
  return assemble_missing_ids(q, stored, std::move(gaps), last_gap_last);
}

}  // namespace sf::store
