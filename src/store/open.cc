#include "store/open.h"

#include <string_view>

#include "store/arango/arango_data_store.h"
#include "store/arango/arango_state_store.h"
#include "store/postgres/pg_conn.h"
#include "store/postgres/postgres_data_store.h"
#include "store/postgres/postgres_state_store.h"
#include "store/sqlite/sqlite_data_store.h"
#include "store/sqlite/sqlite_state_store.h"

namespace sf::store {

Result<StoreBackend> store_backend(const std::string& url) {
  if (url.empty() || url == "sqlite") return StoreBackend::sqlite;
  const std::string_view v(url);
  if (v.starts_with("postgresql://") || v.starts_with("postgres://")) return StoreBackend::postgres;
  if (v.starts_with("arangodb+http://") || v.starts_with("arangodb+https://")) {
    return StoreBackend::arangodb;
  }
  const size_t colon = v.find(':');
  const std::string scheme(v.substr(0, colon == std::string_view::npos ? 0 : colon));
  return Error(Errc::invalid_argument,
               "store '" + pg::redact_url(v.substr(0, 200)) +
                   "' is not supported: use sqlite (the default: files in the data directory), "
                   "a postgresql:// URL or an arangodb+http[s]:// URL" +
                   (scheme.empty() ? std::string() : " (unknown scheme '" + scheme + "')"),
               "store");
}

Result<Stores> open_stores(const std::string& url, const std::string& data_dir) {
  StoreBackend backend;
  SF_TRY_ASSIGN(backend, store_backend(url));
  Stores out;
  if (backend == StoreBackend::sqlite) {
    SF_TRY_ASSIGN(out.state, SqliteStateStore::open(data_dir));
    SF_TRY_ASSIGN(out.data, SqliteDataStore::open(data_dir));
    return out;
  }
  if (backend == StoreBackend::arangodb) {
    SF_TRY_ASSIGN(out.state, ArangoStateStore::open(url));
    SF_TRY_ASSIGN(out.data, ArangoDataStore::open(url));
    return out;
  }
  SF_TRY_ASSIGN(out.state, PostgresStateStore::open(url));
  SF_TRY_ASSIGN(out.data, PostgresDataStore::open(url));
  return out;
}

Result<std::unique_ptr<DataStore>> open_data_store(const std::string& url,
                                                   const std::string& data_dir) {
  StoreBackend backend;
  SF_TRY_ASSIGN(backend, store_backend(url));
  std::unique_ptr<DataStore> out;
  if (backend == StoreBackend::sqlite)
    SF_TRY_ASSIGN(out, SqliteDataStore::open(data_dir));
  else if (backend == StoreBackend::arangodb)
    SF_TRY_ASSIGN(out, ArangoDataStore::open(url));
  else
    SF_TRY_ASSIGN(out, PostgresDataStore::open(url));
  return out;
}

}  // namespace sf::store
