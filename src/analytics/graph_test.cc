#include "analytics/graph.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <stdexcept>
#include <tuple>

namespace sf::analytics {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int64_t kT0 = 1'722'470'400'000, kHour = 3'600'000;

// Closes from log returns (first close 100), volume 1 a candle.
AlignedSeries from_returns(const std::string& symbol, const std::vector<double>& r) {
  AlignedSeries s{symbol, {100.0}, {1.0}};
  for (double x : r) {
    s.close.push_back(s.close.back() * std::exp(x));
    s.volume.push_back(1.0);
  }
  return s;
}

std::vector<double> wave(size_t n, double phase) {
  std::vector<double> r;
  for (size_t i = 0; i < n; ++i) r.push_back(0.01 * std::sin(0.7 * static_cast<double>(i) + phase));
  return r;
}

TEST(Graph, NodesCarryTheWindowsFeaturesAndTheNextStepsReturn) {
  GraphOptions o;
  o.window = 5;
  o.step = 2;
  const std::vector<double> r = {0.01, -0.02, 0.03, 0.04, -0.01, 0.02, 0.05, -0.03};
  std::vector<AlignedSeries> s = {from_returns("BTCUSDT", r)};  // 9 candles
  s[0].volume = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  ASSERT_TRUE(o.validate().ok());
  EXPECT_EQ(snapshot_count(9, o), 3u);  // windows at 0, 2, 4
  const GraphSnapshot g = build_snapshot(s, kT0, kHour, 1, o);
  EXPECT_EQ(g.window_start, kT0 + 2 * kHour);
  EXPECT_EQ(g.window_end, kT0 + 7 * kHour);
  ASSERT_EQ(g.nodes.size(), 1u);
  const market::GraphNode& n = g.nodes[0];
  // Candles 2..6: returns r[2..5] (between them) = 0.03, 0.04, -0.01, 0.02.
  EXPECT_NEAR(n.log_return, 0.08, 1e-12);
  EXPECT_NEAR(n.return_1, 0.02, 1e-12);
  EXPECT_NEAR(n.return_2, -0.01, 1e-12);
  EXPECT_NEAR(n.return_3, 0.04, 1e-12);
  const double var = (0.0001 + 0.0004 + 0.0009 + 0.0) / 3;  // about the mean 0.02
  EXPECT_NEAR(n.volatility, std::sqrt(var), 1e-12);
  EXPECT_EQ(n.candles, 5);
  EXPECT_DOUBLE_EQ(n.volume, 3 + 4 + 5 + 6 + 7);
  EXPECT_NEAR(n.volume_change, std::log((5.0 + 6 + 7) / (3 + 4)), 1e-12);
  // The step after: candles 7, 8 -> returns r[6], r[7].
  EXPECT_TRUE(n.has_next);
  EXPECT_NEAR(n.next_return, 0.05 - 0.03, 1e-12);
  const GraphSnapshot last = build_snapshot(s, kT0, kHour, 2, o);
  EXPECT_FALSE(last.nodes[0].has_next) << "the step after the last window is past the grid";
  EXPECT_EQ(last.nodes[0].next_return, 0.0);
}

TEST(Graph, MissingCandlesDropTheReturnsOnBothSidesAndCountInCandles) {
  GraphOptions o{.window = 8, .step = 1, .threshold = 0.0};
  std::vector<AlignedSeries> s = {from_returns("AAAUSDT", wave(7, 0)),
                                  from_returns("BBBUSDT", wave(7, 0))};
  s[1].close[3] = kNaN;
  s[1].volume[3] = kNaN;
  const GraphSnapshot g = build_snapshot(s, kT0, kHour, 0, o);
  EXPECT_EQ(g.nodes[1].candles, 7);
  ASSERT_EQ(g.edges.size(), 1u);
  EXPECT_EQ(g.edges[0].samples, 5) << "7 returns, two of them touch the missing candle";
  EXPECT_NEAR(g.edges[0].correlation, 1.0, 1e-12);
  EXPECT_DOUBLE_EQ(g.nodes[1].volume, 7.0);
}

TEST(Graph, EdgesPassTheThresholdOrAreANodesTopK) {
  GraphOptions o{.window = 30, .step = 30, .threshold = 0.9};
  std::vector<AlignedSeries> s = {from_returns("AUSDT", wave(29, 0.0)),
                                  from_returns("BUSDT", wave(29, 0.1)),    // ~1 with A
                                  from_returns("CUSDT", wave(29, 1.2)),    // weaker
                                  from_returns("DUSDT", wave(29, 3.14))};  // ~-1 with A
  GraphSnapshot g = build_snapshot(s, kT0, kHour, 0, o);
  for (const auto& e : g.edges) EXPECT_GE(std::abs(e.correlation), 0.9) << e.symbol << e.target;
  bool has_ad = false;
  for (const auto& e : g.edges) has_ad |= e.symbol == "AUSDT" && e.target == "DUSDT";
  EXPECT_TRUE(has_ad) << "a strong negative correlation is an edge too";
  o.threshold.reset();
  o.top_k = 1;
  g = build_snapshot(s, kT0, kHour, 0, o);
  // Every node keeps its strongest edge; C's strongest is kept even though it is weak.
  std::vector<int> degree(4, 0);
  for (const auto& e : g.edges) {
    EXPECT_LT(e.symbol, e.target);
    ++degree[e.symbol[0] - 'A'];
    ++degree[e.target[0] - 'A'];
  }
  for (int d : degree) EXPECT_GE(d, 1);
}

TEST(Graph, ALaggedCorrelationPointsFromTheLeader) {
  GraphOptions o{.window = 40, .step = 40, .max_lag = 3, .threshold = 0.5};
  const std::vector<double> lead = wave(45, 0.3);
  std::vector<double> follow(lead.size(), 0.0);
  for (size_t i = 2; i < lead.size(); ++i) follow[i] = lead[i - 2];
  // Z follows A by 2 candles; name the follower byte-smaller to show the order is the lag's.
  std::vector<AlignedSeries> s = {from_returns("ZUSDT", lead), from_returns("AUSDT", follow)};
  s[0].close.resize(40);
  s[0].volume.resize(40);
  s[1].close.resize(40);
  s[1].volume.resize(40);
  const GraphSnapshot g = build_snapshot(s, kT0, kHour, 0, o);
  ASSERT_EQ(g.edges.size(), 1u);
  EXPECT_EQ(g.edges[0].symbol, "ZUSDT");
  EXPECT_EQ(g.edges[0].target, "AUSDT");
  EXPECT_EQ(g.edges[0].lag, 2);
  EXPECT_NEAR(g.edges[0].correlation, 1.0, 1e-9);
}

// `n` series of `candles` closes: random walks sharing a common factor with loadings from
// -1 to 1 (so strong, weak and negative correlations), each candle missing (close and volume
// NaN) with probability `missing`.
std::vector<AlignedSeries> random_walks(size_t n, size_t candles, double missing, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 0.01);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<AlignedSeries> s(n);
  std::vector<double> price(n, 100.0), beta(n);
  for (size_t i = 0; i < n; ++i) {
    s[i].symbol = "S" + std::to_string(100 + i) + "USDT";
    beta[i] = -1.0 + 2.0 * static_cast<double>(i) / static_cast<double>(n - 1);
  }
  for (size_t t = 0; t < candles; ++t) {
    const double common = g(rng);
    for (size_t i = 0; i < n; ++i) {
      price[i] *= std::exp(beta[i] * common + g(rng));
      const bool gone = u(rng) < missing;
      s[i].close.push_back(gone ? kNaN : price[i]);
      s[i].volume.push_back(gone ? kNaN : 1.0 + u(rng));
    }
  }
  return s;
}

using EdgeKey = std::tuple<std::string, std::string>;

std::map<EdgeKey, market::GraphEdge> by_key(const GraphSnapshot& g) {
  std::map<EdgeKey, market::GraphEdge> m;
  for (const auto& e : g.edges) m[{e.symbol, e.target}] = e;
  return m;
}

// Every snapshot of `s` built both ways: the same nodes, the same edges (ends, lag, complete
// pairs) and correlations within `tol`. Returns the number of edges compared.
size_t expect_paths_agree(const std::vector<AlignedSeries>& s, const GraphOptions& o, double tol) {
  size_t compared = 0;
  for (size_t v = 0; v < snapshot_count(s[0].close.size(), o); ++v) {
    const auto version = static_cast<int64_t>(v);
    const GraphSnapshot fast = build_snapshot(s, kT0, kHour, version, o, 0, PairPath::fast);
    const GraphSnapshot pairwise = build_snapshot(s, kT0, kHour, version, o, 0, PairPath::pairwise);
    EXPECT_EQ(fast.nodes, pairwise.nodes);
    const auto f = by_key(fast), p = by_key(pairwise);
    EXPECT_EQ(f.size(), p.size()) << "snapshot " << v;
    for (const auto& [key, e] : p) {
      const auto it = f.find(key);
      if (it == f.end()) {
        ADD_FAILURE() << "snapshot " << v << ": no fast edge " << e.symbol << "-" << e.target;
        continue;
      }
      EXPECT_NEAR(it->second.correlation, e.correlation, tol) << e.symbol << "-" << e.target;
      EXPECT_EQ(it->second.lag, e.lag) << e.symbol << "-" << e.target;
      EXPECT_EQ(it->second.samples, e.samples) << e.symbol << "-" << e.target;
      ++compared;
    }
  }
  return compared;
}

TEST(Graph, TheFastPathEqualsThePairwisePathOnCompleteData) {
  const auto s = random_walks(14, 400, 0.0, 1);
  GraphOptions o{.window = 150, .step = 50, .threshold = 0.0};  // every pair an edge
  EXPECT_EQ(expect_paths_agree(s, o, 1e-12), 6u * 91);
  o.method = CorrelationMethod::spearman;
  EXPECT_EQ(expect_paths_agree(s, o, 0.0), 6u * 91) << "rank sums are exact";
  o.method = CorrelationMethod::pearson;
  o.max_lag = 4;
  EXPECT_EQ(expect_paths_agree(s, o, 1e-12), 6u * 91);
}

TEST(Graph, TheFastPathEqualsThePairwisePathWithMissingCandles) {
  for (double missing : {0.01, 0.3}) {
    const auto s = random_walks(11, 300, missing, 2);
    GraphOptions o{.window = 100, .step = 40, .threshold = 0.0};
    o.min_pairs = 2;
    EXPECT_GT(expect_paths_agree(s, o, 1e-12), 5u * 50) << missing;
    o.method = CorrelationMethod::spearman;
    EXPECT_GT(expect_paths_agree(s, o, 0.0), 5u * 50) << missing;
    o.method = CorrelationMethod::pearson;
    o.max_lag = 6;
    EXPECT_GT(expect_paths_agree(s, o, 1e-12), 5u * 50) << missing;
  }
}

TEST(Graph, AWindowWithOneGapTakesThePairwisePathsValues) {
  auto s = random_walks(4, 60, 0.0, 3);
  s[2].close[20] = s[2].volume[20] = kNaN;  // returns 19 and 20 of the window go
  GraphOptions o{.window = 60, .step = 60, .threshold = 0.0};
  for (auto method : {CorrelationMethod::pearson, CorrelationMethod::spearman}) {
    o.method = method;
    const GraphSnapshot g = build_snapshot(s, kT0, kHour, 0, o);
    ASSERT_EQ(g.edges.size(), 6u);
    auto series = [&](const std::string& symbol) -> const AlignedSeries& {
      for (const auto& x : s)
        if (x.symbol == symbol) return x;
      throw std::runtime_error("no series " + symbol);
    };
    for (const auto& e : g.edges) {
      const AlignedSeries &a = series(e.symbol), &b = series(e.target);
      const bool gap = &a == &s[2] || &b == &s[2];
      EXPECT_EQ(e.samples, gap ? 57 : 59) << e.symbol << "-" << e.target;
      const double want = correlation(log_returns(a.close), log_returns(b.close), method);
      EXPECT_NEAR(e.correlation, want, 1e-12) << e.symbol << "-" << e.target;
    }
  }
}

TEST(Graph, ASeriesConstantOverTheCompletePairsHasNoEdgeOnEitherPath) {
  // A's returns are 0 but where B misses its candles: over the complete pairs A is constant
  // (no correlation), though not over the window.
  std::mt19937_64 rng(4);
  std::uniform_real_distribution<double> u(-0.05, 0.05);
  for (int round = 0; round < 50; ++round) {
    std::vector<double> flat(39, 0.0);
    flat[9] = u(rng);
    flat[10] = u(rng);
    std::vector<AlignedSeries> s = {from_returns("AUSDT", flat), from_returns("BUSDT", wave(39, 0)),
                                    from_returns("CUSDT", wave(39, 1))};
    s[1].close[10] = kNaN;  // B's returns 9 and 10 (A's non-zero ones) go
    s[1].volume[10] = kNaN;
    GraphOptions o{.window = 40, .step = 40, .threshold = 0.0};
    for (auto path : {PairPath::fast, PairPath::pairwise}) {
      const GraphSnapshot g = build_snapshot(s, kT0, kHour, 0, o, 0, path);
      bool ab = false, ac = false;
      for (const auto& e : g.edges) {
        ab |= e.symbol == "AUSDT" && e.target == "BUSDT";
        ac |= e.symbol == "AUSDT" && e.target == "CUSDT";
      }
      EXPECT_FALSE(ab) << "round " << round << ", path " << static_cast<int>(path);
      EXPECT_TRUE(ac) << "round " << round << ", path " << static_cast<int>(path);
    }
  }
}

TEST(Graph, OptionsAreCheckedWithTheSettingsName) {
  GraphOptions o;
  o.window = 2;
  EXPECT_EQ(o.validate().error().field, "window");
  o = {};
  o.max_lag = 3;
  o.method = CorrelationMethod::spearman;
  EXPECT_EQ(o.validate().error().field, "method");
  o = {};
  o.threshold.reset();
  EXPECT_EQ(o.validate().error().field, "top_k");
  o = {};
  o.threshold = 1.5;
  EXPECT_EQ(o.validate().error().field, "threshold");
}

}  // namespace
}  // namespace sf::analytics
