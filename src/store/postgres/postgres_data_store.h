// PostgreSQL implementation of the market-data store (store/data_store.h), over libpq.
// Opened from a postgresql:// URL; the tables live in the URL's `?schema=NAME` (default
// `public`), the same schema as the workflow state (PostgresStateStore).
//
// Layout (queryable with psql):
//   - one table per collection, named exactly as the collection (quoted: names are case
//     sensitive in PostgreSQL, but a name differing only in case from an existing collection
//     is refused, as in SQLite, so collections stay portable), columns named exactly as the
//     record fields, PRIMARY KEY = the natural key;
//   - decimal fields are NUMERIC (exact, and NUMERIC keeps the scale: "0.00010000" reads
//     back as "0.00010000"). NUMERIC cannot keep two spellings: leading zeros ("007.5" is
//     7.5) and a negative zero ("-0.00" is 0.00). For such a field the exact text also goes
//     into the nullable column <field>_text (NULL for every canonical value, i.e. always for
//     exchange data); reads return COALESCE(<field>_text, <field>::text);
//   - times, ids and trade counts BIGINT, flags BOOLEAN;
//   - the catalogue `sf_collections(name PRIMARY KEY, kind, created_at)` in the same schema.
//
// upsert(): validates everything first (upsert_decoded() all but the decimals, which
// market::decode() checked), folds duplicate keys of the batch in memory (a later record
// replaces an earlier one, except that a closed candle is final), then in one transaction:
// COPY (binary format, sent in pieces while the rest is encoded) straight into the table
// under a savepoint while the batches are new keys; on a key that exists, or for the next
// batches after one, COPY into a per-connection temporary staging table (ON COMMIT DELETE
// ROWS) and one prepared `INSERT ... SELECT ... ON CONFLICT (key) DO UPDATE` (for candles
// `WHERE stored.closed = false OR EXCLUDED.closed`). Other statements are prepared once per
// connection. A batch of 1000 rows or more is written in two halves at once, each in its own
// transaction on a connection of its own (a second one, opened on first use; if it cannot
// be opened, batches go on one for a while): two server processes share the work. The
// halves hold different keys and the call returns when both are committed, so a key's
// writes keep their order; a failure may leave one half committed (data_store.h: the
// caller's retry completes it).
//
// Errors: Errc::unavailable when the server cannot be reached or the connection is lost
// (nothing of the call is committed; the next call reconnects); invalid_argument for refused
// names and records; not_found for reads of missing collections. Messages and describe()
// show the URL without its password.
//
// Thread-safety: every method may be called from any thread. One mutex: the store connector
// writes from one thread, and a mutex keeps the per-connection staging tables and prepared
// statements simple (the second connection is used only inside upsert(), by a thread of
// its own that upsert() joins). Several processes may share a schema (catalogue
// changes take a transaction-level advisory lock).
#pragma once

#include <memory>
#include <string>

#include "store/data_store.h"

namespace sf::store {

class PostgresDataStore final : public DataStore {
 public:
  // Connects, creates the schema and the catalogue if missing. unavailable if the server
  // cannot be reached, invalid_argument for a URL that is not postgresql://.
  static Result<std::unique_ptr<PostgresDataStore>> open(const std::string& url);

  ~PostgresDataStore() override;
  PostgresDataStore(const PostgresDataStore&) = delete;
  PostgresDataStore& operator=(const PostgresDataStore&) = delete;

  Status ensure_collection(const std::string& name, market::Kind kind) override;
  Status upsert(const std::string& name, market::Kind kind,
                std::span<const market::Record> records) override;
  // upsert() without the decimal check (the records come from market::decode()).
  Status upsert_decoded(const std::string& name, market::Kind kind,
                        std::span<const market::Record> records) override;
  Result<std::vector<CollectionInfo>> collections() override;
  Result<market::Kind> collection_kind(const std::string& name) override;
  Result<int64_t> count(const std::string& name, const Query& q = {}) override;
  Result<TimeBounds> time_bounds(const std::string& name, const Query& q = {}) override;
  Result<size_t> scan_json(const std::string& name, const Query& q, std::string& out,
                           const std::vector<size_t>& fields = {}) override;
  Result<std::vector<market::Record>> scan(const std::string& name, const Query& q = {}) override;
  Result<std::vector<int64_t>> times(const std::string& name, const Query& q = {}) override;
  // COUNT/MIN/MAX of the range's ids, then, only when they show a gap, the gaps from
  // LAG(id) OVER (ORDER BY id): no id is sent to the client.
  Result<std::vector<IdRange>> missing_ids(const std::string& name, const IdGapQuery& q) override;
  // "postgresql://user@host:port/db[?schema=...]": never the password.
  std::string describe() const override;

 private:
  struct Impl;
  explicit PostgresDataStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sf::store
