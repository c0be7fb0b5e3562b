#include "exchange/binance/client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <mutex>
#include <set>

#include "exchange/binance/paging.h"
#include "http/server.h"

namespace sf::exchange::binance {
namespace {

using namespace std::chrono_literals;

constexpr int64_t kT0 = 1722470400000;  // 2024-08-01T00:00:00Z
constexpr int64_t kMin = 60'000;

// `r` is an error of `code`.
template <class T>
::testing::AssertionResult fails_with(const Result<T>& r, Errc code) {
  if (r.ok()) return ::testing::AssertionFailure() << "succeeded, expected " << errc_name(code);
  if (r.error().code != code)
    return ::testing::AssertionFailure() << errc_name(r.error().code) << " (" << r.error().message
                                         << "), expected " << errc_name(code);
  return ::testing::AssertionSuccess();
}

class JumpWaiter final : public Waiter {
 public:
  explicit JumpWaiter(ManualClock& c) : clock_(c) {}
  void wait_until(std::condition_variable&, std::unique_lock<std::mutex>&, const Clock&,
                  int64_t until_ms) override {
    ++waits;
    if (clock_.now_ms() < until_ms) clock_.set(until_ms);
  }
  int waits = 0;

 private:
  ManualClock& clock_;
};

// A TEST DOUBLE of the Binance REST API on sf::http::Server (port 0): 1m klines for every
// minute from kT0 (minus `holes`), a fixed aggTrades tape (one trade every 10 s from kT0,
// id = 1000 + index), canned exchangeInfo/time, and a queue of one-shot faults served
// instead of the next responses.
class BinanceDouble {
 public:
  enum class Fault { http500, http429, http418, malformed, wrong_type, bad_symbol };

  BinanceDouble() {
    server_.route("GET", "/api/v3/klines", [this](const http::Request& r) { return klines(r); });
    server_.route("GET", "/api/v3/aggTrades",
                  [this](const http::Request& r) { return agg_trades(r); });
    server_.route("GET", "/api/v3/time", [this](const http::Request& r) {
      return reply(r, R"({"serverTime":)" + std::to_string(time_of(r, kT0 + 5000)) + "}");
    });
    server_.route("GET", "/api/v3/exchangeInfo", [this](const http::Request& r) {
      return reply(r,
                   R"({"serverTime":1722470400000,"rateLimits":[{"rateLimitType":"REQUEST_WEIGHT",)"
                   R"("interval":"MINUTE","intervalNum":1,"limit":1200}],"symbols":[{"symbol":)"
                   R"("BTCUSDT","status":"TRADING"}]})");
    });
    EXPECT_TRUE(server_.start().ok());
  }

  std::string url() const { return server_.base_url(); }
  void inject(Fault f, int times = 1) {
    std::lock_guard lk(mu_);
    for (int i = 0; i < times; ++i) faults_.push_back(f);
  }
  void add_hole(int64_t from, int64_t to) {  // [from, to)
    std::lock_guard lk(mu_);
    for (int64_t t = from; t < to; t += kMin) holes_.insert(t);
  }
  int requests() const { return requests_.load(); }
  std::string last_time_unit() {
    std::lock_guard lk(mu_);
    return last_time_unit_;
  }
  std::string last_target() {
    std::lock_guard lk(mu_);
    return last_target_;
  }
  int64_t trades_end = kT0 + 3 * 3'600'000;  // the tape ends after 3 hours

 private:
  bool micro(const http::Request& r) { return r.header("X-MBX-TIME-UNIT") == "MICROSECOND"; }
  int64_t time_of(const http::Request& r, int64_t ms) { return micro(r) ? ms * 1000 : ms; }

  // Applies a pending fault, if any; otherwise the body with a weight header.
  http::Response reply(const http::Request& r, std::string body) {
    int n = ++requests_;
    std::optional<Fault> f;
    {
      std::lock_guard lk(mu_);
      last_time_unit_ = std::string(r.header("X-MBX-TIME-UNIT"));
      last_target_ = r.target;
      if (!faults_.empty()) {
        f = faults_.front();
        faults_.pop_front();
      }
    }
    http::Response res = http::Response::json(200, std::move(body));
    if (f == Fault::http500) res = http::Response::json(500, "oops");
    if (f == Fault::http429) {
      res = http::Response::json(429, R"({"code":-1003,"msg":"Too many requests."})");
      res.headers.emplace_back("Retry-After", "3");
    }
    if (f == Fault::http418) {
      res =
          http::Response::json(418, R"({"code":-1003,"msg":"Way too many requests; IP banned."})");
      res.headers.emplace_back("Retry-After", "600");
    }
    if (f == Fault::malformed) res.body = res.body.substr(0, res.body.size() / 2);
    if (f == Fault::wrong_type) res.body = R"([["x"]])";
    if (f == Fault::bad_symbol)
      res = http::Response::json(400, R"({"code":-1121,"msg":"Invalid symbol."})");
    res.headers.emplace_back("X-MBX-USED-WEIGHT-1M", std::to_string(100 + n));
    return res;
  }

  static int64_t q(const http::Request& r, const char* k, int64_t def) {
    auto v = r.query_param(k);
    return v ? std::stoll(*v) : def;
  }

  http::Response klines(const http::Request& r) {
    int64_t start = q(r, "startTime", kT0), end = q(r, "endTime", kT0 + 100'000 * kMin);
    int64_t limit = q(r, "limit", 500);
    std::string body = "[";
    int n = 0;
    int64_t t = std::max(kT0, start + (kMin - (start - kT0) % kMin) % kMin);
    for (; t <= end && n < limit; t += kMin) {
      {
        std::lock_guard lk(mu_);
        if (holes_.count(t)) continue;
      }
      int64_t i = (t - kT0) / kMin;
      std::string p = std::to_string(100 + i % 50) + ".25";
      body += n++ ? "," : "";
      body += "[" + std::to_string(time_of(r, t)) + ",\"" + p + "\",\"" + p + "\",\"" + p +
              "\",\"" + p + "\",\"1.5\"," + std::to_string(time_of(r, t + kMin - 1)) +
              ",\"150.0\"," + std::to_string(i) + ",\"0.5\",\"50.0\",\"0\"]";
    }
    return reply(r, body + "]");
  }

  http::Response agg_trades(const http::Request& r) {
    int64_t limit = q(r, "limit", 500);
    int64_t count = (trades_end - kT0) / 10'000;
    int64_t first;
    int64_t last_time = trades_end;
    if (r.query_param("fromId")) {
      first = q(r, "fromId", 0) - 1000;
    } else {
      int64_t start = q(r, "startTime", kT0);
      first = std::max<int64_t>(0, (start - kT0 + 9'999) / 10'000);
      last_time = q(r, "endTime", trades_end) + 1;
    }
    std::string body = "[";
    int n = 0;
    for (int64_t i = std::max<int64_t>(0, first); i < count && n < limit; ++i) {
      int64_t t = kT0 + i * 10'000;
      if (t >= last_time) break;
      body += n++ ? "," : "";
      body += R"({"a":)" + std::to_string(1000 + i) + R"(,"p":"1.5","q":"2","f":)" +
              std::to_string(i) + R"(,"l":)" + std::to_string(i) + R"(,"T":)" +
              std::to_string(time_of(r, t)) + R"(,"m":true,"M":true})";
    }
    return reply(r, body + "]");
  }

  http::Server server_;
  std::mutex mu_;
  std::deque<Fault> faults_;
  std::set<int64_t> holes_;
  std::atomic<int> requests_{0};
  std::string last_time_unit_, last_target_;
};

struct Fixture : ::testing::Test {
  ManualClock clock{kT0 + 3'600'000};
  JumpWaiter waiter{clock};
  RateLimiter limiter{{}, clock, waiter};
  BinanceDouble ex;
  std::vector<std::chrono::milliseconds> sleeps;

  BinanceClient::Options options() {
    BinanceClient::Options o;
    o.base_url = ex.url();
    o.timeout = 5s;
    o.max_retries = 3;
    o.backoff_base = 100ms;
    o.backoff_cap = 250ms;
    o.sleep = [this](std::chrono::milliseconds d) { sleeps.push_back(d); };
    o.jitter_seed = 42;
    return o;
  }
};

using BinanceClientTest = Fixture;

TEST_F(BinanceClientTest, KlinesAndWeightHeader) {
  BinanceClient c(options(), limiter);
  auto r = c.klines("BTCUSDT", "1m", kT0, kT0 + 4 * kMin, 1000);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 5u);
  EXPECT_EQ((*r)[0].open_time, kT0);
  EXPECT_EQ((*r)[4].close_time, kT0 + 5 * kMin - 1);
  EXPECT_EQ((*r)[1].open, "101.25");
  EXPECT_TRUE((*r)[4].closed);
  EXPECT_EQ(ex.last_target(),
            "/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime=1722470400000&endTime=" +
                std::to_string(kT0 + 4 * kMin) + "&limit=1000");
  EXPECT_EQ(ex.last_time_unit(), "");
  // The double reported 101 used: more than our own 2.
  EXPECT_EQ(limiter.stats().used_weight, 101);
}

TEST_F(BinanceClientTest, MicrosecondsAndOpenCandle) {
  auto o = options();
  o.time_unit = TimeUnit::microsecond;
  BinanceClient c(o, limiter);
  clock.set(kT0 + 2 * kMin + 30'000);  // the third candle is still open
  auto r = c.klines("BTCUSDT", "1m", kT0, kT0 + 2 * kMin, 1000);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(ex.last_time_unit(), "MICROSECOND");
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[2].open_time, kT0 + 2 * kMin);
  EXPECT_TRUE((*r)[1].closed);
  EXPECT_FALSE((*r)[2].closed);
  auto t = c.server_time();
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, kT0 + 5000);
}

TEST_F(BinanceClientTest, ServerTimeOffsetDecidesClosed) {
  BinanceClient c(options(), limiter);
  clock.set(kT0 - 3'600'000);  // our clock is an hour behind the exchange
  ASSERT_TRUE(c.server_time().ok());
  EXPECT_EQ(c.now_ms(), kT0 + 5000);
  auto r = c.klines("BTCUSDT", "1m", kT0, kT0, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE((*r)[0].closed);  // closes at kT0 + 59999 exchange time
}

TEST_F(BinanceClientTest, Retries5xxWithCappedJitteredBackoff) {
  BinanceClient c(options(), limiter);
  ex.inject(BinanceDouble::Fault::http500, 3);
  auto r = c.klines("BTCUSDT", "1m", kT0, kT0, 1);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(ex.requests(), 4);
  EXPECT_EQ(c.stats().retries, 3);
  ASSERT_EQ(sleeps.size(), 3u);
  EXPECT_GE(sleeps[0], 50ms);
  EXPECT_LE(sleeps[0], 100ms);
  EXPECT_GE(sleeps[1], 100ms);
  EXPECT_LE(sleeps[1], 200ms);
  EXPECT_GE(sleeps[2], 125ms);
  EXPECT_LE(sleeps[2], 250ms);  // capped
  ex.inject(BinanceDouble::Fault::http500, 4);
  auto f = c.klines("BTCUSDT", "1m", kT0, kT0, 1);
  ASSERT_TRUE(fails_with(f, Errc::unavailable));
  EXPECT_NE(f.error().message.find("HTTP 500"), std::string::npos);
  EXPECT_NE(f.error().message.find("gave up after 4 attempts"), std::string::npos);
}

TEST_F(BinanceClientTest, Http429WaitsRetryAfterThenRetries) {
  BinanceClient c(options(), limiter);
  int64_t before = clock.now_ms();
  ex.inject(BinanceDouble::Fault::http429);
  auto r = c.klines("BTCUSDT", "1m", kT0, kT0, 1);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(ex.requests(), 2);
  EXPECT_EQ(c.stats().throttled, 1);
  EXPECT_TRUE(sleeps.empty());  // the limiter did the waiting
  EXPECT_GE(clock.now_ms(), before + 3000);
  EXPECT_GE(waiter.waits, 1);
}

TEST_F(BinanceClientTest, Http418BansAndFailsAtOnce) {
  BinanceClient c(options(), limiter);
  ex.inject(BinanceDouble::Fault::http418);
  auto r = c.klines("BTCUSDT", "1m", kT0, kT0, 1);
  ASSERT_TRUE(fails_with(r, Errc::unavailable));
  EXPECT_EQ(r.error().message.rfind("banned by the exchange until 2024-08-01T01:10:00.000Z", 0), 0u)
      << r.error().message;
  EXPECT_EQ(ex.requests(), 1);
  ASSERT_TRUE(limiter.last_ban().has_value());
  // Another client sharing the limiter sends nothing during the ban.
  auto o = options();
  o.max_limiter_wait = 60s;
  BinanceClient other(o, limiter);
  auto r2 = other.klines("BTCUSDT", "1m", kT0, kT0, 1);
  ASSERT_TRUE(fails_with(r2, Errc::timeout));
  EXPECT_EQ(ex.requests(), 1);
}

TEST_F(BinanceClientTest, ExchangeErrorFailsAtOnceWithItsMessage) {
  BinanceClient c(options(), limiter);
  ex.inject(BinanceDouble::Fault::bad_symbol);
  auto r = c.klines("NOPE", "1m", kT0, kT0, 1);
  ASSERT_TRUE(fails_with(r, Errc::invalid_argument));
  EXPECT_EQ(r.error().message, "exchange error -1121: Invalid symbol.");
  EXPECT_EQ(ex.requests(), 1);
  EXPECT_TRUE(sleeps.empty());
  // Local validation: nothing is sent.
  EXPECT_EQ(c.klines("BTC&x=1", "1m", kT0, kT0, 1).error().code, Errc::invalid_argument);
  EXPECT_EQ(c.klines("BTCUSDT", "1m", kT0, kT0, 1001).error().code, Errc::invalid_argument);
  EXPECT_EQ(ex.requests(), 1);
}

TEST_F(BinanceClientTest, MalformedBodiesRetriedThenParseError) {
  BinanceClient c(options(), limiter);
  ex.inject(BinanceDouble::Fault::malformed);
  ex.inject(BinanceDouble::Fault::wrong_type);
  auto r = c.klines("BTCUSDT", "1m", kT0, kT0 + kMin, 2);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->size(), 2u);
  EXPECT_EQ(c.stats().malformed, 2);
  ex.inject(BinanceDouble::Fault::malformed, 4);
  auto f = c.klines("BTCUSDT", "1m", kT0, kT0 + kMin, 2);
  ASSERT_TRUE(fails_with(f, Errc::parse_error));
  EXPECT_NE(f.error().message.find("klines"), std::string::npos);
}

TEST_F(BinanceClientTest, ConnectionErrorsRetriedThenUnavailable) {
  uint16_t port;
  {
    http::Server s;
    ASSERT_TRUE(s.start().ok());
    port = s.port();
  }
  auto o = options();
  o.base_url = "http://127.0.0.1:" + std::to_string(port);
  BinanceClient c(o, limiter);
  auto r = c.server_time();
  ASSERT_TRUE(fails_with(r, Errc::unavailable));
  EXPECT_EQ(c.stats().requests, 4);
  EXPECT_EQ(sleeps.size(), 3u);
}

TEST_F(BinanceClientTest, ExchangeInfoSetsLimiterLimit) {
  BinanceClient c(options(), limiter);
  auto info = c.exchange_info();
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(limiter.stats().limit, 1200);
  EXPECT_EQ(limiter.stats().budget, 960);
}

TEST_F(BinanceClientTest, PagingOverClientWithHolesAndFaults) {
  BinanceClient c(options(), limiter);
  // 2500 minutes: 3 pages; a 100-minute hole inside; faults on the way.
  TimeRange range{kT0, kT0 + 2500 * kMin};
  ex.add_hole(kT0 + 900 * kMin, kT0 + 1000 * kMin);
  ex.inject(BinanceDouble::Fault::http500);
  ex.inject(BinanceDouble::Fault::http429);
  ex.inject(BinanceDouble::Fault::malformed);
  std::vector<int64_t> opens;
  auto st = for_each_kline_page(c, "BTCUSDT", "1m", range, std::nullopt,
                                [&](std::vector<market::Candle>& page) {
                                  for (auto& k : page) opens.push_back(k.open_time);
                                  return true;
                                });
  ASSERT_TRUE(st.ok()) << st.error().message;
  ASSERT_EQ(opens.size(), 2400u);
  EXPECT_EQ(opens.front(), kT0);
  EXPECT_EQ(opens.back(), kT0 + 2499 * kMin);
  for (size_t i = 1; i < opens.size(); ++i) ASSERT_LT(opens[i - 1], opens[i]);
  EXPECT_EQ(st->rows, 2400);
  EXPECT_EQ(st->requests, 3);
}

TEST_F(BinanceClientTest, AggTradePagingOverClient) {
  BinanceClient c(options(), limiter);
  // 1h30m of trades starting 30 min in: 540 trades, one every 10 s.
  TimeRange range{kT0 + 1'800'000, kT0 + 7'200'000};
  std::vector<int64_t> ids;
  auto st = for_each_agg_trade_page(c, "BTCUSDT", range, std::nullopt,
                                    [&](std::vector<market::AggTrade>& page) {
                                      for (auto& t : page) {
                                        EXPECT_GE(t.time, range.start_ms);
                                        EXPECT_LT(t.time, range.end_ms);
                                        ids.push_back(t.agg_id);
                                      }
                                      return true;
                                    });
  ASSERT_TRUE(st.ok()) << st.error().message;
  ASSERT_EQ(ids.size(), 540u);
  EXPECT_EQ(ids.front(), 1000 + 180);
  EXPECT_EQ(ids.back(), 1000 + 719);
  for (size_t i = 1; i < ids.size(); ++i) ASSERT_EQ(ids[i], ids[i - 1] + 1);
}

}  // namespace
}  // namespace sf::exchange::binance
