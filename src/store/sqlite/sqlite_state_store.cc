#include "store/sqlite/sqlite_state_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iterator>
#include <limits>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "store/sqlite/sqlite_util.h"
#include "store/sqlite/wal_checkpointer.h"
#include "store/state_fields.h"

namespace sf::store {
namespace {

using namespace sqlite_util;  // NOLINT: the shared RAII helpers of this folder

// Forward-only migrations. Entry i takes the schema from version i to i + 1; never edit a
// released entry, append a new one. Each runs in its own transaction together with the
// schema_version row that records it.
struct Migration {
  const char* description;
  const char* sql;
};

constexpr Migration kMigrations[] = {
    {"workflow state: queues, targets, events", R"sql(
CREATE TABLE queues (
  queue_id     TEXT NOT NULL PRIMARY KEY,
  symbol       TEXT NOT NULL,
  type         TEXT NOT NULL,
  time_range   TEXT NOT NULL,
  status       TEXT NOT NULL,
  message      TEXT NOT NULL,
  created_at   REAL NOT NULL,
  updated_at   REAL NOT NULL,
  request_json TEXT NOT NULL
);
-- list_queues orders by (created_at, rowid); the index carries the rowid.
CREATE INDEX queues_by_created ON queues(created_at);

CREATE TABLE targets (
  queue_id        TEXT NOT NULL REFERENCES queues(queue_id) ON DELETE CASCADE,
  telemetry_id    TEXT NOT NULL,
  ordinal         INTEGER NOT NULL,  -- position in the start request, then append order
  target          TEXT NOT NULL,
  status          TEXT NOT NULL,
  message         TEXT NOT NULL,
  records_written INTEGER NOT NULL,
  updated_at      REAL NOT NULL,
  config_json     TEXT NOT NULL,
  PRIMARY KEY (queue_id, telemetry_id)
);
CREATE UNIQUE INDEX targets_by_ordinal ON targets(queue_id, ordinal);

CREATE TABLE events (
  id        INTEGER PRIMARY KEY AUTOINCREMENT,
  queue_id  TEXT NOT NULL REFERENCES queues(queue_id) ON DELETE CASCADE,
  timestamp REAL NOT NULL,
  json      TEXT NOT NULL
);
CREATE INDEX events_by_queue ON events(queue_id, id);
)sql"},
};

constexpr int kLatestVersion = static_cast<int>(std::size(kMigrations));

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

int64_t clamp_to_int64(size_t n) {
  constexpr auto kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  return static_cast<int64_t>(std::min<uint64_t>(n, kMax));
}

// Applies pending migrations, one transaction each. Re-reads the version inside every
// transaction so two processes opening the same new file do not both migrate.
Status migrate(sqlite3* db, const std::string& path) {
  for (;;) {
    if (auto s = exec(db, "BEGIN IMMEDIATE", "begin migration"); !s) return s;
    auto fail = [&](Error e) -> Status {
      if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      return e;
    };
    if (auto s = exec(db,
                      "CREATE TABLE IF NOT EXISTS schema_version ("
                      " version INTEGER PRIMARY KEY,"
                      " applied_at REAL NOT NULL,"
                      " description TEXT NOT NULL)",
                      "create schema_version");
        !s) {
      return fail(s.error());
    }
    auto v = query_one(db, "SELECT COALESCE(MAX(version), 0) FROM schema_version",
                       "read schema version");
    if (!v) return fail(v.error());
    const int current = std::stoi(*v);
    if (current > kLatestVersion) {
      return fail(Error(Errc::invalid_argument,
                        "sqlite: " + path + " has schema version " + std::to_string(current) +
                            ", newer than this build supports (" + std::to_string(kLatestVersion) +
                            "); run a newer streamforge or use another data directory"));
    }
    if (current == kLatestVersion) {
      return exec(db, "COMMIT", "commit migration check");
    }
    const Migration& m = kMigrations[current];
    if (auto s = exec(db, m.sql, "migrate to schema version " + std::to_string(current + 1)); !s) {
      return fail(s.error());
    }
    {
      sqlite3_stmt* raw = nullptr;
      int rc = sqlite3_prepare_v2(
          db, "INSERT INTO schema_version(version, applied_at, description) VALUES(?1, ?2, ?3)", -1,
          &raw, nullptr);
      StmtPtr stmt(raw);
      if (rc != SQLITE_OK) return fail(sql_error(db, rc, "record schema version"));
      Use use(stmt.get());
      use.int64(1, current + 1).real(2, now_seconds()).text(3, m.description);
      rc = use.step();
      if (rc != SQLITE_DONE) return fail(sql_error(db, rc, "record schema version"));
    }
    if (auto s = exec(db, "COMMIT", "commit migration"); !s) return fail(s.error());
  }
}

}  // namespace

// ---- cached statements ------------------------------------------------------------------

struct SqliteStateStore::Statements {
  StmtPtr begin_read;
  StmtPtr begin_write;
  StmtPtr commit;
  StmtPtr rollback;
  StmtPtr insert_queue;
  StmtPtr insert_target;
  StmtPtr select_queue;
  StmtPtr select_targets_of;
  StmtPtr select_all_queues;
  StmtPtr select_all_targets;
  StmtPtr update_queue;
  StmtPtr upsert_target;
  StmtPtr insert_event;
  StmtPtr recent_events;
  StmtPtr trim_events;
};

namespace {

// A column of a row into a field of its type, and a field into a parameter.
void read_column(const Use& u, int col, std::string& v) { v = u.col_text(col); }
void read_column(const Use& u, int col, double& v) { v = u.col_real(col); }
void read_column(const Use& u, int col, int64_t& v) { v = u.col_int64(col); }
void bind_column(Use& u, int param, const std::string& v) { u.text(param, v); }
void bind_column(Use& u, int param, double v) { u.real(param, v); }
void bind_column(Use& u, int param, int64_t v) { u.int64(param, v); }

// A queue or target row whose fields (state_fields.h) start at column `first`: a queue row
// at 0; a target row at 1, after its queue_id, which the caller reads to place the target.
template <class R>
R read_row(const Use& u, int first) {
  R r;
  int col = first;
  StateFields<R>::for_each([&](const char*, auto member) { read_column(u, col++, r.*member); });
  return r;
}

// Binds the fields of a queue or target as parameters `first`, `first` + 1, ...
template <class R>
Use& bind_fields(Use& u, int first, const R& r) {
  int param = first;
  StateFields<R>::for_each([&](const char*, auto member) { bind_column(u, param++, r.*member); });
  return u;
}

// Binds a target's columns as ?1..?8 (queue_id, then its fields): the order insert_target
// and upsert_target share.
Use& bind_target(Use& u, const std::string& queue_id, const TargetState& t) {
  return bind_fields(u.text(1, queue_id), 2, t);
}

}  // namespace

int SqliteStateStore::schema_version() { return kLatestVersion; }

Result<std::unique_ptr<SqliteStateStore>> SqliteStateStore::open(const std::string& data_dir) {
  std::string path;
  SF_TRY_ASSIGN(path, database_path(data_dir, kFileName));

  auto opened = open_database(path);
  if (!opened) return opened.error();
  DbPtr db = std::move(*opened);
  if (auto s = exec(db.get(), "PRAGMA foreign_keys=ON", "configure " + path); !s) {
    return s.error();
  }
  if (auto s = migrate(db.get(), path); !s) return s.error();

  std::unique_ptr<SqliteStateStore> store(new SqliteStateStore(db.release(), path));
  if (auto s = store->prepare_statements(); !s) return s.error();
  store->checkpointer_ = WalCheckpointer::start_or_warn(store->db_, path);
  return store;
}

SqliteStateStore::SqliteStateStore(sqlite3* db, std::string path)
    : db_(db), path_(std::move(path)), stmts_(std::make_unique<Statements>()) {}

SqliteStateStore::~SqliteStateStore() {
  std::lock_guard lock(mu_);
  checkpointer_.reset();  // its hook and thread go before the connection
  stmts_.reset();         // finalize before close
  // Lets the query planner refresh statistics it found useful during this session.
  sqlite3_exec(db_, "PRAGMA optimize", nullptr, nullptr, nullptr);
  sqlite3_close_v2(db_);
}

Status SqliteStateStore::prepare_statements() {
  struct Entry {
    StmtPtr* slot;
    const char* sql;
  };
  Statements& s = *stmts_;
  const Entry entries[] = {
      {&s.begin_read, "BEGIN"},
      // IMMEDIATE takes the write lock up front, so a busy database fails at BEGIN (after
      // the busy timeout) instead of part-way through a batch.
      {&s.begin_write, "BEGIN IMMEDIATE"},
      {&s.commit, "COMMIT"},
      {&s.rollback, "ROLLBACK"},
      {&s.insert_queue,
       "INSERT INTO queues(" SF_QUEUE_COLUMNS ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"},
      {&s.insert_target,
       "INSERT INTO targets(queue_id, telemetry_id, target, status, message, records_written,"
       " updated_at, config_json, ordinal) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"},
      {&s.select_queue, "SELECT " SF_QUEUE_COLUMNS " FROM queues WHERE queue_id = ?1"},
      {&s.select_targets_of,
       "SELECT " SF_TARGET_COLUMNS " FROM targets WHERE queue_id = ?1 ORDER BY ordinal"},
      {&s.select_all_queues, "SELECT " SF_QUEUE_COLUMNS " FROM queues ORDER BY created_at, rowid"},
      {&s.select_all_targets,
       "SELECT " SF_TARGET_COLUMNS " FROM targets ORDER BY queue_id, ordinal"},
      {&s.update_queue,
       "UPDATE queues SET status = ?2, message = ?3, updated_at = ?4 WHERE queue_id = ?1"},
      // The SELECT ... WHERE EXISTS skips targets of unknown queues (the contract ignores
      // them) instead of failing the batch on the foreign key. A new target goes after the
      // queue's existing ones; an existing target keeps its position.
      {&s.upsert_target,
       "INSERT INTO targets(queue_id, telemetry_id, ordinal, target, status, message,"
       " records_written, updated_at, config_json)"
       " SELECT ?1, ?2, (SELECT COALESCE(MAX(ordinal) + 1, 0) FROM targets WHERE queue_id = ?1),"
       " ?3, ?4, ?5, ?6, ?7, ?8"
       " WHERE EXISTS (SELECT 1 FROM queues WHERE queue_id = ?1)"
       " ON CONFLICT(queue_id, telemetry_id) DO UPDATE SET"
       " target = excluded.target, status = excluded.status, message = excluded.message,"
       " records_written = excluded.records_written, updated_at = excluded.updated_at,"
       " config_json = excluded.config_json"},
      {&s.insert_event,
       "INSERT INTO events(queue_id, timestamp, json) SELECT ?1, ?2, ?3"
       " WHERE EXISTS (SELECT 1 FROM queues WHERE queue_id = ?1)"},
      {&s.recent_events,
       "SELECT queue_id, timestamp, json FROM ("
       " SELECT id, queue_id, timestamp, json FROM events WHERE queue_id = ?1"
       " ORDER BY id DESC LIMIT ?2) ORDER BY id"},
      // Deletes everything at or below the (keep+1)-th newest id; no-op when there are
      // `keep` or fewer events (the subquery is NULL).
      {&s.trim_events,
       "DELETE FROM events WHERE queue_id = ?1 AND id <= ("
       " SELECT id FROM events WHERE queue_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)"},
  };
  for (const Entry& e : entries) {
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v3(db_, e.sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    e.slot->reset(raw);
    if (rc != SQLITE_OK) return sql_error(db_, rc, std::string("prepare: ") + e.sql);
  }
  return ok_status();
}

Status SqliteStateStore::create_queue(const QueueState& q) {
  std::lock_guard lock(mu_);
  Statements& s = *stmts_;
  Txn txn(db_, s.rollback.get());
  if (auto st = txn.begin(s.begin_write.get()); !st) return st;
  {
    Use u(s.insert_queue.get());
    int rc = bind_fields(u, 1, q).step();
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
      return Error(Errc::already_exists, "queue " + q.queue_id + " already exists", "queue_id");
    }
    if (rc != SQLITE_DONE) return sql_error(db_, rc, "insert queue " + q.queue_id);
  }
  for (size_t i = 0; i < q.targets.size(); ++i) {
    const TargetState& t = q.targets[i];
    Use u(s.insert_target.get());
    bind_target(u, q.queue_id, t).int64(9, static_cast<int64_t>(i));
    int rc = u.step();
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
      return Error(Errc::invalid_argument,
                   "queue " + q.queue_id + ": duplicate telemetry_id " + t.telemetry_id, "targets");
    }
    if (rc != SQLITE_DONE) return sql_error(db_, rc, "insert target " + t.telemetry_id);
  }
  return txn.commit(s.commit.get());
}

Result<QueueState> SqliteStateStore::get_queue(const std::string& queue_id) {
  std::lock_guard lock(mu_);
  Statements& s = *stmts_;
  // A read transaction so the queue and its targets come from one snapshot.
  Txn txn(db_, s.rollback.get());
  if (auto st = txn.begin(s.begin_read.get()); !st) return st.error();
  QueueState q;
  {
    Use u(s.select_queue.get());
    u.text(1, queue_id);
    int rc = u.step();
    if (rc == SQLITE_DONE) return Error(Errc::not_found, "queue " + queue_id + " not found");
    if (rc != SQLITE_ROW) return sql_error(db_, rc, "select queue " + queue_id);
    q = read_row<QueueState>(u, 0);
  }
  {
    Use u(s.select_targets_of.get());
    u.text(1, queue_id);
    int rc;
    while ((rc = u.step()) == SQLITE_ROW) q.targets.push_back(read_row<TargetState>(u, 1));
    if (rc != SQLITE_DONE) return sql_error(db_, rc, "select targets of " + queue_id);
  }
  if (auto st = txn.commit(s.commit.get()); !st) return st.error();
  return q;
}

Result<std::vector<QueueState>> SqliteStateStore::list_queues() {
  std::lock_guard lock(mu_);
  Statements& s = *stmts_;
  Txn txn(db_, s.rollback.get());
  if (auto st = txn.begin(s.begin_read.get()); !st) return st.error();
  // Two scans joined in memory: one query per queue would be 10,000 round trips.
  std::vector<QueueState> queues;
  std::unordered_map<std::string_view, size_t> index;  // views into queues[i].queue_id
  {
    Use u(s.select_all_queues.get());
    int rc;
    while ((rc = u.step()) == SQLITE_ROW) queues.push_back(read_row<QueueState>(u, 0));
    if (rc != SQLITE_DONE) return sql_error(db_, rc, "select queues");
  }
  index.reserve(queues.size());
  for (size_t i = 0; i < queues.size(); ++i) index.emplace(queues[i].queue_id, i);
  {
    Use u(s.select_all_targets.get());
    std::string current_id;  // rows arrive grouped by queue_id; look each group up once
    QueueState* current = nullptr;
    int rc;
    while ((rc = u.step()) == SQLITE_ROW) {
      std::string qid = u.col_text(0);
      if (current == nullptr || qid != current_id) {
        auto it = index.find(qid);
        // Unreachable with the foreign key; tolerate rather than crash.
        current = it == index.end() ? nullptr : &queues[it->second];
        current_id = std::move(qid);
      }
      if (current != nullptr) current->targets.push_back(read_row<TargetState>(u, 1));
    }
    if (rc != SQLITE_DONE) return sql_error(db_, rc, "select targets");
  }
  if (auto st = txn.commit(s.commit.get()); !st) return st.error();
  return queues;
}

Status SqliteStateStore::apply(const StateBatch& batch) {
  if (batch.queue_updates.empty() && batch.target_updates.empty() && batch.events.empty()) {
    return ok_status();
  }
  std::lock_guard lock(mu_);
  Statements& s = *stmts_;
  Txn txn(db_, s.rollback.get());
  if (auto st = txn.begin(s.begin_write.get()); !st) return st;
  for (const QueueState& q : batch.queue_updates) {
    Use u(s.update_queue.get());
    u.text(1, q.queue_id).text(2, q.status).text(3, q.message).real(4, q.updated_at);
    SF_TRY(u.run(db_, "update queue " + q.queue_id));
  }
  for (const auto& [queue_id, t] : batch.target_updates) {
    Use u(s.upsert_target.get());
    SF_TRY(
        bind_target(u, queue_id, t).run(db_, "upsert target " + queue_id + "/" + t.telemetry_id));
  }
  for (const StoredEvent& e : batch.events) {
    Use u(s.insert_event.get());
    u.text(1, e.queue_id).real(2, e.timestamp).text(3, e.json);
    SF_TRY(u.run(db_, "insert event for " + e.queue_id));
  }
  return txn.commit(s.commit.get());
}

Result<std::vector<StoredEvent>> SqliteStateStore::recent_events(const std::string& queue_id,
                                                                 size_t limit) {
  std::vector<StoredEvent> out;
  if (limit == 0) return out;
  std::lock_guard lock(mu_);
  Use u(stmts_->recent_events.get());
  u.text(1, queue_id).int64(2, clamp_to_int64(limit));
  int rc;
  while ((rc = u.step()) == SQLITE_ROW) {
    out.push_back(StoredEvent{u.col_text(0), u.col_real(1), u.col_text(2)});
  }
  if (rc != SQLITE_DONE) return sql_error(db_, rc, "select events of " + queue_id);
  return out;
}

Status SqliteStateStore::trim_events(const std::string& queue_id, size_t keep) {
  std::lock_guard lock(mu_);
  Use u(stmts_->trim_events.get());
  u.text(1, queue_id).int64(2, clamp_to_int64(keep));
  return u.run(db_, "trim events of " + queue_id);
}

std::string SqliteStateStore::describe() const { return "sqlite:" + path_; }

}  // namespace sf::store
