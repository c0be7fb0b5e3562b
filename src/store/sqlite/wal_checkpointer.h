// Keeps WAL checkpoints out of a connection's commits. Internal to src/store/sqlite.
//
// Why: SQLite's automatic checkpoint runs inside the commit that leaves 1000 or more pages
// in the WAL, and a checkpoint syncs the WAL and the database file. The connector's upserts
// waited for it: p99 24-28 ms against 2-3 ms without (kafka_bench's latency part,
// docs/benchmarks.md), and over a second on a disk busy with other writes.
//
// Every connection writing the file needs one (the data store's and the state store's
// share streamforge.db): the hook sees every page in the WAL, whoever wrote it, so a
// connection left with SQLite's automatic checkpoint would run the checkpoints in its
// commits.
//
// What: start() turns the connection's automatic checkpoint off and, through
// sqlite3_wal_hook, hands the checkpoint to a thread of its own on a second connection to
// the same file, which runs a PASSIVE checkpoint (never blocking a writer or a reader; it
// copies and syncs what the WAL holds when it starts) whenever a commit leaves
// `start_pages` or more in the WAL. SQLite starts the WAL over only when a transaction
// begins after a checkpoint that copied every page, which a thread racing the writer may
// not manage while commits never pause; so a commit that leaves `inline_pages` in the WAL
// checkpoints itself, as SQLite would have at 1000 pages, and the WAL stays bounded. Such a
// checkpoint has only what the thread has not copied yet left to copy and sync. The WAL file
// is truncated back to 4 MB when SQLite starts it over (journal_size_limit).
//
// Thread-safety: the hook runs in whichever thread commits on `writer`; the counters may be
// read from any thread. Destroy the checkpointer before closing `writer`.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "base/result.h"
#include "store/sqlite/sqlite_util.h"

namespace sf::store::sqlite_util {

class WalCheckpointer {
 public:
  struct Options {
    int start_pages = 1000;    // SQLite's own automatic checkpoint threshold
    int inline_pages = 10000;  // about 40 MB of 4 KiB pages
    // The thread's checkpoints are at least this far apart: each one syncs two files, and a
    // writer that never pauses would otherwise have it checkpoint back to back.
    int min_interval_ms = 100;
  };

  // Opens the second connection on `path` (the file `writer` has open) and installs the
  // hook on `writer`. Errors as opening a database (sqlite_util::open_database).
  static Result<std::unique_ptr<WalCheckpointer>> start(sqlite3* writer, const std::string& path,
                                                        Options options);
  // start() with the default options, or nullptr and a warning in the log when it fails:
  // `writer` then checkpoints as SQLite does by itself, which is slower but correct.
  static std::unique_ptr<WalCheckpointer> start_or_warn(sqlite3* writer, const std::string& path);

  // Removes the hook (the writer checkpoints as SQLite would again) and stops the thread.
  ~WalCheckpointer();
  WalCheckpointer(const WalCheckpointer&) = delete;
  WalCheckpointer& operator=(const WalCheckpointer&) = delete;

  // Checkpoints the thread has completed, and those a commit had to run itself (completed
  // too: one that found the thread's checkpoint running is not counted).
  uint64_t background_checkpoints() const { return background_.load(); }
  uint64_t inline_checkpoints() const { return inline_.load(); }

 private:
  WalCheckpointer(sqlite3* writer, DbPtr own, Options options);
  static int on_commit(void* self, sqlite3* db, const char* schema, int wal_pages);
  void run();

  sqlite3* writer_;
  DbPtr own_;  // used by the thread only
  const Options options_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool wanted_ = false;
  bool stop_ = false;
  std::atomic<uint64_t> background_{0}, inline_{0};
  std::thread thread_;
};

}  // namespace sf::store::sqlite_util
