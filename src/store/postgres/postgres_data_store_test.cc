// PostgresDataStore on the real test server (the `postgres` CTest fixture): the shared
// DataStore contract, each test in a schema of its own, plus what only PostgreSQL has (the
// table layout users query with psql, NUMERIC columns, reopening, sharing the schema with
// the state store).
#include "store/postgres/postgres_data_store.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "store/open.h"
#include "store/postgres/pg_conn.h"
#include "store/postgres/postgres_state_store.h"
#include "support/postgres.h"
#include "support/store_factory.h"
#include "tests/contract/data_store_contract.h"
#include "tests/contract/state_store_contract.h"

using sf::market::Kind;
using sf::store::DataStore;
using sf::testing::pg_query;
using sf::testing::PgTestSchema;
namespace dc = sf::store::data_contract;

using PostgresFactory = sf::testing::PgStoreFactory<DataStore, sf::store::PostgresDataStore>;

INSTANTIATE_TYPED_TEST_SUITE_P(Postgres, DataStoreContract, PostgresFactory);
// Included for its queue helpers; the suite itself runs in postgres_state_store_test.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StateStoreContract);

// Each test: a schema of its own on the test server (schema_), and open() for the store on it.
class PostgresDataStore : public sf::testing::PgStoreTest<sf::store::PostgresDataStore> {};

TEST_F(PostgresDataStore, TableLayoutIsWhatUsersQuery) {
  auto s = open();
  ASSERT_TRUE(s.ok()) << s.error().message;
  auto c = dc::candle("BTCUSDT", 0);
  c.open = "0.00010000";
  ASSERT_TRUE((*s)->upsert("btc_1m", Kind::candle, {{c}}).ok());
  const std::string t = schema_.name() + ".btc_1m";
  // Exact NUMERIC with its scale, BIGINT times, BOOLEAN flags: plain SQL works on them.
  EXPECT_EQ(pg_query(schema_.server_url(),
                     "SELECT symbol, interval, open_time, open, open + 1, pg_typeof(open), "
                     "pg_typeof(open_time), closed, open_text FROM " +
                         t),
            std::vector<std::string>{"BTCUSDT|1m|" + std::to_string(dc::kT0) +
                                     "|0.00010000|1.00010000|numeric|bigint|t|NULL"});
  EXPECT_EQ(pg_query(schema_.server_url(),
                     "SELECT string_agg(a.attname, ',' ORDER BY k.i) FROM pg_index x"
                     " CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY k(attnum, i)"
                     " JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum"
                     " WHERE x.indrelid = '" +
                         t + "'::regclass AND x.indisprimary"),
            std::vector<std::string>{"symbol,interval,open_time"});
  EXPECT_EQ(pg_query(schema_.server_url(),
                     "SELECT name, kind FROM " + schema_.name() + ".sf_collections"),
            std::vector<std::string>{"btc_1m|candle"});
}

TEST_F(PostgresDataStore, TextNumericCannotSpellIsKeptBeside) {
  auto s = open();
  ASSERT_TRUE(s.ok()) << s.error().message;
  auto t = dc::trade("ETHUSDT", 1);
  t.price = "007.50";  // NUMERIC prints 7.50
  t.qty = "-0.000";    // NUMERIC prints 0.000
  ASSERT_TRUE((*s)->upsert("t", Kind::trade, {{t}}).ok());
  EXPECT_EQ(pg_query(schema_.server_url(),
                     "SELECT price, price_text, qty, qty_text, quote_qty_text FROM " +
                         schema_.name() + ".t"),
            std::vector<std::string>{"7.50|007.50|0.000|-0.000|NULL"});
  auto back = (*s)->scan("t");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, std::vector<sf::market::Record>{t});
}

// Batches of 1000 rows or more are written in two halves on two connections at once: new
// keys by COPY into the table, known keys through the staging table, each half on its own
// connection's staging table and prepared statement; the closed-candle rule holds in both.
TEST_F(PostgresDataStore, LargeBatchesWrittenInTwoHalvesLandLikeSmallOnes) {
  auto s = open();
  ASSERT_TRUE(s.ok()) << s.error().message;
  constexpr int64_t kN = 5000;
  auto batch = dc::candles("BTCUSDT", 0, kN);
  for (size_t i = 0; i < batch.size(); i += 2)
    std::get<sf::market::Candle>(batch[i]).closed = false;
  ASSERT_TRUE((*s)->upsert("halves", Kind::candle, batch).ok());
  EXPECT_EQ(*(*s)->scan("halves"), batch);
  // Again, every key known: new values for all, and open candles replacing only open ones.
  auto again = batch;
  for (size_t i = 0; i < again.size(); ++i) {
    auto& c = std::get<sf::market::Candle>(again[i]);
    c.close = "1." + std::to_string(i);
    c.closed = i % 4 == 0;  // the closed ones of `batch` (odd i) get an open version
  }
  ASSERT_TRUE((*s)->upsert("halves", Kind::candle, again).ok());
  auto want = again;
  for (size_t i = 1; i < want.size(); i += 2) want[i] = batch[i];  // closed is final
  EXPECT_EQ(*(*s)->scan("halves"), want);
  EXPECT_EQ(*(*s)->count("halves"), kN);
  // A third time, with new keys after known ones in the same batch.
  auto mixed = dc::candles("BTCUSDT", kN - 500, 3000);
  ASSERT_TRUE((*s)->upsert("halves", Kind::candle, mixed).ok());
  EXPECT_EQ(*(*s)->count("halves"), kN + 2500);
}

// A record delivered again with its values (a rerun, a redelivery after a rebalance) leaves
// its row as it is: no new row version (same ctid) for VACUUM to clear. A changed value, a
// changed scale ("1.5" then "1.50") or a changed _text companion is a new version.
TEST_F(PostgresDataStore, RecordsDeliveredAgainWriteNoNewRowVersion) {
  auto s = open();
  ASSERT_TRUE(s.ok()) << s.error().message;
  const std::string t = schema_.name() + ".again";
  auto ctids = [&] {
    return pg_query(schema_.server_url(),
                    "SELECT string_agg(ctid::text, ',' ORDER BY open_time) FROM " + t);
  };
  auto c = dc::candle("BTCUSDT", 0);
  c.open = "1.5";
  ASSERT_TRUE((*s)->upsert("again", Kind::candle, {{c}}).ok());
  const auto first = ctids();
  ASSERT_TRUE((*s)->upsert("again", Kind::candle, {{c}}).ok());
  EXPECT_EQ(ctids(), first);
  c.open = "1.50";
  ASSERT_TRUE((*s)->upsert("again", Kind::candle, {{c}}).ok());
  EXPECT_NE(ctids(), first);
  EXPECT_EQ(*(*s)->scan("again"), std::vector<sf::market::Record>{c});
  const auto second = ctids();
  c.open = "01.50";  // the same NUMERIC, another text: kept in open_text
  ASSERT_TRUE((*s)->upsert("again", Kind::candle, {{c}}).ok());
  EXPECT_NE(ctids(), second);
  EXPECT_EQ(*(*s)->scan("again"), std::vector<sf::market::Record>{c});

  // A large batch (two halves on two connections) delivered again: not one row rewritten.
  const auto batch = dc::candles("ETHUSDT", 0, 3000);
  ASSERT_TRUE((*s)->upsert("again", Kind::candle, batch).ok());
  const auto before = ctids();
  ASSERT_TRUE((*s)->upsert("again", Kind::candle, batch).ok());
  EXPECT_EQ(ctids(), before);
  EXPECT_EQ(*(*s)->count("again"), 3001);
}

// A transaction start of several statements (the ordered reads' BEGIN READ ONLY; SET LOCAL
// ...) that fails after its BEGIN leaves no aborted transaction behind on the connection.
TEST_F(PostgresDataStore, AFailedTransactionStartLeavesTheConnectionUsable) {
  auto url = sf::store::pg::parse_url(schema_.url());
  ASSERT_TRUE(url.ok()) << url.error().message;
  sf::store::pg::Connection conn(*url);
  {
    sf::store::pg::Txn txn(conn);
    EXPECT_FALSE(txn.begin("BEGIN; SELECT 1/0").ok());
  }
  auto r = conn.exec("SELECT 1", "after a failed begin");
  EXPECT_TRUE(r.ok()) << r.error().message;
}

TEST_F(PostgresDataStore, CollectionsPersistAcrossReopenAndShareTheSchemaWithState) {
  {
    auto s = open();
    ASSERT_TRUE(s.ok()) << s.error().message;
    ASSERT_TRUE((*s)->upsert("keep", Kind::candle, dc::candles("BTCUSDT", 0, 100)).ok());
  }
  auto state = sf::store::PostgresStateStore::open(schema_.url());
  ASSERT_TRUE(state.ok()) << state.error().message;
  ASSERT_TRUE((*state)->create_queue(sf::store::contract::make_queue("q1", 1, 1)).ok());
  auto s = open();
  ASSERT_TRUE(s.ok()) << s.error().message;
  auto k = (*s)->collection_kind("keep");
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(*k, Kind::candle);
  auto back = (*s)->scan("keep");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, dc::candles("BTCUSDT", 0, 100));
  // The state tables are not collections.
  auto list = (*s)->collections();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*state)->list_queues()->size(), 1u);
}

TEST_F(PostgresDataStore, NamesDifferingOnlyInCaseAndForeignTablesAreRefused) {
  auto s = open();
  ASSERT_TRUE(s.ok()) << s.error().message;
  ASSERT_TRUE((*s)->ensure_collection("Candles", Kind::candle).ok());
  auto e = (*s)->ensure_collection("candles", Kind::candle);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().code, sf::Errc::invalid_argument);
  EXPECT_EQ((*s)->count("candles").error().code, sf::Errc::not_found);
  // A table made by hand is never adopted.
  ASSERT_EQ(sf::testing::pg_exec(schema_.server_url(),
                                 "CREATE TABLE " + schema_.name() + ".handmade (x int)"),
            "");
  auto h = (*s)->ensure_collection("handmade", Kind::trade);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.error().code, sf::Errc::invalid_argument) << h.error().message;
  auto list = (*s)->collections();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 1u);
}

TEST_F(PostgresDataStore, UnreachableServerIsUnavailable) {
  // A port nothing listens on (the fixture's port + 1 would be a guess; port 1 is never ours).
  auto s = Store::open("postgresql://u:secret@127.0.0.1:1/db");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, sf::Errc::unavailable);
  EXPECT_EQ(s.error().message.find("secret"), std::string::npos) << s.error().message;
}

TEST(OpenStores, PostgresUrlOpensBothStoresOnTheServer) {
  PgTestSchema schema(sf::testing::postgres_url_or_fail());
  ASSERT_TRUE(schema.ok());
  auto s = sf::store::open_stores(schema.url(), "");
  ASSERT_TRUE(s.ok()) << s.error().message;
  ASSERT_TRUE(s->state->create_queue(sf::store::contract::make_queue("q1", 1, 1)).ok());
  ASSERT_TRUE(s->data->upsert("c", Kind::candle, dc::candles("BTCUSDT", 0, 3)).ok());
  EXPECT_EQ(pg_query(schema.server_url(), "SELECT (SELECT count(*) FROM " + schema.name() +
                                              ".queues) || '/' || (SELECT count(*) FROM " +
                                              schema.name() + ".c)"),
            std::vector<std::string>{"1/3"});
  EXPECT_EQ(s->data->describe(), s->state->describe());
}
