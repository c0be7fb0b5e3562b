#include "exchange/sim/market.h"

#include <gtest/gtest.h>

#include <vector>

namespace sf::exchange::sim {
namespace {

constexpr int64_t kAug1 = 1722470400000;  // 2024-08-01T00:00:00Z, a Thursday

TEST(SimMarket, Fixed8FormatsLikeBinance) {
  EXPECT_EQ(fixed8(6'400'001'000'000), "64000.01000000");
  EXPECT_EQ(fixed8(1), "0.00000001");
  EXPECT_EQ(fixed8(0), "0.00000000");
  EXPECT_EQ(fixed8(123'456'789'012), "1234.56789012");
}

TEST(SimMarket, IntervalAlignment) {
  const Interval* w = find_interval("1w");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(align(*w, kAug1), kAug1 - 3 * 86'400'000);  // Monday 2024-07-29
  const Interval* mo = find_interval("1M");
  ASSERT_NE(mo, nullptr);
  const int64_t feb1 = 1706745600000, mar1 = 1709251200000, jan1 = 1704067200000,
                dec1 = 1701388800000;
  EXPECT_EQ(align(*mo, feb1 + 14 * 86'400'000LL), feb1);
  EXPECT_EQ(next_open(*mo, feb1), mar1);  // 2024 is a leap year: 29 days
  EXPECT_EQ(prev_open(*mo, jan1), dec1);
  EXPECT_EQ(close_time(*mo, feb1), mar1 - 1);
  const Interval* m1 = find_interval("1m");
  EXPECT_EQ(align(*m1, kAug1 + 59'999), kAug1);
  EXPECT_EQ(find_interval("2m"), nullptr);
  EXPECT_EQ(find_interval("1H"), nullptr);
  EXPECT_EQ(intervals().size(), 16u);
}

TEST(SimMarket, DeterministicAndSeedDependent) {
  Market a(42), b(42), c(43);
  auto ca = a.candle("BTCUSDT", "1m", kAug1);
  ASSERT_TRUE(ca);
  EXPECT_EQ(ca, b.candle("BTCUSDT", "1m", kAug1));
  EXPECT_NE(ca->close, c.candle("BTCUSDT", "1m", kAug1)->close);
  EXPECT_EQ(a.agg_trade("ETHUSDT", 123456789), b.agg_trade("ETHUSDT", 123456789));
  EXPECT_EQ(a.trade("ETHUSDT", 99), b.trade("ETHUSDT", 99));
  EXPECT_FALSE(a.candle("NOPE", "1m", kAug1));
  EXPECT_FALSE(a.candle("BTCUSDT", "1m", kAug1 + 1));          // misaligned
  EXPECT_FALSE(a.candle("BTCUSDT", "1m", kEpochMs - 60'000));  // before the market
  EXPECT_FALSE(a.agg_trade("BTCUSDT", -1));
}

// The memo only skips hashes: walking forward, backward, in jumps, across symbols and
// before the epoch (negative lattice indices), every price equals the memo-less one.
TEST(SimMarket, PriceMemoGivesTheSamePrices) {
  Market m(7);
  const SymbolSpec& btc = *m.find("BTCUSDT");
  const SymbolSpec& eth = *m.find("ETHUSDT");
  PriceMemo memo;
  const double start = static_cast<double>(kAug1 - kEpochMs) / 1000.0;
  std::vector<double> times;
  for (int i = 0; i < 3000; ++i) times.push_back(start + 60.0 * i);  // a page of 1m candles
  for (int i = 0; i < 500; ++i) times.push_back(start - 0.37 * i);   // trades, backward
  for (int i = 0; i < 200; ++i) times.push_back(start + 1e5 * (i % 7) - 3e4 * i);  // jumps
  for (int i = 0; i < 50; ++i) times.push_back(-1.5 * i);  // before the epoch
  for (double t : times) {
    ASSERT_EQ(m.price_at(btc, t, &memo), m.price_at(btc, t)) << "t=" << t;
    ASSERT_EQ(m.price_at(eth, t + 0.5, &memo), m.price_at(eth, t + 0.5)) << "t=" << t;
  }
  const Interval& m1 = *find_interval("1m");
  PriceMemo trades_memo;
  for (int64_t id = 5'000'000; id < 5'002'000; ++id) {
    const RawTrade a = m.raw_trade(btc, id, &trades_memo), b = m.raw_trade(btc, id);
    ASSERT_EQ(a.price, b.price);
    const RawCandle ca = m.raw_candle(eth, m1, kAug1 + (id - 5'000'000) * 60'000, INT64_MAX, 0,
                                      &memo),
                    cb = m.raw_candle(eth, m1, kAug1 + (id - 5'000'000) * 60'000);
    ASSERT_EQ(ca.open, cb.open);
    ASSERT_EQ(ca.close, cb.close);
  }
}

TEST(SimMarket, CandleInvariantsForEveryIntervalAndSymbol) {
  Market m(7, {"DOGEUSDT"});
  for (const auto& s : m.symbols()) {
    for (const auto& iv : intervals()) {
      int64_t t = align(iv, kAug1);
      for (int i = 0; i < 50; ++i, t = prev_open(iv, t)) {
        if (t < kEpochMs) break;
        RawCandle c = m.raw_candle(s, iv, t);
        ASSERT_LE(c.low, std::min(c.open, c.close)) << s.name << " " << iv.name << " " << t;
        ASSERT_GE(c.high, std::max(c.open, c.close));
        ASSERT_GT(c.low, 0);
        ASSERT_EQ(c.open % s.tick, 0);
        ASSERT_EQ(c.high % s.tick, 0);
        ASSERT_LE(c.taker_base, c.volume);
        ASSERT_LE(c.taker_quote, c.quote_volume);
        ASSERT_GE(c.trades, 0);
        ASSERT_EQ(c.close_time, next_open(iv, t) - 1);
        ASSERT_TRUE(c.closed);
        // A candle closes where the next opens.
        ASSERT_EQ(c.close, m.raw_candle(s, iv, next_open(iv, t)).open);
      }
    }
  }
}

TEST(SimMarket, OpensAgreeAcrossIntervals) {
  Market m(1);
  auto h = m.candle("SOLUSDT", "1h", kAug1);
  auto mi = m.candle("SOLUSDT", "1m", kAug1);
  auto s = m.candle("SOLUSDT", "1s", kAug1);
  EXPECT_EQ(h->open, mi->open);
  EXPECT_EQ(h->open, s->open);
  EXPECT_EQ(h->close, m.candle("SOLUSDT", "1m", kAug1 + 59 * 60'000)->close);
}

TEST(SimMarket, PricesStayPlausible) {
  Market m(3);
  const SymbolSpec* s = m.find("BTCUSDT");
  for (int64_t d = 0; d < 3000; d += 7) {
    double p = static_cast<double>(m.price_at(*s, d * 86400.0)) / kUnit;
    ASSERT_GT(p, 30000 * 0.2);
    ASSERT_LT(p, 30000 * 5.0);
  }
}

TEST(SimMarket, OpenCandleIsPartial) {
  Market m(1);
  auto fin = m.candle("BTCUSDT", "1h", kAug1);
  auto part = m.candle("BTCUSDT", "1h", kAug1, kAug1 + 15 * 60'000);
  ASSERT_TRUE(fin && part);
  EXPECT_TRUE(fin->closed);
  EXPECT_FALSE(part->closed);
  EXPECT_EQ(part->open, fin->open);
  EXPECT_EQ(part->close, m.candle("BTCUSDT", "15m", kAug1)->close);
  EXPECT_LT(std::stod(part->volume), std::stod(fin->volume));
  // At exactly the close time the candle is still open; a millisecond later it is final.
  EXPECT_FALSE(m.candle("BTCUSDT", "1h", kAug1, fin->close_time)->closed);
  EXPECT_EQ(m.candle("BTCUSDT", "1h", kAug1, fin->close_time + 1), fin);
}

TEST(SimMarket, AggTradeIdsAndTimes) {
  Market m(5);
  for (const auto& s : m.symbols()) {
    const int64_t base = Market::first_agg_id_at(s, kAug1);
    EXPECT_EQ(base, (kAug1 - kEpochMs) / 1000 * s.agg_per_sec);
    int64_t prev = 0;
    for (int64_t id = base; id < base + 200; ++id) {
      const int64_t t = Market::agg_time(s, id);
      ASSERT_GT(t, prev);
      prev = t;
      ASSERT_EQ(Market::first_agg_id_at(s, t), id);
      ASSERT_EQ(Market::first_agg_id_at(s, t + 1), id + 1);
      auto a = m.raw_agg_trade(s, id);
      int64_t qty = 0;
      for (int64_t tid = a.first_trade_id; tid <= a.last_trade_id; ++tid) {
        auto tr = m.raw_trade(s, tid);
        ASSERT_EQ(tr.price, a.price);
        ASSERT_EQ(tr.time, a.time);
        ASSERT_EQ(tr.buyer_maker, a.buyer_maker);
        qty += tr.qty;
      }
      ASSERT_EQ(qty, a.qty);
      ASSERT_EQ(a.first_trade_id, id * s.trades_per_agg);
    }
  }
  EXPECT_EQ(Market::first_agg_id_at(*m.find("BTCUSDT"), 0), 0);
}

TEST(SimMarket, ExtraSymbols) {
  Market m(1, {"PEPEUSDT", "BTCUSDT"});
  EXPECT_EQ(m.symbols().size(), 6u);
  ASSERT_NE(m.find("PEPEUSDT"), nullptr);
  EXPECT_EQ(m.find("PEPEUSDT")->base_asset, "PEPE");
  EXPECT_EQ(m.find("PEPEUSDT")->quote_asset, "USDT");
  EXPECT_THROW(Market(1, {"btcusdt"}), std::invalid_argument);
}

// --extra-trades-per-sec: the extra symbols trade that often, the known ones as before.
TEST(SimMarket, ExtraSymbolsTradeRate) {
  Market fast(1, {"PEPEUSDT"}, 500);
  const auto& pepe = *fast.find("PEPEUSDT");
  EXPECT_EQ(Market::first_agg_id_at(pepe, kAug1 + 1000) - Market::first_agg_id_at(pepe, kAug1),
            500);
  EXPECT_EQ(fast.find("BTCUSDT")->agg_per_sec, Market(1).find("BTCUSDT")->agg_per_sec);
  const auto& slow = *Market(1, {"PEPEUSDT"}).find("PEPEUSDT");
  EXPECT_EQ(Market::first_agg_id_at(slow, kAug1 + 1000) - Market::first_agg_id_at(slow, kAug1),
            Market::kDefaultExtraAggPerSec);
  EXPECT_THROW(Market(1, {"PEPEUSDT"}, 0), std::invalid_argument);
}

TEST(SimMarket, Holes) {
  std::vector<Hole> holes = {{"BTCUSDT", 100, 200}};
  EXPECT_NE(find_hole(holes, "BTCUSDT", 100), nullptr);
  EXPECT_NE(find_hole(holes, "BTCUSDT", 199), nullptr);
  EXPECT_EQ(find_hole(holes, "BTCUSDT", 200), nullptr);
  EXPECT_EQ(find_hole(holes, "ETHUSDT", 150), nullptr);
}

}  // namespace
}  // namespace sf::exchange::sim
