#include "workers/graph_builder.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <future>

#include "bus/memory/memory_bus.h"
#include "protocol/messages.h"
#include "store/sqlite/sqlite_data_store.h"
#include "tests/support/sqlite_worker_test.h"
#include "tests/support/worker.h"

namespace sw = sf::workers;
namespace sp = sf::protocol;
using namespace std::chrono_literals;

namespace {

constexpr int64_t kT0 = 1'722'470'400'000;  // 2024-08-01T00:00:00Z
constexpr int64_t kHour = 3'600'000;
const std::vector<std::string> kSymbols = {"BTCUSDT", "ETHUSDT", "SOLUSDT"};

std::string fixed8(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.8f", v);
  return buf;
}

// A closed 1h candle of `symbol` at hour i: closes follow a wave of their own phase.
sf::market::Candle candle(const std::string& symbol, int64_t i, double phase) {
  sf::market::Candle c;
  c.symbol = symbol;
  c.interval = "1h";
  c.open_time = kT0 + i * kHour;
  c.close_time = c.open_time + kHour - 1;
  const double close = 100.0 * std::exp(0.02 * std::sin(0.5 * static_cast<double>(i) + phase));
  c.open = c.high = c.low = c.close = fixed8(close);
  c.volume = fixed8(10.0 + static_cast<double>(i % 7));
  c.quote_volume = c.taker_buy_base_volume = c.taker_buy_quote_volume = "0";
  c.trades = 1;
  return c;
}

class GraphBuilderTest : public sf::testing::SqliteWorkerTest {
 protected:
  void TearDown() override {
    if (running_.valid()) {
      ASSERT_TRUE(sf::testing::publish_command(bus_, cfg_, sp::CommandType::stop).ok());
      running_.wait();
    }
  }
  // Hours [0, hours) of each symbol into <symbol_lower>_candles_1h, but `skip` hours of the
  // last symbol.
  void load(int64_t hours, std::vector<int64_t> skip = {}) {
    for (size_t s = 0; s < kSymbols.size(); ++s) {
      std::vector<sf::market::Record> rows;
      for (int64_t i = 0; i < hours; ++i) {
        if (s + 1 == kSymbols.size() && std::find(skip.begin(), skip.end(), i) != skip.end())
          continue;
        rows.emplace_back(candle(kSymbols[s], i, s == 2 ? 3.0 : 0.1 * static_cast<double>(s)));
      }
      std::string name = kSymbols[s];
      for (char& c : name) c = static_cast<char>(std::tolower(c));
      ASSERT_TRUE(store_->upsert(name + "_candles_1h", sf::market::Kind::candle, rows).ok());
    }
  }
  void start(const std::string& params, const std::string& range = "2024-08-01:2024-08-03") {
    cfg_ = sf::testing::worker_config("wf-graph", "graph-builder", "graph-builder__1", "BTCUSDT",
                                      "graph_correlation", "");
    cfg_.collection_name = "corr";
    cfg_.time_range = range;
    cfg_.start_timeout_s = 5;
    cfg_.params = boost::json::parse(params).as_object();
    ctx_.env = cfg_.to_env();
    ctx_.bus = &bus_;
    ctx_.data_store = store_.get();
    ASSERT_TRUE(sf::testing::publish_command(bus_, cfg_).ok());
    running_ = std::async(std::launch::async, [this] { return sw::run_graph_builder(ctx_); });
  }
  int exit_code() {
    if (running_.wait_for(30s) != std::future_status::ready) {
      ADD_FAILURE() << "graph-builder did not end";
      (void)sf::testing::publish_command(bus_, cfg_, sp::CommandType::stop);
    }
    return running_.get();
  }
  std::vector<sp::Event> events() {
    auto c = bus_.subscribe({.group = "ev" + std::to_string(++readers_),
                             .topics = {sf::bus::kEventsTopic},
                             .start_from = sf::bus::StartFrom::earliest});
    std::vector<sp::Event> out;
    for (;;) {
      auto recs = (*c)->poll(1000, 100ms);
      if (!recs.ok() || recs->empty()) break;
      for (const auto& r : *recs)
        if (auto ev = sp::decode_event(r.value); ev && ev->producer == "graph-builder__1")
          out.push_back(*ev);
    }
    (*c)->close();
    return out;
  }

  sw::WorkerConfig cfg_;
  sw::WorkerContext ctx_;
  std::future<int> running_;
  int readers_ = 0;
};

TEST(GraphBuilderSettings, DefaultsAndRefusals) {
  auto s = sw::GraphBuilderSettings::from_params(
      boost::json::parse(R"({"symbols":"BTCUSDT, ETHUSDT"})").as_object());
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->symbols, (std::vector<std::string>{"BTCUSDT", "ETHUSDT"}));
  EXPECT_EQ(s->source_collection("BTCUSDT"), "btcusdt_candles_1h");
  EXPECT_EQ(s->graph.window, 24u);
  EXPECT_EQ(s->graph.threshold, 0.5);
  auto field = [](const char* json) {
    auto r = sw::GraphBuilderSettings::from_params(boost::json::parse(json).as_object());
    return r.ok() ? std::string("ok") : r.error().field;
  };
  EXPECT_EQ(field(R"({"symbols":"BTCUSDT"})"), "symbols");
  EXPECT_EQ(field(R"({"symbols":"BTCUSDT,BTCUSDT"})"), "symbols");
  EXPECT_EQ(field(R"({"symbols":"BTCUSDT,eth usdt"})"), "symbols");
  EXPECT_EQ(field(R"({"symbols":"BTCUSDT,ETHUSDT","window":2})"), "window");
  EXPECT_EQ(field(R"({"symbols":"BTCUSDT,ETHUSDT","method":"kendall"})"), "method");
  EXPECT_EQ(field(R"({"symbols":"BTCUSDT,ETHUSDT","interval":"1M"})"), "interval");
  EXPECT_EQ(field(R"({"symbols":"BTCUSDT,ETHUSDT","source":"x;drop"})"), "source");
  EXPECT_EQ(field(R"({"symbols":"BTCUSDT,ETHUSDT","colour":1})"), "colour");
  auto topk = sw::GraphBuilderSettings::from_params(
      boost::json::parse(R"({"symbols":"BTCUSDT,ETHUSDT","top_k":2})").as_object());
  ASSERT_TRUE(topk.ok());
  EXPECT_FALSE(topk->graph.threshold) << "top_k alone: no threshold";
}

TEST_F(GraphBuilderTest, WritesEverySnapshotsNodesAndEdgesFromTheStoredCandles) {
  load(48, {10});
  start(R"({"symbols":"BTCUSDT,ETHUSDT,SOLUSDT","window":12,"step":6,"threshold":0.0})");
  ASSERT_EQ(exit_code(), sw::kExitFinished);
  // 48 candles, windows of 12 every 6: 7 snapshots of 3 nodes; every pair is an edge.
  auto nodes = store_->scan("corr_nodes");
  ASSERT_TRUE(nodes.ok()) << nodes.error().message;
  EXPECT_EQ(nodes->size(), 21u);
  auto edges = store_->count("corr_edges");
  ASSERT_TRUE(edges.ok());
  EXPECT_EQ(*edges, 21);
  // SOLUSDT misses hour 10: the windows holding it count 11 candles.
  for (const auto& r : *nodes) {
    const auto& n = std::get<sf::market::GraphNode>(r);
    const bool holds_hole = n.symbol == "SOLUSDT" && n.version <= 1;
    EXPECT_EQ(n.candles, holds_hole ? 11 : 12) << n.symbol << " v" << n.version;
    EXPECT_EQ(n.window_start, kT0 + n.version * 6 * kHour);
    EXPECT_EQ(n.has_next, n.version < 6) << "the last window has no step after it";
  }
  auto evs = events();
  ASSERT_FALSE(evs.empty());
  EXPECT_EQ(evs.back().status, sp::RunStatus::finished);
  EXPECT_EQ(evs.back().records_written, 42);
  EXPECT_NE(evs.back().message->find("7 snapshots"), std::string::npos) << *evs.back().message;
}

TEST_F(GraphBuilderTest, AnInputShortOfTheRangeIsAnErrorNamingIt) {
  load(20);
  start(R"({"symbols":"BTCUSDT,ETHUSDT,SOLUSDT","window":12,"step":6})");
  EXPECT_EQ(exit_code(), sw::kExitError);
  auto evs = events();
  ASSERT_FALSE(evs.empty());
  EXPECT_EQ(evs.back().status, sp::RunStatus::error);
  EXPECT_NE(evs.back().message->find("btcusdt_candles_1h holds 20 of 48 BTCUSDT candles"),
            std::string::npos)
      << *evs.back().message;
  EXPECT_FALSE(store_->count("corr_nodes").ok()) << "nothing written";
}

TEST_F(GraphBuilderTest, WaitsForTheInputsAndStopsWhileWaiting) {
  start(R"({"symbols":"BTCUSDT,ETHUSDT","window":12,"step":6,"wait_s":60})");
  std::this_thread::sleep_for(300ms);
  load(48);  // the load lands while it waits
  ASSERT_EQ(exit_code(), sw::kExitFinished);
  EXPECT_EQ(*store_->count("corr_nodes"), 14);

  start(R"({"symbols":"BTCUSDT,XRPUSDT","window":12,"step":6,"wait_s":60})");
  std::this_thread::sleep_for(300ms);
  ASSERT_TRUE(sf::testing::publish_command(bus_, cfg_, sp::CommandType::stop).ok());
  EXPECT_EQ(exit_code(), sw::kExitInterrupted);
}

TEST_F(GraphBuilderTest, BadSettingsAndARangeShorterThanAWindowEndInError) {
  start(R"({"symbols":"BTCUSDT","window":12})");
  EXPECT_EQ(exit_code(), sw::kExitBadConfig);
  load(48);
  start(R"({"symbols":"BTCUSDT,ETHUSDT","window":30})", "2024-08-01T00:00:2024-08-01T12:00");
  EXPECT_EQ(exit_code(), sw::kExitBadConfig);
  auto evs = events();
  ASSERT_FALSE(evs.empty());
  EXPECT_NE(evs.back().message->find("fewer than one window"), std::string::npos)
      << *evs.back().message;
}

}  // namespace
