// End-to-end historical loads: the real `streamforge sim` and `streamforge up` processes on
// 127.0.0.1, workflows started over HTTP, the store read back and compared with the
// simulator's ground truth (recomputed here from the same seed).
//
// Built twice: historical_e2e_test runs the embedded deployment (memory bus, in-process
// workers); historical_kafka_e2e_test (SF_E2E_KAFKA) runs the same tests with the real Kafka
// broker of the `kafka` fixture and every worker as its own process (the single-host
// deployment). Each manager gets its own control/events topics and consumer group, so the
// tests can share one broker while ctest runs them in parallel. historical_pg_e2e_test
// (SF_E2E_PG as well) keeps queue state and data in the PostgreSQL of the `postgres`
// fixture, one schema per test; historical_arango_e2e_test (SF_E2E_ARANGO) keeps them in
// ArangoDB (the `arangodb` fixture: the documented-API test double), one database per test.
#include <signal.h>

#include <gtest/gtest.h>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "bus/open.h"
#include "e2e/candles.h"
#include "e2e/e2e.h"
#include "e2e/trades.h"
#include "exchange/sim/market.h"
#include "http/client.h"
#include "market/records.h"
#include "protocol/messages.h"
#include "store/open.h"
#include "support/kafka.h"
#include "support/process.h"

namespace bj = boost::json;
using namespace std::chrono_literals;
using sf::testing::json_text;
using sf::testing::run_shell;

namespace {

constexpr uint64_t kSeed = 7;
const int64_t kDayStart = 1722470400000;  // 2024-08-01T00:00:00Z

class Historical : public sf::testing::UpFixture {
 protected:
  void SetUp() override {
    dir_ = sf::testing::make_temp_dir("sf-hist");
    sim_ = sf::testing::start_sim(dir_, {"--seed", std::to_string(kSeed)});
    launch_up(dir_);
  }
  // (Re)starts `streamforge up` on `data_dir`; a running one is stopped first.
  // `store_suffix` names another store (PostgreSQL schema, ArangoDB database) than the
  // test's own; the Kafka names stay the test's.
  void launch_up(const std::string& data_dir, const std::string& store_suffix = "") {
    client_.reset();
    up_.reset();
    data_dir_ = data_dir;
    // Unique per test: the Kafka names, and a schema or database of the test's own.
    const std::string tag = std::filesystem::path(dir_).filename().string();
    auto up = variant_up_argv(data_dir, tag, tag + store_suffix);
    std::filesystem::create_directories(data_dir);
    start_up(up, data_dir + "/up.log");
  }
  std::string start(const std::string& flow, const std::string& symbol, const std::string& range,
                    const std::string& extra = "{}") {
    auto r = client_->post("/queues/start-test-flow",
                           sf::testing::test_flow_body(flow, symbol, range, extra));
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r->status, 201) << r->body;
    return json_text(bj::parse(r->body).at("queue_id"));
  }
  bj::object queue(const std::string& id) {
    auto r = client_->get("/queues/" + id);
    EXPECT_TRUE(r.ok());
    return bj::parse(r->body).as_object();
  }
  // Polls queue `id` (every 20 ms, for up to `timeout`) until it is loading.
  void wait_loading(const std::string& id, std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline &&
           json_text(queue(id).at("status")) != "loading")
      std::this_thread::sleep_for(20ms);
  }
  std::string wait_end(const std::string& id, std::chrono::seconds timeout = 60s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string st;
    while (std::chrono::steady_clock::now() < deadline) {
      st = json_text(queue(id).at("status"));
      if (st == "finished" || st == "error" || st == "interrupted") return st;
      std::this_thread::sleep_for(50ms);
    }
    return st;
  }
  void control(const std::string& body) { sf::testing::control_sim(sim_.url, body); }
  sf::http::ClientResponse repair(const std::string& queue_id) {
    auto r = client_->post("/queues/" + queue_id + "/repair", "");
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : sf::http::ClientResponse{};
  }
  // Deletes the rows of `table` matching the SQL condition `where` behind StreamForge's back
  // (someone cleaning up by hand): in the SQLite file, or in the test's PostgreSQL schema.
  void delete_rows(const std::string& table, const std::string& where) {
#if defined(SF_E2E_PG)
    const auto at = store_url_.rfind("schema=");
    ASSERT_NE(at, std::string::npos) << store_url_;
    const std::string schema = store_url_.substr(at + 7);
    auto pg = sf::testing::postgres_url();
    ASSERT_TRUE(pg.has_value());
    const std::string err = sf::testing::pg_exec(
        *pg, "DELETE FROM \"" + schema + "\".\"" + table + "\" WHERE " + where);
    ASSERT_EQ(err, "") << err;
#else
    ASSERT_TRUE(store_url_.empty()) << "rows are deleted from SQLite or PostgreSQL only";
    const std::string db = data_dir_ + "/streamforge.db";
    const std::string sql = "DELETE FROM " + table + " WHERE " + where + ";";
    ASSERT_EQ(std::system(("sqlite3 '" + db + "' '" + sql + "'").c_str()), 0);
#endif
  }
  int64_t stored(const std::string& collection) {
    auto store = sf::store::open_data_store(store_url_, data_dir_);
    EXPECT_TRUE(store.ok()) << store.error().message;
    if (!store.ok()) return -1;
    auto n = (*store)->count(collection);
    EXPECT_TRUE(n.ok()) << n.error().message;
    return n.ok() ? *n : -1;
  }
  bj::object sim_counters() {
    sf::http::Client sim(sim_.url);
    auto r = sim.get("/sim/control");
    EXPECT_TRUE(r.ok());
    return bj::parse(r->body).as_object();
  }
  // Every stored candle equals the simulator's, and there is exactly one per minute.
  void expect_day_of_candles(const std::string& symbol) {
    sf::testing::expect_exact_candles(store_url_, data_dir_, symbol, kSeed, kDayStart, 1440);
  }

  std::string data_dir_;  // the running manager's --data-dir
};

}  // namespace

TEST_F(Historical, OneDayOfMinuteCandlesForThreeSymbolsLandsExactly) {
  std::vector<std::string> ids;
  for (const char* s : {"BTCUSDT", "ETHUSDT", "SOLUSDT"})
    ids.push_back(start("historical_candles", s, "2024-08-01:2024-08-02"));
  for (const auto& id : ids) {
    EXPECT_EQ(wait_end(id), "finished") << json_text(queue(id).at("message"));
    auto c = queue(id).at("completeness").as_object();
    EXPECT_EQ(c.at("records_expected").as_int64(), 1440);
    EXPECT_EQ(c.at("records_written").as_int64(), 1440);
    EXPECT_TRUE(c.at("complete").as_bool());
  }
  for (const char* s : {"BTCUSDT", "ETHUSDT", "SOLUSDT"}) expect_day_of_candles(s);
}

TEST_F(Historical, InjectedFaultsChangeNothingAndNeverEarnABan) {
  control(R"({"error_rate_5xx":0.1,"error_rate_429":0.1})");
  // A day of minutes is 2 pages a symbol: repeat the (idempotent) load until the simulator
  // has injected both kinds of fault, so the rows below really survived them.
  bj::object counters;
  for (int round = 0; round < 15; ++round) {
    std::vector<std::string> ids;
    for (const char* s : {"BTCUSDT", "ETHUSDT", "SOLUSDT"})
      ids.push_back(start("historical_candles", s, "2024-08-01:2024-08-02"));
    for (const auto& id : ids)
      ASSERT_EQ(wait_end(id, 120s), "finished") << json_text(queue(id).at("message"));
    counters = sim_counters().at("counters").as_object();
    if (counters.at("injected_5xx").as_int64() > 0 && counters.at("injected_429").as_int64() > 0)
      break;
  }
  EXPECT_GT(counters.at("injected_5xx").as_int64(), 0) << bj::serialize(counters);
  EXPECT_GT(counters.at("injected_429").as_int64(), 0) << bj::serialize(counters);
  EXPECT_EQ(counters.at("responses_418").as_int64(), 0) << bj::serialize(counters);
  for (const char* s : {"BTCUSDT", "ETHUSDT", "SOLUSDT"}) expect_day_of_candles(s);
}

TEST_F(Historical, AHoleOnTheExchangeIsReportedNotCalledSuccess) {
  // Maintenance on the exchange: no ETHUSDT candles 10:00-10:30 on that day.
  control(R"({"holes":[{"symbol":"ETHUSDT","from":1722506400000,"to":1722508200000}]})");
  std::string id = start("historical_candles", "ETHUSDT", "2024-08-01:2024-08-02");
  EXPECT_EQ(wait_end(id), "finished");
  auto q = queue(id);
  auto c = q.at("completeness").as_object();
  EXPECT_EQ(c.at("records_expected").as_int64(), 1440);
  EXPECT_EQ(c.at("records_written").as_int64(), 1410);
  EXPECT_FALSE(c.at("complete").as_bool());
  ASSERT_EQ(c.at("missing_ranges").as_array().size(), 1u);
  EXPECT_EQ(json_text(c.at("missing_ranges").as_array()[0]),
            "2024-08-01T10:00:00:2024-08-01T10:30:00");
  EXPECT_EQ(
      json_text(q.at("message")).rfind("incomplete: 1410 records written of 1440 expected", 0), 0u)
      << json_text(q.at("message"));
}

TEST_F(Historical, UnknownSymbolEndsInErrorWithTheExchangesMessage) {
  std::string id = start("historical_candles", "NOPEUSDT", "2024-08-01:2024-08-02");
  EXPECT_EQ(wait_end(id), "error");
  EXPECT_NE(json_text(queue(id).at("message")).find("-1121: Invalid symbol."), std::string::npos)
      << json_text(queue(id).at("message"));
}

TEST_F(Historical, StoppedRunThenANewRunCompletesWithoutDuplicates) {
  control(R"({"latency_ms":300})");
  // A week of minutes: 11 pages of 1000 on two connections, slow enough to stop half-way.
  std::string first = start("historical_candles", "BTCUSDT", "2024-08-01:2024-08-08");
  wait_loading(first, 30s);
  std::this_thread::sleep_for(400ms);
  ASSERT_EQ(client_->post("/queues/stop", R"({"queue_id":")" + first + "\"}")->status, 200);
  EXPECT_EQ(wait_end(first), "interrupted");
  auto store = sf::store::open_data_store(store_url_, dir_);
  auto partial = (*store)->count("btcusdt_candles_1m");
  ASSERT_TRUE(partial.ok());
  EXPECT_LT(*partial, 10080) << "stopped before the end";

  control(R"({"latency_ms":0})");
  std::string second = start("historical_candles", "BTCUSDT", "2024-08-01:2024-08-08");
  EXPECT_EQ(wait_end(second), "finished") << json_text(queue(second).at("message"));
  EXPECT_EQ(*(*store)->count("btcusdt_candles_1m"), 10080) << "one row per minute, no duplicates";
}

namespace {

// A day of BTCUSDT minute candles with a given queue id, in the layout of the
// historical_candles flow (data topic <id>-data, table btcusdt_candles_1m).
std::string day_of_candles_request(const std::string& id) {
  return R"({"queue_id":")" + id +
         R"(","symbol":"BTCUSDT","type":"api_candles_1m","time_range":"2024-08-01:2024-08-02",)"
         R"("targets":[{"target":"loader-producer","kafka_topic":")" +
         id + R"(-data"},{"target":"store-connector","kafka_topic":")" + id +
         R"(-data","collection_name":"btcusdt_candles_1m"}]})";
}

}  // namespace

// The store is the truth (issue 11): a workflow run again with the same queue id into a new
// store ends with the store complete, whatever the data topic and the connector's consumer
// group remember of the first run (on Kafka both outlive the manager).
TEST_F(Historical, ARerunWithTheSameQueueIdIntoANewStoreEndsComplete) {
  const std::string id = "rerun-" + std::filesystem::path(dir_).filename().string();
  auto r = client_->post("/queues/start", day_of_candles_request(id));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 201) << r->body;
  ASSERT_EQ(wait_end(id), "finished") << json_text(queue(id).at("message"));
  ASSERT_TRUE(queue(id).at("completeness").at("complete").as_bool());

  launch_up(dir_ + "/second", "-second");  // a new manager on a new, empty store; the same bus
  r = client_->post("/queues/start", day_of_candles_request(id));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 201) << r->body;
  EXPECT_EQ(wait_end(id), "finished");
  auto q = queue(id);
  EXPECT_EQ(json_text(q.at("message")), "");
  auto c = q.at("completeness").as_object();
  EXPECT_EQ(c.at("records_expected").as_int64(), 1440);
  EXPECT_EQ(c.at("records_stored").as_int64(), 1440) << bj::serialize(c);
  EXPECT_TRUE(c.at("complete").as_bool()) << bj::serialize(c);
  expect_day_of_candles("BTCUSDT");
}

// A store that lost rows after the queue finished (someone deleted them): `repair` loads
// exactly the missing range again and the queue ends complete; unknown, running and complete
// queues get clear answers.
TEST_F(Historical, RepairLoadsWhatTheStoreLostAndEndsComplete) {
#ifdef SF_E2E_ARANGO
  GTEST_SKIP() << "deletes rows with SQL (SQLite file or PostgreSQL schema)";
#endif
  const std::string id = start("historical_candles", "BTCUSDT", "2024-08-01:2024-08-02");
  ASSERT_EQ(wait_end(id), "finished") << json_text(queue(id).at("message"));
  auto repair = [&](const std::string& queue_id) {
    auto r = client_->post("/queues/" + queue_id + "/repair", "");
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : sf::http::ClientResponse{};
  };
  auto done = repair(id);
  ASSERT_EQ(done.status, 200) << done.body;
  EXPECT_EQ(bj::parse(done.body).at("missing_ranges").as_array().size(), 0u) << done.body;

  // 10:00 to 10:30 (30 candles) gone from the store.
  delete_rows("btcusdt_candles_1m", "open_time >= 1722506400000 AND open_time < 1722508200000");
  ASSERT_EQ(stored("btcusdt_candles_1m"), 1410);
  auto started = repair(id);
  ASSERT_EQ(started.status, 202) << started.body;
  auto ranges = bj::parse(started.body).at("missing_ranges").as_array();
  ASSERT_EQ(ranges.size(), 1u) << started.body;
  EXPECT_EQ(json_text(ranges[0]), "2024-08-01T10:00:00:2024-08-01T10:30:00");
  EXPECT_EQ(repair(id).status, 409) << "a queue being repaired is running";
  ASSERT_EQ(wait_end(id), "finished") << json_text(queue(id).at("message"));
  auto c = queue(id).at("completeness").as_object();
  EXPECT_TRUE(c.at("complete").as_bool()) << bj::serialize(c);
  EXPECT_EQ(c.at("records_stored").as_int64(), 1440) << bj::serialize(c);
  EXPECT_EQ(c.at("records_published").as_int64(), 30) << "only the missing range was loaded";
  expect_day_of_candles("BTCUSDT");

  EXPECT_EQ(repair(id).status, 200) << "nothing is missing any more";
  auto unknown = repair("no-such-queue");
  EXPECT_EQ(unknown.status, 404) << unknown.body;
}

// Issue 11: trades are checked by id continuity. Rows lost at the start, in the middle
// (across loader pages) and at the end of the range are named as id ranges, loaded again by
// id (aggTrades / historicalTrades with fromId) and nothing else, and the store ends equal
// to the exchange's trades.
namespace {
struct TradesCase {
  const char* flow;
  const char* collection;
  const char* id_column;
  const char* range;
  int64_t minutes;
};
// The test's name in ctest and gtest output (not the struct's bytes).
void PrintTo(const TradesCase& c, std::ostream* os) { *os << c.flow; }
}  // namespace

class HistoricalTradesRepair : public Historical,
                               public ::testing::WithParamInterface<TradesCase> {};

TEST_P(HistoricalTradesRepair, RepairLoadsExactlyTheMissingIdsAndEndsComplete) {
#ifdef SF_E2E_ARANGO
  GTEST_SKIP() << "deletes rows with SQL (SQLite file or PostgreSQL schema)";
#endif
  const TradesCase& tc = GetParam();
  const std::string id = start(tc.flow, "BTCUSDT", tc.range);
  ASSERT_EQ(wait_end(id, 120s), "finished") << json_text(queue(id).at("message"));
  auto c = queue(id).at("completeness").as_object();
  ASSERT_TRUE(c.at("complete").as_bool()) << bj::serialize(c);
  EXPECT_EQ(c.at("missing_ranges").as_array().size(), 0u) << bj::serialize(c);
  auto done = repair(id);
  ASSERT_EQ(done.status, 200) << done.body;
  EXPECT_EQ(bj::parse(done.body).at("missing_ranges").as_array().size(), 0u) << done.body;

  // The range's ids on the exchange: [first, end).
  sf::exchange::sim::Market market(kSeed);
  const auto* spec = market.find("BTCUSDT");
  const bool trades = std::string(tc.flow) == "historical_trades";
  const int64_t per = trades ? spec->trades_per_agg : 1;
  const int64_t first = sf::exchange::sim::Market::first_agg_id_at(*spec, kDayStart) * per;
  const int64_t end =
      sf::exchange::sim::Market::first_agg_id_at(*spec, kDayStart + tc.minutes * 60'000) * per;
  const int64_t n = end - first;
  ASSERT_EQ(stored(tc.collection), n);
  ASSERT_GT(n, 2500) << "more than two pages of 1000";
  // Gone: the first 50, 1000 from the middle (across a page boundary), the last 20.
  const std::string col = tc.id_column;
  auto ids = [&](int64_t a, int64_t b) {
    return col + " >= " + std::to_string(a) + " AND " + col + " <= " + std::to_string(b);
  };
  delete_rows(tc.collection, ids(first, first + 49));
  delete_rows(tc.collection, ids(first + 1500, first + 2499));
  delete_rows(tc.collection, ids(end - 20, end - 1));
  ASSERT_EQ(stored(tc.collection), n - 1070);

  auto started = repair(id);
  ASSERT_EQ(started.status, 202) << started.body;
  auto range_of = [](int64_t a, int64_t b) {
    return "id:" + std::to_string(a) + "-" + std::to_string(b);
  };
  EXPECT_EQ(bj::parse(started.body).at("missing_ranges"),
            bj::value_from(std::vector<std::string>{range_of(first, first + 49),
                                                    range_of(first + 1500, first + 2499),
                                                    range_of(end - 20, end - 1)}))
      << started.body;
  ASSERT_EQ(wait_end(id, 120s), "finished") << json_text(queue(id).at("message"));
  auto q = queue(id);
  c = q.at("completeness").as_object();
  EXPECT_TRUE(c.at("complete").as_bool()) << bj::serialize(c);
  EXPECT_EQ(c.at("records_stored").as_int64(), n) << bj::serialize(c);
  EXPECT_EQ(c.at("records_published").as_int64(), 1070) << "only the missing ids were loaded";
  EXPECT_EQ(c.at("missing_ranges").as_array().size(), 0u) << bj::serialize(c);
  EXPECT_EQ(json_text(q.at("message")), "");
  if (trades) {
    sf::testing::expect_exact_trades(store_url_, data_dir_, tc.collection, "BTCUSDT", kSeed,
                                     kDayStart, kDayStart + tc.minutes * 60'000);
  } else {
    sf::testing::expect_exact_agg_trades(store_url_, data_dir_, tc.collection, "BTCUSDT", kSeed,
                                         kDayStart, kDayStart + tc.minutes * 60'000);
  }
  auto again = repair(id);
  EXPECT_EQ(again.status, 200) << "nothing is missing any more: " << again.body;
}

INSTANTIATE_TEST_SUITE_P(
    Kinds, HistoricalTradesRepair,
    ::testing::Values(TradesCase{"historical_agg_trades", "btcusdt_agg_trades", "agg_id",
                                 "2024-08-01T00:00:2024-08-01T00:10", 10},
                      TradesCase{"historical_trades", "btcusdt_trades", "trade_id",
                                 "2024-08-01T00:00:2024-08-01T00:03", 3}),
    [](const auto& info) {
      return std::string(info.param.flow == std::string("historical_trades") ? "Trades"
                                                                             : "AggTrades");
    });

#ifdef SF_E2E_KAFKA
// ---- Kafka-only: what a standard client sees, records injected from outside, a broker
// restart. They use `kcat` (Debian's standard Kafka client) and the data topic name of the
// historical flows, which is the queue id + "-data" (config/test_flows.yaml).

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    if (nl > pos) out.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return out;
}

// Every record of a topic, read from the beginning to its end with kcat: "key\tvalue" lines.
std::vector<std::string> kcat_read(const std::string& topic) {
  int st = 0;
  auto out = run_shell("kcat -C -q -e -b " + *sf::testing::kafka_bootstrap() + " -t '" + topic +
                           "' -o beginning -f '%k\\t%s\\n' 2>&1",
                       &st);
  EXPECT_EQ(st, 0) << out;
  return lines_of(out);
}

}  // namespace

TEST_F(Historical, AStandardKafkaClientSeesTheSeedsFormats) {
  // The data topic in its JSON form (record_format json; the default binary form is read
  // by the connector in every other test).
  std::string id = start("historical_candles", "BTCUSDT", "2024-08-01:2024-08-02",
                         R"({"record_format":"json"})");
  ASSERT_EQ(wait_end(id), "finished") << json_text(queue(id).at("message"));
  std::string tag = std::filesystem::path(dir_).filename().string();

  // queue-events: every record is a seed telemetry event (decoded strictly), and both
  // workers' life cycles are there.
  std::map<std::string, std::set<std::string>> statuses;
  for (const auto& line : kcat_read(tag + "-events")) {
    auto tab = line.find('\t');
    ASSERT_NE(tab, std::string::npos) << line;
    auto ev = sf::protocol::decode_event(line.substr(tab + 1));
    ASSERT_TRUE(ev.ok()) << ev.error().message << ": " << line;
    if (ev->queue_id == id) statuses[ev->producer].insert(sf::protocol::to_string(ev->status));
  }
  ASSERT_EQ(statuses.size(), 2u) << "loader and connector";
  for (const auto& [producer, seen] : statuses) {
    EXPECT_TRUE(seen.count("started")) << producer;
    EXPECT_TRUE(seen.count("finished")) << producer;
  }
  // queue-control: the command format of docs/protocol.md.
  int commands = 0;
  for (const auto& line : kcat_read(tag + "-control")) {
    auto cmd = sf::protocol::decode_command(line.substr(line.find('\t') + 1));
    ASSERT_TRUE(cmd.ok()) << cmd.error().message << ": " << line;
    commands += cmd->queue_id == id && cmd->command == sf::protocol::CommandType::start;
  }
  EXPECT_EQ(commands, 2) << "one start command per target";

  // The data topic: one candle record per minute keyed by symbol, then the end marker.
  auto data = kcat_read(id + "-data");
  ASSERT_EQ(data.size(), 1441u);
  sf::exchange::sim::Market market(kSeed);
  for (size_t i = 0; i < 1440; ++i) {
    ASSERT_EQ(data[i].substr(0, 8), "BTCUSDT\t") << data[i];
    auto rec = sf::market::decode(sf::market::Kind::candle, data[i].substr(8));
    ASSERT_TRUE(rec.ok()) << rec.error().message;
    const auto& c = std::get<sf::market::Candle>(*rec);
    EXPECT_EQ(c, *market.candle("BTCUSDT", "1m", kDayStart + static_cast<int64_t>(i) * 60'000));
  }
  EXPECT_EQ(data[1440].substr(0, 8), "__end__\t");
}

TEST_F(Historical, MalformedRecordsInjectedIntoTheDataTopicEndInTheDlq) {
  // Slow first page, so the injected records are on the topic before the loader's.
  control(R"({"latency_ms":2000})");
  std::string id = start("historical_candles", "BTCUSDT", "2024-08-01:2024-08-02");
  std::string topic = id + "-data";
  {
    sf::bus::BusConfig bc;
    bc.url = "kafka://" + *sf::testing::kafka_bootstrap();
    auto bus = sf::bus::open_bus(bc);
    ASSERT_TRUE(bus.ok()) << bus.error().message;
    ASSERT_TRUE((*bus)->ensure_topic({topic, 1, 1}).ok());
  }
  // 1,000 malformed records of ten kinds, keyed by the symbol like real ones.
  const std::vector<std::string> kinds = {
      "not json at all",
      R"({"symbol":"BTCUSDT","interval":"1m","open_time":)",  // truncated
      R"([1,2,3])",
      R"({"symbol":"BTCUSDT"})",  // missing fields
      R"({"symbol":"BTCUSDT","interval":"1m","open_time":"soon","close_time":1,"open":"1","high":"1","low":"1","close":"1","volume":"1","quote_volume":"1","trades":1,"taker_buy_base_volume":"1","taker_buy_quote_volume":"1","closed":true})",
      R"({"symbol":"BTCUSDT","interval":"1m","open_time":1722470400000,"close_time":1722470459999,"open":1.5,"high":"1","low":"1","close":"1","volume":"1","quote_volume":"1","trades":1,"taker_buy_base_volume":"1","taker_buy_quote_volume":"1","closed":true})",
      R"({"symbol":"BTCUSDT","interval":"1m","open_time":1722470400000,"close_time":1722470459999,"open":"abc","high":"1","low":"1","close":"1","volume":"1","quote_volume":"1","trades":1,"taker_buy_base_volume":"1","taker_buy_quote_volume":"1","closed":true})",
      "",
      R"({"symbol":"BTCUSDT","extra":"\u0000"})",
      "{}"};
  std::string input = dir_ + "/malformed.txt";
  {
    std::ofstream out(input);
    for (int i = 0; i < 1000; ++i) out << "BTCUSDT\t" << kinds[i % kinds.size()] << "\n";
  }
  int st = 0;
  auto out = run_shell("kcat -P -b " + *sf::testing::kafka_bootstrap() + " -t '" + topic +
                           "' -K '\\t' -l '" + input + "' 2>&1",
                       &st);
  ASSERT_EQ(st, 0) << out;
  control(R"({"latency_ms":0})");

  ASSERT_EQ(wait_end(id, 120s), "finished") << json_text(queue(id).at("message"));
  auto c = queue(id).at("completeness").as_object();
  EXPECT_EQ(c.at("records_dlq").as_int64(), 1000);
  EXPECT_EQ(c.at("records_written").as_int64(), 1440);
  expect_day_of_candles("BTCUSDT");  // every valid record stored, exactly

  auto dlq = kcat_read(topic + "-dlq");
  ASSERT_EQ(dlq.size(), 1000u);
  std::set<int64_t> offsets;
  for (size_t i = 0; i < dlq.size(); ++i) {
    auto v = bj::parse(dlq[i].substr(dlq[i].find('\t') + 1)).as_object();
    EXPECT_FALSE(json_text(v.at("reason")).empty());
    EXPECT_EQ(json_text(v.at("source_topic")), topic);
    offsets.insert(v.at("source_offset").as_int64());
    int64_t off = v.at("source_offset").as_int64();
    EXPECT_EQ(json_text(v.at("original")), kinds[off % kinds.size()]) << "original bytes kept";
  }
  EXPECT_EQ(offsets.size(), 1000u) << "each injected record once";
}

TEST_F(Historical, BrokerStoppedAndRestartedMidLoadLosesNothing) {
  auto dir = sf::testing::kafka_fixture_dir();
  if (!dir)
    GTEST_SKIP() << "the broker came from SF_TEST_KAFKA_BOOTSTRAP; this test restarts "
                    "the fixture's own broker";
  control(R"({"latency_ms":400})");
  // A week of minutes, 11 pages: about 5 s of loading.
  std::string id = start("historical_candles", "BTCUSDT", "2024-08-01:2024-08-08");
  wait_loading(id, 60s);
  ASSERT_EQ(json_text(queue(id).at("status")), "loading");
  std::string out;
  ASSERT_NO_FATAL_FAILURE(sf::testing::restart_fixture_server(
      std::string(SF_SOURCE_DIR) + "/scripts/kafka", *dir, 3s, &out));
  EXPECT_EQ(lines_of(out).back(), *sf::testing::kafka_bootstrap()) << "same address";
  control(R"({"latency_ms":0})");
  ASSERT_EQ(wait_end(id, 240s), "finished") << json_text(queue(id).at("message"));
  sf::testing::expect_exact_candles(store_url_, dir_, "BTCUSDT", kSeed, kDayStart, 10080);
}
#endif  // SF_E2E_KAFKA
