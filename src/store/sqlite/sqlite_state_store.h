// SQLite implementation of the workflow state store (store/state_store.h): the embedded
// default. One database file, <data_dir>/streamforge.db, in WAL mode so the sqlite3 CLI and
// other processes can read while the service writes.
//
// Schema: versioned in the `schema_version` table and migrated forward on open (each
// migration in its own transaction). A file written by a newer build (a version this code
// does not know) is refused rather than guessed at.
//
// Semantics beyond the interface contract:
//   - apply() upserts a target by replacing every field of the stored row; a target that
//     is new to its queue is appended after the queue's existing targets.
//   - target updates and events for a queue that does not exist are skipped; the rest of
//     the batch is still applied.
//   - create_queue() with two targets sharing a telemetry_id fails with invalid_argument
//     and stores nothing.
//   - "Newest" events are the most recently appended, not the largest timestamp.
//
// Errors: Errc::unavailable when the database stays locked by another process past the
// busy timeout (retry may succeed); io_error for disk/file failures; internal otherwise.
//
// Thread-safety: all methods may be called from any thread. The store holds a single
// connection and serialises calls with a mutex; the state store is not the hot data path
// (that is the bus), and a single writer is what SQLite allows anyway.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/result.h"
#include "store/state_store.h"

struct sqlite3;
struct sqlite3_stmt;

namespace sf::store {

namespace sqlite_util {
class WalCheckpointer;
}

class SqliteStateStore final : public StateStore {
 public:
  // Creates `data_dir` if needed, opens (or creates) <data_dir>/streamforge.db and migrates
  // its schema to kSchemaVersion. Fails if the file is not a database, cannot be created,
  // or has a schema version newer than kSchemaVersion.
  static Result<std::unique_ptr<SqliteStateStore>> open(const std::string& data_dir);

  // The schema version this build writes; a database at a higher version is refused.
  static int schema_version();
  // The file name inside data_dir.
  static constexpr const char* kFileName = "streamforge.db";

  ~SqliteStateStore() override;
  SqliteStateStore(const SqliteStateStore&) = delete;
  SqliteStateStore& operator=(const SqliteStateStore&) = delete;

  Status create_queue(const QueueState& q) override;
  Result<QueueState> get_queue(const std::string& queue_id) override;
  Result<std::vector<QueueState>> list_queues() override;
  Status apply(const StateBatch& batch) override;
  Result<std::vector<StoredEvent>> recent_events(const std::string& queue_id,
                                                 size_t limit) override;
  Status trim_events(const std::string& queue_id, size_t keep) override;
  std::string describe() const override;

  // Absolute path of the database file.
  const std::string& path() const { return path_; }

 private:
  struct Statements;

  SqliteStateStore(sqlite3* db, std::string path);
  Status prepare_statements();

  sqlite3* db_ = nullptr;
  std::string path_;
  std::unique_ptr<Statements> stmts_;  // prepared once, reused (guarded by mu_)
  // The WAL's checkpoints, off this connection's commits (sqlite/wal_checkpointer.h).
  std::unique_ptr<sqlite_util::WalCheckpointer> checkpointer_;
  std::mutex mu_;
};

}  // namespace sf::store
