// Test support: where the test Kafka broker is. `make test` starts one broker for the
// integration and e2e labels (a CTest fixture running `scripts/kafka start`, see
// tests/CMakeLists.txt) and stops it after. Header-only.
//
// Lookup order: the environment variable SF_TEST_KAFKA_BOOTSTRAP (a broker you started
// yourself), else the `bootstrap` file the fixture's broker wrote
// (SF_TEST_KAFKA_BOOTSTRAP_FILE, a compile definition set by sf_test(); nullptr in a binary
// without the kafka fixture). Tests that need a broker fail, not skip, when neither gives an
// address: under `make test` there always is one.
#pragma once

#include <optional>
#include <string>

#include "test_server.h"

namespace sf::testing {

inline std::optional<std::string> kafka_bootstrap() {
  return test_server_from("SF_TEST_KAFKA_BOOTSTRAP", SF_TEST_KAFKA_BOOTSTRAP_FILE);
}

// The state folder of the fixture's broker (for tests that stop and restart it with
// `scripts/kafka stop|start --dir`), or nullopt when the broker came from the environment.
inline std::optional<std::string> kafka_fixture_dir() {
  return test_fixture_dir("SF_TEST_KAFKA_BOOTSTRAP", SF_TEST_KAFKA_DIR);
}

}  // namespace sf::testing
