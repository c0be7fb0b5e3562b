// Test support: where the ArangoDB HTTP API TEST DOUBLE of the `arangodb` fixture is
// (tests/doubles/arangodb: not ArangoDB — no ArangoDB server can be installed on these
// machines; the double follows ArangoDB 3.11's documented HTTP API for the subset StreamForge
// uses). `make test` starts one double for the tests that need a separate server process (a
// CTest fixture running `scripts/arangodb-double start`, see tests/CMakeLists.txt) and stops
// it after. Unit tests start an in-process ArangoDouble instead. Header-only.
//
// Lookup order: the environment variable SF_TEST_ARANGO_URL (an arangodb+http:// store URL of
// a server you started yourself — a real ArangoDB works too), else the `url` file the
// fixture's double wrote (SF_TEST_ARANGO_URL_FILE, a compile definition set by
// sf_test(... FIXTURES arangodb); nullptr in a binary without that fixture). Tests that need a
// server fail, not skip, when neither gives a URL: under `make test` there always is one.
#pragma once

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>

#include "test_server.h"

namespace sf::testing {

inline std::optional<std::string> arangodb_url() {
  return test_server_from("SF_TEST_ARANGO_URL", SF_TEST_ARANGO_URL_FILE);
}

// `url` with its database replaced by one named after `tag` ("e2e_" + tag lower-cased, '-'
// as '_', cut to ArangoDB's 64 bytes), so tests sharing one server do not see each other's
// collections. The store creates the database on first use (create_database defaults to true).
inline std::string arangodb_url_for(const std::string& url, const std::string& tag) {
  std::string db = "e2e_";
  for (char ch : tag)
    db += std::isalnum(static_cast<unsigned char>(ch))
              ? static_cast<char>(std::tolower(static_cast<unsigned char>(ch)))
              : '_';
  db.resize(std::min<size_t>(db.size(), 64));
  const size_t scheme = url.find("://");
  const size_t path = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  const size_t query = url.find('?');
  std::string head = url.substr(0, path == std::string::npos ? std::min(query, url.size()) : path);
  std::string tail = query == std::string::npos ? "" : url.substr(query);
  return head + "/" + db + tail;
}

}  // namespace sf::testing
