// Shared by the e2e suites: the simulator process, the manager's Kafka deployment flags, and
// the store of the build's variant (SQLite; SF_E2E_PG: the `postgres` fixture's server;
// SF_E2E_ARANGO: the `arangodb` fixture's test double). Header-only; needs gtest,
// sf_test_support and sf_http.
#pragma once

#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "http/client.h"
#include "support/process.h"
#ifdef SF_E2E_PG
#include "support/postgres.h"
#endif
#ifdef SF_E2E_ARANGO
#include "support/arangodb.h"
#endif

namespace sf::testing {

// A `streamforge sim` process on port 0 (log <dir>/sim.log) and its URL.
struct Sim {
  std::unique_ptr<Process> proc;
  std::string url;
};

// Starts `streamforge sim --port 0 <flags>`; throws when it does not start.
inline Sim start_sim(const std::string& dir, const std::vector<std::string>& flags) {
  std::vector<std::string> argv{streamforge_binary(), "sim", "--port", "0"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  Sim sim;
  sim.proc = std::make_unique<Process>(argv, dir + "/sim.log");
  sim.url = listening_url(*sim.proc, "streamforge sim", dir + "/sim.log");
  return sim;
}

// POST /sim/control `body`; a test failure unless the simulator took it.
inline void control_sim(const std::string& sim_url, const std::string& body) {
  sf::http::Client sim(sim_url);
  auto r = sim.post("/sim/control", body);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 200) << r->body;
}

// `streamforge up`'s flags for the single-host deployment on the broker `bootstrap`: worker
// processes, and control/events topics and a consumer group named after `tag`, so that
// managers sharing the broker do not see each other's commands.
inline std::vector<std::string> kafka_up_flags(const std::string& bootstrap,
                                               const std::string& tag) {
  return {"--bus",          "kafka://" + bootstrap, "--launcher",
          "process",        "--control-topic",      tag + "-control",
          "--events-topic", tag + "-events",        "--consumer-group",
          tag + "-manager"};
}

// Stops a fixture's server with `bash <script> stop --dir <dir>` (scripts/kafka,
// scripts/postgres), waits `down`, and starts it again; *started gets the start's output
// (its last line is the server's address). A fatal test failure when either command fails.
inline void restart_fixture_server(const std::string& script, const std::string& dir,
                                   std::chrono::seconds down, std::string* started) {
  int st = 0;
  auto out = run_shell("bash '" + script + "' stop --dir '" + dir + "' 2>&1", &st);
  ASSERT_EQ(st, 0) << out;
  std::this_thread::sleep_for(down);
  *started = run_shell("bash '" + script + "' start --dir '" + dir + "' 2>&1", &st);
  ASSERT_EQ(st, 0) << *started;
}

// The --store URL of this build's variant for a test (or data dir) named `tag`: a PostgreSQL
// schema of its own (SF_E2E_PG), an ArangoDB database of its own (SF_E2E_ARANGO), or "" for
// SQLite in the data dir. Throws when the fixture's server is missing.
inline std::string e2e_store_url([[maybe_unused]] const std::string& tag) {
#if defined(SF_E2E_PG)
  auto pg = postgres_url();
  if (!pg)
    throw std::runtime_error(
        "no test PostgreSQL: run under ctest (fixture postgres) or set SF_TEST_PG_URL");
  std::string schema = "e2e_";
  for (char ch : tag) schema += ch == '-' ? '_' : static_cast<char>(std::tolower(ch));
  return *pg + (pg->find('?') == std::string::npos ? "?" : "&") + "schema=" + schema;
#elif defined(SF_E2E_ARANGO)
  auto arango = arangodb_url();
  if (!arango)
    throw std::runtime_error(
        "no test ArangoDB: run under ctest (fixture arangodb) or set SF_TEST_ARANGO_URL");
  return arangodb_url_for(*arango, tag);
#else
  return "";
#endif
}

}  // namespace sf::testing
