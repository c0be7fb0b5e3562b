// Workflow state store (docs/architecture.md): queues, their targets and their recent
// telemetry events. Implementations: SQLite (store/sqlite, the embedded default);
// PostgreSQL (store/postgres) and ArangoDB (store/arango). Every implementation passes
// tests/contract/state_store_contract.h.
//
// Statuses are kept as the protocol's strings ("pending", "started", "loading",
// "finished", "error", "interrupted"); the manager owns the transition rules, the store
// only persists what it is given.
//
// Thread-safety: every method may be called from any thread; implementations serialise
// internally.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"

namespace sf::store {

struct TargetState {
  std::string telemetry_id;  // unique within its queue
  std::string target;        // role, e.g. "loader-producer", "dummy-service"
  std::string status = "pending";
  std::string message;
  int64_t records_written = 0;
  double updated_at = 0;    // seconds since epoch of the last change
  std::string config_json;  // the target object of the start request, as JSON
};

struct QueueState {
  std::string queue_id;
  std::string symbol;
  std::string type;
  std::string time_range;
  std::string status = "pending";
  std::string message;  // reason for error/interrupted
  double created_at = 0;
  double updated_at = 0;
  std::string request_json;  // the start request as received (validated), as JSON
  std::vector<TargetState> targets;
};

struct StoredEvent {
  std::string queue_id;
  double timestamp = 0;
  std::string json;  // the event as JSON (queue-events format or a status change)
};

// A set of changes written in one transaction: all or nothing.
struct StateBatch {
  // Queue rows to update: status, message, updated_at (targets ignored here).
  std::vector<QueueState> queue_updates;
  // Target rows to upsert, keyed by (queue_id, telemetry_id).
  std::vector<std::pair<std::string, TargetState>> target_updates;
  std::vector<StoredEvent> events;
};

class StateStore {
 public:
  virtual ~StateStore() = default;

  // Inserts a new queue with its targets. Errc::already_exists if queue_id is taken.
  virtual Status create_queue(const QueueState& q) = 0;
  // The queue with its targets; Errc::not_found if there is none.
  virtual Result<QueueState> get_queue(const std::string& queue_id) = 0;
  // Every queue with its targets, oldest first.
  virtual Result<std::vector<QueueState>> list_queues() = 0;
  // Applies the batch atomically. Updates to unknown queues are ignored.
  virtual Status apply(const StateBatch& batch) = 0;
  // The newest `limit` events of a queue, oldest first.
  virtual Result<std::vector<StoredEvent>> recent_events(const std::string& queue_id,
                                                         size_t limit) = 0;
  // Deletes all but the newest `keep` events of a queue (bounds the table).
  virtual Status trim_events(const std::string& queue_id, size_t keep) = 0;
  // Human-readable location ("sqlite:/path/streamforge.db").
  virtual std::string describe() const = 0;
};

}  // namespace sf::store
