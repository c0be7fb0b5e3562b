// SqliteStateStore: the shared StateStore contract plus what only SQLite has (a file that
// survives reopening, schema versions, WAL, failure injection through triggers).
#include "store/sqlite/sqlite_state_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>

#include "tests/contract/state_store_contract.h"
#include "tests/support/store_factory.h"
#include "tests/support/temp_dir.h"

namespace fs = std::filesystem;
using sf::store::QueueState;
using sf::store::SqliteStateStore;
using sf::store::StateBatch;
using sf::store::StateStore;
using sf::store::StoredEvent;
using sf::store::TargetState;
using sf::testing::TempDir;  // each test's own directory
namespace contract = sf::store::contract;

namespace {

using SqliteFactory = sf::testing::TempDirStoreFactory<StateStore, SqliteStateStore>;

// A second, plain connection to the same file, as the sqlite3 CLI would open it.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << "raw open " << path << ": " << sqlite3_errmsg(db_);
    }
    sqlite3_busy_timeout(db_, 5000);
  }
  ~RawDb() { sqlite3_close_v2(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  void exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << (err ? err : "?");
    }
    sqlite3_free(err);
  }
  // First column of the first row, as text ("" when there is no row).
  std::string query(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    std::string out;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db_);
      return out;
    }
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0) != nullptr) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    }
    sqlite3_finalize(s);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

std::unique_ptr<SqliteStateStore> open_ok(const TempDir& dir) {
  auto r = SqliteStateStore::open(dir.str());
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? std::move(r).value() : nullptr;
}

std::string db_path(const TempDir& dir) { return dir.db(); }

}  // namespace

INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, StateStoreContract, SqliteFactory);

TEST(SqliteStateStore, CreatesDataDirAndDescribesFile) {
  TempDir dir;
  const std::string nested = (dir.path() / "a" / "b").string();
  auto r = SqliteStateStore::open(nested);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(fs::exists(fs::path(nested) / "streamforge.db"));
  EXPECT_EQ((*r)->describe(), "sqlite:" + (*r)->path());
  EXPECT_TRUE(fs::path((*r)->path()).is_absolute());
  EXPECT_EQ(fs::path((*r)->path()).filename(), "streamforge.db");
}

TEST(SqliteStateStore, ReopeningKeepsEverything) {
  TempDir dir;
  QueueState q1 = contract::make_queue("q1", 100, 2);
  QueueState q2 = contract::make_queue("q2", 200, 1);
  q2.message = "ünïcödé 🚀";
  {
    auto store = open_ok(dir);
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->create_queue(q1).ok());
    ASSERT_TRUE(store->create_queue(q2).ok());
    StateBatch b;
    q1.status = "finished";
    q1.updated_at = 150;
    b.queue_updates.push_back(q1);
    q1.targets[1].records_written = 42;
    q1.targets[1].status = "finished";
    b.target_updates.emplace_back("q1", q1.targets[1]);
    TargetState added = contract::make_target("extra", "dummy-service", 151);
    q1.targets.push_back(added);
    b.target_updates.emplace_back("q1", added);
    for (int i = 0; i < 5; ++i) b.events.push_back(contract::make_event("q1", 150 + i, "e"));
    ASSERT_TRUE(store->apply(b).ok());
  }
  auto store = open_ok(dir);
  ASSERT_NE(store, nullptr);
  auto all = store->list_queues();
  ASSERT_TRUE(all.ok()) << all.error().message;
  ASSERT_EQ(all->size(), 2u);
  EXPECT_TRUE(contract::queues_equal((*all)[0], q1));
  EXPECT_TRUE(contract::queues_equal((*all)[1], q2));
  auto ev = store->recent_events("q1", 100);
  ASSERT_TRUE(ev.ok());
  EXPECT_EQ(ev->size(), 5u);
  // New events continue after the old ones.
  StateBatch b;
  b.events.push_back(contract::make_event("q1", 999, "after-reopen"));
  ASSERT_TRUE(store->apply(b).ok());
  auto last = store->recent_events("q1", 1);
  ASSERT_TRUE(last.ok());
  ASSERT_EQ(last->size(), 1u);
  EXPECT_EQ((*last)[0].timestamp, 999);
}

TEST(SqliteStateStore, SchemaVersionRecorded) {
  TempDir dir;
  ASSERT_GE(SqliteStateStore::schema_version(), 1);
  open_ok(dir).reset();
  {
    RawDb raw(db_path(dir));
    EXPECT_EQ(raw.query("SELECT MAX(version) FROM schema_version"),
              std::to_string(SqliteStateStore::schema_version()));
    EXPECT_EQ(raw.query("SELECT COUNT(*) FROM schema_version"),
              std::to_string(SqliteStateStore::schema_version()));
    EXPECT_EQ(raw.query("SELECT COUNT(*) FROM schema_version WHERE applied_at > 1600000000"),
              std::to_string(SqliteStateStore::schema_version()));
  }
  // Reopening an up-to-date file migrates nothing.
  open_ok(dir).reset();
  RawDb raw(db_path(dir));
  EXPECT_EQ(raw.query("SELECT COUNT(*) FROM schema_version"),
            std::to_string(SqliteStateStore::schema_version()));
}

TEST(SqliteStateStore, FutureSchemaVersionIsRefused) {
  TempDir dir;
  open_ok(dir).reset();
  const int future = SqliteStateStore::schema_version() + 1;
  {
    RawDb raw(db_path(dir));
    raw.exec("INSERT INTO schema_version(version, applied_at, description) VALUES(" +
             std::to_string(future) + ", 1700000000, 'from the future')");
  }
  auto r = SqliteStateStore::open(dir.str());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, sf::Errc::invalid_argument);
  const std::string& msg = r.error().message;
  EXPECT_NE(msg.find("schema version " + std::to_string(future)), std::string::npos) << msg;
  EXPECT_NE(msg.find("newer than this build supports"), std::string::npos) << msg;
  EXPECT_NE(msg.find(db_path(dir)), std::string::npos) << msg;
  // Refusing did not touch the file.
  RawDb raw(db_path(dir));
  EXPECT_EQ(raw.query("SELECT MAX(version) FROM schema_version"), std::to_string(future));
}

TEST(SqliteStateStore, FileIsInWalMode) {
  TempDir dir;
  auto store = open_ok(dir);
  ASSERT_NE(store, nullptr);
  RawDb raw(db_path(dir));  // WAL is persistent: a fresh connection sees it
  EXPECT_EQ(raw.query("PRAGMA journal_mode"), "wal");
  // A reader does not block the store's writer.
  raw.exec("BEGIN");
  EXPECT_EQ(raw.query("SELECT COUNT(*) FROM queues"), "0");
  EXPECT_TRUE(store->create_queue(contract::make_queue("q1", 1)).ok());
  EXPECT_EQ(raw.query("SELECT COUNT(*) FROM queues"), "0");  // its snapshot
  raw.exec("COMMIT");
  EXPECT_EQ(raw.query("SELECT COUNT(*) FROM queues"), "1");
}

TEST(SqliteStateStore, NotADatabaseIsRefused) {
  TempDir dir;
  {
    std::ofstream f(db_path(dir), std::ios::binary);
    f << std::string(8192, 'x');
  }
  auto r = SqliteStateStore::open(dir.str());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, sf::Errc::io_error) << r.error().message;
  EXPECT_NE(r.error().message.find(db_path(dir)), std::string::npos) << r.error().message;
}

// A failure part-way through a batch (injected with a trigger on the second connection)
// must leave nothing of the batch behind and leave the store usable.
TEST(SqliteStateStore, ApplyFailingPartWayChangesNothing) {
  TempDir dir;
  auto store = open_ok(dir);
  ASSERT_NE(store, nullptr);
  QueueState q = contract::make_queue("q1", 100, 2);
  ASSERT_TRUE(store->create_queue(q).ok());
  StateBatch seed;
  seed.events.push_back(contract::make_event("q1", 100, "seed"));
  ASSERT_TRUE(store->apply(seed).ok());
  {
    RawDb raw(db_path(dir));
    raw.exec(
        "CREATE TRIGGER fail_target BEFORE INSERT ON targets WHEN NEW.telemetry_id = 'boom' "
        "BEGIN SELECT RAISE(ABORT, 'injected target failure'); END;"
        "CREATE TRIGGER fail_event BEFORE INSERT ON events WHEN NEW.json LIKE '%boom%' "
        "BEGIN SELECT RAISE(ABORT, 'injected event failure'); END;");
  }

  auto make_batch = [&](bool boom_target, bool boom_event) {
    StateBatch b;
    QueueState upd = q;
    upd.status = "error";
    upd.message = "changed";
    upd.updated_at = 200;
    b.queue_updates.push_back(upd);
    TargetState t0 = q.targets[0];
    t0.status = "finished";
    t0.records_written = 99;
    b.target_updates.emplace_back("q1", t0);
    b.target_updates.emplace_back("q1", contract::make_target("new-ok", "dummy-service", 200));
    if (boom_target) {
      b.target_updates.emplace_back("q1", contract::make_target("boom", "dummy-service", 200));
    }
    for (int i = 0; i < 3; ++i) b.events.push_back(contract::make_event("q1", 200 + i, "ok"));
    if (boom_event) b.events.push_back(contract::make_event("q1", 210, "boom"));
    return b;
  };

  for (auto [boom_target, boom_event] : {std::pair{true, false}, std::pair{false, true}}) {
    SCOPED_TRACE(boom_target ? "failing target" : "failing event");
    auto s = store->apply(make_batch(boom_target, boom_event));
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.error().message.find("injected"), std::string::npos) << s.error().message;
    auto got = store->get_queue("q1");
    ASSERT_TRUE(got.ok());
    EXPECT_TRUE(contract::queues_equal(*got, q));
    auto ev = store->recent_events("q1", 100);
    ASSERT_TRUE(ev.ok());
    ASSERT_EQ(ev->size(), 1u);
    EXPECT_EQ((*ev)[0].timestamp, 100);
  }

  // No transaction left open: the next batch applies, and another connection sees it.
  ASSERT_TRUE(store->apply(make_batch(false, false)).ok());
  auto got = store->get_queue("q1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->status, "error");
  EXPECT_EQ(got->targets.size(), 3u);
  RawDb raw(db_path(dir));
  EXPECT_EQ(raw.query("SELECT status FROM queues WHERE queue_id = 'q1'"), "error");
}

TEST(SqliteStateStore, DuplicateTelemetryIdInCreateStoresNothing) {
  TempDir dir;
  auto store = open_ok(dir);
  ASSERT_NE(store, nullptr);
  QueueState q = contract::make_queue("q1", 100, 1);
  q.targets.push_back(q.targets[0]);
  auto s = store->create_queue(q);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, sf::Errc::invalid_argument) << s.error().message;
  auto got = store->get_queue("q1");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, sf::Errc::not_found);
}

// Many target updates + events per second when batched (the manager flushes telemetry in
// batches). The bound is loose; the measured rate is printed.
TEST(SqliteStateStore, BatchedApplyThroughput) {
  TempDir dir;
  auto store = open_ok(dir);
  ASSERT_NE(store, nullptr);
  constexpr int kQueues = 20;
  constexpr int kTargetsPerQueue = 5;
  for (int i = 0; i < kQueues; ++i) {
    ASSERT_TRUE(
        store->create_queue(contract::make_queue("q" + std::to_string(i), i, kTargetsPerQueue))
            .ok());
  }
  constexpr int kBatches = 200;
  constexpr int kRowsPerKind = 240;  // target updates and events per batch, each
  auto start = std::chrono::steady_clock::now();
  for (int b = 0; b < kBatches; ++b) {
    StateBatch batch;
    for (int k = 0; k < kRowsPerKind; ++k) {
      const int qi = k % kQueues;
      const std::string qid = "q" + std::to_string(qi);
      TargetState t = contract::make_target(qid + "-t" + std::to_string(k % kTargetsPerQueue),
                                            "loader-producer", b);
      t.status = "loading";
      t.records_written = b * kRowsPerKind + k;
      batch.target_updates.emplace_back(qid, std::move(t));
      batch.events.push_back(contract::make_event(qid, b, "telemetry"));
    }
    ASSERT_TRUE(store->apply(batch).ok());
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double rows_per_sec = 2.0 * kBatches * kRowsPerKind / secs;
  std::printf("[ timing   ] apply: %.0f rows/s (target updates + events, %d per batch)\n",
              rows_per_sec, 2 * kRowsPerKind);
  ::testing::Test::RecordProperty("apply_rows_per_sec", static_cast<int>(rows_per_sec));
  EXPECT_GT(rows_per_sec, 5000.0);
  auto ev = store->recent_events("q0", 1000000);
  ASSERT_TRUE(ev.ok());
  EXPECT_EQ(ev->size(), static_cast<size_t>(kBatches * kRowsPerKind / kQueues));
}
