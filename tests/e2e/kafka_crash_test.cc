// Crash tests on the real Kafka broker (fixture `kafka`): loader and connector run as their
// own `streamforge worker` processes, as the process launcher or a Kubernetes Job runs them,
// and this test plays the part of the Job controller that restarts a killed pod. A checker
// then compares the store with the simulator's ground truth (recomputed from the seed):
// every candle present once, with the exchange's exact values. Built twice: with SQLite
// (kafka_crash_e2e_test) and with the PostgreSQL of the `postgres` fixture as the store
// (kafka_crash_pg_e2e_test, SF_E2E_PG), which adds a 20 s database outage mid-load, and with
// ArangoDB (kafka_crash_arango_e2e_test, SF_E2E_ARANGO: the `arangodb` fixture's test double),
// which adds about 20 s of 503 answers mid-load.
#include <signal.h>
#include <sys/wait.h>

#include <gtest/gtest.h>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <thread>

#include "bus/open.h"
#include "e2e/candles.h"
#include "e2e/e2e.h"
#include "http/client.h"
#include "protocol/messages.h"
#include "store/open.h"
#include "support/kafka.h"
#ifdef SF_E2E_ARANGO
#include "store/arango/arango_client.h"
#endif
#include "support/process.h"
#include "support/text.h"
#include "workers/worker.h"

namespace bj = boost::json;
using namespace std::chrono_literals;
using sf::testing::Process;

namespace {

constexpr uint64_t kSeed = 11;
// 500,000 one-minute candles: 2023-01-01T00:00 .. 2023-12-14T05:20 (347 days 5 h 20 min).
constexpr const char* kRange500k = "2023-01-01T00:00:2023-12-14T05:20";
constexpr int64_t kRangeStart = 1672531200000;  // 2023-01-01T00:00:00Z
constexpr int64_t k500k = 500'000;

using sf::testing::read_file;

class KafkaCrash : public ::testing::Test {
 protected:
  void SetUp() override {
    auto b = sf::testing::kafka_bootstrap();
    ASSERT_TRUE(b) << "no test broker: run under ctest (fixture kafka) or set "
                      "SF_TEST_KAFKA_BOOTSTRAP";
    bootstrap_ = *b;
    dir_ = sf::testing::make_temp_dir("sf-crash");
    tag_ = std::filesystem::path(dir_).filename().string();
    sim_ = sf::testing::start_sim(dir_, {"--seed", std::to_string(kSeed)});
    sf::bus::BusConfig bc;
    bc.url = "kafka://" + bootstrap_;
    auto bus = sf::bus::open_bus(bc);
    ASSERT_TRUE(bus.ok()) << bus.error().message;
    bus_ = std::move(*bus);
    auto p = bus_->producer();
    ASSERT_TRUE(p.ok()) << p.error().message;
    producer_ = std::move(*p);
    ASSERT_TRUE(bus_->ensure_topic({control_topic(), 1, 1}).ok());
    ASSERT_TRUE(bus_->ensure_topic({events_topic(), 1, 1}).ok());
    store_url_ = sf::testing::e2e_store_url(tag_);
  }
  void TearDown() override {
    workers_.clear();
    sim_.proc.reset();
    producer_.reset();
    bus_.reset();
    sf::testing::remove_unless_failed(dir_);
  }

  std::string control_topic() const { return tag_ + "-control"; }
  std::string events_topic() const { return tag_ + "-events"; }
  std::string data_topic() const { return tag_ + "-data"; }

  // Publishes the `start` command of one target, as the manager does, and returns the
  // worker's environment (CONTROL_OFFSET at that command).
  std::map<std::string, std::string> start_target(const std::string& target,
                                                  const std::string& telemetry_id,
                                                  const std::string& range,
                                                  bj::object params = {}) {
    sf::workers::WorkerConfig wc;
    wc.queue_id = tag_ + "-q";
    wc.target = target;
    wc.telemetry_id = telemetry_id;
    wc.symbol = "BTCUSDT";
    wc.type = "api_candles_1m";
    wc.time_range = range;
    wc.kafka_topic = data_topic();
    wc.collection_name = "btcusdt_candles_1m";
    wc.control_topic = control_topic();
    wc.events_topic = events_topic();
    wc.params = params;
    auto end = bus_->end_offset(control_topic(), 0);
    EXPECT_TRUE(end.ok());
    wc.control_offset = end.ok() ? *end : 0;
    sf::protocol::Command cmd;
    cmd.command = sf::protocol::CommandType::start;
    cmd.queue_id = wc.queue_id;
    cmd.target = target;
    cmd.symbol = wc.symbol;
    cmd.type = wc.type;
    cmd.time_range = range;
    cmd.kafka_topic = wc.kafka_topic;
    cmd.collection_name = wc.collection_name;
    cmd.telemetry_id = telemetry_id;
    cmd.timestamp = 0;
    if (!params.empty()) cmd.params = params;
    EXPECT_TRUE(producer_->produce(control_topic(), wc.queue_id, sf::protocol::encode(cmd)).ok());
    EXPECT_TRUE(producer_->flush(10s).ok());
    auto env = wc.to_env().vars();
    env["SF_BUS"] = "kafka://" + bootstrap_;
    env["SF_DATA_DIR"] = dir_;
    if (!store_url_.empty()) env["SF_STORE"] = store_url_;
    env["EXCHANGE_URL"] = sim_.url;
    env["METRICS_PORT"] = "0";
    env["SF_LOG_LEVEL"] = "debug";
    return env;
  }

  // Starts (or restarts) a worker process; its log is <dir>/<name>.<n>.log.
  Process& run(const std::string& name, const std::string& target,
               const std::map<std::string, std::string>& env) {
    int n = runs_[name]++;
    std::string log = dir_ + "/" + name + "." + std::to_string(n) + ".log";
    workers_[name] = std::make_unique<Process>(
        std::vector<std::string>{sf::testing::streamforge_binary(), "worker", target}, log, env);
    return *workers_[name];
  }
  std::string log_of(const std::string& name, int n) const {
    return dir_ + "/" + name + "." + std::to_string(n) + ".log";
  }

  int64_t rows() {
    auto store = sf::store::open_data_store(store_url_, dir_);
    if (!store) return -1;
    auto c = (*store)->count("btcusdt_candles_1m");
    return c.ok() ? *c : 0;  // not created yet
  }

  void control_sim(const std::string& body) { sf::testing::control_sim(sim_.url, body); }

  // The checker: exactly `n` candles, one per minute from kRangeStart, each equal to the
  // simulator's.
  void expect_exact_candles(int64_t n) {
    sf::testing::expect_exact_candles(store_url_, dir_, "BTCUSDT", kSeed, kRangeStart, n);
  }

  // The outage tests' load, with connector and loader started: 69 days (kOutageCandles, 100
  // pages) at 40 ms a page. Returns once 10,000 rows are stored, with the load still going.
  static constexpr int64_t kOutageCandles = 69 * 1440;
  void start_outage_load() {
    control_sim(R"({"latency_ms":40})");
    const char* range = "2023-01-01:2023-03-11";  // 99,360 candles, 100 pages
    auto cenv = start_target("store-connector", "connector__" + tag_, range);
    auto lenv = start_target("loader-producer", "loader__" + tag_, range);
    run("connector", "store-connector", cenv);
    run("loader", "loader-producer", lenv);
    auto deadline = std::chrono::steady_clock::now() + 60s;
    while (rows() < 10'000 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(20ms);
    int64_t before = rows();
    ASSERT_GE(before, 10'000);
    ASSERT_LT(before, kOutageCandles) << "the load was still going when the database failed";
  }
  // After the outage: both workers of start_outage_load() end with 0.
  void expect_outage_load_ends() {
    auto lexit = workers_["loader"]->wait(120s);
    ASSERT_TRUE(lexit.has_value());
    EXPECT_EQ(*lexit, 0);
    auto cexit = workers_["connector"]->wait(180s);
    ASSERT_TRUE(cexit.has_value()) << "connector did not end after the database recovered";
    EXPECT_EQ(*cexit, 0) << read_file(log_of("connector", 0));
  }
  // A database outage is never a record's fault: nothing went to the dead-letter topic.
  void expect_empty_dlq() {
    auto dlq = bus_->end_offset(data_topic() + "-dlq", 0);
    if (dlq.ok()) {
      EXPECT_EQ(*dlq, 0) << "records in the DLQ";
    } else {
      EXPECT_EQ(dlq.error().code, sf::Errc::not_found) << dlq.error().message;
    }
  }

  std::string bootstrap_, dir_, tag_;
  std::string store_url_;  // SF_STORE of the workers: empty for SQLite in dir_
  sf::testing::Sim sim_;
  std::unique_ptr<sf::bus::Bus> bus_;
  std::unique_ptr<sf::bus::Producer> producer_;
  std::map<std::string, std::unique_ptr<Process>> workers_;
  std::map<std::string, int> runs_;
};

// The offsets one connector run received, from its "polled <topic>[p] offsets A..B" debug
// lines.
struct ConnectorLog {
  int64_t first = -1;  // first offset it received
  int64_t last = -1;   // highest offset it received
};

ConnectorLog parse_connector_log(const std::string& text) {
  ConnectorLog l;
  static const std::regex polled(R"(polled \S+ offsets (\d+)\.\.(\d+))");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), polled);
       it != std::sregex_iterator(); ++it) {
    int64_t a = std::stoll((*it)[1]), b = std::stoll((*it)[2]);
    if (l.first < 0) l.first = a;
    l.last = std::max(l.last, b);
  }
  return l;
}

}  // namespace

TEST_F(KafkaCrash, ConnectorKilledFiveTimesLosesAndDuplicatesNothing) {
  // Slow pages (500 pages, two at a time: about a minute) so the load lasts long enough for
  // five kills at random moments: each restarted connector waits out the dead member's 10 s
  // session.
  control_sim(R"({"latency_ms":240})");
  auto cenv = start_target("store-connector", "connector__" + tag_, kRange500k);
  auto lenv = start_target("loader-producer", "loader__" + tag_, kRange500k);
  run("connector", "store-connector", cenv);
  Process& loader = run("loader", "loader-producer", lenv);

  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> pause_ms(300, 1500);
  int kills = 0;
  for (; kills < 5; ++kills) {
    // Wait for this connector to make progress, then kill it at a random moment. Its own
    // log must show a poll: new rows alone can be the killed run's last transaction, which
    // the server may commit after the client is gone.
    int64_t before = rows();
    auto deadline = std::chrono::steady_clock::now() + 60s;
    bool polled = false;
    while (std::chrono::steady_clock::now() < deadline) {
      polled = polled || parse_connector_log(read_file(log_of("connector", kills))).first >= 0;
      if (polled && rows() > before) break;
      std::this_thread::sleep_for(20ms);
    }
    ASSERT_TRUE(polled) << "connector run " << kills << " never polled within 60 s";
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms(rng)));
    int64_t at = rows();
    ASSERT_LT(at, k500k) << "the load ended before kill " << kills + 1;
    workers_["connector"]->signal(SIGKILL);
    ASSERT_TRUE(workers_["connector"]->wait(10s).has_value());
    std::fprintf(stderr, "kill %d: connector SIGKILLed with %lld rows stored\n", kills + 1,
                 static_cast<long long>(at));
    run("connector", "store-connector", cenv);
  }
  auto lexit = loader.wait(300s);
  ASSERT_TRUE(lexit.has_value()) << "loader did not end";
  EXPECT_EQ(*lexit, 0) << read_file(log_of("loader", 0));
  auto cexit = workers_["connector"]->wait(300s);
  ASSERT_TRUE(cexit.has_value()) << "connector did not end";
  EXPECT_EQ(*cexit, 0) << "the last connector run finished";
  expect_exact_candles(k500k);

  // Redelivery: a restarted connector received again records a killed run had received.
  int redelivered_runs = 0;
  for (int n = 0; n < kills; ++n) {
    auto killed = parse_connector_log(read_file(log_of("connector", n)));
    auto next = parse_connector_log(read_file(log_of("connector", n + 1)));
    ASSERT_GE(next.first, 0) << "run " << n + 1 << " logged no poll";
    if (killed.last >= 0 && next.first <= killed.last) ++redelivered_runs;
    // No loss either: the next run starts no later than just after what the killed one had.
    if (killed.last >= 0) {
      EXPECT_LE(next.first, killed.last + 1) << "run " << n + 1;
    }
  }
  EXPECT_GT(redelivered_runs, 0) << "the logs show records delivered again after a kill";
}

TEST_F(KafkaCrash, LoaderKilledMidLoadResumesAndTheStoreEndsComplete) {
  control_sim(R"({"latency_ms":40})");
  const char* range = "2023-01-01:2023-03-11";  // 69 days: 99,360 candles, 100 pages
  constexpr int64_t kCandles = 69 * 1440;
  // The loader's default form puts a page on the topic as one message: offsets count pages.
  constexpr int64_t kPages = (kCandles + 999) / 1000;
  auto cenv = start_target("store-connector", "connector__" + tag_, range);
  auto lenv = start_target("loader-producer", "loader__" + tag_, range);
  Process& connector = run("connector", "store-connector", cenv);
  run("loader", "loader-producer", lenv);
  // Kill the loader once part of the range is on the data topic.
  auto deadline = std::chrono::steady_clock::now() + 60s;
  int64_t published = 0;  // pages
  while (std::chrono::steady_clock::now() < deadline) {
    auto end = bus_->end_offset(data_topic(), 0);
    published = end.ok() ? *end : 0;
    if (published >= kPages / 3) break;
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_GE(published, kPages / 3);
  ASSERT_LT(published, kPages) << "the loader was still loading when killed";
  workers_["loader"]->signal(SIGKILL);
  ASSERT_TRUE(workers_["loader"]->wait(10s).has_value());
  control_sim(R"({"latency_ms":0})");
  Process& again = run("loader", "loader-producer", lenv);
  auto lexit = again.wait(120s);
  ASSERT_TRUE(lexit.has_value());
  EXPECT_EQ(*lexit, 0) << read_file(log_of("loader", 1));
  // The restarted loader resumed: it did not publish the whole range again.
  auto end = bus_->end_offset(data_topic(), 0);
  ASSERT_TRUE(end.ok());
  // A page is on the topic whole or not at all, and the resumed loader goes on after the
  // last one there: every page once (a page in flight at the kill may show twice), the
  // end marker.
  EXPECT_LE(*end, kPages + 2) << "pages on the topic: a resumed loader republishes at most "
                                 "the page it was killed in";
  auto cexit = connector.wait(120s);
  ASSERT_TRUE(cexit.has_value());
  EXPECT_EQ(*cexit, 0);
  expect_exact_candles(kCandles);
}

#ifdef SF_E2E_PG

TEST_F(KafkaCrash, DatabaseDownTwentySecondsMidLoadEndsCompleteWithNothingInTheDlq) {
  auto dir = sf::testing::postgres_fixture_dir();
  if (!dir)
    GTEST_SKIP() << "the server came from SF_TEST_PG_URL; this test restarts the "
                    "fixture's own cluster";
  ASSERT_NO_FATAL_FAILURE(start_outage_load());
  std::string out;
  ASSERT_NO_FATAL_FAILURE(sf::testing::restart_fixture_server(
      std::string(SF_SOURCE_DIR) + "/scripts/postgres", *dir, 20s, &out));
  ASSERT_NO_FATAL_FAILURE(expect_outage_load_ends());
  expect_exact_candles(kOutageCandles);
  expect_empty_dlq();
}
#endif  // SF_E2E_PG

#ifdef SF_E2E_ARANGO
// ArangoDB answering 503 ("service unavailable", what a server that is starting up, shutting
// down or overloaded answers) to every request for about 20 s mid-load. The `arangodb`
// fixture is the documented-API test double; its double-only /_double/faults endpoint makes
// the next N requests fail. The store client retries 503s with backoff (100 ms doubling to
// 2 s), so 15 refused requests span about 20 s of the connector's life.
TEST_F(KafkaCrash, DatabaseAnswering503ForTwentySecondsEndsCompleteWithNothingInTheDlq) {
  auto url = sf::store::arango::parse_url(store_url_);
  ASSERT_TRUE(url.ok()) << url.error().message;
  if (url->username.empty())
    GTEST_SKIP() << "SF_TEST_ARANGO_URL has no user: this test logs in to the double";
  sf::http::Client login(url->base_url());
  bj::object creds{{"username", url->username}, {"password", url->password}};
  auto auth = login.post("/_open/auth", bj::serialize(creds));
  ASSERT_TRUE(auth.ok()) << auth.error().message;
  ASSERT_EQ(auth->status, 200) << "POST /_open/auth: " << auth->status;
  sf::http::Client dbl(url->base_url(), std::string(bj::parse(auth->body).at("jwt").as_string()));
  auto probe = dbl.get("/_double/requests");
  ASSERT_TRUE(probe.ok()) << probe.error().message;
  if (probe->status == 404)
    GTEST_SKIP()
        << "the server is a real ArangoDB (no /_double/faults): this test needs the double";
  ASSERT_EQ(probe->status, 200) << probe->body;

  ASSERT_NO_FATAL_FAILURE(start_outage_load());
  ASSERT_TRUE(dbl.request("DELETE", "/_double/requests").ok());
  auto set = dbl.post("/_double/faults", R"({"fail":15,"status":503,"errorNum":503})");
  ASSERT_TRUE(set.ok()) << set.error().message;
  ASSERT_EQ(set->status, 200) << set->body;
  const auto failed_at = std::chrono::steady_clock::now();
  // No reads of our own meanwhile: they would take some of the 15 failures.
  std::this_thread::sleep_for(5s);
  auto seen = dbl.get("/_double/requests");
  ASSERT_TRUE(seen.ok());
  const size_t tried = bj::parse(seen->body).at("requests").as_array().size();
  EXPECT_GE(tried, 4u) << "the connector retried during the outage: " << seen->body;
  EXPECT_LT(tried, 15u) << "15 refusals should take the connector longer than 5 s";

  ASSERT_NO_FATAL_FAILURE(expect_outage_load_ends());
  EXPECT_GE(std::chrono::steady_clock::now() - failed_at, 15s)
      << "the outage should have held the connector up for about 20 s";
  expect_exact_candles(kOutageCandles);
  expect_empty_dlq();
}
#endif  // SF_E2E_ARANGO
