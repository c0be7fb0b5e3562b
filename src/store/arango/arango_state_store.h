// ArangoDB implementation of the workflow state store (store/state_store.h), over ArangoDB's
// HTTP API (ArangoClient). Opened from an arangodb+http[s]:// URL (arango_client.h); the
// collections live in the URL's database beside ArangoDataStore's (their names are reserved
// by check_collection_name, so data and state share one database safely).
//
// Collections (created on open if missing):
//   - queues:  _key from the queue id; {queue_id, symbol, type, time_range, status, message,
//              created_at, updated_at (numbers, seconds), request_json, seq, next_ordinal,
//              create_token};
//   - targets: _key from (queue id, telemetry id); {queue_id, telemetry_id, ordinal, target,
//              status, message, records_written, updated_at, config_json};
//   - events:  key generator "padded" (fixed-length hex keys, increasing: _key order is
//              insertion order, and hex sorts the same under AQL's ICU collation as in bytes);
//              {queue_id, timestamp, json, batch};
//   - sf_state: one counter document "queue_seq" (the creation sequence of queues).
//   Keys are escape_key_part() of the ids joined with ':'; a key that would exceed 254 bytes
//   becomes "%h" + the SHA-256 of the ids (cannot collide with an escaped key: an escape is
//   '%' and two upper-case hex digits).
//
// Operations: create_queue and apply each run in one stream transaction (all or nothing).
// create_queue bumps the sequence counter (two processes creating queues at once meet a
// write-write conflict, 1200, and one runs again), inserts the queue (1210 -> already_exists)
// and its targets. apply reads the batch's queues and targets by key (unknown queues are
// skipped), gives new targets the queue's next ordinal, replaces targets, patches queues and
// appends events. Reads of a queue with its targets run in a read-only stream transaction
// (one snapshot). list_queues orders by created_at, then seq. recent_events/trim_events use
// AQL on events sorted by _key, trim deletes with one array DELETE per 5,000 keys.
//
// After a commit whose answer was lost (outcome unknown) the operation runs again, made safe
// by tokens: create_queue stores a random create_token, so finding the queue with our token
// means our first commit went through; apply tags its events with a random batch token and
// looks for one before writing again (an apply without events is idempotent anyway).
//
// Indexes (persistent, non-unique, ensured on every open): targets (queue_id, ordinal) for
// a queue's targets in order; events (queue_id, _key) for a queue's newest events (read
// backwards, no sort) and the batch-token lookup after an unknown commit. list_queues reads
// both collections whole anyway.
//
// Errors: Errc::unavailable when the server cannot be reached or answers 503 for longer than
// retry_budget_ms (nothing of the call committed, unless the commit's outcome stayed unknown
// after the retries, which the message says); invalid_argument for refused credentials;
// already_exists / not_found as the interface says. Messages never show the password.
//
// Thread-safety: every method may be called from any thread; one connection, one mutex.
#pragma once

#include <memory>
#include <string>

#include "store/state_store.h"

namespace sf::store {

class ArangoStateStore final : public StateStore {
 public:
  // Parses the URL, checks the credentials, creates the database (create_database=true)
  // and the collections if missing, and ensures their indexes (above).
  static Result<std::unique_ptr<ArangoStateStore>> open(const std::string& url);

  ~ArangoStateStore() override;
  ArangoStateStore(const ArangoStateStore&) = delete;
  ArangoStateStore& operator=(const ArangoStateStore&) = delete;

  Status create_queue(const QueueState& q) override;
  Result<QueueState> get_queue(const std::string& queue_id) override;
  Result<std::vector<QueueState>> list_queues() override;
  Status apply(const StateBatch& batch) override;
  Result<std::vector<StoredEvent>> recent_events(const std::string& queue_id,
                                                 size_t limit) override;
  Status trim_events(const std::string& queue_id, size_t keep) override;
  // "arangodb+http://user@host:port/database": never the password.
  std::string describe() const override;

  // The _key of a queue / target document (for tests and tools).
  static std::string queue_key(const std::string& queue_id);
  static std::string target_key(const std::string& queue_id, const std::string& telemetry_id);

 private:
  struct Impl;
  explicit ArangoStateStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sf::store
