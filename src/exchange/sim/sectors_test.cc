// The synthetic markets' correlation structure (README "Sectors, leaders and regimes"):
// sectors correlate within and not across, followers trail their leader by kFollowerLagMs,
// loadings change by regime without a jump, and all of it stays a pure function of time.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include "exchange/sim/market.h"

namespace sf::exchange::sim {
namespace {

constexpr int64_t kAug1 = 1722470400000;  // 2024-08-01T00:00:00Z
constexpr int64_t kHourMs = 3'600'000;
constexpr int64_t kDayMs = 24 * kHourMs;
constexpr int kHours = 30 * 24;  // 30 days of 1h candles

// 1h log returns of closes (close / open of each 1h candle) from kAug1, as the analytics
// layer computes them from served candles.
std::vector<double> hourly_returns(const Market& m, const std::string& symbol) {
  const SymbolSpec& s = *m.find(symbol);
  const Interval& h1 = *find_interval("1h");
  std::vector<double> r;
  for (int i = 0; i < kHours; ++i) {
    const RawCandle c = m.raw_candle(s, h1, kAug1 + i * kHourMs);
    r.push_back(std::log(static_cast<double>(c.close) / static_cast<double>(c.open)));
  }
  return r;
}

// hourly_returns of each of m's symbols, by name.
std::map<std::string, std::vector<double>> all_hourly_returns(const Market& m) {
  std::map<std::string, std::vector<double>> r;
  for (const auto& s : m.symbols()) r[s.name] = hourly_returns(m, s.name);
  return r;
}

// Pearson correlation of x[i - lag] with y[i].
double correlation(const std::vector<double>& x, const std::vector<double>& y, size_t lag = 0) {
  const size_t n = y.size() - lag;
  double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
  for (size_t i = lag; i < y.size(); ++i) {
    const double a = x[i - lag], b = y[i];
    sx += a, sy += b, sxx += a * a, syy += b * b, sxy += a * b;
  }
  const double k = static_cast<double>(n);
  return (sxy / k - sx / k * sy / k) /
         std::sqrt((sxx / k - sx / k * sx / k) * (syy / k - sy / k * sy / k));
}

TEST(SimSectors, DefaultSectorsAndLeaders) {
  Market m(1, {"DOGEUSDT"});
  const std::map<std::string, std::pair<int, bool>> want = {
      {"BTCUSDT", {0, true}}, {"ETHUSDT", {0, false}}, {"BNBUSDT", {0, false}},
      {"SOLUSDT", {1, true}}, {"XRPUSDT", {1, false}}, {"DOGEUSDT", {1, false}}};
  for (const auto& [name, sector_leader] : want) {
    const SymbolSpec& s = *m.find(name);
    EXPECT_EQ(s.sector, sector_leader.first) << name;
    EXPECT_EQ(s.leader, sector_leader.second) << name;
    EXPECT_EQ(s.lag_ms, s.leader ? 0 : kFollowerLagMs) << name;
    EXPECT_EQ(sector_of(name), s.sector);
  }
  EXPECT_EQ(kFollowerLagMs, 3 * kHourMs);
  // Same sector, same factor; another seed, another factor.
  EXPECT_EQ(m.find("ETHUSDT")->sector_seed, m.find("BTCUSDT")->sector_seed);
  EXPECT_NE(m.find("ETHUSDT")->sector_seed, m.find("SOLUSDT")->sector_seed);
  EXPECT_NE(Market(2).find("BTCUSDT")->sector_seed, m.find("BTCUSDT")->sector_seed);
}

// Extra symbols spread over the sectors by name; each sector has exactly one leader, the
// byte-smallest symbol where no default symbol leads; the default symbols' prices do not
// depend on which extra symbols a market has.
TEST(SimSectors, ExtraSymbolsSpreadOverSectorsWithOneLeaderEach) {
  std::vector<std::string> extras;
  for (const char* base : {"ADA", "DOT", "LINK", "AVAX", "LTC", "PEPE", "TRX", "ATOM", "NEAR",
                           "UNI", "APT", "ARB", "OP", "FIL", "ICP", "SHIB"})
    extras.push_back(std::string(base) + "USDT");
  Market m(4, extras);
  std::array<int, kSectors> members{}, leaders{};
  for (const auto& s : m.symbols()) {
    ASSERT_GE(s.sector, 0);
    ASSERT_LT(s.sector, kSectors);
    EXPECT_EQ(s.sector, sector_of(s.name)) << "by name, not by seed";
    ++members[static_cast<size_t>(s.sector)];
    leaders[static_cast<size_t>(s.sector)] += s.leader;
    if (!s.leader || s.sector < 2) continue;
    for (const auto& o : m.symbols()) {
      if (o.sector == s.sector) {
        EXPECT_LE(s.name, o.name);
      }
    }
  }
  for (int k = 0; k < kSectors; ++k) {
    EXPECT_GE(members[static_cast<size_t>(k)], 3) << "sector " << k;
    EXPECT_EQ(leaders[static_cast<size_t>(k)], 1) << "sector " << k;
  }
  EXPECT_TRUE(m.find("BTCUSDT")->leader);
  EXPECT_TRUE(m.find("SOLUSDT")->leader);
  const Market plain(4);
  for (const auto& name : default_symbols())
    for (int64_t t = kAug1; t < kAug1 + 2 * kDayMs; t += 7 * kHourMs + 13'000)
      ASSERT_EQ(m.current_price(*m.find(name), t), plain.current_price(*plain.find(name), t));
}

// Within a sector, followers' same-hour returns correlate (the shared factor); across
// sectors they do not (independent factors). A leader and its followers correlate at the
// followers' lag of 3 candles, not in the same hour.
TEST(SimSectors, ReturnsCorrelateWithinASectorNotAcross) {
  for (uint64_t seed : {1, 2, 3}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    Market m(seed, {"DOGEUSDT"});
    auto r = all_hourly_returns(m);
    const double eth_bnb = correlation(r["ETHUSDT"], r["BNBUSDT"]);
    const double xrp_doge = correlation(r["XRPUSDT"], r["DOGEUSDT"]);
    EXPECT_GT(eth_bnb, 0.4);
    EXPECT_GT(xrp_doge, 0.4);
    double cross = 0;
    int pairs = 0;
    for (const auto& a : m.symbols())
      for (const auto& b : m.symbols()) {
        if (a.sector == b.sector || a.name >= b.name) continue;
        const double c = correlation(r[a.name], r[b.name]);
        EXPECT_LT(std::fabs(c), 0.2) << a.name << " " << b.name;
        cross += c;
        ++pairs;
      }
    cross /= pairs;
    EXPECT_LT(std::fabs(cross), 0.08);
    EXPECT_GT((eth_bnb + xrp_doge) / 2 - cross, 0.4);
    for (const auto& [leader, follower] : {std::pair{"BTCUSDT", "ETHUSDT"},
                                           {"BTCUSDT", "BNBUSDT"},
                                           {"SOLUSDT", "XRPUSDT"},
                                           {"SOLUSDT", "DOGEUSDT"}}) {
      EXPECT_LT(std::fabs(correlation(r[leader], r[follower])), 0.2) << leader << follower;
      EXPECT_GT(correlation(r[leader], r[follower], 3), 0.5) << leader << follower;
    }
  }
}

// The learnable signal: the sign of a follower's next 3-hour return is its leader's over
// the 3 hours before, in well over half the steps; a symbol's own previous 3 hours say
// nothing of its next.
TEST(SimSectors, FollowersTrailTheirLeaderByThreeHours) {
  for (uint64_t seed : {1, 2, 3}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    Market m(seed, {"DOGEUSDT"});
    auto r = all_hourly_returns(m);
    const auto sum3 = [](const std::vector<double>& v, size_t from) {
      return v[from] + v[from + 1] + v[from + 2];
    };
    int agree = 0, steps = 0;
    for (const auto& [leader, follower] : {std::pair{"BTCUSDT", "ETHUSDT"},
                                           {"BTCUSDT", "BNBUSDT"},
                                           {"SOLUSDT", "XRPUSDT"},
                                           {"SOLUSDT", "DOGEUSDT"}})
      for (size_t t = 3; t + 3 <= kHours; t += 3, ++steps)
        agree += (sum3(r[leader], t - 3) > 0) == (sum3(r[follower], t) > 0);
    const double share = static_cast<double>(agree) / steps;
    std::printf("seed %d: follower's next 3h sign = leader's previous 3h sign in %.3f of %d\n",
                static_cast<int>(seed), share, steps);
    EXPECT_GT(share, 0.70);
    int same = 0, own_steps = 0;
    for (const auto& [name, v] : r)
      for (size_t t = 3; t + 3 <= kHours; t += 3, ++own_steps)
        same += (sum3(v, t - 3) > 0) == (sum3(v, t) > 0);
    const double persistence = static_cast<double>(same) / own_steps;
    EXPECT_GT(persistence, 0.44);
    EXPECT_LT(persistence, 0.56);
  }
}

TEST(SimSectors, RegimesLastSevenToTenDaysAndLoadingsChange) {
  Market m(5, {"DOGEUSDT"});
  const SymbolSpec& eth = *m.find("ETHUSDT");
  const SymbolSpec& btc = *m.find("BTCUSDT");
  const int64_t r0 = m.regime_at(kAug1);
  double biggest_change = 0;
  for (int64_t r = r0 - 100; r < r0 + 100; ++r) {
    const int64_t a = m.regime_start(r), b = m.regime_start(r + 1);
    ASSERT_GE(b - a, 7 * kDayMs);
    ASSERT_LE(b - a, 10 * kDayMs);
    ASSERT_EQ(a % kHourMs, 0);
    ASSERT_EQ(m.regime_at(a), r);
    ASSERT_EQ(m.regime_at(a - 1), r - 1);
    ASSERT_EQ(m.regime_at(b - 1), r);
    // Settled after the blend, constant to the regime's end, moving smoothly at its start.
    const double settled = m.loading(eth, a + kRegimeBlendMs);
    ASSERT_GE(settled, kMinLoading);
    ASSERT_LE(settled, kMaxLoading);
    ASSERT_EQ(m.loading(eth, b - 1), settled);
    const double before = m.loading(eth, a - 1);
    ASSERT_NEAR(m.loading(eth, a), before, 1e-12);
    for (int64_t t = a; t < a + kRegimeBlendMs; t += 60'000)
      ASSERT_LT(std::fabs(m.loading(eth, t + 60'000) - m.loading(eth, t)), 2e-3);
    biggest_change = std::max(biggest_change, std::fabs(settled - before));
    ASSERT_EQ(m.loading(btc, a + kRegimeBlendMs), kLeaderLoading);
  }
  EXPECT_GT(biggest_change, 0.2) << "regimes do change the loadings";
}

// A regime boundary is invisible in prices: 1s and 1m candles around it move no more than
// anywhere else (switching the loadings within one second instead of blending them over
// kRegimeBlendMs moves a price by 0.4% typically, up to 2.4%: 30 to 200 times a 1s
// candle's usual move, which this test catches).
TEST(SimSectors, NoJumpAtARegimeBoundary) {
  const Interval& s1 = *find_interval("1s");
  const Interval& m1 = *find_interval("1m");
  for (uint64_t seed : {1, 2}) {
    Market m(seed, {"DOGEUSDT"});
    const int64_t r0 = m.regime_at(kAug1);
    for (int64_t r = r0 - 10; r < r0 + 10; ++r) {
      const int64_t b = m.regime_start(r);
      for (const char* name : {"ETHUSDT", "BNBUSDT", "XRPUSDT", "DOGEUSDT"}) {
        const SymbolSpec& s = *m.find(name);
        for (int64_t t = b - 30'000; t < b + 30'000; t += 1000) {
          const RawCandle c = m.raw_candle(s, s1, t);
          ASSERT_LT(std::fabs(std::log(static_cast<double>(c.close) / c.open)), 2e-3)
              << name << " at " << t << ", boundary " << b;
          ASSERT_EQ(c.close, m.raw_candle(s, s1, t + 1000).open);
        }
        for (int64_t t = b - kHourMs; t < b + kRegimeBlendMs + kHourMs; t += 60'000) {
          const RawCandle c = m.raw_candle(s, m1, t);
          ASSERT_LT(std::fabs(std::log(static_cast<double>(c.close) / c.open)), 8e-3)
              << name << " at " << t << ", boundary " << b;
          ASSERT_EQ(c.close, m.raw_candle(s, m1, t + 60'000).open);
        }
      }
    }
  }
}

// Same seed and symbols, same candles, whatever order or path computes them: a page walk
// with a memo across a regime boundary equals random access, for leaders and followers.
TEST(SimSectors, DeterministicAcrossRegimesAndPaths) {
  const std::vector<std::string> extras = {"DOGEUSDT", "ADAUSDT", "LINKUSDT"};
  Market a(11, extras), b(11, extras), c(12, extras);
  const Interval& m1 = *find_interval("1m");
  const int64_t boundary = a.regime_start(a.regime_at(kAug1) + 1);
  for (const auto& s : a.symbols()) {
    PriceMemo memo;
    RawCandle prev;
    int64_t t = boundary - 500 * 60'000;
    for (int i = 0; i < 1000; ++i, t += 60'000) {
      const RawCandle walked = a.raw_candle(s, m1, t, INT64_MAX, i ? prev.close : 0, &memo);
      const RawCandle direct = b.raw_candle(*b.find(s.name), m1, t);
      ASSERT_EQ(walked.open, direct.open) << s.name << " " << t;
      ASSERT_EQ(walked.close, direct.close);
      ASSERT_EQ(walked.high, direct.high);
      ASSERT_EQ(walked.low, direct.low);
      prev = walked;
    }
    for (const auto& iv : intervals()) {
      const int64_t open = align(iv, boundary);
      ASSERT_EQ(a.candle(s.name, iv.name, open), b.candle(s.name, iv.name, open));
    }
    EXPECT_NE(a.candle(s.name, "1h", kAug1)->close, c.candle(s.name, "1h", kAug1)->close);
  }
}

// Prices stay plausible for every symbol: bounded around the base price over years, and
// about 50..80%/year volatility measured on 1h returns.
TEST(SimSectors, PricesStayBoundedWithMarketLikeVolatility) {
  for (uint64_t seed : {1, 2, 3}) {
    Market m(seed, {"DOGEUSDT", "ADAUSDT", "LINKUSDT", "PEPEUSDT"});
    for (const auto& s : m.symbols()) {
      for (int64_t d = 0; d < 3500; d += 5) {
        const double p =
            static_cast<double>(m.price_at(s, static_cast<double>(d) * 86400.0)) / kUnit;
        ASSERT_GT(p, s.base_price * 0.2) << s.name << " day " << d;
        ASSERT_LT(p, s.base_price * 5.0) << s.name << " day " << d;
      }
      // A year of 1h returns.
      const double t0 = static_cast<double>(kAug1 - kEpochMs) / 1000.0;
      const int hours = 365 * 24;
      PriceMemo memo;
      double prev = std::log(static_cast<double>(m.price_at(s, t0, &memo))), sum2 = 0;
      for (int h = 1; h <= hours; ++h) {
        const double x = std::log(static_cast<double>(m.price_at(s, t0 + h * 3600.0, &memo)));
        sum2 += (x - prev) * (x - prev);
        prev = x;
      }
      const double vol = std::sqrt(sum2);  // per year: the sum over a year
      EXPECT_GT(vol, 0.5) << s.name;
      EXPECT_LT(vol, 0.8) << s.name;
    }
  }
}

}  // namespace
}  // namespace sf::exchange::sim
