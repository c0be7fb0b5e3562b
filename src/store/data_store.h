// Market-data collections (docs/architecture.md): candles, aggregate trades and trades,
// one collection per workflow `collection_name`, written by the store connector with
// idempotent upserts by natural key. Implementations: SQLite (store/sqlite, the embedded
// default), PostgreSQL (store/postgres) and ArangoDB (store/arango). Every implementation passes
// tests/contract/data_store_contract.h.
//
// Contract every implementation keeps:
// - Collection names are checked with check_collection_name() before anything reaches the
//   database; a refused name is Errc::invalid_argument and touches nothing. Valid names are
//   still quoted wherever a backend needs identifiers.
// - A collection holds records of one kind, fixed when it is created. Natural keys:
//   candles (symbol, interval, open_time), aggregate trades (symbol, agg_id), trades
//   (symbol, trade_id). Field names are the record fields of market/records.h; tables,
//   columns and documents are built from market/schema.h, never listed by a store.
// - upsert() is idempotent and all-or-nothing: every record of the call is written (inserted
//   or replacing the stored record with the same key, every field) or none is; except that
//   a store may write a large batch in several transactions where its header says so
//   (ArangoDB past its transaction size, PostgreSQL's two halves of a batch of 1000 rows or
//   more): a failure may then leave part of the batch written, and calling upsert() again
//   with the same records completes it with the same values, which the store connector
//   does. A refused batch (invalid_argument) never writes anything. A closed
//   candle is final: a later non-closed candle with the same key does not replace it, while
//   a closed one replaces a non-closed one.
// - Decimal fields keep the exchange's exact text ("0.00010000" reads back as
//   "0.00010000"); upsert() refuses (invalid_argument, nothing written) a record whose
//   decimal fields are not market::is_decimal or whose kind differs from the collection's.
// - Errors: invalid_argument (name, kind or record refused: retrying cannot help),
//   not_found (reading a collection that does not exist), unavailable / io_error / timeout
//   (the database is unreachable, locked or failing: the caller may retry the same call).
//
// Thread-safety: every method may be called from any thread at any time; implementations
// serialise or isolate internally. Each upsert() is its own transaction (or its own
// transactions, above).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "market/records.h"
#include "market/schema.h"
#include "protocol/validate.h"

namespace sf::store {

// Names no data collection may take (case-insensitive): the workflow-state tables, which
// share the database with the data in the SQLite and PostgreSQL stores.
inline constexpr const char* kReservedCollectionNames[] = {"queues", "targets", "events",
                                                           "schema_version"};
// Prefixes no data collection may start with (case-insensitive): internal tables of
// StreamForge ("sf_") and of the databases ("sqlite_", "pg_").
inline constexpr const char* kReservedCollectionPrefixes[] = {"sf_", "sqlite_", "pg_"};

// ASCII lower case (collection names are ASCII: see check_collection_name()).
inline std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// Ok for a name usable as a data collection in every backend: protocol::is_safe_collection
// ([A-Za-z][A-Za-z0-9_]{0,62}) and not reserved. Errc::invalid_argument naming the field
// "collection_name" otherwise. Pure: never touches a database.
inline Status check_collection_name(std::string_view name) {
  if (!protocol::is_safe_collection(name)) {
    return Error(Errc::invalid_argument,
                 "collection name '" + std::string(name.substr(0, 80)) +
                     "' is not a safe identifier ([A-Za-z][A-Za-z0-9_]{0,62})",
                 "collection_name");
  }
  const std::string l = lower_ascii(name);
  for (const char* r : kReservedCollectionNames) {
    if (l == r) {
      return Error(Errc::invalid_argument,
                   "collection name '" + std::string(name) + "' is reserved for workflow state",
                   "collection_name");
    }
  }
  for (const char* p : kReservedCollectionPrefixes) {
    if (std::string_view(l).starts_with(p)) {
      return Error(
          Errc::invalid_argument,
          "collection name '" + std::string(name) + "' uses the reserved prefix '" + p + "'",
          "collection_name");
    }
  }
  return {};
}

// Graph collections (kinds graph_node and graph_edge, written by the graph-builder): the
// graph G keeps its nodes in the collection `G_nodes` and its edges in `G_edges`; every store
// holds them under these names (ArangoDB makes them a named graph G: a vertex collection and
// an edge collection whose documents link `G_nodes/<symbol>:<version>` documents).
inline constexpr std::string_view kGraphNodesSuffix = "_nodes";
inline constexpr std::string_view kGraphEdgesSuffix = "_edges";

struct GraphCollections {
  std::string graph, nodes, edges;
};

// The collections of the graph `graph`; invalid_argument (field "graph") if any of the three
// names is refused by check_collection_name().
inline Result<GraphCollections> graph_collections(std::string_view graph) {
  GraphCollections g{std::string(graph), std::string(graph) + std::string(kGraphNodesSuffix),
                     std::string(graph) + std::string(kGraphEdgesSuffix)};
  for (const std::string* n : {&g.graph, &g.nodes, &g.edges}) {
    if (auto st = check_collection_name(*n); !st)
      return Error(Errc::invalid_argument, "graph name: " + st.error().message, "graph");
  }
  return g;
}

// The graph a graph_node or graph_edge collection belongs to (its name without the suffix);
// invalid_argument if the name lacks its kind's suffix. Other kinds: ok, empty.
inline Result<std::string> graph_of_collection(std::string_view name, market::Kind kind) {
  std::string_view suffix;
  if (kind == market::Kind::graph_node) suffix = kGraphNodesSuffix;
  if (kind == market::Kind::graph_edge) suffix = kGraphEdgesSuffix;
  if (suffix.empty()) return std::string();
  if (name.size() <= suffix.size() || !name.ends_with(suffix))
    return Error(Errc::invalid_argument,
                 "a collection of " + std::string(market::to_string(kind)) +
                     " records is named "
                     "<graph>" +
                     std::string(suffix) + ", not '" + std::string(name) + "'",
                 "collection_name");
  return std::string(name.substr(0, name.size() - suffix.size()));
}

// What every ensure_collection() and upsert() refuses first: a refused name, or a graph
// collection without its kind's suffix (graph_of_collection()).
inline Status check_collection(std::string_view name, market::Kind kind) {
  SF_TRY(check_collection_name(name));
  SF_TRY(graph_of_collection(name, kind));
  return {};
}

// The value check of upsert(): ok if every decimal field of `r` (record `index` of a batch)
// is market::is_decimal text and every real field is finite, else invalid_argument naming
// the record and the field. For
// every store's upsert() (upsert_decoded() may skip it); pure.
inline Status check_decimals(const market::Record& r, size_t index) {
  struct Check {
    const market::Record& r;
    size_t index;
    Status text(const market::FieldInfo&, size_t, const std::string&) const { return {}; }
    Status integer(const market::FieldInfo&, size_t, int64_t) const { return {}; }
    Status boolean(const market::FieldInfo&, size_t, bool) const { return {}; }
    Status real(const market::FieldInfo& f, size_t, double v) const {
      if (std::isfinite(v)) return {};
      const std::string name(f.name);
      return Error(Errc::invalid_argument,
                   "record " + std::to_string(index) + " (" + market::natural_key(r) +
                       "): field '" + name + "' is not a finite number",
                   name);
    }
    Status decimal(const market::FieldInfo& f, size_t, const std::string& v) const {
      if (market::is_decimal(v)) return {};
      const std::string name(f.name);
      return Error(Errc::invalid_argument,
                   "record " + std::to_string(index) + " (" + market::natural_key(r) +
                       "): field '" + name + "': '" + v.substr(0, 64) + "' is not a decimal number",
                   name);
    }
  };
  return std::visit(
      [&](const auto& rec) {
        return market::try_visit_fields(rec, Check{r, index});
      },
      r);
}

// What every upsert() refuses before it touches the database: a refused collection name
// (check_collection()), a record of another kind than the batch's, and (with `check_decimal_text`)
// a decimal field that fails check_decimals().
inline Status check_batch(const std::string& name, market::Kind kind,
                          std::span<const market::Record> records, bool check_decimal_text) {
  SF_TRY(check_collection(name, kind));
  for (size_t i = 0; i < records.size(); ++i) {
    const market::Kind k = market::kind_of(records[i]);
    if (k != kind) {
      return Error(Errc::invalid_argument, "record " + std::to_string(i) + " is a " +
                                               market::to_string(k) + ", the batch is for " +
                                               market::to_string(kind));
    }
    if (check_decimal_text) SF_TRY(check_decimals(records[i], i));
  }
  return {};
}

// The kind named in a store's catalogue; `store` ("sqlite") prefixes the error (Errc::internal:
// the catalogue holds what no version of the store writes).
inline Result<market::Kind> catalogue_kind(std::string_view text, std::string_view store) {
  if (auto k = market::kind_from_string(text)) return *k;
  return Error(Errc::internal,
               std::string(store) + ": unknown collection kind '" + std::string(text) + "'");
}

struct CollectionInfo {
  std::string name;
  market::Kind kind = market::Kind::candle;
  friend bool operator==(const CollectionInfo&, const CollectionInfo&) = default;
};

// A filter for the read helpers. The time field is open_time for candles and time for
// (aggregate) trades; the range is [from_ms, to_ms).
struct Query {
  std::optional<std::string> symbol;
  std::optional<std::string> interval;  // candles only; ignored for trades
  int64_t from_ms = std::numeric_limits<int64_t>::min();
  int64_t to_ms = std::numeric_limits<int64_t>::max();
  size_t limit = 0;  // 0: no limit (scan() and times() only)
};

// How many records match a Query and the first and last value of their time field (none
// when nothing matches): DataStore::time_bounds().
struct TimeBounds {
  int64_t records = 0;
  std::optional<int64_t> first, last;
  friend bool operator==(const TimeBounds&, const TimeBounds&) = default;
};

// An inclusive range of trade ids or aggregate-trade ids, first <= last.
struct IdRange {
  int64_t first = 0;
  int64_t last = 0;
  friend bool operator==(const IdRange&, const IdRange&) = default;
};

// What DataStore::missing_ids() checks: the trades (or aggregate trades) of `symbol` whose
// time is in [from_ms, to_ms), against the first and last id the range holds on the
// exchange as far as they are known (a loader that paged through the whole range reports
// them: docs/protocol.md).
struct IdGapQuery {
  std::string symbol;
  int64_t from_ms = std::numeric_limits<int64_t>::min();
  int64_t to_ms = std::numeric_limits<int64_t>::max();
  std::optional<int64_t> expected_first;
  std::optional<int64_t> expected_last;
  size_t max_ranges = 100;  // at least 1
};

// What a store knows of the ids stored in an IdGapQuery's range: how many, the lowest and
// the highest (count 0: none; low and high then unused).
struct StoredIds {
  int64_t count = 0;
  int64_t low = 0;
  int64_t high = 0;
};

// The refusals every missing_ids() makes before it reads anything: invalid_argument for a
// collection of candles (they have no ids: DataStore::times() serves their gap check), an
// empty symbol, max_ranges 0, a negative expected id, or expected_first > expected_last.
inline Status check_id_gap_query(const std::string& name, market::Kind kind, const IdGapQuery& q) {
  if (kind == market::Kind::candle)
    return Error(Errc::invalid_argument,
                 "collection '" + name + "' holds candles, which have no ids to check",
                 "collection_name");
  if (q.symbol.empty())
    return Error(Errc::invalid_argument, "missing_ids needs a symbol", "symbol");
  if (q.max_ranges == 0)
    return Error(Errc::invalid_argument, "max_ranges must be at least 1", "max_ranges");
  if ((q.expected_first && *q.expected_first < 0) || (q.expected_last && *q.expected_last < 0))
    return Error(Errc::invalid_argument, "expected ids must not be negative", "expected_first");
  if (q.expected_first && q.expected_last && *q.expected_first > *q.expected_last)
    return Error(Errc::invalid_argument,
                 "expected_first " + std::to_string(*q.expected_first) +
                     " is after expected_last " + std::to_string(*q.expected_last),
                 "expected_first");
  return {};
}

// The id field of a trades or aggregate-trades collection (the last part of its natural key:
// "trade_id", "agg_id").
inline std::string_view trade_id_field(market::Kind kind) {
  const market::KindInfo& info = market::kind_info(kind);
  return info.fields[info.key_fields - 1].name;
}

// The answer of missing_ids() (its contract, below) from what a store read: `stored`, the
// first internal gaps in ascending order (ranges between consecutive stored ids; at least
// the first q.max_ranges + 1 of them when there are that many, all of them otherwise) and
// `last_gap_last`, the last id of the last internal gap (needed only when `gaps` may not hold
// it, i.e. when it has more than q.max_ranges entries). Pure; shared by the stores so they
// agree at the edges and in the cap.
inline std::vector<IdRange> assemble_missing_ids(const IdGapQuery& q, const StoredIds& stored,
                                                 std::vector<IdRange> gaps,
                                                 std::optional<int64_t> last_gap_last) {
  std::vector<IdRange> all;
  if (stored.count == 0) {
    if (q.expected_first && q.expected_last) all.push_back({*q.expected_first, *q.expected_last});
    return all;
  }
  const bool head = q.expected_first && *q.expected_first < stored.low;
  const bool tail = q.expected_last && *q.expected_last > stored.high;
  if (head) all.push_back({*q.expected_first, stored.low - 1});
  const bool more_gaps = gaps.size() > q.max_ranges;
  all.insert(all.end(), gaps.begin(), gaps.end());
  if (tail) all.push_back({stored.high + 1, *q.expected_last});
  if (all.size() <= q.max_ranges) return all;
  // Over the cap: the last range runs from the cap's range to the last missing id.
  int64_t last_missing = all.back().last;
  if (!tail && more_gaps && last_gap_last) last_missing = *last_gap_last;
  all.resize(q.max_ranges);
  all.back().last = last_missing;
  return all;
}

// The fields scan_json() writes: `fields` checked (ascending indexes within the kind's
// fields; invalid_argument otherwise), or every field of the kind when it is empty.
inline Result<std::vector<size_t>> resolve_fields(market::Kind kind,
                                                  const std::vector<size_t>& fields) {
  const size_t n = market::kind_info(kind).fields.size();
  for (size_t i = 0; i < fields.size(); ++i)
    if (fields[i] >= n || (i > 0 && fields[i] <= fields[i - 1]))
      return Error(Errc::invalid_argument, "field indexes must ascend within the kind's fields",
                   "fields");
  if (!fields.empty()) return fields;
  std::vector<size_t> all(n);
  for (size_t i = 0; i < n; ++i) all[i] = i;
  return all;
}

// A record's picked fields into a market::JsonRecordWriter (scan_json()'s default).
struct PickedFields {
  market::JsonRecordWriter& w;
  const std::vector<bool>& pick;
  void text(const market::FieldInfo&, size_t i, const std::string& v) const {
    if (pick[i]) w.text(i, v);
  }
  void decimal(const market::FieldInfo& f, size_t i, const std::string& v) const { text(f, i, v); }
  void integer(const market::FieldInfo&, size_t i, int64_t v) const {
    if (pick[i]) w.integer(i, v);
  }
  void boolean(const market::FieldInfo&, size_t i, bool v) const {
    if (pick[i]) w.boolean(i, v);
  }
  void real(const market::FieldInfo&, size_t i, double v) const {
    if (pick[i]) w.real(i, v);
  }
};

class DataStore {
 public:
  virtual ~DataStore() = default;

  // Creates the collection for records of `kind` if it does not exist. Ok if it exists with
  // the same kind; invalid_argument if it exists with another kind or the name is refused.
  virtual Status ensure_collection(const std::string& name, market::Kind kind) = 0;

  // Writes every record (all of kind `kind`) in one transaction, creating the collection
  // on first use. Ok for an empty span (the collection is still ensured). A store whose
  // server limits a transaction's size may write a batch over its limit in several
  // consecutive transactions (ArangoDB: max_transaction_bytes, arango_data_store.h); a
  // failure part-way then leaves the earlier ones written. Calling upsert() again with the
  // same records is always safe (insert or replace by natural key) and completes the batch;
  // ok is returned only once every record is written.
  virtual Status upsert(const std::string& name, market::Kind kind,
                        std::span<const market::Record> records) = 0;

  // upsert() for records the caller has just produced with market::decode() or
  // market::decode_into() (the store connector), which already checked every decimal field
  // with market::is_decimal: the same semantics and errors, except that an implementation
  // may skip its own decimal check. Only for such records; every other caller uses
  // upsert(). The default forwards to upsert().
  virtual Status upsert_decoded(const std::string& name, market::Kind kind,
                                std::span<const market::Record> records) {
    return upsert(name, kind, records);
  }

  // Every collection with its kind, ordered by name.
  virtual Result<std::vector<CollectionInfo>> collections() = 0;
  // The kind a collection holds; not_found if it does not exist.
  virtual Result<market::Kind> collection_kind(const std::string& name) = 0;

  // Records matching `q` (q.limit ignored); not_found if the collection does not exist.
  virtual Result<int64_t> count(const std::string& name, const Query& q = {}) = 0;
  // Records matching `q`, ordered by natural key; not_found if the collection does not
  // exist. Meant for tests, exports and small reports: it materialises the result.
  virtual Result<std::vector<market::Record>> scan(const std::string& name,
                                                   const Query& q = {}) = 0;
  // The time field of the records matching `q`, ordered by natural key (so ascending within
  // one symbol, and one interval for candles): what a gap check of a range needs without
  // reading whole records. not_found if the collection does not exist.
  virtual Result<std::vector<int64_t>> times(const std::string& name, const Query& q = {}) = 0;
  // The records scan() returns, as their encode() text appended to `out`, comma-separated
  // (no brackets); the number of records. `fields`: indexes into the kind's fields
  // (kind_info(kind).fields), ascending: each object then has those fields alone (empty: all,
  // byte for byte encode()). For reads that pass records on (the read API): stores that can
  // write the text straight from their rows override it (no Records built, only the fields'
  // columns read). invalid_argument for a field index past the kind's.
  virtual Result<size_t> scan_json(const std::string& name, const Query& q, std::string& out,
                                   const std::vector<size_t>& fields = {}) {
    auto kind = collection_kind(name);
    if (!kind) return kind.error();
    std::vector<size_t> cols;
    SF_TRY_ASSIGN(cols, resolve_fields(*kind, fields));
    auto records = scan(name, q);
    if (!records) return records.error();
    std::vector<bool> pick(market::kind_info(*kind).fields.size(), false);
    for (size_t f : cols) pick[f] = true;
    for (size_t i = 0; i < records->size(); ++i) {
      if (i) out += ',';
      market::JsonRecordWriter w(*kind, out);
      std::visit(
          [&](const auto& r) {
            market::visit_fields(r, PickedFields{w, pick});
          },
          (*records)[i]);
      w.end();
    }
    return records->size();
  }

  // count() with the lowest and highest time of the matching records (q.limit ignored);
  // not_found if the collection does not exist. The default reads times(); stores that can
  // aggregate in the database do.
  virtual Result<TimeBounds> time_bounds(const std::string& name, const Query& q = {}) {
    Query all = q;
    all.limit = 0;
    auto t = times(name, all);
    if (!t) return t.error();
    TimeBounds b{static_cast<int64_t>(t->size()), std::nullopt, std::nullopt};
    if (!t->empty()) {
      auto [lo, hi] = std::minmax_element(t->begin(), t->end());
      b.first = *lo;
      b.last = *hi;
    }
    return b;
  }

  // The ids absent from a trades or aggregate-trades collection within q's range: ascending,
  // disjoint ranges. Ids count up by one per trade on the exchange in time order, so every
  // id between the lowest and the highest stored id of the range (by time) belongs to the
  // range, and:
  // - between those two, every id not stored is reported (gaps between consecutive stored
  //   ids: always detected);
  // - at the edges the store alone cannot tell: trades missing before the lowest stored id
  //   or after the highest are reported only against the expected ids: [expected_first,
  //   lowest - 1] when expected_first < lowest, [highest + 1, expected_last] when
  //   expected_last > highest; with nothing stored in the range, [expected_first,
  //   expected_last] when both are known and nothing otherwise. Without them, a range whose
  //   first or last trades are missing looks complete (counts must tell);
  // - ids the exchange never had (a hole in its data, like the simulator's holes) look
  //   missing too: the store cannot tell them from lost rows;
  // - at most q.max_ranges ranges: when there are more, the last one runs on to the last
  //   missing id (covering stored ids as well; loading them again is harmless).
  // Errors: not_found if the collection does not exist, invalid_argument as
  // check_id_gap_query(). Implementations read aggregates and the gaps (window functions),
  // not every id, where the database allows.
  virtual Result<std::vector<IdRange>> missing_ids(const std::string& name,
                                                   const IdGapQuery& q) = 0;

  // Human-readable location for logs ("sqlite:/path/streamforge.db"); never credentials.
  virtual std::string describe() const = 0;
};

}  // namespace sf::store
