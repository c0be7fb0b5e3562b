// Shared by the e2e suites: the simulator process, the manager's Kafka deployment flags, the
// store of the build's variant (SQLite; SF_E2E_PG: the `postgres` fixture's server;
// SF_E2E_ARANGO: the `arangodb` fixture's test double), and the fixture of the suites that
// drive one `streamforge up` on one simulator. Header-only; needs gtest, sf_test_support,
// sf_http and Boost::json.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "http/client.h"
#include "support/process.h"
#ifdef SF_E2E_KAFKA
#include "support/kafka.h"
#endif
#ifdef SF_E2E_PG
#include "support/postgres.h"
#endif
#ifdef SF_E2E_ARANGO
#include "support/arangodb.h"
#endif

namespace sf::testing {

// A JSON value as text: a string's characters, anything else serialized.
inline std::string json_text(const boost::json::value& v) {
  return v.is_string() ? std::string(v.get_string()) : boost::json::serialize(v);
}

// Removes the test's directory `dir` when the test passed; keeps it for diagnosis, and says
// where, when it failed.
inline void remove_unless_failed(const std::string& dir) {
  if (!::testing::Test::HasFailure())
    std::filesystem::remove_all(dir);
  else
    std::fprintf(stderr, "kept %s for diagnosis\n", dir.c_str());
}

// `streamforge up --port 0 --data-dir <data_dir> --exchange-url <exchange_url>`.
inline std::vector<std::string> up_command(const std::string& data_dir,
                                           const std::string& exchange_url) {
  return {streamforge_binary(), "up",     "--port",         "0",
          "--data-dir",         data_dir, "--exchange-url", exchange_url};
}

// The body of POST /queues/start-test-flow: test flow `flow` on `symbol` over `range`, with
// `extra` (a JSON object) as its extra_params.
inline std::string test_flow_body(const std::string& flow, const std::string& symbol,
                                  const std::string& range, const std::string& extra = "{}") {
  return R"({"flow_name":")" + flow + R"(","symbol":")" + symbol + R"(","time_range":")" + range +
         R"(","extra_params":)" + extra + "}";
}

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

// The fixture of the suites that drive one `streamforge up` (up_, at url_, client_ on it) on
// one simulator (sim_), in a temp dir of the test's own (dir_): TearDown stops both and
// removes the dir unless the test failed.
class UpFixture : public ::testing::Test {
 protected:
  void TearDown() override {
    up_.reset();
    sim_.proc.reset();
    remove_unless_failed(dir_);
  }

  // up_command(data_dir, sim_.url) with this build's variant: under SF_E2E_KAFKA the single-host
  // flags on the fixture's broker, named after `tag`; `--store` of e2e_store_url(store_tag)
  // (kept in store_url_) when the variant has one. Throws when a fixture's server is missing.
  std::vector<std::string> variant_up_argv(const std::string& data_dir,
                                           [[maybe_unused]] const std::string& tag,
                                           const std::string& store_tag) {
    auto argv = up_command(data_dir, sim_.url);
#ifdef SF_E2E_KAFKA
    auto bootstrap = kafka_bootstrap();
    if (!bootstrap)
      throw std::runtime_error(
          "no test broker: run under ctest (fixture kafka) or set SF_TEST_KAFKA_BOOTSTRAP");
    for (auto& flag : kafka_up_flags(*bootstrap, tag)) argv.push_back(flag);
#endif
    store_url_ = e2e_store_url(store_tag);
    if (!store_url_.empty()) argv.insert(argv.end(), {"--store", store_url_});
    return argv;
  }

  // Starts `argv` as up_ (stderr to `log`, `env` added to the environment), waits for the
  // address it listens on (url_; `what` names it in the error when none comes) and opens
  // client_ on it.
  void start_up(const std::vector<std::string>& argv, const std::string& log,
                const std::map<std::string, std::string>& env = {},
                const std::string& what = "streamforge up") {
    up_ = std::make_unique<Process>(argv, log, env);
    url_ = listening_url(*up_, what, log);
    client_ = std::make_unique<sf::http::Client>(url_);
  }

  std::string dir_, url_;
  std::string store_url_;  // --store: empty for SQLite in the data dir
  Sim sim_;
  std::unique_ptr<Process> up_;
  std::unique_ptr<sf::http::Client> client_;
};

}  // namespace sf::testing
