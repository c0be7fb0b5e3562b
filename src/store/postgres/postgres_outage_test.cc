// PostgresDataStore across a server outage: the fixture's cluster is stopped for a few
// seconds while a writer upserts batches the way the store connector does (retry the same
// batch until it succeeds). While the server is down every call is Errc::unavailable; after
// the restart the same store object reconnects by itself, and the collection ends complete
// with no duplicates. Runs SERIAL: it restarts the shared fixture server.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "store/postgres/postgres_data_store.h"
#include "store/postgres/postgres_state_store.h"
#include "support/postgres.h"
#include "tests/contract/data_store_contract.h"
#include "tests/contract/state_store_contract.h"

using sf::market::Kind;
using sf::store::PostgresDataStore;
namespace dc = sf::store::data_contract;
using namespace std::chrono_literals;

namespace {

int pg_script(const std::string& command, const std::string& dir) {
  const std::string cmd =
      std::string(SF_POSTGRES_SCRIPT) + " " + command + " --dir '" + dir + "' >/dev/null 2>&1";
  return std::system(cmd.c_str());
}

// Starts the fixture's server again however the test ends.
struct RestartGuard {
  std::string dir;
  bool stopped = false;
  ~RestartGuard() {
    if (stopped) pg_script("start", dir);
  }
};

}  // namespace

// Included for their helpers; the suites run in the postgres store tests.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StateStoreContract);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(DataStoreContract);

TEST(PostgresOutage, UnavailableWhileDownThenReconnectsAndLosesNothing) {
  auto url = sf::testing::postgres_url();
  auto dir = sf::testing::postgres_fixture_dir();
  ASSERT_TRUE(url && dir) << "needs the fixture's cluster (ctest, fixture postgres); a server "
                             "from SF_TEST_PG_URL cannot be restarted by the test";
  sf::testing::PgTestSchema schema(*url);
  auto opened = PostgresDataStore::open(schema.url());
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  auto& store = **opened;
  auto state = sf::store::PostgresStateStore::open(schema.url());
  ASSERT_TRUE(state.ok()) << state.error().message;

  constexpr int64_t kBatch = 500;
  constexpr int kBatches = 60;
  std::atomic<int> written{0};
  std::atomic<int> unavailable{0};
  std::atomic<int> other_errors{0};
  std::atomic<bool> down{false};
  std::atomic<int> failed_while_down{0};
  std::string last_other;
  std::thread writer([&] {
    for (int b = 0; b < kBatches; ++b) {
      const auto batch = dc::candles("BTCUSDT", b * kBatch, kBatch);
      // Bounded retries of the same batch (the connector backs off the same way).
      for (int attempt = 0;; ++attempt) {
        auto s = store.upsert("c", Kind::candle, batch);
        if (s.ok()) break;
        if (s.error().code == sf::Errc::unavailable) {
          ++unavailable;
          if (down) ++failed_while_down;
        } else {
          ++other_errors;
          last_other = s.error().message;
        }
        if (attempt > 400) return;  // ~40 s: give up, the assertions below fail
        std::this_thread::sleep_for(100ms);
      }
      ++written;
      std::this_thread::sleep_for(20ms);
    }
  });

  while (written < 10) std::this_thread::sleep_for(10ms);
  RestartGuard guard{*dir};
  ASSERT_EQ(pg_script("stop", *dir), 0);
  guard.stopped = true;
  down = true;
  const int at_stop = written;
  std::this_thread::sleep_for(3s);
  // The state store is unavailable too, and says so.
  auto q = (*state)->list_queues();
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.error().code, sf::Errc::unavailable) << q.error().message;
  const int during = written - at_stop;
  down = false;
  ASSERT_EQ(pg_script("start", *dir), 0);
  guard.stopped = false;
  writer.join();

  EXPECT_LE(during, 1) << "batches committed while the server was down";
  EXPECT_GT(failed_while_down.load(), 5) << "the writer kept trying while the server was down";
  EXPECT_EQ(other_errors.load(), 0) << last_other;
  EXPECT_EQ(written.load(), kBatches);
  auto n = store.count("c");
  ASSERT_TRUE(n.ok()) << n.error().message;
  EXPECT_EQ(*n, kBatch * kBatches);
  auto times = store.times("c");
  ASSERT_TRUE(times.ok());
  ASSERT_EQ(static_cast<int64_t>(times->size()), kBatch * kBatches);
  for (int64_t i = 0; i < kBatch * kBatches; ++i) {
    ASSERT_EQ((*times)[static_cast<size_t>(i)], dc::kT0 + i * dc::kMinute) << "at " << i;
  }
  // The state store reconnects too.
  ASSERT_TRUE((*state)->create_queue(sf::store::contract::make_queue("after", 1, 1)).ok());
}
