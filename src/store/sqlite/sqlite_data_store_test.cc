// SqliteDataStore: the shared DataStore contract plus what only SQLite has (the file shared
// with the state store, the table layout users query with sqlite3, reopening).
#include "store/sqlite/sqlite_data_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "store/sqlite/sqlite_state_store.h"
#include "tests/contract/data_store_contract.h"
#include "tests/support/store_factory.h"
#include "tests/support/temp_dir.h"

namespace fs = std::filesystem;
using sf::market::Kind;
using sf::store::DataStore;
using sf::store::SqliteDataStore;
using sf::store::SqliteStateStore;
using sf::testing::TempDir;  // each test's own directory
namespace dc = sf::store::data_contract;

namespace {

using SqliteFactory = sf::testing::TempDirStoreFactory<DataStore, SqliteDataStore>;

// Runs a query with the plain C API (what a user with the sqlite3 CLI sees); returns the
// rows as "a|b|c" strings.
std::vector<std::string> query(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::vector<std::string> rows;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << "open " << db_path;
    sqlite3_close(db);
    return rows;
  }
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db);
  } else {
    while (sqlite3_step(st) == SQLITE_ROW) {
      std::string row;
      for (int i = 0; i < sqlite3_column_count(st); ++i) {
        if (i) row += "|";
        const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
        row += t ? t : "NULL";
      }
      rows.push_back(row);
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return rows;
}

}  // namespace

INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, DataStoreContract, SqliteFactory);

TEST(SqliteDataStore, SharesTheFileWithTheStateStoreAndRefusedNamesLeaveItIntact) {
  TempDir dir;
  auto state = SqliteStateStore::open(dir.str());
  ASSERT_TRUE(state.ok()) << state.error().message;
  auto data = SqliteDataStore::open(dir.str());
  ASSERT_TRUE(data.ok()) << data.error().message;
  EXPECT_EQ((*data)->describe(), (*state)->describe());

  sf::store::QueueState q;
  q.queue_id = "q1";
  q.symbol = "BTCUSDT";
  q.type = "api_candles_1m";
  q.time_range = "2024-08-01:2024-08-02";
  ASSERT_TRUE((*state)->create_queue(q).ok());
  ASSERT_TRUE((*data)->upsert("btc_1m", Kind::candle, dc::candles("BTCUSDT", 0, 100)).ok());

  auto bad = (*data)->upsert("x; DROP TABLE queues", Kind::candle, dc::candles("BTCUSDT", 0, 1));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, sf::Errc::invalid_argument);
  EXPECT_EQ(query(dir.db(), "SELECT queue_id FROM queues"), std::vector<std::string>{"q1"});
  EXPECT_TRUE((*state)->get_queue("q1").ok());
  // Both connections keep working on the same file.
  ASSERT_TRUE((*data)->upsert("btc_1m", Kind::candle, dc::candles("BTCUSDT", 100, 10)).ok());
  EXPECT_EQ(*(*data)->count("btc_1m"), 110);
  EXPECT_EQ(query(dir.db(), "SELECT COUNT(*) FROM btc_1m"), std::vector<std::string>{"110"});
}

TEST(SqliteDataStore, TableLayoutIsWhatUsersQuery) {
  TempDir dir;
  auto data = SqliteDataStore::open(dir.str());
  ASSERT_TRUE(data.ok()) << data.error().message;
  auto c = dc::candle("BTCUSDT", 0);
  c.open = "0.00010000";
  ASSERT_TRUE(
      (*data)
          ->upsert("candles", Kind::candle, std::vector<sf::market::Record>{sf::market::Record(c)})
          .ok());
  ASSERT_TRUE(
      (*data)
          ->upsert("aggs", Kind::agg_trade,
                   std::vector<sf::market::Record>{sf::market::Record(dc::agg_trade("BTCUSDT", 7))})
          .ok());
  ASSERT_TRUE(
      (*data)
          ->upsert("trades", Kind::trade,
                   std::vector<sf::market::Record>{sf::market::Record(dc::trade("BTCUSDT", 9))})
          .ok());

  // Column name, declared type, position in the primary key.
  EXPECT_EQ(query(dir.db(), "SELECT name, type, pk FROM pragma_table_info('candles')"),
            (std::vector<std::string>{
                "symbol|TEXT|1", "interval|TEXT|2", "open_time|INTEGER|3", "close_time|INTEGER|0",
                "open|TEXT|0", "high|TEXT|0", "low|TEXT|0", "close|TEXT|0", "volume|TEXT|0",
                "quote_volume|TEXT|0", "trades|INTEGER|0", "taker_buy_base_volume|TEXT|0",
                "taker_buy_quote_volume|TEXT|0", "closed|INTEGER|0"}));
  EXPECT_EQ(query(dir.db(), "SELECT name, type, pk FROM pragma_table_info('aggs')"),
            (std::vector<std::string>{"symbol|TEXT|1", "agg_id|INTEGER|2", "price|TEXT|0",
                                      "qty|TEXT|0", "first_trade_id|INTEGER|0",
                                      "last_trade_id|INTEGER|0", "time|INTEGER|0",
                                      "is_buyer_maker|INTEGER|0", "is_best_match|INTEGER|0"}));
  EXPECT_EQ(query(dir.db(), "SELECT name, type, pk FROM pragma_table_info('trades')"),
            (std::vector<std::string>{"symbol|TEXT|1", "trade_id|INTEGER|2", "price|TEXT|0",
                                      "qty|TEXT|0", "quote_qty|TEXT|0", "time|INTEGER|0",
                                      "is_buyer_maker|INTEGER|0", "is_best_match|INTEGER|0"}));
  EXPECT_EQ(
      query(dir.db(), "SELECT \"open\", typeof(\"open\"), typeof(open_time), closed FROM candles"),
      std::vector<std::string>{"0.00010000|text|integer|1"});
  // WITHOUT ROWID: no hidden rowid column.
  EXPECT_EQ(query(dir.db(), "SELECT wr FROM pragma_table_list WHERE name = 'candles'"),
            std::vector<std::string>{"1"});
  EXPECT_EQ(query(dir.db(), "SELECT name, kind FROM sf_collections ORDER BY name"),
            (std::vector<std::string>{"aggs|agg_trade", "candles|candle", "trades|trade"}));
}

// 64-row chunks whose rows share symbol (and interval) bind them once; chunks that mix
// them, and the single-row tail, bind every column. All must store the same rows.
TEST(SqliteDataStore, ChunksMixingSymbolsAndIntervalsStoreEveryRow) {
  TempDir dir;
  auto data = SqliteDataStore::open(dir.str());
  ASSERT_TRUE(data.ok());
  std::vector<sf::market::Record> cs, as, ts;
  for (int64_t i = 0; i < 64; ++i) cs.emplace_back(dc::candle("BTCUSDT", i));  // shared
  for (int64_t i = 0; i < 64; ++i)                                             // mixed symbols
    cs.emplace_back(dc::candle(i % 2 ? "ETHUSDT" : "BTCUSDT", 100 + i));
  for (int64_t i = 0; i < 64; ++i)  // mixed intervals, one symbol
    cs.emplace_back(dc::candle("BTCUSDT", 200 + i, i == 63 ? "5m" : "1m"));
  for (int64_t i = 0; i < 70; ++i) cs.emplace_back(dc::candle("SOLUSDT", i));  // + tail
  for (int64_t i = 0; i < 130; ++i) as.emplace_back(dc::agg_trade(i < 64 ? "A" : "B", i));
  for (int64_t i = 0; i < 130; ++i) ts.emplace_back(dc::trade(i % 64 == 5 ? "C" : "D", i));
  ASSERT_TRUE((*data)->upsert("c", Kind::candle, cs).ok());
  ASSERT_TRUE((*data)->upsert_decoded("a", Kind::agg_trade, as).ok());
  ASSERT_TRUE((*data)->upsert("t", Kind::trade, ts).ok());
  auto sorted = [](std::vector<sf::market::Record> v, const char* name, DataStore& s) {
    auto got = s.scan(name);
    EXPECT_TRUE(got.ok());
    std::sort(v.begin(), v.end(), [](const auto& x, const auto& y) {
      return sf::market::natural_key(x) < sf::market::natural_key(y);
    });
    auto g = got.ok() ? *got : std::vector<sf::market::Record>{};
    std::sort(g.begin(), g.end(), [](const auto& x, const auto& y) {
      return sf::market::natural_key(x) < sf::market::natural_key(y);
    });
    return std::make_pair(v, g);
  };
  for (auto [want, got] :
       {sorted(cs, "c", **data), sorted(as, "a", **data), sorted(ts, "t", **data)})
    EXPECT_EQ(got, want);
}

// upsert_decoded() writes exactly what upsert() does; it still refuses a record of another
// kind, and upsert() keeps refusing bad decimals.
TEST(SqliteDataStore, UpsertDecodedWritesTheSameRows) {
  TempDir dir;
  auto data = SqliteDataStore::open(dir.str());
  ASSERT_TRUE(data.ok());
  auto batch = dc::candles("BTCUSDT", 0, 300);
  ASSERT_TRUE((*data)->upsert_decoded("d", Kind::candle, batch).ok());
  EXPECT_EQ(*(*data)->scan("d"), batch);
  ASSERT_TRUE((*data)->upsert_decoded("d", Kind::candle, batch).ok());  // idempotent
  EXPECT_EQ(*(*data)->count("d"), 300);
  std::vector<sf::market::Record> mixed = dc::candles("BTCUSDT", 400, 2);
  mixed.emplace_back(dc::trade("BTCUSDT", 1));
  auto s = (*data)->upsert_decoded("d", Kind::candle, mixed);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, sf::Errc::invalid_argument);
  auto bad = dc::candles("BTCUSDT", 500, 1);
  std::get<sf::market::Candle>(bad[0]).open = "1e5";
  s = (*data)->upsert("d", Kind::candle, bad);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, sf::Errc::invalid_argument);
  EXPECT_EQ(*(*data)->count("d"), 300);
}

TEST(SqliteDataStore, CollectionsPersistAcrossReopen) {
  TempDir dir;
  {
    auto data = SqliteDataStore::open(dir.str());
    ASSERT_TRUE(data.ok());
    ASSERT_TRUE((*data)->upsert("keep", Kind::candle, dc::candles("BTCUSDT", 0, 50)).ok());
  }
  auto data = SqliteDataStore::open(dir.str());
  ASSERT_TRUE(data.ok());
  EXPECT_EQ(*(*data)->collection_kind("keep"), Kind::candle);
  EXPECT_EQ(*(*data)->count("keep"), 50);
  EXPECT_EQ(*(*data)->scan("keep"), dc::candles("BTCUSDT", 0, 50));
  // A second store on the same file sees collections the first creates.
  auto other = SqliteDataStore::open(dir.str());
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE((*other)
                  ->upsert("later", Kind::trade,
                           std::vector<sf::market::Record>{sf::market::Record(dc::trade("X", 1))})
                  .ok());
  EXPECT_EQ(*(*data)->count("later"), 1);
  auto conflict = (*data)->ensure_collection("later", Kind::candle);
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.error().code, sf::Errc::invalid_argument);
}

TEST(SqliteDataStore, NamesDifferingOnlyInCaseAndForeignTablesAreRefused) {
  TempDir dir;
  auto data = SqliteDataStore::open(dir.str());
  ASSERT_TRUE(data.ok());
  ASSERT_TRUE((*data)->ensure_collection("Candles", Kind::candle).ok());
  auto again = (*data)->ensure_collection("candles", Kind::candle);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, sf::Errc::invalid_argument);
  EXPECT_EQ((*data)->count("CANDLES").error().code, sf::Errc::not_found);

  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(dir.db().c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE mine (x INTEGER)", nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  auto foreign = (*data)->upsert("mine", Kind::candle, dc::candles("BTCUSDT", 0, 1));
  ASSERT_FALSE(foreign.ok());
  EXPECT_EQ(foreign.error().code, sf::Errc::invalid_argument);
  EXPECT_EQ(query(dir.db(), "SELECT COUNT(*) FROM mine"), std::vector<std::string>{"0"});
  EXPECT_EQ((*data)->count("mine").error().code, sf::Errc::not_found);
}

TEST(SqliteDataStore, BusyDatabaseIsUnavailableAndNothingIsWritten) {
  TempDir dir;
  auto data = SqliteDataStore::open(dir.str());
  ASSERT_TRUE(data.ok());
  ASSERT_TRUE((*data)->ensure_collection("c", Kind::candle).ok());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(dir.db().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  auto t0 = std::chrono::steady_clock::now();
  auto s = (*data)->upsert("c", Kind::candle, dc::candles("BTCUSDT", 0, 10));
  auto waited = std::chrono::steady_clock::now() - t0;
  sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, sf::Errc::unavailable) << s.error().message;
  EXPECT_GE(waited, std::chrono::seconds(4)) << "waits for the busy timeout first";
  EXPECT_EQ(*(*data)->count("c"), 0);
  ASSERT_TRUE((*data)->upsert("c", Kind::candle, dc::candles("BTCUSDT", 0, 10)).ok());
  EXPECT_EQ(*(*data)->count("c"), 10);
}

// A quick local timing, not a benchmark (bench/ has those):
//   ./sqlite_data_store_test --gtest_also_run_disabled_tests --gtest_filter='*Throughput*'
TEST(SqliteDataStore, DISABLED_Throughput) {
  TempDir dir;
  auto data = SqliteDataStore::open(dir.str());
  ASSERT_TRUE(data.ok());
  constexpr int64_t kTotal = 500'000;
  constexpr int64_t kBatch = 5'000;
  std::vector<std::vector<sf::market::Record>> batches;
  for (int64_t from = 0; from < kTotal; from += kBatch)
    batches.push_back(dc::candles("BTCUSDT", from, kBatch));
  for (int pass = 0; pass < 2; ++pass) {  // insert, then update every row
    auto t0 = std::chrono::steady_clock::now();
    for (const auto& b : batches) ASSERT_TRUE((*data)->upsert("bench", Kind::candle, b).ok());
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%s: %lld candle upserts in %.3f s = %.0f/s (batches of %lld)\n",
                pass == 0 ? "insert" : "update", static_cast<long long>(kTotal), s,
                static_cast<double>(kTotal) / s, static_cast<long long>(kBatch));
  }
  EXPECT_EQ(*(*data)->count("bench"), kTotal);
}

// Worker processes (loader, connector) and the manager open one new database file at the
// same moment; switching it to WAL must not fail any of them with "database is locked".
// Separate processes (fork), as SQLite's file locks do not conflict within one process.
TEST(SqliteDataStoreOpen, ProcessesOpeningANewFileAtOnceAllSucceed) {
  int failures = 0;
  for (int round = 0; round < 10; ++round) {
    TempDir dir;
    int go[2];
    ASSERT_EQ(pipe(go), 0);
    std::vector<pid_t> kids;
    for (int i = 0; i < 6; ++i) {
      pid_t pid = fork();
      ASSERT_GE(pid, 0);
      if (pid == 0) {
        char c;
        close(go[1]);
        if (read(go[0], &c, 1) < 0) _exit(3);  // start together
        bool ok = i % 2 ? sf::store::SqliteDataStore::open(dir.path().string()).ok()
                        : sf::store::SqliteStateStore::open(dir.path().string()).ok();
        _exit(ok ? 0 : 1);
      }
      kids.push_back(pid);
    }
    close(go[0]);
    close(go[1]);  // EOF releases every child at once
    for (pid_t k : kids) {
      int st = 0;
      waitpid(k, &st, 0);
      if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) ++failures;
    }
  }
  EXPECT_EQ(failures, 0) << "opens that failed";
}
