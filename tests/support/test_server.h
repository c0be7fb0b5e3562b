// Test support: the lookup that kafka.h, postgres.h and arangodb.h share. A test server is
// named by an environment variable (a server you started yourself), else by the file its
// CTest fixture wrote (a compile definition set by sf_test(... FIXTURES name)). Header-only.
#pragma once

#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

namespace sf::testing {

// The environment variable `env` when set and not empty, else the first line of `file` (the
// fixture's; nullptr in a binary without the fixture) when there is one, else nullopt.
inline std::optional<std::string> test_server_from(const char* env, const char* file) {
  if (const char* e = std::getenv(env); e && *e) return std::string(e);
  if (file == nullptr) return std::nullopt;
  std::ifstream in(file);
  std::string line;
  if (in && std::getline(in, line) && !line.empty()) return line;
  return std::nullopt;
}

// The fixture's folder `dir` (for tests that stop and restart its server; nullptr in a
// binary without the fixture), or nullopt when `env` names a server of one's own.
inline std::optional<std::string> test_fixture_dir(const char* env, const char* dir) {
  if (const char* e = std::getenv(env); e && *e) return std::nullopt;
  if (dir == nullptr) return std::nullopt;
  return std::string(dir);
}

}  // namespace sf::testing
