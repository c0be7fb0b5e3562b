// Small RAII helpers over the SQLite C API shared by the SQLite stores (state and data).
// Internal to src/store/sqlite: nothing outside this folder includes it.
//
// Thread-safety: none of its own; a connection and its statements are used by one thread
// at a time (the stores hold a mutex around every use).
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>

#include "base/result.h"

namespace sf::store::sqlite_util {

// How long a statement waits for another connection's write lock before failing with
// Errc::unavailable. Long enough to ride out a CLI user's short transaction or the other
// store's batch on the same file.
inline constexpr int kBusyTimeoutMs = 5000;

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;

struct StmtFinalizer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

inline Errc errc_of(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Errc::unavailable;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_PERM:
      return Errc::io_error;
    case SQLITE_TOOBIG:
      return Errc::too_large;
    case SQLITE_CONSTRAINT:
      return Errc::invalid_argument;
    default:
      return Errc::internal;
  }
}

// Builds the error right after the failing call, while sqlite3_errmsg still describes it.
inline Error sql_error(sqlite3* db, int rc, std::string_view what) {
  std::string msg = "sqlite: ";
  msg += what;
  msg += ": ";
  msg += db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  msg += " (";
  msg += sqlite3_errstr(rc);
  msg += ")";
  return Error(errc_of(rc), std::move(msg));
}

// One use of a cached statement: binds, steps, reads columns, and resets on scope exit so
// the statement never keeps a read snapshot open between calls.
class Use {
 public:
  explicit Use(sqlite3_stmt* s) : s_(s) {}
  ~Use() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  Use(const Use&) = delete;
  Use& operator=(const Use&) = delete;

  Use& text(int i, std::string_view v) {
    // A null data pointer would bind SQL NULL; an empty string must stay ''.
    const char* p = v.data() ? v.data() : "";
    note(sqlite3_bind_text64(s_, i, p, v.size(), SQLITE_STATIC, SQLITE_UTF8));
    return *this;
  }
  Use& real(int i, double v) {
    note(sqlite3_bind_double(s_, i, v));
    return *this;
  }
  Use& int64(int i, int64_t v) {
    note(sqlite3_bind_int64(s_, i, v));
    return *this;
  }

  // SQLITE_ROW, SQLITE_DONE or an error code (a failed bind is reported here).
  int step() { return bind_rc_ != SQLITE_OK ? bind_rc_ : sqlite3_step(s_); }
  // Steps a statement that returns no rows: ok at SQLITE_DONE, else the error of `db`
  // naming `what`.
  Status run(sqlite3* db, std::string_view what) {
    const int rc = step();
    if (rc != SQLITE_DONE) return sql_error(db, rc, what);
    return ok_status();
  }
  // For reusing the statement within one Use (batch loops): reset and forget bindings.
  void rearm() {
    sqlite3_reset(s_);
    bind_rc_ = SQLITE_OK;
  }

  std::string col_text(int i) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, i));
    if (p == nullptr) return {};
    return std::string(p, static_cast<size_t>(sqlite3_column_bytes(s_, i)));
  }
  double col_real(int i) const { return sqlite3_column_double(s_, i); }
  int64_t col_int64(int i) const { return sqlite3_column_int64(s_, i); }

 private:
  void note(int rc) {
    if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  }
  sqlite3_stmt* s_;
  int bind_rc_ = SQLITE_OK;
};

// Runs one or more statements without results (set-up and migrations only).
inline Status exec(sqlite3* db, const char* sql, std::string_view what) {
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  sqlite3_free(err);  // sqlite3_errmsg still holds the message
  if (rc != SQLITE_OK) return sql_error(db, rc, what);
  return ok_status();
}

// Prepares a statement kept for the connection's lifetime.
inline Result<StmtPtr> prepare_persistent(sqlite3* db, std::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  StmtPtr stmt(raw);
  if (rc != SQLITE_OK) return sql_error(db, rc, "prepare: " + std::string(sql));
  return stmt;
}

// A single-row, single-column query (pragmas, version lookups).
inline Result<std::string> query_one(sqlite3* db, const char* sql, std::string_view what) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, sql, -1, &raw, nullptr);
  StmtPtr stmt(raw);
  if (rc != SQLITE_OK) return sql_error(db, rc, what);
  Use use(stmt.get());
  rc = use.step();
  if (rc == SQLITE_ROW) return use.col_text(0);
  if (rc == SQLITE_DONE) return std::string();
  return sql_error(db, rc, what);
}

// BEGIN ... COMMIT with rollback on every other exit path. `db` is checked for an open
// transaction before rolling back because some errors (I/O, full disk) already rolled back.
class Txn {
 public:
  Txn(sqlite3* db, sqlite3_stmt* rollback) : db_(db), rollback_(rollback) {}
  ~Txn() {
    if (open_ && !sqlite3_get_autocommit(db_)) {
      Use u(rollback_);
      u.step();
    }
  }
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;

  Status begin(sqlite3_stmt* begin_stmt) {
    SF_TRY(Use(begin_stmt).run(db_, "begin transaction"));
    open_ = true;
    return ok_status();
  }
  Status commit(sqlite3_stmt* commit_stmt) {
    SF_TRY(Use(commit_stmt).run(db_, "commit"));
    open_ = false;
    return ok_status();
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* rollback_;
  bool open_ = false;
};

// The absolute, normalised path of `file` in `data_dir`, creating the directory if needed.
inline Result<std::string> database_path(const std::string& data_dir, const char* file) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(data_dir, ec);
  if (ec) {
    return Error(Errc::io_error,
                 "sqlite: cannot create data directory " + data_dir + ": " + ec.message());
  }
  fs::path abs = fs::absolute(fs::path(data_dir) / file, ec);
  if (ec) return Error(Errc::io_error, "sqlite: cannot resolve " + data_dir + ": " + ec.message());
  return abs.lexically_normal().string();
}

// Opens (or creates) the database file at `path` the way every StreamForge connection
// uses it: extended result codes, busy timeout, WAL journal (readers never block the
// writer; also what detects a file that is not a database) and synchronous=NORMAL (durable
// across application crashes in WAL mode; a power loss may drop the last transactions but
// never corrupts the file). NOMUTEX: the stores serialise every use of a connection.
inline Result<DbPtr> open_database(const std::string& path) {
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  DbPtr db(raw);  // closes even a failed open
  if (rc != SQLITE_OK) return sql_error(raw, rc, "open " + path);
  sqlite3_extended_result_codes(db.get(), 1);
  sqlite3_busy_timeout(db.get(), kBusyTimeoutMs);
  // Switching to WAL takes a lock the busy handler does not always wait for, so processes
  // opening a new file at once (manager, loader, connector) retry it for the busy timeout.
  // A file already in WAL mode (the mode persists) needs no switch.
  auto mode = query_one(db.get(), "PRAGMA journal_mode", "read journal_mode of " + path);
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(kBusyTimeoutMs);
  if (mode && *mode != "wal") {
    for (;;) {
      mode = query_one(db.get(), "PRAGMA journal_mode=WAL", "set journal_mode on " + path);
      if (mode || mode.error().code != Errc::unavailable ||
          std::chrono::steady_clock::now() >= deadline)
        break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  if (!mode) return mode.error();
  if (*mode != "wal") {
    return Error(Errc::io_error,
                 "sqlite: " + path + " refused WAL mode (journal_mode=" + *mode + ")");
  }
  if (auto s = exec(db.get(), "PRAGMA synchronous=NORMAL", "configure " + path); !s) {
    return s.error();
  }
  return db;
}

}  // namespace sf::store::sqlite_util
