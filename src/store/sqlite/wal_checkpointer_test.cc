// WalCheckpointer on a real SQLite file: the thread checkpoints while commits go on, a
// commit checkpoints itself only when the WAL reaches the inline bound (which keeps the WAL
// bounded), and every row written stays readable.
#include "store/sqlite/wal_checkpointer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "store/sqlite/sqlite_util.h"
#include "tests/support/temp_dir.h"

namespace {

using namespace sf::store::sqlite_util;  // NOLINT: the helpers under test
namespace fs = std::filesystem;

constexpr int kRowsPerCommit = 10;
const std::string kRow(2000, 'x');  // 10 rows: about 5 pages of 4 KiB a commit

class WalCheckpointerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = open_database(dir_.db());
    ASSERT_TRUE(db.ok()) << db.error().message;
    db_ = std::move(*db);
    ASSERT_TRUE(exec(db_.get(), "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)", "create").ok());
  }

  // `commits` transactions of kRowsPerCommit rows each; the largest WAL file seen after one.
  uintmax_t write(int commits) {
    uintmax_t largest = 0;
    for (int c = 0; c < commits; ++c) {
      EXPECT_TRUE(exec(db_.get(), "BEGIN IMMEDIATE", "begin").ok());
      for (int r = 0; r < kRowsPerCommit; ++r) {
        const std::string sql =
            "INSERT INTO t VALUES (" + std::to_string(next_++) + ", '" + kRow + "')";
        EXPECT_TRUE(exec(db_.get(), sql.c_str(), "insert").ok());
      }
      EXPECT_TRUE(exec(db_.get(), "COMMIT", "commit").ok());
      std::error_code ec;
      const auto size = fs::file_size(dir_.db() + "-wal", ec);
      if (!ec && size > largest) largest = size;
      // A commit every millisecond gives the thread time, as a connector's batches do.
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return largest;
  }

  int64_t rows_seen_by_another_connection() {
    auto other = open_database(dir_.db());
    EXPECT_TRUE(other.ok());
    auto n = query_one(other->get(), "SELECT COUNT(*) FROM t", "count");
    EXPECT_TRUE(n.ok());
    return n.ok() ? std::stoll(*n) : -1;
  }

  sf::testing::TempDir dir_{"sf-wal"};
  DbPtr db_;
  int64_t next_ = 0;
};

TEST_F(WalCheckpointerTest, TheThreadCheckpointsAndTheWalStaysBounded) {
  auto ck = WalCheckpointer::start(db_.get(), dir_.db(), {.start_pages = 50, .inline_pages = 1000});
  ASSERT_TRUE(ck.ok()) << ck.error().message;
  // 2,000 commits: about 12,000 pages (48 MB) through the WAL.
  const uintmax_t largest = write(2000);
  EXPECT_GT((*ck)->background_checkpoints(), 0u);
  // Without any checkpoint the WAL would hold all 48 MB; the inline bound keeps it near
  // 1000 pages (4 MB) plus a commit.
  EXPECT_LT(largest, uintmax_t{6} << 20) << "the WAL grew to " << largest << " bytes";
  EXPECT_EQ(rows_seen_by_another_connection(), 2000 * kRowsPerCommit);
}

TEST_F(WalCheckpointerTest, ACommitLeavesTheCheckpointToTheThreadBelowTheInlineBound) {
  auto ck =
      WalCheckpointer::start(db_.get(), dir_.db(), {.start_pages = 50, .inline_pages = 1'000'000});
  ASSERT_TRUE(ck.ok()) << ck.error().message;
  write(500);  // about 3,000 pages
  EXPECT_GT((*ck)->background_checkpoints(), 0u);
  EXPECT_EQ((*ck)->inline_checkpoints(), 0u);
  EXPECT_EQ(rows_seen_by_another_connection(), 500 * kRowsPerCommit);
}

TEST_F(WalCheckpointerTest, ACommitCheckpointsItselfOnlyAtTheInlineBound) {
  // The thread is never asked (start_pages out of reach): only the inline bound checkpoints.
  auto ck = WalCheckpointer::start(db_.get(), dir_.db(),
                                   {.start_pages = 1'000'000'000, .inline_pages = 200});
  ASSERT_TRUE(ck.ok()) << ck.error().message;
  write(10);  // about 60 pages: under the bound
  EXPECT_EQ((*ck)->inline_checkpoints(), 0u);
  const uintmax_t largest = write(1000);  // about 5,000 pages
  EXPECT_GT((*ck)->inline_checkpoints(), 0u);
  EXPECT_EQ((*ck)->background_checkpoints(), 0u);
  EXPECT_LT(largest, uintmax_t{4} << 20) << "the WAL grew to " << largest << " bytes";
  EXPECT_EQ(rows_seen_by_another_connection(), 1010 * kRowsPerCommit);
}

TEST_F(WalCheckpointerTest, AfterItGoesTheConnectionCheckpointsAsSqliteWould) {
  {
    auto ck = WalCheckpointer::start(db_.get(), dir_.db(), {.start_pages = 1'000'000'000});
    ASSERT_TRUE(ck.ok()) << ck.error().message;
  }
  // SQLite's automatic checkpoint (1000 pages) again: 2,000 commits (about 10,000 pages)
  // leave a WAL near 4 MB, not 40 MB.
  const uintmax_t largest = write(2000);
  EXPECT_LT(largest, uintmax_t{8} << 20) << "the WAL grew to " << largest << " bytes";
}

}  // namespace
