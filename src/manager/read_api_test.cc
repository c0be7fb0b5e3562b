#include "manager/read_api.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "artifacts/local/local_artifact_store.h"
#include "http/client.h"
#include "store/sqlite/sqlite_data_store.h"
#include "tests/support/temp_dir.h"

namespace sf::manager {
namespace {

namespace bj = boost::json;

constexpr int64_t kT0 = 1'722'470'400'000;  // 2024-08-01
constexpr int64_t kMinute = 60'000;

market::Candle candle(const std::string& symbol, int64_t i) {
  market::Candle c;
  c.symbol = symbol;
  c.interval = "1m";
  c.open_time = kT0 + i * kMinute;
  c.close_time = c.open_time + kMinute - 1;
  c.open = "100.10000000";
  c.high = "101." + std::to_string(i);
  c.low = "99.5";
  c.close = "100.2";
  c.volume = "0.00010000";
  c.quote_volume = "1.5";
  c.trades = i;
  c.taker_buy_base_volume = "0.5";
  c.taker_buy_quote_volume = "0.25";
  return c;
}

class ReadApi : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = store::SqliteDataStore::open(dir_.str());
    ASSERT_TRUE(d.ok()) << d.error().message;
    data_ = std::move(*d);
    auto a = artifacts::LocalArtifactStore::open(dir_.path() / "artifacts");
    ASSERT_TRUE(a.ok()) << a.error().message;
    artifacts_ = std::move(*a);
  }

  void serve(bool with_stores = true, const std::string& token = {}) {
    http::ServerOptions o;
    o.bearer_token = token;
    server_ = std::make_unique<http::Server>(o);
    register_read_api(*server_, with_stores ? data_.get() : nullptr,
                      with_stores ? artifacts_.get() : nullptr);
    ASSERT_TRUE(server_->start().ok());
  }

  // GET path: the status and the parsed body.
  std::pair<int, bj::value> get(const std::string& path, const std::string& token = {}) {
    auto r = http::Client(server_->base_url(), token).get(path);
    EXPECT_TRUE(r.ok()) << path;
    if (!r.ok()) return {0, nullptr};
    boost::system::error_code ec;
    bj::value v = bj::parse(r->body, ec);
    EXPECT_FALSE(ec) << path << ": " << r->body;
    return {r->status, v};
  }

  void put_candles(const std::string& name, const std::string& symbol, int64_t from, int64_t n) {
    std::vector<market::Record> rs;
    for (int64_t i = from; i < from + n; ++i) rs.emplace_back(candle(symbol, i));
    ASSERT_TRUE(data_->upsert(name, market::Kind::candle, rs).ok());
  }

  testing::TempDir dir_{"sf-read-api"};
  std::unique_ptr<store::SqliteDataStore> data_;
  std::unique_ptr<artifacts::LocalArtifactStore> artifacts_;
  std::unique_ptr<http::Server> server_;
};

TEST_F(ReadApi, CollectionsListKindCountAndTimeSpan) {
  put_candles("btc_1m", "BTCUSDT", 0, 30);
  put_candles("btc_1m", "ETHUSDT", 10, 5);
  ASSERT_TRUE(data_->ensure_collection("empty_trades", market::Kind::trade).ok());
  serve();
  auto [status, body] = get("/data/collections");
  ASSERT_EQ(status, 200) << body;
  const auto& cs = body.at("collections").as_array();
  ASSERT_EQ(cs.size(), 2u);
  EXPECT_EQ(cs[0], (bj::value{{"name", "btc_1m"},
                              {"kind", "candle"},
                              {"records", 35},
                              {"first_time", kT0},
                              {"last_time", kT0 + 29 * kMinute}}));
  EXPECT_EQ(cs[1].at("records"), 0);
  EXPECT_TRUE(cs[1].at("first_time").is_null());
  EXPECT_EQ(get("/data/collections?x=1").first, 422);
}

TEST_F(ReadApi, RecordsFilterByRangeAndSymbolKeepExactTextAndSayWhenTruncated) {
  put_candles("btc_1m", "BTCUSDT", 0, 100);
  put_candles("btc_1m", "ETHUSDT", 0, 100);
  serve();
  const std::string base = "/data/collections/btc_1m/records?symbol=BTCUSDT";
  auto [status, body] = get(base + "&from=" + std::to_string(kT0 + 10 * kMinute) +
                            "&to=" + std::to_string(kT0 + 20 * kMinute));
  ASSERT_EQ(status, 200) << body;
  EXPECT_EQ(body.at("kind"), "candle");
  EXPECT_EQ(body.at("truncated"), false);
  const auto& rs = body.at("records").as_array();
  ASSERT_EQ(rs.size(), 10u);
  for (size_t i = 0; i < rs.size(); ++i) {
    EXPECT_EQ(rs[i].at("open_time"), kT0 + static_cast<int64_t>(10 + i) * kMinute);
    EXPECT_EQ(rs[i].at("symbol"), "BTCUSDT");
  }
  EXPECT_EQ(rs[0].at("volume"), "0.00010000");  // the exchange's text, not a double
  EXPECT_EQ(rs[0].at("high"), "101.10");

  std::tie(status, body) = get(base + "&limit=30");
  ASSERT_EQ(status, 200);
  EXPECT_EQ(body.at("records").as_array().size(), 30u);
  EXPECT_EQ(body.at("truncated"), true);
  // The page ends with its own last record: the one read past it to learn that more
  // matched is not sent.
  EXPECT_EQ(body.at("records").as_array().back().at("open_time"), kT0 + 29 * kMinute);
  std::tie(status, body) = get(base + "&limit=1");
  EXPECT_EQ(body.at("records").as_array().size(), 1u);
  EXPECT_EQ(body.at("truncated"), true);
  std::tie(status, body) = get(base + "&limit=99");
  EXPECT_EQ(body.at("records").as_array().size(), 99u);
  EXPECT_EQ(body.at("truncated"), true);
  std::tie(status, body) = get(base + "&limit=100");
  EXPECT_EQ(body.at("records").as_array().size(), 100u);
  EXPECT_EQ(body.at("truncated"), false);
  std::tie(status, body) = get("/data/collections/btc_1m/records");  // both symbols, 1000 max
  EXPECT_EQ(body.at("records").as_array().size(), 200u);

  // What a chart needs, in the schema's order whatever the order asked.
  std::tie(status, body) = get(base + "&limit=2&fields=close,open_time,high");
  ASSERT_EQ(status, 200) << body;
  EXPECT_EQ(body.at("truncated"), true);
  EXPECT_EQ(
      body.at("records"),
      (bj::value{bj::object{{"open_time", kT0}, {"high", "101.0"}, {"close", "100.2"}},
                 bj::object{{"open_time", kT0 + kMinute}, {"high", "101.1"}, {"close", "100.2"}}}));
  EXPECT_EQ(bj::serialize(body.at("records").at(0)),
            R"({"open_time":1722470400000,"high":"101.0","close":"100.2"})");
}

TEST_F(ReadApi, BadParametersAndNamesAreRefusedNamingTheField) {
  put_candles("btc_1m", "BTCUSDT", 0, 3);
  serve();
  const std::string r = "/data/collections/btc_1m/records";
  struct Case {
    std::string query, field;
  };
  for (const Case& c : std::vector<Case>{{"?symbol=btc", "symbol"},
                                         {"?interval=2m", "interval"},
                                         {"?from=abc", "from"},
                                         {"?from=-1", "from"},
                                         {"?from=10&to=10", "to"},
                                         {"?limit=0", "limit"},
                                         {"?limit=100001", "limit"},
                                         {"?limit=5&limit=6", "limit"},
                                         {"?sym=BTCUSDT", "sym"},
                                         {"?fields=open_time,price", "fields"},
                                         {"?fields=close,close", "fields"},
                                         {"?fields=", "fields"}}) {
    auto [status, body] = get(r + c.query);
    EXPECT_EQ(status, 422) << c.query << ": " << body;
    EXPECT_EQ(body.at("field"), bj::value(c.field)) << c.query;
  }
  // An unknown parameter of 30 three-byte characters: quoted cut short, still valid UTF-8.
  std::string long_name;
  for (int i = 0; i < 30; ++i) long_name += "%E2%82%AC";
  auto [status, body] = get(r + "?" + long_name + "=1");
  EXPECT_EQ(status, 422) << body;
  EXPECT_EQ(body.at("field").as_string().size(), 39u);
  EXPECT_EQ(get("/data/collections/nothing/records").first, 404);
  for (const char* name : {"sf_x", "queues", "1abc", "a%3Bdrop"}) {
    auto [status, body] = get(std::string("/data/collections/") + name + "/records");
    EXPECT_EQ(status, 422) << name;
    EXPECT_EQ(body.at("field"), "collection_name") << name;
  }
}

TEST_F(ReadApi, GraphsTheirSnapshotsAndOneSnapshotsNodesAndEdges) {
  std::vector<market::Record> nodes, edges;
  for (int64_t v = 0; v < 3; ++v) {
    const int64_t start = kT0 + v * 3 * 3'600'000;
    for (const char* s : {"AAUSDT", "BBUSDT", "CCUSDT"}) {
      market::GraphNode n;
      n.symbol = s;
      n.version = v;
      n.window_start = start;
      n.window_end = start + 24 * 3'600'000;
      n.log_return = 0.125 * static_cast<double>(v);
      nodes.emplace_back(n);
    }
    for (int64_t e = 0; e <= v; ++e) {
      market::GraphEdge g;
      g.symbol = "AAUSDT";
      g.target = std::vector<std::string>{"BBUSDT", "CCUSDT", "DDUSDT"}[static_cast<size_t>(e)];
      g.version = v;
      g.window_start = start;
      g.window_end = start + 24 * 3'600'000;
      g.correlation = e == 0 ? 0.75 : -0.6;
      g.samples = 23;
      edges.emplace_back(g);
    }
  }
  ASSERT_TRUE(data_->upsert("corr_nodes", market::Kind::graph_node, nodes).ok());
  ASSERT_TRUE(data_->upsert("corr_edges", market::Kind::graph_edge, edges).ok());
  put_candles("btc_1m", "BTCUSDT", 0, 3);  // not a graph
  serve();

  auto [status, body] = get("/data/graphs");
  ASSERT_EQ(status, 200) << body;
  EXPECT_EQ(body.at("graphs"), (bj::value{bj::object{{"name", "corr"},
                                                     {"nodes", 9},
                                                     {"edges", 6},
                                                     {"snapshots", 3},
                                                     {"first_window", kT0},
                                                     {"last_window", kT0 + 6 * 3'600'000}}}));

  std::tie(status, body) = get("/data/graphs/corr/snapshots");
  ASSERT_EQ(status, 200) << body;
  const auto& snaps = body.at("snapshots").as_array();
  ASSERT_EQ(snaps.size(), 3u);
  EXPECT_EQ(snaps[2], (bj::value{{"window_start", kT0 + 6 * 3'600'000},
                                 {"window_end", kT0 + 30 * 3'600'000},
                                 {"version", 2},
                                 {"nodes", 3},
                                 {"edges", 3}}));

  std::tie(status, body) =
      get("/data/graphs/corr/snapshot?window_start=" + std::to_string(kT0 + 3 * 3'600'000));
  ASSERT_EQ(status, 200) << body;
  ASSERT_EQ(body.at("nodes").as_array().size(), 3u);
  ASSERT_EQ(body.at("edges").as_array().size(), 2u);
  EXPECT_EQ(body.at("nodes").at(0).at("log_return"), 0.125);
  EXPECT_EQ(body.at("edges").at(1).at("correlation"), -0.6);

  EXPECT_EQ(get("/data/graphs/corr/snapshot?window_start=5").first, 404);
  EXPECT_EQ(get("/data/graphs/corr/snapshot").first, 422);
  EXPECT_EQ(get("/data/graphs/no_such/snapshots").first, 404);
  EXPECT_EQ(get("/data/graphs/sf_bad/snapshots").first, 422);
}

TEST_F(ReadApi, ModelsAndTheirMetrics) {
  ASSERT_TRUE(artifacts_->put("models/q1/metrics.json", R"({"epochs":[{"epoch":1}]})").ok());
  ASSERT_TRUE(artifacts_->put("models/q1/model.pt", "weights").ok());
  ASSERT_TRUE(artifacts_->put("models/q2/metrics.json", "{}").ok());
  ASSERT_TRUE(artifacts_->put("other/x", "y").ok());
  serve();
  auto [status, body] = get("/models");
  ASSERT_EQ(status, 200) << body;
  EXPECT_EQ(
      body.at("models"),
      (bj::value{
          bj::object{{"queue_id", "q1"},
                     {"files", bj::array{bj::object{{"name", "metrics.json"}, {"size", 24}},
                                         bj::object{{"name", "model.pt"}, {"size", 7}}}}},
          bj::object{{"queue_id", "q2"},
                     {"files", bj::array{bj::object{{"name", "metrics.json"}, {"size", 2}}}}}}));
  std::tie(status, body) = get("/models/q1/metrics");
  ASSERT_EQ(status, 200);
  EXPECT_EQ(body.at("epochs").at(0).at("epoch"), 1);
  EXPECT_EQ(get("/models/q3/metrics").first, 404);
  EXPECT_EQ(get("/models/..%2Fother/metrics").first, 422);
}

TEST_F(ReadApi, WithoutStoresItSaysSoAndTheTokenGuardsEveryRoute) {
  serve(false);
  EXPECT_EQ(get("/data/collections").first, 503);
  EXPECT_EQ(get("/models").first, 503);
  server_.reset();
  serve(true, "tok");
  EXPECT_EQ(get("/data/collections").first, 401);
  EXPECT_EQ(get("/models").first, 401);
  EXPECT_EQ(get("/data/collections", "tok").first, 200);
}

}  // namespace
}  // namespace sf::manager
