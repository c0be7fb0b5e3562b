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
//   or replacing the stored record with the same key, every field) or none is. A closed
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
// serialise or isolate internally. Each upsert() is its own transaction.
#pragma once

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

// The decimal check of upsert(): ok if every decimal field of `r` (record `index` of a batch)
// is market::is_decimal text, else invalid_argument naming the record and the field. For
// every store's upsert() (upsert_decoded() may skip it); pure.
inline Status check_decimals(const market::Record& r, size_t index) {
  struct Check {
    const market::Record& r;
    size_t index;
    Status text(const market::FieldInfo&, size_t, const std::string&) const { return {}; }
    Status integer(const market::FieldInfo&, size_t, int64_t) const { return {}; }
    Status boolean(const market::FieldInfo&, size_t, bool) const { return {}; }
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

// What every upsert() refuses before it touches the database: a refused collection name, a
// record of another kind than the batch's, and (with `check_decimal_text`) a decimal field
// that fails check_decimals().
inline Status check_batch(const std::string& name, market::Kind kind,
                          std::span<const market::Record> records, bool check_decimal_text) {
  SF_TRY(check_collection_name(name));
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

  // Human-readable location for logs ("sqlite:/path/streamforge.db"); never credentials.
  virtual std::string describe() const = 0;
};

}  // namespace sf::store
