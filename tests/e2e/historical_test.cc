// End-to-end historical loads: the real `streamforge sim` and `streamforge up` processes on
// 127.0.0.1, workflows started over HTTP, the store read back and compared with the
// simulator's ground truth (recomputed here from the same seed).
#include <signal.h>

#include <gtest/gtest.h>
#include <boost/json.hpp>
#include <filesystem>
#include <thread>

#include "exchange/sim/market.h"
#include "http/client.h"
#include "store/sqlite/sqlite_data_store.h"
#include "support/process.h"

namespace bj = boost::json;
using namespace std::chrono_literals;
using sf::testing::Process;

namespace {

constexpr uint64_t kSeed = 7;
const int64_t kDayStart = 1722470400000;  // 2024-08-01T00:00:00Z

std::string S(const bj::value& v) {
  return v.is_string() ? std::string(v.get_string()) : bj::serialize(v);
}

std::string url_of(Process& p, const std::string& what, const std::string& log) {
  auto line = p.wait_for_line("listening on", 30s);
  if (!line) throw std::runtime_error(what + " did not start; see " + log);
  return line->substr(line->find("http://"));
}

class Historical : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = sf::testing::make_temp_dir("sf-hist");
    sim_ = std::make_unique<Process>(
        std::vector<std::string>{sf::testing::streamforge_binary(), "sim", "--port", "0", "--seed",
                                 std::to_string(kSeed)},
        dir_ + "/sim.log");
    sim_url_ = url_of(*sim_, "streamforge sim", dir_ + "/sim.log");
    up_ = std::make_unique<Process>(
        std::vector<std::string>{sf::testing::streamforge_binary(), "up", "--port", "0",
                                 "--data-dir", dir_, "--exchange-url", sim_url_},
        dir_ + "/up.log");
    url_ = url_of(*up_, "streamforge up", dir_ + "/up.log");
    client_ = std::make_unique<sf::http::Client>(url_);
  }
  void TearDown() override {
    up_.reset();
    sim_.reset();
    if (!HasFailure())
      std::filesystem::remove_all(dir_);
    else
      std::fprintf(stderr, "kept %s for diagnosis\n", dir_.c_str());
  }
  std::string start(const std::string& flow, const std::string& symbol, const std::string& range,
                    const std::string& extra = "{}") {
    auto r =
        client_->post("/queues/start-test-flow", R"({"flow_name":")" + flow + R"(","symbol":")" +
                                                     symbol + R"(","time_range":")" + range +
                                                     R"(","extra_params":)" + extra + "}");
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r->status, 201) << r->body;
    return S(bj::parse(r->body).at("queue_id"));
  }
  bj::object queue(const std::string& id) {
    auto r = client_->get("/queues/" + id);
    EXPECT_TRUE(r.ok());
    return bj::parse(r->body).as_object();
  }
  std::string wait_end(const std::string& id, std::chrono::seconds timeout = 60s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string st;
    while (std::chrono::steady_clock::now() < deadline) {
      st = S(queue(id).at("status"));
      if (st == "finished" || st == "error" || st == "interrupted") return st;
      std::this_thread::sleep_for(50ms);
    }
    return st;
  }
  void control(const std::string& body) {
    sf::http::Client sim(sim_url_);
    auto r = sim.post("/sim/control", body);
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->status, 200) << r->body;
  }
  bj::object sim_counters() {
    sf::http::Client sim(sim_url_);
    auto r = sim.get("/sim/control");
    EXPECT_TRUE(r.ok());
    return bj::parse(r->body).as_object();
  }
  // Every stored candle equals the simulator's, and there is exactly one per minute.
  void expect_day_of_candles(const std::string& symbol) {
    auto store = sf::store::SqliteDataStore::open(dir_);
    ASSERT_TRUE(store.ok());
    std::string coll = symbol;
    for (auto& c : coll) c = static_cast<char>(std::tolower(c));
    coll += "_candles_1m";
    auto rows = (*store)->scan(coll);
    ASSERT_TRUE(rows.ok()) << rows.error().message;
    ASSERT_EQ(rows->size(), 1440u) << symbol;
    sf::exchange::sim::Market market(kSeed);
    for (size_t i = 0; i < rows->size(); ++i) {
      const auto& got = std::get<sf::market::Candle>((*rows)[i]);
      ASSERT_EQ(got.open_time, kDayStart + static_cast<int64_t>(i) * 60'000)
          << symbol << " row " << i;
      auto want = market.candle(symbol, "1m", got.open_time);
      ASSERT_TRUE(want.has_value());
      ASSERT_EQ(got, *want) << symbol << " row " << i;
    }
  }

  std::string dir_, sim_url_, url_;
  std::unique_ptr<Process> sim_, up_;
  std::unique_ptr<sf::http::Client> client_;
};

}  // namespace

TEST_F(Historical, OneDayOfMinuteCandlesForThreeSymbolsLandsExactly) {
  std::vector<std::string> ids;
  for (const char* s : {"BTCUSDT", "ETHUSDT", "SOLUSDT"})
    ids.push_back(start("historical_candles", s, "2024-08-01:2024-08-02"));
  for (const auto& id : ids) {
    EXPECT_EQ(wait_end(id), "finished") << S(queue(id).at("message"));
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
      ASSERT_EQ(wait_end(id, 120s), "finished") << S(queue(id).at("message"));
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
  EXPECT_EQ(S(c.at("missing_ranges").as_array()[0]), "2024-08-01T10:00:00:2024-08-01T10:30:00");
  EXPECT_EQ(S(q.at("message")).rfind("incomplete: 1410 records written of 1440 expected", 0), 0u)
      << S(q.at("message"));
}

TEST_F(Historical, UnknownSymbolEndsInErrorWithTheExchangesMessage) {
  std::string id = start("historical_candles", "NOPEUSDT", "2024-08-01:2024-08-02");
  EXPECT_EQ(wait_end(id), "error");
  EXPECT_NE(S(queue(id).at("message")).find("-1121: Invalid symbol."), std::string::npos)
      << S(queue(id).at("message"));
}

TEST_F(Historical, StoppedRunThenANewRunCompletesWithoutDuplicates) {
  control(R"({"latency_ms":150})");
  // A week of minutes: 11 pages of 1000, slow enough to stop half-way.
  std::string first = start("historical_candles", "BTCUSDT", "2024-08-01:2024-08-08");
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline && S(queue(first).at("status")) != "loading")
    std::this_thread::sleep_for(20ms);
  std::this_thread::sleep_for(400ms);
  ASSERT_EQ(client_->post("/queues/stop", R"({"queue_id":")" + first + "\"}")->status, 200);
  EXPECT_EQ(wait_end(first), "interrupted");
  auto store = sf::store::SqliteDataStore::open(dir_);
  auto partial = (*store)->count("btcusdt_candles_1m");
  ASSERT_TRUE(partial.ok());
  EXPECT_LT(*partial, 10080) << "stopped before the end";

  control(R"({"latency_ms":0})");
  std::string second = start("historical_candles", "BTCUSDT", "2024-08-01:2024-08-08");
  EXPECT_EQ(wait_end(second), "finished") << S(queue(second).at("message"));
  EXPECT_EQ(*(*store)->count("btcusdt_candles_1m"), 10080) << "one row per minute, no duplicates";
}
