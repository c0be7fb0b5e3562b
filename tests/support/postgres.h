// Test support: where the test PostgreSQL server is, and a schema of its own per test.
// `make test` starts one cluster for the integration and e2e labels (a CTest fixture running
// `scripts/postgres start`, see tests/CMakeLists.txt) and stops it after. Header-only; a
// binary including it links libpq and gtest.
//
// Lookup order: the environment variable SF_TEST_PG_URL (a server you started yourself),
// else the `url` file the fixture's cluster wrote (SF_TEST_PG_URL_FILE, a compile definition
// set by sf_test(... FIXTURES postgres); nullptr in a binary without that fixture). Tests that
// need a server fail, not skip, when neither gives a URL: under `make test` there always is one.
#pragma once

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "store_factory.h"
#include "test_server.h"

namespace sf::testing {

inline std::optional<std::string> postgres_url() {
  return test_server_from("SF_TEST_PG_URL", SF_TEST_PG_URL_FILE);
}

// postgres_url() for a test that needs the server: a test failure (not a skip) and "" when
// there is none.
inline std::string postgres_url_or_fail() {
  auto url = postgres_url();
  if (!url) {
    ADD_FAILURE() << "no test PostgreSQL: set SF_TEST_PG_URL or run under ctest (fixture postgres)";
    return "";
  }
  return *url;
}

// The folder of the fixture's cluster (for tests that stop and restart it with
// `scripts/postgres stop|start --dir`), or nullopt when the server came from the environment.
inline std::optional<std::string> postgres_fixture_dir() {
  return test_fixture_dir("SF_TEST_PG_URL", SF_TEST_PG_DIR);
}

// Runs one SQL command on `url` with plain libpq (what psql would do); "" on success, else
// the server's message.
inline std::string pg_exec(const std::string& url, const std::string& sql) {
  PGconn* c = PQconnectdb(url.c_str());
  std::string err;
  if (PQstatus(c) != CONNECTION_OK) {
    err = PQerrorMessage(c);
  } else {
    PGresult* r = PQexec(c, sql.c_str());
    const ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) err = PQresultErrorMessage(r);
    PQclear(r);
  }
  PQfinish(c);
  return err;
}

// The rows of a query on `url` as "a|b|c" strings (NULL as "NULL"); an error as one row
// "ERROR: ...".
inline std::vector<std::string> pg_query(const std::string& url, const std::string& sql) {
  std::vector<std::string> rows;
  PGconn* c = PQconnectdb(url.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    rows.push_back(std::string("ERROR: ") + PQerrorMessage(c));
    PQfinish(c);
    return rows;
  }
  PGresult* r = PQexec(c, sql.c_str());
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    rows.push_back(std::string("ERROR: ") + PQresultErrorMessage(r));
  } else {
    for (int i = 0; i < PQntuples(r); ++i) {
      std::string row;
      for (int j = 0; j < PQnfields(r); ++j) {
        if (j) row += "|";
        row += PQgetisnull(r, i, j) ? "NULL" : PQgetvalue(r, i, j);
      }
      rows.push_back(row);
    }
  }
  PQclear(r);
  PQfinish(c);
  return rows;
}

// A schema of its own on the test server (so tests run in parallel and leave nothing
// behind): url() selects it with StreamForge's `?schema=` parameter; the destructor drops it
// with everything in it. `server_url` is empty when there is no server (then ok() is false).
class PgTestSchema {
 public:
  explicit PgTestSchema(std::string server_url) : server_(std::move(server_url)) {
    static std::atomic<int> counter{0};
    std::random_device rd;
    name_ = "sf_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" +
            std::to_string(rd() % 100000);
  }
  ~PgTestSchema() {
    if (!server_.empty()) {
      pg_exec(server_,
              "SET client_min_messages = warning; DROP SCHEMA IF EXISTS " + name_ + " CASCADE");
    }
  }
  PgTestSchema(const PgTestSchema&) = delete;
  PgTestSchema& operator=(const PgTestSchema&) = delete;

  bool ok() const { return !server_.empty(); }
  const std::string& name() const { return name_; }
  const std::string& server_url() const { return server_; }
  std::string url() const {
    return server_ + (server_.find('?') == std::string::npos ? "?schema=" : "&schema=") + name_;
  }

 private:
  std::string server_;
  std::string name_;
};

// The factory of a contract suite for a store on the test server: Store::open() on a fresh
// PgTestSchema, dropped after the store is closed (nullptr and a test failure without a
// server).
template <class Interface, class Store>
struct PgStoreFactory {
  static std::shared_ptr<Interface> make() {
    auto schema = std::make_shared<PgTestSchema>(postgres_url_or_fail());
    if (!schema->ok()) return nullptr;
    return shared_store<Interface>(Store::open(schema->url()), [schema] {});
  }
};

// The fixture of a PostgreSQL store's own tests: a schema of the test's own on the test
// server (schema_, a fatal failure in SetUp() without a server) and open() for Store on it.
// Store::open() with another URL stays at hand as Store::open().
template <class S>
class PgStoreTest : public ::testing::Test {
 protected:
  using Store = S;
  void SetUp() override { ASSERT_TRUE(schema_.ok()); }
  auto open() const { return Store::open(schema_.url()); }

  PgTestSchema schema_{postgres_url_or_fail()};
};

}  // namespace sf::testing
