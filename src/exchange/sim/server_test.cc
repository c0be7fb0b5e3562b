#include "exchange/sim/server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>

#include "http/client.h"
#include "json/json.h"
#include "tests/support/raw_http.h"

namespace sf::exchange::sim {
namespace {

namespace bj = boost::json;

constexpr int64_t kAug1 = 1722470400000;  // 2024-08-01T00:00:00Z
constexpr int64_t kNow = kAug1 + 30'500;  // half-way through a minute

struct Raw {
  int status = 0;
  std::string headers, body;
};

// One GET with extra header lines ("Name: value\r\n"), over a fresh socket: the project's
// Client has no way to add request headers.
Raw raw_get(uint16_t port, const std::string& target, const std::string& extra) {
  Raw r;
  const std::string all = sf::testing::raw_exchange(
      port, "GET " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + extra + "\r\n");
  auto sep = all.find("\r\n\r\n");
  if (sep == std::string::npos) return r;
  r.headers = all.substr(0, sep);
  r.body = all.substr(sep + 4);
  r.status = std::stoi(all.substr(9, 3));
  return r;
}

class SimServerTest : public ::testing::Test {
 protected:
  void start(SimOptions o = {}) {
    o.clock = &clock_;
    if (o.seed == 1) o.seed = 42;
    server_ = std::make_unique<SimServer>(std::move(o));
    ASSERT_TRUE(server_->start().ok());
    client_ = std::make_unique<http::Client>(server_->base_url());
  }
  http::ClientResponse get(const std::string& path) {
    auto r = client_->get(path);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? *r : http::ClientResponse{};
  }
  bj::value get_json(const std::string& path, int want_status = 200) {
    auto r = get(path);
    EXPECT_EQ(r.status, want_status) << path << " -> " << r.body;
    auto v = json::parse(r.body, 64 << 20);
    EXPECT_TRUE(v.ok()) << r.body.substr(0, 200);
    return v.ok() ? *v : bj::value();
  }
  void expect_error(const std::string& path, int code) {
    auto v = get_json(path, 400);
    ASSERT_TRUE(v.is_object());
    EXPECT_EQ(v.at("code").as_int64(), code) << path << " " << bj::serialize(v);
    EXPECT_TRUE(v.at("msg").is_string());
  }
  static int64_t used_weight(const http::ClientResponse& r) {
    return std::stoll(std::string(r.header("X-MBX-USED-WEIGHT-1M")));
  }

  ManualClock clock_{kNow};
  std::unique_ptr<SimServer> server_;
  std::unique_ptr<http::Client> client_;
};

std::string kl(int64_t start, int64_t end = -1, int limit = -1, const char* iv = "1m",
               const char* sym = "BTCUSDT") {
  std::string p = std::string("/api/v3/klines?symbol=") + sym + "&interval=" + iv;
  if (start >= 0) p += "&startTime=" + std::to_string(start);
  if (end >= 0) p += "&endTime=" + std::to_string(end);
  if (limit >= 0) p += "&limit=" + std::to_string(limit);
  return p;
}

TEST_F(SimServerTest, PingTimeExchangeInfo) {
  start();
  EXPECT_EQ(get("/api/v3/ping").body, "{}");
  EXPECT_EQ(get("/api/v3/time").body, "{\"serverTime\":" + std::to_string(kNow) + "}");
  auto info = get_json("/api/v3/exchangeInfo");
  auto& limits = info.at("rateLimits").as_array();
  EXPECT_EQ(limits[0].at("rateLimitType").as_string(), "REQUEST_WEIGHT");
  EXPECT_EQ(limits[0].at("limit").as_int64(), 6000);
  EXPECT_EQ(limits[1].at("rateLimitType").as_string(), "RAW_REQUESTS");
  EXPECT_EQ(info.at("symbols").as_array().size(), 5u);
  EXPECT_EQ(info.at("symbols").at(0).at("status").as_string(), "TRADING");
  auto one = get_json("/api/v3/exchangeInfo?symbol=ETHUSDT");
  EXPECT_EQ(one.at("symbols").as_array().size(), 1u);
  auto two = get_json("/api/v3/exchangeInfo?symbols=%5B%22ETHUSDT%22,%22SOLUSDT%22%5D");
  EXPECT_EQ(two.at("symbols").as_array().size(), 2u);
  expect_error("/api/v3/exchangeInfo?symbol=FOOBAR", -1121);
}

TEST_F(SimServerTest, KlinesDeterministicAndEqualToMarket) {
  start();
  const int64_t t0 = kAug1 - 86'400'000;
  auto a = get(kl(t0, -1, 1000));
  auto b = get(kl(t0, -1, 1000));
  ASSERT_EQ(a.status, 200);
  EXPECT_EQ(a.body, b.body);
  auto rows = json::parse(a.body, 1 << 24)->as_array();
  ASSERT_EQ(rows.size(), 1000u);
  for (size_t i = 0; i < rows.size(); i += 97) {
    const auto& r = rows[i].as_array();
    ASSERT_EQ(r.size(), 12u);
    auto c = server_->market().candle("BTCUSDT", "1m", t0 + static_cast<int64_t>(i) * 60'000);
    ASSERT_TRUE(c);
    EXPECT_EQ(r[0].as_int64(), c->open_time);
    EXPECT_EQ(r[1].as_string(), c->open);
    EXPECT_EQ(r[2].as_string(), c->high);
    EXPECT_EQ(r[3].as_string(), c->low);
    EXPECT_EQ(r[4].as_string(), c->close);
    EXPECT_EQ(r[5].as_string(), c->volume);
    EXPECT_EQ(r[6].as_int64(), c->close_time);
    EXPECT_EQ(r[7].as_string(), c->quote_volume);
    EXPECT_EQ(r[8].as_int64(), c->trades);
    EXPECT_EQ(r[9].as_string(), c->taker_buy_base_volume);
    EXPECT_EQ(r[10].as_string(), c->taker_buy_quote_volume);
    EXPECT_EQ(r[11].as_string(), "0");
  }
  // Another seed, other data.
  SimOptions o;
  o.seed = 7;
  o.clock = &clock_;
  SimServer other(o);
  ASSERT_TRUE(other.start().ok());
  http::Client oc(other.base_url());
  EXPECT_NE(oc.get(kl(t0, -1, 10))->body, get(kl(t0, -1, 10)).body);
}

TEST_F(SimServerTest, KlinesPagingSemantics) {
  start();
  // startTime only: forward from the first open time >= startTime.
  auto v = get_json(kl(kAug1 - 600'000 + 1, -1, 3)).as_array();
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0].at(0).as_int64(), kAug1 - 540'000);
  EXPECT_EQ(v[2].at(0).as_int64(), kAug1 - 420'000);
  // start + end: endTime is inclusive of an open time equal to it.
  v = get_json(kl(kAug1 - 600'000, kAug1 - 480'000)).as_array();
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v.back().at(0).as_int64(), kAug1 - 480'000);
  v = get_json(kl(kAug1 - 600'000, kAug1 - 480'001)).as_array();
  EXPECT_EQ(v.size(), 2u);
  // Default limit 500, and the range stops at the newest candle (still open).
  v = get_json(kl(kAug1 - 86'400'000)).as_array();
  EXPECT_EQ(v.size(), 500u);
  v = get_json(kl(kAug1 - 600'000, -1, 1000)).as_array();
  ASSERT_EQ(v.size(), 11u);  // 10 closed + the one containing now
  EXPECT_EQ(v.back().at(0).as_int64(), kAug1);
  EXPECT_GT(v.back().at(6).as_int64(), kNow);
  auto open = server_->market().candle("BTCUSDT", "1m", kAug1, kNow);
  EXPECT_FALSE(open->closed);
  EXPECT_EQ(v.back().at(4).as_string(), open->close);
  // Neither: the most recent `limit`, oldest first.
  v = get_json(kl(-1, -1, 5)).as_array();
  ASSERT_EQ(v.size(), 5u);
  EXPECT_EQ(v.back().at(0).as_int64(), kAug1);
  EXPECT_EQ(v.front().at(0).as_int64(), kAug1 - 240'000);
  // endTime only: the `limit` candles up to endTime.
  v = get_json(kl(-1, kAug1 - 60'000, 2)).as_array();
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[1].at(0).as_int64(), kAug1 - 60'000);
  // Nothing before the market epoch; nothing after now.
  v = get_json(kl(0, -1, 2, "1d")).as_array();
  EXPECT_EQ(v[0].at(0).as_int64(), kEpochMs);
  EXPECT_TRUE(get_json(kl(0, kEpochMs - 1)).as_array().empty());
  EXPECT_TRUE(get_json(kl(kAug1 + 60'000)).as_array().empty());
  // Calendar months and Monday weeks.
  v = get_json(kl(kEpochMs, -1, 3, "1M")).as_array();
  EXPECT_EQ(v[1].at(0).as_int64(), 1485907200000);  // 2017-02-01
  EXPECT_EQ(v[1].at(6).as_int64(), 1488326400000 - 1);
  v = get_json(kl(kEpochMs, -1, 1, "1w")).as_array();
  EXPECT_EQ(v[0].at(0).as_int64(), kEpochMs + 86'400'000);  // Monday 2017-01-02
}

TEST_F(SimServerTest, KlinesHolesAreAbsentRows) {
  start();
  Faults f;
  f.holes.push_back({"BTCUSDT", kAug1 - 600'000, kAug1 - 300'000});
  ASSERT_TRUE(server_->set_faults(f).ok());
  auto v = get_json(kl(kAug1 - 720'000, kAug1 - 120'000)).as_array();
  std::vector<int64_t> opens;
  for (auto& r : v) opens.push_back(r.at(0).as_int64());
  EXPECT_EQ(opens, (std::vector<int64_t>{kAug1 - 720'000, kAug1 - 660'000, kAug1 - 300'000,
                                         kAug1 - 240'000, kAug1 - 180'000, kAug1 - 120'000}));
  // A page still fills up to `limit` rows past a hole, both directions.
  v = get_json(kl(kAug1 - 660'000, -1, 3)).as_array();
  EXPECT_EQ(v[1].at(0).as_int64(), kAug1 - 300'000);
  v = get_json(kl(-1, kAug1 - 300'000, 3)).as_array();
  EXPECT_EQ(v[0].at(0).as_int64(), kAug1 - 720'000);
  // Other symbols are untouched; trades in the hole are absent too.
  EXPECT_EQ(get_json(kl(kAug1 - 600'000, kAug1 - 300'000, -1, "1m", "ETHUSDT")).as_array().size(),
            6u);
  auto t =
      get_json("/api/v3/aggTrades?symbol=BTCUSDT&startTime=" + std::to_string(kAug1 - 601'000) +
               "&endTime=" + std::to_string(kAug1 - 299'000) + "&limit=1000")
          .as_array();
  const SymbolSpec& s = *server_->market().find("BTCUSDT");
  ASSERT_EQ(t.size(), static_cast<size_t>(2 * s.agg_per_sec));
  EXPECT_LT(t[s.agg_per_sec - 1].at("T").as_int64(), kAug1 - 600'000);
  EXPECT_GE(t[s.agg_per_sec].at("T").as_int64(), kAug1 - 300'000);
}

TEST_F(SimServerTest, KlineCacheKeepsOnlyAnswersThatCannotChange) {
  SimOptions o;
  o.kline_cache_bytes = 8 << 20;
  start(o);
  auto hits = [&] { return server_->counters().kline_cache_hits; };
  // Past, full page: the second answer comes from memory, byte for byte the first.
  const int64_t past = kAug1 - 86'400'000;
  const std::string first = get(kl(past, -1, 1000)).body;
  EXPECT_EQ(hits(), 0);
  EXPECT_EQ(get(kl(past, -1, 1000)).body, first);
  EXPECT_EQ(hits(), 1);
  // ... and the same as a server without the cache computes.
  SimOptions plain;
  plain.seed = 42;
  plain.clock = &clock_;
  SimServer other(plain);
  ASSERT_TRUE(other.start().ok());
  EXPECT_EQ(http::Client(other.base_url()).get(kl(past, -1, 1000))->body, first);
  // Microseconds are another answer, kept apart.
  const auto us = raw_get(server_->port(), kl(past, -1, 1000), "X-MBX-TIME-UNIT: MICROSECOND\r\n");
  EXPECT_NE(us.body, first);
  EXPECT_EQ(hits(), 1);
  // A page that reaches now is not kept: later candles join it, the open one changes.
  const int64_t recent = kAug1 - 120'000;
  EXPECT_EQ(get_json(kl(recent, -1, 1000)).as_array().size(), 3u);  // the last one open
  EXPECT_EQ(get_json(kl(recent, -1, 1000)).as_array().size(), 3u);
  EXPECT_EQ(hits(), 1);
  clock_.advance(120'000);
  EXPECT_EQ(get_json(kl(recent, -1, 1000)).as_array().size(), 5u);
  // A page ending before now is kept though not full.
  const auto ended = get(kl(past, past + 600'000)).body;
  EXPECT_EQ(get(kl(past, past + 600'000)).body, ended);
  EXPECT_EQ(hits(), 2);
  // With holes configured nothing is served from memory (the holes can change).
  Faults f;
  f.holes.push_back({"BTCUSDT", past, past + 60'000});
  ASSERT_TRUE(server_->set_faults(f).ok());
  EXPECT_NE(get(kl(past, -1, 1000)).body, first);
  EXPECT_EQ(hits(), 2);
}

TEST_F(SimServerTest, KlineCacheStopsAtItsBound) {
  SimOptions o;
  o.kline_cache_bytes = 1000;  // less than a page of 10 candles
  start(o);
  const int64_t past = kAug1 - 86'400'000;
  EXPECT_EQ(get(kl(past, -1, 10)).body, get(kl(past, -1, 10)).body);
  EXPECT_EQ(server_->counters().kline_cache_hits, 0);
  EXPECT_EQ(get(kl(past, -1, 2)).body, get(kl(past, -1, 2)).body);  // about 400 bytes fit
  EXPECT_EQ(server_->counters().kline_cache_hits, 1);
}

TEST_F(SimServerTest, ParameterErrors) {
  start();
  expect_error("/api/v3/klines?symbol=FOOUSDT&interval=1m", -1121);
  expect_error("/api/v3/klines?symbol=btcusdt&interval=1m", -1100);
  expect_error("/api/v3/klines?interval=1m", -1102);
  expect_error("/api/v3/klines?symbol=BTCUSDT", -1102);
  expect_error("/api/v3/klines?symbol=BTCUSDT&interval=2m", -1120);
  expect_error("/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=1001", -1130);
  expect_error("/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=0", -1130);
  expect_error("/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=ten", -1100);
  expect_error("/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime=-5", -1100);
  expect_error(kl(kAug1, kAug1 - 1), -1023);
  expect_error("/api/v3/aggTrades?symbol=BTCUSDT&startTime=" + std::to_string(kAug1 - 3'600'001) +
                   "&endTime=" + std::to_string(kAug1),
               -1127);
  expect_error("/api/v3/aggTrades?symbol=NOPE", -1121);
  expect_error("/api/v3/historicalTrades?symbol=BTCUSDT&limit=5000", -1130);
  expect_error("/api/v3/depth?symbol=BTCUSDT&limit=0", -1130);
  EXPECT_EQ(get("/api/v3/klines?symbol=BTCUSDT&interval=1m&timeZone=8&limit=1").status, 200);
}

TEST_F(SimServerTest, Microseconds) {
  start();
  const int64_t t0 = kAug1 - 180'000;
  auto ms = get_json(kl(t0, -1, 2)).as_array();
  auto us =
      json::parse(raw_get(server_->port(), kl(t0, -1, 2), "X-MBX-TIME-UNIT: MICROSECOND\r\n").body)
          ->as_array();
  ASSERT_EQ(us.size(), 2u);
  EXPECT_EQ(us[0].at(0).as_int64(), t0 * 1000);
  EXPECT_EQ(us[0].at(6).as_int64(), (t0 + 60'000) * 1000 - 1);
  EXPECT_EQ(us[0].at(1), ms[0].at(1));
  // A microsecond startTime selects the same rows (rounded up to the next open time).
  auto v = get_json(kl(t0 * 1000, (t0 + 60'000) * 1000, -1)).as_array();
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].at(0).as_int64(), t0);
  v = get_json(kl(t0 * 1000 + 1, -1, 1)).as_array();
  EXPECT_EQ(v[0].at(0).as_int64(), t0 + 60'000);
  auto t = raw_get(server_->port(), "/api/v3/time", "x-mbx-time-unit: microsecond\r\n");
  EXPECT_EQ(t.body, "{\"serverTime\":" + std::to_string(kNow * 1000) + "}");
}

TEST_F(SimServerTest, AggTradesAndHistoricalTrades) {
  start();
  const auto& m = server_->market();
  const SymbolSpec& s = *m.find("ETHUSDT");
  const int64_t first = Market::first_agg_id_at(s, kAug1 - 3'600'000);
  auto v =
      get_json("/api/v3/aggTrades?symbol=ETHUSDT&fromId=" + std::to_string(first) + "&limit=1000")
          .as_array();
  ASSERT_EQ(v.size(), 1000u);
  for (size_t i = 0; i < v.size(); i += 111) {
    auto a = m.agg_trade("ETHUSDT", first + static_cast<int64_t>(i));
    const auto& o = v[i].as_object();
    EXPECT_EQ(o.at("a").as_int64(), a->agg_id);
    EXPECT_EQ(o.at("p").as_string(), a->price);
    EXPECT_EQ(o.at("q").as_string(), a->qty);
    EXPECT_EQ(o.at("f").as_int64(), a->first_trade_id);
    EXPECT_EQ(o.at("l").as_int64(), a->last_trade_id);
    EXPECT_EQ(o.at("T").as_int64(), a->time);
    EXPECT_EQ(o.at("m").as_bool(), a->is_buyer_maker);
    EXPECT_TRUE(o.at("M").as_bool());
  }
  // By time: everything in [start, end], end inclusive.
  const int64_t st = kAug1 - 10'000, en = Market::agg_time(s, Market::first_agg_id_at(s, st) + 20);
  v = get_json("/api/v3/aggTrades?symbol=ETHUSDT&startTime=" + std::to_string(st) +
               "&endTime=" + std::to_string(en))
          .as_array();
  ASSERT_EQ(v.size(), 21u);
  EXPECT_EQ(v.back().at("T").as_int64(), en);
  // Most recent: the last trade is at or before now.
  v = get_json("/api/v3/aggTrades?symbol=ETHUSDT&limit=3").as_array();
  ASSERT_EQ(v.size(), 3u);
  EXPECT_LE(v.back().at("T").as_int64(), kNow);
  EXPECT_EQ(v.back().at("a").as_int64(), Market::first_agg_id_at(s, kNow + 1) - 1);

  auto h = get_json("/api/v3/historicalTrades?symbol=ETHUSDT&fromId=1000&limit=5").as_array();
  ASSERT_EQ(h.size(), 5u);
  auto t = m.trade("ETHUSDT", 1002);
  EXPECT_EQ(h[2].at("id").as_int64(), 1002);
  EXPECT_EQ(h[2].at("price").as_string(), t->price);
  EXPECT_EQ(h[2].at("qty").as_string(), t->qty);
  EXPECT_EQ(h[2].at("quoteQty").as_string(), t->quote_qty);
  EXPECT_EQ(h[2].at("time").as_int64(), t->time);
  EXPECT_EQ(h[2].at("isBuyerMaker").as_bool(), t->is_buyer_maker);
  EXPECT_EQ(get_json("/api/v3/historicalTrades?symbol=ETHUSDT").as_array().size(), 500u);
}

TEST_F(SimServerTest, DepthAndWeights) {
  start();
  auto r = get("/api/v3/ping");
  EXPECT_EQ(used_weight(r), 1);
  EXPECT_EQ(used_weight(get("/api/v3/time")), 2);
  EXPECT_EQ(used_weight(get(kl(kAug1, -1, 1))), 4);
  EXPECT_EQ(used_weight(get("/api/v3/aggTrades?symbol=BTCUSDT&limit=1")), 8);
  EXPECT_EQ(used_weight(get("/api/v3/historicalTrades?symbol=BTCUSDT&limit=1")), 33);
  EXPECT_EQ(used_weight(get("/api/v3/exchangeInfo")), 53);
  EXPECT_EQ(used_weight(get("/api/v3/depth?symbol=BTCUSDT")), 58);
  EXPECT_EQ(used_weight(get("/api/v3/depth?symbol=BTCUSDT&limit=500")), 83);
  EXPECT_EQ(used_weight(get("/api/v3/depth?symbol=BTCUSDT&limit=1000")), 133);
  EXPECT_EQ(used_weight(get("/api/v3/depth?symbol=BTCUSDT&limit=5000")), 383);
  // Errors cost weight too; a new minute starts from zero.
  EXPECT_EQ(used_weight(get("/api/v3/klines?symbol=NOPE&interval=1m")), 385);
  clock_.advance(60'000);
  EXPECT_EQ(used_weight(get("/api/v3/ping")), 1);

  auto d = get_json("/api/v3/depth?symbol=BTCUSDT&limit=10");
  auto& bids = d.at("bids").as_array();
  auto& asks = d.at("asks").as_array();
  ASSERT_EQ(bids.size(), 10u);
  ASSERT_EQ(asks.size(), 10u);
  EXPECT_GT(std::stod(std::string(bids[0].at(0).as_string())),
            std::stod(std::string(bids[1].at(0).as_string())));
  EXPECT_GT(std::stod(std::string(asks[0].at(0).as_string())),
            std::stod(std::string(bids[0].at(0).as_string())));
  EXPECT_GT(d.at("lastUpdateId").as_int64(), 0);
}

TEST_F(SimServerTest, TooManyRequestsThenBan) {
  SimOptions o;
  o.weight_limit = 10;
  o.strikes_before_ban = 2;
  start(o);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(get(kl(kAug1, -1, 1)).status, 200);
  auto r = get(kl(kAug1, -1, 1));
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.header("Retry-After"), "30");  // the window ends at the next full minute
  EXPECT_EQ(json::parse(r.body)->at("code").as_int64(), -1003);
  EXPECT_EQ(get("/api/v3/ping").status, 429);  // strike 1
  EXPECT_EQ(get("/api/v3/ping").status, 429);  // strike 2
  r = get("/api/v3/ping");                     // strike 3: banned
  EXPECT_EQ(r.status, 418);
  EXPECT_EQ(r.header("Retry-After"), "120");
  EXPECT_EQ(server_->counters().responses_418, 1);
  EXPECT_EQ(server_->counters().responses_429, 3);
  clock_.advance(60'000);  // a new window does not lift a ban
  EXPECT_EQ(get("/api/v3/ping").status, 418);
  clock_.advance(60'000);
  EXPECT_EQ(get("/api/v3/ping").status, 200);
  // A second ban lasts twice as long.
  for (int i = 0; i < 4; ++i) EXPECT_EQ(get(kl(kAug1, -1, 1)).status, 200);  // 1 + 8 used
  EXPECT_EQ(get(kl(kAug1, -1, 1)).status, 429);
  for (int i = 0; i < 2; ++i) EXPECT_EQ(get("/api/v3/ping").status, 429);
  r = get("/api/v3/ping");
  EXPECT_EQ(r.status, 418);
  EXPECT_EQ(r.header("Retry-After"), "240");
  // Waiting out Retry-After instead is never punished.
  server_->reset_limits();
  for (int i = 0; i < 5; ++i) get(kl(kAug1, -1, 1));
  r = get(kl(kAug1, -1, 1));
  ASSERT_EQ(r.status, 429);
  clock_.advance(std::stoll(std::string(r.header("Retry-After"))) * 1000);
  EXPECT_EQ(get(kl(kAug1, -1, 1)).status, 200);
}

TEST_F(SimServerTest, NoLimits) {
  SimOptions o;
  o.weight_limit = 4;
  o.limits = false;
  start(o);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(get(kl(kAug1, -1, 1)).status, 200);
  EXPECT_EQ(used_weight(get("/api/v3/ping")), 21);
}

TEST_F(SimServerTest, FaultRatesRoughlyHonoured) {
  SimOptions o;
  o.limits = false;
  o.faults.error_rate_5xx = 0.2;
  o.faults.error_rate_429 = 0.1;
  o.faults.malformed_rate = 0.3;
  start(o);
  const int n = 2000;
  int s5 = 0, s429 = 0, ok = 0, bad = 0;
  for (int i = 0; i < n; ++i) {
    auto r = get("/api/v3/time");
    if (r.status >= 500) {
      ++s5;
    } else if (r.status == 429) {
      ++s429;
      EXPECT_EQ(r.header("Retry-After"), "1");
    } else {
      ASSERT_EQ(r.status, 200);
      ++ok;
      auto v = json::parse(r.body);
      if (!v || !v->is_object() || !v->as_object().contains("serverTime") ||
          !v->at("serverTime").is_int64())
        ++bad;
    }
  }
  EXPECT_NEAR(s5, n * 0.2, n * 0.04);
  EXPECT_NEAR(s429, n * 0.1, n * 0.03);
  EXPECT_NEAR(bad, ok * 0.3, ok * 0.06);
  auto c = server_->counters();
  EXPECT_EQ(c.requests, n);
  EXPECT_EQ(c.injected_5xx, s5);
  EXPECT_EQ(c.injected_429, s429);
  EXPECT_EQ(c.injected_malformed, bad);
  EXPECT_EQ(c.responses_418, 0);
}

TEST_F(SimServerTest, ControlEndpoint) {
  start();
  auto v = get_json("/sim/control");
  EXPECT_EQ(v.at("error_rate_5xx").to_number<double>(), 0);
  EXPECT_TRUE(v.at("holes").as_array().empty());
  EXPECT_EQ(v.at("counters").at("responses_418").as_int64(), 0);
  auto r = client_->post("/sim/control",
                         R"({"error_rate_5xx":1,"latency_ms":30,
                             "holes":[{"symbol":"BTCUSDT","from":1,"to":2}]})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200) << r->body;
  const auto f = server_->faults();
  EXPECT_EQ(f.error_rate_5xx, 1);
  EXPECT_EQ(f.latency_ms, 30);
  ASSERT_EQ(f.holes.size(), 1u);
  EXPECT_EQ(f.holes[0], (Hole{"BTCUSDT", 1, 2}));
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_GE(get("/api/v3/ping").status, 500);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(30));
  EXPECT_EQ(get_json("/sim/control").at("counters").at("injected_5xx").as_int64(), 1);
  // Invalid knobs are refused and change nothing.
  EXPECT_EQ(client_->post("/sim/control", R"({"error_rate_429":2})")->status, 422);
  EXPECT_EQ(
      client_->post("/sim/control", R"({"holes":[{"symbol":"NOPE","from":1,"to":2}]})")->status,
      422);
  EXPECT_EQ(client_->post("/sim/control", R"({"bogus":1})")->status, 422);
  EXPECT_EQ(client_->post("/sim/control", "{")->status, 400);
  EXPECT_EQ(server_->faults().error_rate_429, 0);
  r = client_->post("/sim/control",
                    R"({"error_rate_5xx":0,"latency_ms":0,"holes":[],"reset_counters":true})");
  EXPECT_EQ(r->status, 200);
  v = json::parse(r->body).value();
  EXPECT_EQ(v.at("counters").at("requests").as_int64(), 0);
  EXPECT_TRUE(v.at("holes").as_array().empty());
  EXPECT_EQ(get("/api/v3/ping").status, 200);
}

// ---- Issue 10, point 12: the endpoints real client libraries call besides the loaders'.

// "64000.01000000" -> 6400001000000 (1e-8 units), as the simulator prints numbers.
int64_t units(std::string_view s) {
  const bool neg = !s.empty() && s.front() == '-';
  if (neg) s.remove_prefix(1);
  const auto dot = s.find('.');
  int64_t whole = std::stoll(std::string(s.substr(0, dot)));
  std::string frac = dot == std::string_view::npos ? "" : std::string(s.substr(dot + 1));
  frac.resize(8, '0');
  const int64_t v = whole * kUnit + std::stoll(frac);
  return neg ? -v : v;
}
int64_t units(const bj::value& v) { return units(std::string_view(v.as_string())); }

TEST_F(SimServerTest, TradesAreTheMostRecentHistoricalTrades) {
  start();
  const SymbolSpec& s = *server_->market().find("BTCUSDT");
  auto recent = get_json("/api/v3/trades?symbol=BTCUSDT&limit=50").as_array();
  ASSERT_EQ(recent.size(), 50u);
  // The newest trade is the last one at or before now; ids are contiguous.
  const int64_t last = Market::first_agg_id_at(s, kNow + 1) * s.trades_per_agg - 1;
  EXPECT_EQ(recent.back().at("id").as_int64(), last);
  EXPECT_LE(recent.back().at("time").as_int64(), kNow);
  for (size_t i = 1; i < recent.size(); ++i)
    EXPECT_EQ(recent[i].at("id").as_int64(), recent[i - 1].at("id").as_int64() + 1);
  // The same ids through historicalTrades give the same trades, byte for byte.
  const int64_t first = recent.front().at("id").as_int64();
  auto hist = get_json("/api/v3/historicalTrades?symbol=BTCUSDT&fromId=" + std::to_string(first) +
                       "&limit=50")
                  .as_array();
  EXPECT_EQ(bj::serialize(recent), bj::serialize(hist));
  EXPECT_EQ(get_json("/api/v3/trades?symbol=BTCUSDT").as_array().size(), 500u);
  expect_error("/api/v3/trades?symbol=BTCUSDT&limit=1001", -1130);
  expect_error("/api/v3/trades?symbol=NOPE", -1121);
  expect_error("/api/v3/trades", -1102);
}

TEST_F(SimServerTest, UiKlinesEqualKlines) {
  start();
  for (const std::string q : {"symbol=ETHUSDT&interval=1m&limit=3",
                              "symbol=ETHUSDT&interval=1h&startTime=1722384000000&limit=30",
                              "symbol=SOLUSDT&interval=1d&endTime=1722384000000"}) {
    auto k = get("/api/v3/klines?" + q);
    auto u = get("/api/v3/uiKlines?" + q);
    ASSERT_EQ(u.status, 200) << q << " " << u.body;
    EXPECT_EQ(u.body, k.body) << q;
  }
  expect_error("/api/v3/uiKlines?symbol=ETHUSDT&interval=7m", -1120);
}

TEST_F(SimServerTest, AvgPriceIsTheFiveMinuteAverageOfTrades) {
  start();
  const auto& m = server_->market();
  const SymbolSpec& s = *m.find("SOLUSDT");
  auto v = get_json("/api/v3/avgPrice?symbol=SOLUSDT");
  ASSERT_TRUE(v.is_object()) << bj::serialize(v);
  EXPECT_EQ(v.at("mins").as_int64(), 5);
  // Quantity-weighted mean price of the trades of the last 5 minutes (the aggregate trades'
  // prices and quantities: each covers its trades at one price).
  __extension__ using i128 = __int128;
  i128 pq = 0, q = 0;
  const int64_t lo = Market::first_agg_id_at(s, kNow - 300'000);
  const int64_t hi = Market::first_agg_id_at(s, kNow + 1) - 1;
  for (int64_t id = lo; id <= hi; ++id) {
    auto a = m.agg_trade("SOLUSDT", id);
    pq += static_cast<i128>(units(a->price)) * units(a->qty);
    q += units(a->qty);
  }
  ASSERT_GT(q, 0);
  EXPECT_EQ(units(v.at("price")), static_cast<int64_t>(pq / q));
  EXPECT_EQ(v.at("closeTime").as_int64(), m.agg_trade("SOLUSDT", hi)->time);
  expect_error("/api/v3/avgPrice", -1102);
}

TEST_F(SimServerTest, Ticker24hrFromTheLastDayOfCandles) {
  start();
  const auto& m = server_->market();
  auto t = get_json("/api/v3/ticker/24hr?symbol=BTCUSDT");
  ASSERT_TRUE(t.is_object()) << bj::serialize(t);
  // Rebuild it from the 1m candles of the last 24 h (the open one included) as served.
  const int64_t open_time = kAug1 - 86'400'000;  // kNow is 30.5 s into the minute kAug1
  int64_t high = 0, low = INT64_MAX, vol = 0, qvol = 0, count = 0;
  std::string first_open, last_close;
  for (int64_t o = open_time; o <= kNow; o += 60'000) {
    auto c = m.candle("BTCUSDT", "1m", o, kNow);
    ASSERT_TRUE(c);
    if (o == open_time) first_open = c->open;
    last_close = c->close;
    high = std::max(high, units(c->high));
    low = std::min(low, units(c->low));
    vol += units(c->volume);
    qvol += units(c->quote_volume);
    count += c->trades;
  }
  EXPECT_EQ(t.at("symbol").as_string(), "BTCUSDT");
  EXPECT_EQ(t.at("openPrice").as_string(), first_open);
  EXPECT_EQ(t.at("prevClosePrice").as_string(), first_open);
  EXPECT_EQ(units(t.at("highPrice")), high);
  EXPECT_EQ(units(t.at("lowPrice")), low);
  EXPECT_EQ(t.at("lastPrice").as_string(), last_close);
  EXPECT_EQ(units(t.at("volume")), vol);
  EXPECT_EQ(units(t.at("quoteVolume")), qvol);
  EXPECT_EQ(t.at("count").as_int64(), count);
  EXPECT_EQ(units(t.at("priceChange")), units(last_close) - units(first_open));
  EXPECT_NEAR(std::stod(std::string(t.at("priceChangePercent").as_string())),
              100.0 * static_cast<double>(units(last_close) - units(first_open)) /
                  static_cast<double>(units(first_open)),
              0.0006);
  EXPECT_NEAR(static_cast<double>(units(t.at("weightedAvgPrice"))),
              static_cast<double>(qvol) / static_cast<double>(vol) * kUnit, 1.0);
  EXPECT_EQ(t.at("openTime").as_int64(), open_time);
  EXPECT_EQ(t.at("closeTime").as_int64(), kNow);
  // Trade ids: the first trade of the window and the last one up to now.
  const SymbolSpec& s = *m.find("BTCUSDT");
  EXPECT_EQ(t.at("firstId").as_int64(), Market::first_agg_id_at(s, open_time) * s.trades_per_agg);
  const int64_t last_id = Market::first_agg_id_at(s, kNow + 1) * s.trades_per_agg - 1;
  EXPECT_EQ(t.at("lastId").as_int64(), last_id);
  EXPECT_EQ(t.at("lastQty").as_string(), m.trade("BTCUSDT", last_id)->qty);
  // The best bid and ask are /depth's top level.
  auto d = get_json("/api/v3/depth?symbol=BTCUSDT&limit=5");
  EXPECT_EQ(t.at("bidPrice"), d.at("bids").at(0).at(0));
  EXPECT_EQ(t.at("bidQty"), d.at("bids").at(0).at(1));
  EXPECT_EQ(t.at("askPrice"), d.at("asks").at(0).at(0));
  EXPECT_EQ(t.at("askQty"), d.at("asks").at(0).at(1));
  // Numbers are strings where Binance prints strings.
  for (const char* k : {"priceChange", "priceChangePercent", "weightedAvgPrice", "prevClosePrice",
                        "lastPrice", "lastQty", "bidPrice", "bidQty", "askPrice", "askQty",
                        "openPrice", "highPrice", "lowPrice", "volume", "quoteVolume"})
    EXPECT_TRUE(t.at(k).is_string()) << k;
  for (const char* k : {"openTime", "closeTime", "firstId", "lastId", "count"})
    EXPECT_TRUE(t.at(k).is_int64()) << k;

  // MINI: the same values, without the order book and change fields.
  auto mini = get_json("/api/v3/ticker/24hr?symbol=BTCUSDT&type=MINI").as_object();
  EXPECT_EQ(mini.size(), 12u);
  EXPECT_FALSE(mini.contains("bidPrice"));
  for (const auto& kv : mini) EXPECT_EQ(kv.value(), t.at(kv.key())) << kv.key();
  // symbols=[...] and no symbol: arrays, in the order asked / of the market.
  auto two = get_json("/api/v3/ticker/24hr?symbols=%5B%22ETHUSDT%22,%22BTCUSDT%22%5D").as_array();
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[0].at("symbol").as_string(), "ETHUSDT");
  EXPECT_EQ(two[1], t);
  auto all = get_json("/api/v3/ticker/24hr?type=MINI").as_array();
  EXPECT_EQ(all.size(), m.symbols().size());
  expect_error("/api/v3/ticker/24hr?symbol=BTCUSDT&type=HUGE", -1139);
  expect_error("/api/v3/ticker/24hr?symbol=NOPE", -1121);
  expect_error("/api/v3/ticker/24hr?symbols=%5B%22NOPE%22%5D", -1121);
  expect_error("/api/v3/ticker/24hr?symbols=BTCUSDT", -1100);
  expect_error("/api/v3/ticker/24hr?symbol=BTCUSDT&symbols=%5B%22ETHUSDT%22%5D", -1128);
}

TEST_F(SimServerTest, TickerPriceAndBookTickerMatchDepth) {
  start();
  const auto& m = server_->market();
  auto d = get_json("/api/v3/depth?symbol=ETHUSDT&limit=5");
  auto p = get_json("/api/v3/ticker/price?symbol=ETHUSDT");
  EXPECT_EQ(p.at("symbol").as_string(), "ETHUSDT");
  // The current price is the close of the still-open 1m candle, and the best bid.
  EXPECT_EQ(p.at("price").as_string(), m.candle("ETHUSDT", "1m", kAug1, kNow)->close);
  EXPECT_EQ(p.at("price"), d.at("bids").at(0).at(0));
  auto b = get_json("/api/v3/ticker/bookTicker?symbol=ETHUSDT");
  EXPECT_EQ(b.at("symbol").as_string(), "ETHUSDT");
  EXPECT_EQ(b.at("bidPrice"), d.at("bids").at(0).at(0));
  EXPECT_EQ(b.at("bidQty"), d.at("bids").at(0).at(1));
  EXPECT_EQ(b.at("askPrice"), d.at("asks").at(0).at(0));
  EXPECT_EQ(b.at("askQty"), d.at("asks").at(0).at(1));
  EXPECT_LT(units(b.at("bidPrice")), units(b.at("askPrice")));
  auto all = get_json("/api/v3/ticker/price").as_array();
  ASSERT_EQ(all.size(), m.symbols().size());
  for (size_t i = 0; i < all.size(); ++i)
    EXPECT_EQ(all[i].at("symbol").as_string(), m.symbols()[i].name);
  auto books =
      get_json("/api/v3/ticker/bookTicker?symbols=%5B%22XRPUSDT%22,%22ETHUSDT%22%5D").as_array();
  ASSERT_EQ(books.size(), 2u);
  EXPECT_EQ(books[1], b);
  expect_error("/api/v3/ticker/price?symbol=NOPE", -1121);
  expect_error("/api/v3/ticker/bookTicker?symbols=%5B%22ETHUSDT%22,%22NOPE%22%5D", -1121);
}

TEST_F(SimServerTest, SystemStatusAndNewEndpointWeights) {
  SimOptions o;
  for (int i = 0; i < 21; ++i) o.symbols.push_back("S" + std::to_string(i) + "USDT");
  start(o);
  // symbols=["S0USDT",...] with n names, URL-encoded.
  auto symbols = [](int n, const char* prefix) {
    std::string q = "symbols=%5B";
    for (int i = 0; i < n; ++i)
      q += (i ? ",%22" : "%22") + std::string(prefix) + std::to_string(i) + "USDT%22";
    return q + "%5D";
  };
  auto st = get("/sapi/v1/system/status");
  EXPECT_EQ(st.status, 200);
  auto v = json::parse(st.body);
  ASSERT_TRUE(v.ok()) << st.body;
  EXPECT_EQ(v->at("status").as_int64(), 0);
  EXPECT_EQ(v->at("msg").as_string(), "normal");
  // Binance's weights (spot REST API docs): each call below adds its weight.
  int64_t used = used_weight(get("/api/v3/ping"));
  auto step = [&](const std::string& path, int64_t w) {
    auto r = get(path);
    EXPECT_EQ(r.status, 200) << path << " " << r.body;
    EXPECT_EQ(used_weight(r) - used, w) << path;
    used = used_weight(r);
  };
  step("/api/v3/trades?symbol=BTCUSDT&limit=1", 25);
  step("/api/v3/uiKlines?symbol=BTCUSDT&interval=1m&limit=1", 2);
  step("/api/v3/avgPrice?symbol=BTCUSDT", 2);
  step("/api/v3/ticker/24hr?symbol=BTCUSDT", 2);
  step("/api/v3/ticker/24hr?symbols=%5B%22BTCUSDT%22,%22ETHUSDT%22%5D", 2);
  step("/api/v3/ticker/24hr?" + symbols(20, "S"), 2);
  step("/api/v3/ticker/24hr?" + symbols(21, "S"), 40);
  step("/api/v3/ticker/24hr", 80);
  // 101 names cost 80 (weighed before they are checked: these are unknown, -1121).
  auto r101 = get("/api/v3/ticker/24hr?" + symbols(101, "X"));
  EXPECT_EQ(r101.status, 400);
  EXPECT_EQ(used_weight(r101) - used, 80);
  used = used_weight(r101);
  step("/api/v3/ticker/price?symbol=BTCUSDT", 2);
  step("/api/v3/ticker/price?symbols=%5B%22BTCUSDT%22%5D", 4);
  step("/api/v3/ticker/price", 4);
  step("/api/v3/ticker/bookTicker?symbol=BTCUSDT", 2);
  step("/api/v3/ticker/bookTicker", 4);
  auto s = get("/sapi/v1/system/status");
  EXPECT_EQ(std::stoll(std::string(s.header("X-SAPI-USED-IP-WEIGHT-1M"))) - used, 1);
}

// ---- Issue 10, point 13: every error is Binance's {"code": int, "msg": string}.

void expect_code_msg(const std::string& body, int want_code, const std::string& what) {
  auto v = json::parse(body);
  ASSERT_TRUE(v.ok()) << what << ": " << body;
  ASSERT_TRUE(v->is_object()) << what << ": " << body;
  const auto& o = v->as_object();
  EXPECT_EQ(o.size(), 2u) << what << ": " << body;
  ASSERT_TRUE(o.contains("code") && o.at("code").is_int64()) << what << ": " << body;
  ASSERT_TRUE(o.contains("msg") && o.at("msg").is_string()) << what << ": " << body;
  EXPECT_FALSE(o.at("msg").as_string().empty()) << what;
  EXPECT_EQ(o.at("code").as_int64(), want_code) << what << ": " << body;
}

TEST_F(SimServerTest, EveryErrorIsCodeAndMsg) {
  start();
  auto r = get("/api/v3/nope");
  EXPECT_EQ(r.status, 404);
  expect_code_msg(r.body, -1000, "unknown path");
  auto post = client_->post("/api/v3/klines", "");
  ASSERT_TRUE(post.ok());
  EXPECT_EQ(post->status, 405);
  EXPECT_EQ(post->header("Allow"), "GET");
  expect_code_msg(post->body, -1000, "wrong method");
  auto big = raw_get(server_->port(), "/api/v3/ping", "X-Big: " + std::string(9000, 'x') + "\r\n");
  EXPECT_EQ(big.status, 431);
  expect_code_msg(big.body, -1000, "header too large");
  // The control endpoint's refusals too.
  auto c = client_->post("/sim/control", R"({"error_rate_429":2})");
  EXPECT_EQ(c->status, 422);
  expect_code_msg(c->body, -1130, "control value");
  EXPECT_NE(c->body.find("error_rate_429"), std::string::npos) << c->body;
  c = client_->post("/sim/control", "{");
  EXPECT_EQ(c->status, 400);
  expect_code_msg(c->body, -1135, "control JSON");
}

TEST_F(SimServerTest, DuplicateParametersAreRefused) {
  start();
  for (const std::string p : {"/api/v3/klines?symbol=BTCUSDT&interval=1m&symbol=ETHUSDT",
                              "/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=5&limit=5",
                              "/api/v3/depth?symbol=BTCUSDT&symbol=BTCUSDT", "/api/v3/time?a=1&a=2",
                              "/api/v3/ticker/price?symbols=%5B%22BTCUSDT%22,%22BTCUSDT%22%5D"}) {
    auto r = get(p);
    EXPECT_EQ(r.status, 400) << p;
    expect_code_msg(r.body, -1101, p);
    EXPECT_EQ(json::parse(r.body)->at("msg").as_string(),
              "Duplicate values for a parameter detected.")
        << p;
  }
}

TEST_F(SimServerTest, OverflowingNumberSaysOutOfRange) {
  start();
  const std::string big = "99999999999999999999";  // 20 digits: matches ^[0-9]{1,20}$
  for (const std::string name : {"startTime", "endTime", "limit"}) {
    auto v = get_json("/api/v3/klines?symbol=BTCUSDT&interval=1m&" + name + "=" + big, 400);
    ASSERT_TRUE(v.is_object());
    const std::string msg(v.at("msg").as_string());
    EXPECT_EQ(v.at("code").as_int64(), -1108) << msg;
    EXPECT_NE(msg.find(name), std::string::npos) << msg;
    EXPECT_NE(msg.find("out of range"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("^[0-9]{1,20}$"), std::string::npos) << msg;
  }
  // 21 digits are illegal characters for the pattern, as before.
  expect_error("/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime=1" + big, -1100);
}

TEST_F(SimServerTest, ThousandRowPageIsFast) {
  SimOptions o;
  o.limits = false;
  start(o);
  const int pages = 50;
  auto t0 = std::chrono::steady_clock::now();
  size_t bytes = 0;
  for (int i = 0; i < pages; ++i) {
    auto r = get(kl(kAug1 - 200 * 86'400'000LL + i * 60'000'000LL, -1, 1000));
    ASSERT_EQ(r.status, 200);
    bytes += r.body.size();
  }
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() /
      pages;
  std::printf("1000-row klines page: %.3f ms over HTTP (%zu bytes), %.0f candles/s\n", ms,
              bytes / pages, 1000.0 / ms * 1000.0);
  EXPECT_LT(ms, 100.0);
}

}  // namespace
}  // namespace sf::exchange::sim
