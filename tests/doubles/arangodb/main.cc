// arangodb-double: the ArangoDB 3.11 HTTP API TEST DOUBLE (README.md) as a process, for
// scripts/arangodb-double and tests that need a server URL. Not ArangoDB: in memory only.
//
// Prints its base URL on stdout once it listens, writes the port to --port-file, and stops
// cleanly on SIGTERM or SIGINT (exit 0).
#include <signal.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "arango_double.h"

namespace {

// The file's content without trailing newlines; exits on an unreadable or empty file.
std::string read_secret(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "arangodb-double: cannot read the " << what << " file " << path << "\n";
    std::exit(2);
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  if (s.empty() || s.size() > 4096) {
    std::cerr << "arangodb-double: the " << what << " file " << path
              << " must hold 1 to 4096 bytes\n";
    std::exit(2);
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "TEST DOUBLE of an ArangoDB 3.11 single server's HTTP API (the subset StreamForge uses), "
      "in memory. Fault injection under /_double/ (double-only)."};
  sf::testing::ArangoDoubleOptions o;
  std::string password_file, jwt_file, port_file;
  int port = 0;
  app.add_option("--address", o.address, "listen address")->capture_default_str();
  app.add_option("--port", port, "listen port (0: any free port)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  app.add_option("--user", o.username, "the one user's name")->capture_default_str();
  app.add_option("--password-file", password_file, "file holding the user's password")->required();
  app.add_option("--jwt-secret-file", jwt_file,
                 "file holding the HS256 JWT secret (random if not given)");
  app.add_option("--database", o.databases, "database to create besides _system (repeatable)");
  app.add_option("--port-file", port_file, "write the bound port here once listening");
  app.add_option("--threads", o.threads, "server threads")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  // As arangod's options of these names (seconds; bytes), without their bounds, so tests can
  // use short timeouts and small limits.
  double idle_timeout_s = 60;
  app.add_option("--transaction.streaming-idle-timeout", idle_timeout_s,
                 "seconds a stream transaction may stay idle before it is aborted")
      ->check(CLI::Range(0.001, 86400.0))
      ->capture_default_str();
  app.add_option("--transaction.streaming-max-transaction-size", o.stream_trx_max_bytes,
                 "most document bytes one stream transaction may write (errorNum 32 past it)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  o.stream_trx_idle_timeout =
      std::chrono::milliseconds(static_cast<int64_t>(idle_timeout_s * 1000 + 0.5));
  o.port = static_cast<uint16_t>(port);
  o.password = read_secret(password_file, "password");
  if (!jwt_file.empty()) o.jwt_secret = read_secret(jwt_file, "JWT secret");

  // Blocked before the server's threads exist, so only sigwait below receives them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  sf::testing::ArangoDouble server(o);
  if (auto st = server.start(); !st.ok()) {
    std::cerr << "arangodb-double: " << st.error().message << "\n";
    return 1;
  }
  if (!port_file.empty()) {
    // Written whole, then renamed: a reader never sees a partial port.
    std::string tmp = port_file + ".tmp";
    {
      std::ofstream out(tmp);
      out << server.port() << "\n";
      if (!out) {
        std::cerr << "arangodb-double: cannot write " << tmp << "\n";
        return 1;
      }
    }
    std::error_code ec;
    std::filesystem::rename(tmp, port_file, ec);
    if (ec) {
      std::cerr << "arangodb-double: cannot write " << port_file << ": " << ec.message() << "\n";
      return 1;
    }
  }
  std::cout << server.base_url() << std::endl;
  int sig = 0;
  sigwait(&set, &sig);
  server.stop();
  return 0;
}
