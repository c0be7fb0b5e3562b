// Test support: where the test Kafka broker is. `make test` starts one broker for the
// integration and e2e labels (a CTest fixture running `scripts/kafka start`, see
// tests/CMakeLists.txt) and stops it after. Header-only.
//
// Lookup order: the environment variable SF_TEST_KAFKA_BOOTSTRAP (a broker you started
// yourself), else the `bootstrap` file the fixture's broker wrote
// (SF_TEST_KAFKA_BOOTSTRAP_FILE, a compile definition set by the build). Tests that need a
// broker fail, not skip, when neither gives an address: under `make test` there always is
// one.
#pragma once

#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

namespace sf::testing {

inline std::optional<std::string> kafka_bootstrap() {
  if (const char* e = std::getenv("SF_TEST_KAFKA_BOOTSTRAP"); e && *e) return std::string(e);
#ifdef SF_TEST_KAFKA_BOOTSTRAP_FILE
  std::ifstream in(SF_TEST_KAFKA_BOOTSTRAP_FILE);
  std::string line;
  if (in && std::getline(in, line) && !line.empty()) return line;
#endif
  return std::nullopt;
}

// The state folder of the fixture's broker (for tests that stop and restart it with
// `scripts/kafka stop|start --dir`), or nullopt when the broker came from the environment.
inline std::optional<std::string> kafka_fixture_dir() {
  if (const char* e = std::getenv("SF_TEST_KAFKA_BOOTSTRAP"); e && *e) return std::nullopt;
#ifdef SF_TEST_KAFKA_DIR
  return std::string(SF_TEST_KAFKA_DIR);
#else
  return std::nullopt;
#endif
}

}  // namespace sf::testing
