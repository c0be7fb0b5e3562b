// open_stores(): which backend a --store value selects, and that refusals are clear and
// carry no password. The PostgreSQL side against a real server is in open_postgres_test.
#include "store/open.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "tests/support/temp_dir.h"

using sf::store::open_stores;
using sf::store::store_backend;
using sf::store::StoreBackend;

TEST(StoreBackend, EmptyAndSqliteAreSqlitePostgresUrlsArePostgres) {
  EXPECT_EQ(*store_backend(""), StoreBackend::sqlite);
  EXPECT_EQ(*store_backend("sqlite"), StoreBackend::sqlite);
  EXPECT_EQ(*store_backend("postgresql://u:p@127.0.0.1:5432/db"), StoreBackend::postgres);
  EXPECT_EQ(*store_backend("postgres://127.0.0.1/db?schema=x"), StoreBackend::postgres);
  EXPECT_EQ(*store_backend("postgresql://"), StoreBackend::postgres);
  EXPECT_EQ(*store_backend("arangodb+http://u:p@127.0.0.1:8529/db"), StoreBackend::arangodb);
  EXPECT_EQ(*store_backend("arangodb+https://db.example/x?auth=jwt"), StoreBackend::arangodb);
}

TEST(StoreBackend, UnknownSchemesAreRefusedWithoutThePassword) {
  for (const std::string v :
       {"mysql://root:hunter2@db/x", "arangodb://u:hunter2@h:8529", "sqlite:/tmp/x.db", "SQLITE",
        "postgresql:/no-slashes", "hunter2", "http://h/"}) {
    SCOPED_TRACE(v);
    auto r = store_backend(v);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, sf::Errc::invalid_argument);
    EXPECT_EQ(r.error().field, "store");
    EXPECT_NE(r.error().message.find("postgresql://"), std::string::npos) << r.error().message;
    if (v.find("://") != std::string::npos) {
      EXPECT_EQ(r.error().message.find("hunter2"), std::string::npos) << r.error().message;
    }
  }
  auto r = store_backend("mysql://root:hunter2@db/x");
  EXPECT_NE(r.error().message.find("unknown scheme 'mysql'"), std::string::npos)
      << r.error().message;
}

TEST(OpenStores, DefaultIsSqliteInTheDataDir) {
  sf::testing::TempDir dir("sf-open-test");
  for (const std::string v : {"", "sqlite"}) {
    auto s = open_stores(v, dir.str());
    ASSERT_TRUE(s.ok()) << s.error().message;
    ASSERT_NE(s->state, nullptr);
    ASSERT_NE(s->data, nullptr);
    const std::string db = (std::filesystem::path(dir.str()) / "streamforge.db").string();
    EXPECT_NE(s->state->describe().find("sqlite:"), std::string::npos);
    EXPECT_NE(s->data->describe().find("streamforge.db"), std::string::npos);
    EXPECT_TRUE(std::filesystem::exists(db));
  }
}

TEST(OpenStores, UnknownSchemeOpensNothing) {
  sf::testing::TempDir dir("sf-open-test");
  const std::string sub = dir.str() + "/data";
  auto s = open_stores("redis://h/0", sub);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, sf::Errc::invalid_argument);
  EXPECT_FALSE(std::filesystem::exists(sub));
}

TEST(OpenStores, UnreachablePostgresIsUnavailableWithoutThePassword) {
  auto s = open_stores("postgresql://u:hunter2@127.0.0.1:1/db", "");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, sf::Errc::unavailable);
  EXPECT_EQ(s.error().message.find("hunter2"), std::string::npos) << s.error().message;
  auto bad = open_stores("postgresql://u:hunter2@127.0.0.1:1/db?schema=Bad-Name", "");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, sf::Errc::invalid_argument);
}

// The ArangoDB side against the in-process double is in arango_data_store_test.
TEST(OpenStores, UnreachableArangoIsUnavailableWithoutThePassword) {
  auto s = open_stores("arangodb+http://u:hunter2@127.0.0.1:1/db?retry_budget_ms=300", "");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, sf::Errc::unavailable) << s.error().message;
  EXPECT_EQ(s.error().message.find("hunter2"), std::string::npos) << s.error().message;
  auto d = sf::store::open_data_store("arangodb+https://u:hunter2@127.0.0.1:1/db?nope=hunter2", "");
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, sf::Errc::invalid_argument);
  EXPECT_NE(d.error().message.find("'nope'"), std::string::npos) << d.error().message;
  EXPECT_EQ(d.error().message.find("hunter2"), std::string::npos) << d.error().message;
}
