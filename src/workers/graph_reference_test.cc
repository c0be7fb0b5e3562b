// The graph-builder against a NumPy reference (label `reference`): the worker builds graphs
// from candles with gaps in a SQLite store; src/analytics/graph_numpy.py recomputes every
// snapshot from the same stored candles with NumPy (Debian's python3-numpy) and compares
// every node feature and edge correlation to 1e-9.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <future>
#include <random>

#include "bus/memory/memory_bus.h"
#include "store/sqlite/sqlite_data_store.h"
#include "tests/support/temp_dir.h"
#include "tests/support/worker.h"
#include "workers/graph_builder.h"

namespace sw = sf::workers;
using namespace std::chrono_literals;

namespace {

constexpr int64_t kT0 = 1'722'470'400'000;  // 2024-08-01T00:00:00Z
constexpr int64_t kHour = 3'600'000;
constexpr int64_t kHours = 240;  // 10 days
const std::vector<std::string> kSymbols = {"BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT"};

std::string fixed8(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.8f", v);
  return buf;
}

// Random walks sharing a common factor (so there are edges to find), with candles missing
// from the store and one stored as not closed.
void store_candles(sf::store::DataStore& store) {
  std::mt19937_64 rng(20261207);
  std::normal_distribution<double> g(0.0, 0.01);
  std::uniform_real_distribution<double> u(1.0, 500.0);
  std::vector<double> price(kSymbols.size(), 100.0);
  std::vector<std::vector<sf::market::Record>> rows(kSymbols.size());
  for (int64_t i = 0; i < kHours; ++i) {
    const double common = g(rng);
    for (size_t s = 0; s < kSymbols.size(); ++s) {
      price[s] *= std::exp(common * (0.2 * static_cast<double>(s)) + g(rng));
      const bool missing =
          (s == 2 && (i == 17 || i == 18 || i == 90)) || (s == 4 && i == 150) || (s == 0 && i == 0);
      if (missing) continue;
      sf::market::Candle c;
      c.symbol = kSymbols[s];
      c.interval = "1h";
      c.open_time = kT0 + i * kHour;
      c.close_time = c.open_time + kHour - 1;
      c.open = c.high = c.low = c.close = fixed8(price[s]);
      c.volume = fixed8(u(rng));
      c.quote_volume = c.taker_buy_base_volume = c.taker_buy_quote_volume = "0";
      c.trades = 1;
      c.closed = !(s == 3 && i == 60);
      rows[s].emplace_back(std::move(c));
    }
  }
  for (size_t s = 0; s < kSymbols.size(); ++s) {
    std::string name = kSymbols[s];
    for (char& c : name) c = static_cast<char>(std::tolower(c));
    ASSERT_TRUE(store.upsert(name + "_candles_1h", sf::market::Kind::candle, rows[s]).ok());
  }
}

struct Case {
  std::string graph;
  std::string params;  // besides symbols, window, step
  std::string script_args;
};

class GraphReference : public ::testing::TestWithParam<Case> {};

TEST_P(GraphReference, EveryNodeAndEdgeEqualsNumPysFromTheSameStoredCandles) {
  const Case& c = GetParam();
  sf::testing::TempDir dir;
  auto store = sf::store::SqliteDataStore::open(dir.str());
  ASSERT_TRUE(store.ok()) << store.error().message;
  store_candles(**store);

  std::string symbols;
  for (const auto& s : kSymbols) symbols += (symbols.empty() ? "" : ",") + s;
  sf::bus::MemoryBus bus;
  auto cfg = sf::testing::worker_config("wf-ref", "graph-builder", "gb__1", "BTCUSDT",
                                        "graph_correlation", "");
  cfg.collection_name = c.graph;
  cfg.time_range = "2024-08-01:2024-08-11";
  cfg.start_timeout_s = 5;
  cfg.params = boost::json::parse(R"({"symbols":")" + symbols +
                                  R"(","window":48,"step":12,"min_coverage":0.9)" + c.params + "}")
                   .as_object();
  sw::WorkerContext ctx;
  ctx.env = cfg.to_env();
  ctx.bus = &bus;
  ctx.data_store = store->get();
  ASSERT_TRUE(sf::testing::publish_command(bus, cfg).ok());
  ASSERT_EQ(sw::run_graph_builder(ctx), sw::kExitFinished);
  auto edges = (*store)->count(c.graph + "_edges");
  ASSERT_TRUE(edges.ok());
  EXPECT_GT(*edges, 0) << "a reference test needs edges to compare";

  const std::string cmd = std::string("/usr/bin/python3 ") + SF_GRAPH_NUMPY_PY + " --db " +
                          dir.str() + "/streamforge.db --graph " + c.graph + " --symbols " +
                          symbols + " --interval-ms " + std::to_string(kHour) + " --grid-start " +
                          std::to_string(kT0) + " --candles " + std::to_string(kHours) +
                          " --window 48 --step 12 " + c.script_args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = pclose(p);
  std::printf("%s", out.c_str());
  EXPECT_EQ(status, 0) << out;
}

INSTANTIATE_TEST_SUITE_P(Methods, GraphReference,
                         ::testing::Values(Case{"g_pearson", R"(,"threshold":0.3,"top_k":2)",
                                                "--method pearson --threshold 0.3 --top-k 2"},
                                           Case{"g_spearman",
                                                R"(,"method":"spearman","threshold":0.2)",
                                                "--method spearman --threshold 0.2"},
                                           Case{"g_lagged", R"(,"max_lag":3,"threshold":0.25)",
                                                "--max-lag 3 --threshold 0.25"},
                                           Case{"g_topk", R"(,"top_k":1)", "--top-k 1"}),
                         [](const auto& info) { return info.param.graph; });

}  // namespace
