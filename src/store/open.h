// The store factory: one place that turns a --store value into the workflow-state store and
// the market-data store (library sf_store_open). The service and the worker process call it.
//
//   ""  or "sqlite"             SQLite files in data_dir (<data_dir>/streamforge.db), as the
//                               embedded default
//   "postgresql://..." or
//   "postgres://..."            both stores on that PostgreSQL database (libpq URL; optional
//                               ?schema=NAME, default public)
//   "arangodb+http://..." or
//   "arangodb+https://..."      both stores in that ArangoDB database (HTTP API; URL form
//                               and parameters in store/arango/arango_client.h)
//
// Errors: invalid_argument naming the field "store" for any other value (the message shows
// the value without a password); otherwise whatever opening the stores returns (unavailable
// for an unreachable server, io_error for an unusable data_dir).
//
// Thread-safety: a plain function; the stores it returns are thread-safe (their headers).
#pragma once

#include <memory>
#include <string>

#include "base/result.h"
#include "store/data_store.h"
#include "store/state_store.h"

namespace sf::store {

struct Stores {
  std::unique_ptr<StateStore> state;
  std::unique_ptr<DataStore> data;
};

enum class StoreBackend { sqlite, postgres, arangodb };

// Which backend a --store value selects; invalid_argument for an unknown scheme.
Result<StoreBackend> store_backend(const std::string& url_or_empty);

// Opens both stores. `data_dir` is used by the SQLite backend only.
Result<Stores> open_stores(const std::string& url_or_empty, const std::string& data_dir);

// Opens the market-data store alone (what a connector process needs).
Result<std::unique_ptr<DataStore>> open_data_store(const std::string& url_or_empty,
                                                   const std::string& data_dir);

}  // namespace sf::store
