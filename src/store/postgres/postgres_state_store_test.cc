// PostgresStateStore on the real test server (the `postgres` CTest fixture): the shared
// StateStore contract, each test in a schema of its own, plus what only PostgreSQL has
// (reopening, schema versions, failure part-way through apply(), credentials).
#include "store/postgres/postgres_state_store.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "support/postgres.h"
#include "support/store_factory.h"
#include "tests/contract/state_store_contract.h"

using sf::store::QueueState;
using sf::store::StateBatch;
using sf::store::StateStore;
namespace contract = sf::store::contract;

namespace {

using PostgresFactory = sf::testing::PgStoreFactory<StateStore, sf::store::PostgresStateStore>;

std::string password_of(const std::string& url) {
  const size_t scheme = url.find("://") + 3;
  const size_t at = url.find('@', scheme);
  const size_t colon = url.find(':', scheme);
  if (at == std::string::npos || colon == std::string::npos || colon > at) return "";
  return url.substr(colon + 1, at - colon - 1);
}

}  // namespace

INSTANTIATE_TYPED_TEST_SUITE_P(Postgres, StateStoreContract, PostgresFactory);

// Each test: a schema of its own on the test server (schema_), and open() for the store on it.
class PostgresStateStore : public sf::testing::PgStoreTest<sf::store::PostgresStateStore> {};

TEST_F(PostgresStateStore, ReopeningKeepsEverythingAndRecordsTheSchemaVersion) {
  QueueState q = contract::make_queue("q1", 1700000000.5, 2);
  {
    auto s = open();
    ASSERT_TRUE(s.ok()) << s.error().message;
    ASSERT_TRUE((*s)->create_queue(q).ok());
    StateBatch b;
    b.events.push_back(contract::make_event("q1", 1, "e1"));
    ASSERT_TRUE((*s)->apply(b).ok());
  }
  auto s = open();
  ASSERT_TRUE(s.ok()) << s.error().message;
  auto got = (*s)->get_queue("q1");
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(contract::queues_equal(*got, q));
  auto ev = (*s)->recent_events("q1", 10);
  ASSERT_TRUE(ev.ok());
  EXPECT_EQ(ev->size(), 1u);
  EXPECT_EQ(sf::testing::pg_query(schema_.server_url(), "SELECT version, description FROM " +
                                                            schema_.name() +
                                                            ".schema_version ORDER BY version"),
            std::vector<std::string>{"1|workflow state: queues, targets, events"});
}

TEST_F(PostgresStateStore, FutureSchemaVersionIsRefused) {
  ASSERT_TRUE(open().ok());
  ASSERT_EQ(sf::testing::pg_exec(schema_.server_url(),
                                 "INSERT INTO " + schema_.name() +
                                     ".schema_version VALUES (99, 0, 'from the future')"),
            "");
  auto s = open();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, sf::Errc::invalid_argument);
  EXPECT_NE(s.error().message.find("schema version 99"), std::string::npos) << s.error().message;
}

TEST_F(PostgresStateStore, ApplyFailingPartWayChangesNothing) {
  auto s = open();
  ASSERT_TRUE(s.ok()) << s.error().message;
  QueueState q = contract::make_queue("q1", 100, 2);
  ASSERT_TRUE((*s)->create_queue(q).ok());
  // A trigger refuses one particular event: the batch fails after its queue and target
  // updates were already executed inside the transaction.
  ASSERT_EQ(sf::testing::pg_exec(
                schema_.server_url(),
                "CREATE FUNCTION " + schema_.name() +
                    ".refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.json LIKE "
                    "'%poison%' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$;"
                    "CREATE TRIGGER refuse BEFORE INSERT ON " +
                    schema_.name() + ".events FOR EACH ROW EXECUTE FUNCTION " + schema_.name() +
                    ".refuse()"),
            "");
  StateBatch b;
  QueueState upd = q;
  upd.status = "error";
  upd.updated_at = 200;
  b.queue_updates.push_back(upd);
  auto t = q.targets[0];
  t.status = "finished";
  b.target_updates.emplace_back("q1", t);
  b.target_updates.emplace_back("q1", contract::make_target("new", "dummy-service", 1));
  b.events.push_back(contract::make_event("q1", 1, "fine"));
  b.events.push_back(contract::make_event("q1", 2, "poison"));
  auto st = (*s)->apply(b);
  ASSERT_FALSE(st.ok());
  auto got = (*s)->get_queue("q1");
  ASSERT_TRUE(got.ok()) << got.error().message << " (the store must work after a failed batch)";
  EXPECT_TRUE(contract::queues_equal(*got, q));
  EXPECT_TRUE((*s)->recent_events("q1", 10)->empty());
}

TEST_F(PostgresStateStore, CredentialsNeverInDescribeOrErrors) {
  const std::string url = sf::testing::postgres_url_or_fail();
  ASSERT_FALSE(url.empty());
  const std::string password = password_of(url);
  ASSERT_FALSE(password.empty()) << "the fixture's URL carries a password";
  auto s = open();
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ((*s)->describe().find(password), std::string::npos) << (*s)->describe();
  EXPECT_NE((*s)->describe().find("schema=" + schema_.name()), std::string::npos);

  // A wrong password: unavailable (the login is refused), and the message names neither.
  std::string wrong = url;
  wrong.replace(wrong.find(password), password.size(), "not-the-password-42");
  auto bad = Store::open(wrong);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, sf::Errc::unavailable);
  EXPECT_EQ(bad.error().message.find("not-the-password-42"), std::string::npos)
      << bad.error().message;

  // Not a postgresql:// URL.
  auto other = Store::open("mysql://u:secret@127.0.0.1/db");
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().code, sf::Errc::invalid_argument);
  EXPECT_EQ(other.error().message.find("secret"), std::string::npos) << other.error().message;
  auto bad_schema = Store::open(url + "?schema=Robert%27);DROP");
  ASSERT_FALSE(bad_schema.ok());
  EXPECT_EQ(bad_schema.error().code, sf::Errc::invalid_argument);
}
