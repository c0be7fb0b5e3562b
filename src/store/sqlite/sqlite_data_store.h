// SQLite implementation of the market-data store (store/data_store.h): the embedded
// default. Collections are tables in the same <data_dir>/streamforge.db file as the
// workflow state (SqliteStateStore), through a connection of its own; WAL lets both
// connections and the sqlite3 CLI work on the file at once.
//
// Layout (queryable with `sqlite3`):
//   - one table per collection, named exactly as the collection, columns named exactly as
//     the record fields, PRIMARY KEY = the natural key, WITHOUT ROWID (rows are stored in
//     key order, so scans by key need no extra index);
//   - decimal fields (prices, quantities, volumes) are TEXT holding the exchange's decimal
//     text: SQLite has no exact decimal type (REAL would turn "0.10000000" into 0.1 and lose
//     digits past 15-17 significant ones), and the text is what the exchange said;
//   - integers (times in epoch ms, ids, trade counts) are INTEGER; booleans INTEGER 0/1;
//   - the catalogue table `sf_collections(name, kind, created_at)` records each
//     collection's record kind. It is created on open if missing (outside the state
//     store's schema_version migrations; a change to its shape must become one).
//
// Semantics beyond the interface contract:
//   - SQLite table names are case-insensitive: a collection whose name differs only in
//     case from an existing one is refused (invalid_argument) by ensure/upsert and
//     not_found for the read helpers.
//   - A table with a collection's name that is not in the catalogue (created by hand) is
//     never adopted: ensure_collection() fails with invalid_argument.
//   - upsert() runs in BEGIN IMMEDIATE ... COMMIT (one transaction per batch) with
//     prepared statements cached per collection (INSERT ... ON CONFLICT DO UPDATE): one
//     of 64 rows (multi-row VALUES) for the bulk of a batch and one of a single row for
//     the rest; a 64-row chunk whose rows share the symbol (and interval, for candles)
//     uses a variant binding them once. Every record is validated before the database
//     is touched (upsert_decoded() trusts the decoder's decimal check and skips its own).
//
// Errors: Errc::unavailable when the file stays locked by another connection past the
// 5 s busy timeout (retry may succeed); io_error for disk/file failures; invalid_argument
// for refused names and records; not_found for reads of missing collections.
//
//   - WAL checkpoints run on a thread of the store's own (wal_checkpointer.h), not inside
//     the commit that passes 1000 WAL pages as SQLite's automatic checkpoint does: its
//     syncs made upsert() wait (p99 24-28 ms against 2-3 ms, kafka_bench).
//
// Thread-safety: every method may be called from any thread. One connection, one mutex:
// SQLite has one writer per file anyway, and batches are short. A second connection is the
// checkpointing thread's.
#pragma once

#include <memory>
#include <string>

#include "store/data_store.h"

namespace sf::store {

class SqliteDataStore final : public DataStore {
 public:
  struct Options {
    // false: SQLite's automatic checkpoint, inside the commit that passes 1000 WAL pages
    // (kafka_bench --sqlite-checkpoint-in-commit compares against it).
    bool checkpoint_in_background = true;
  };

  // Creates `data_dir` if needed and opens (or creates) <data_dir>/streamforge.db.
  // Fails (io_error) if the directory or file cannot be created or is not a database.
  static Result<std::unique_ptr<SqliteDataStore>> open(const std::string& data_dir,
                                                       Options options);
  static Result<std::unique_ptr<SqliteDataStore>> open(const std::string& data_dir) {
    return open(data_dir, Options{});
  }
  static constexpr const char* kFileName = "streamforge.db";

  ~SqliteDataStore() override;
  SqliteDataStore(const SqliteDataStore&) = delete;
  SqliteDataStore& operator=(const SqliteDataStore&) = delete;

  Status ensure_collection(const std::string& name, market::Kind kind) override;
  Status upsert(const std::string& name, market::Kind kind,
                std::span<const market::Record> records) override;
  // As upsert(), without checking decimals again (data_store.h: records just decoded).
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
  // LAG(id) OVER (ORDER BY id) (SQLite >= 3.25): no id is read into the process.
  Result<std::vector<IdRange>> missing_ids(const std::string& name, const IdGapQuery& q) override;
  std::string describe() const override;

  // Absolute path of the database file.
  const std::string& path() const;

 private:
  struct Impl;
  explicit SqliteDataStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sf::store
