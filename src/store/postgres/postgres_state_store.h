// PostgreSQL implementation of the workflow state store (store/state_store.h), over libpq.
// Opened from a postgresql:// URL; the tables live in the URL's `?schema=NAME` (default
// `public`), beside the data collections of PostgresDataStore.
//
// Schema: versioned in `schema_version(version, applied_at, description)` and migrated
// forward on open, each step in its own transaction under an advisory lock (two processes
// opening a new database do not both migrate). A schema written by a newer build is refused
// (invalid_argument), never downgraded. Tables (version 1): queues(queue_id PK, ...,
// created_at/updated_at DOUBLE PRECISION, seq identity: creation order among equal
// created_at), targets((queue_id, telemetry_id) PK, ordinal, ..., records_written BIGINT),
// events(id BIGINT identity PK, queue_id, timestamp, json); foreign keys with ON DELETE
// CASCADE.
//
// Semantics beyond the interface contract (as SqliteStateStore):
//   - apply() replaces every field of an existing target; a new target is appended after
//     the queue's existing ones. Updates and events for unknown queues are skipped.
//   - create_queue() with two targets sharing a telemetry_id is invalid_argument, nothing
//     stored. "Newest" events are the most recently appended (highest id).
//   - reads of a queue and its targets run in one REPEATABLE READ transaction (one snapshot).
//
// Errors: Errc::unavailable when the server cannot be reached or the connection is lost
// (the call had no effect unless it was lost during COMMIT; the next call reconnects);
// already_exists / not_found / invalid_argument as the interface says; internal otherwise.
// Messages and describe() never show the password.
//
// Thread-safety: every method may be called from any thread; one connection, one mutex (the
// state store is off the hot path, and one connection makes every call's transaction
// trivially ordered with the others of this process).
#pragma once

#include <memory>
#include <string>

#include "store/state_store.h"

namespace sf::store {

class PostgresStateStore final : public StateStore {
 public:
  // Connects, creates the schema if missing and migrates it to schema_version().
  // unavailable if the server cannot be reached; invalid_argument for a URL that is not
  // postgresql:// or a schema newer than this build.
  static Result<std::unique_ptr<PostgresStateStore>> open(const std::string& url);
  static int schema_version();

  ~PostgresStateStore() override;
  PostgresStateStore(const PostgresStateStore&) = delete;
  PostgresStateStore& operator=(const PostgresStateStore&) = delete;

  Status create_queue(const QueueState& q) override;
  Result<QueueState> get_queue(const std::string& queue_id) override;
  Result<std::vector<QueueState>> list_queues() override;
  Status apply(const StateBatch& batch) override;
  Result<std::vector<StoredEvent>> recent_events(const std::string& queue_id,
                                                 size_t limit) override;
  Status trim_events(const std::string& queue_id, size_t keep) override;
  // "postgresql://user@host:port/db[?schema=...]": never the password.
  std::string describe() const override;

 private:
  struct Impl;
  explicit PostgresStateStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sf::store
