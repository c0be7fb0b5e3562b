#include "analytics/correlation.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

namespace sf::analytics {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// An independent reference: the one-pass textbook formula in long double over the
// pairwise-complete observations.
double reference_pearson(const std::vector<double>& x, const std::vector<double>& y) {
  long double n = 0, sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i]) || std::isnan(y[i])) continue;
    const long double a = x[i], b = y[i];
    n += 1;
    sx += a;
    sy += b;
    sxx += a * a;
    syy += b * b;
    sxy += a * b;
  }
  return static_cast<double>((n * sxy - sx * sy) /
                             std::sqrt((n * sxx - sx * sx) * (n * syy - sy * sy)));
}

std::vector<double> noisy(std::mt19937& rng, const std::vector<double>& base, double weight) {
  std::normal_distribution<double> d(0, 1);
  std::vector<double> v;
  for (double b : base) v.push_back(weight * b + (1 - weight) * d(rng));
  return v;
}

TEST(Correlation, PearsonMatchesAnIndependentReferenceWithMissingValues) {
  std::mt19937 rng(3);
  std::normal_distribution<double> d(0, 0.01);
  std::vector<double> base(500);
  for (double& b : base) b = d(rng);
  for (double w : {0.0, 0.3, 0.7, 0.95}) {
    auto x = noisy(rng, base, 0.9), y = noisy(rng, base, w);
    for (size_t i = 7; i < x.size(); i += 37) x[i] = kNaN;  // missing candles
    for (size_t i = 11; i < y.size(); i += 53) y[i] = kNaN;
    const double r = pearson(x, y);
    EXPECT_NEAR(r, reference_pearson(x, y), 1e-12) << "weight " << w;
    EXPECT_NEAR(pearson(y, x), r, 1e-15) << "symmetric";
  }
}

TEST(Correlation, ExactCasesAndTooLittleData) {
  const std::vector<double> x = {1, 2, 3, 4, 5};
  std::vector<double> up, down;
  for (double v : x) {
    up.push_back(2 * v + 1);
    down.push_back(-v);
  }
  EXPECT_DOUBLE_EQ(pearson(x, up), 1.0);
  EXPECT_DOUBLE_EQ(pearson(x, down), -1.0);
  EXPECT_TRUE(std::isnan(pearson(x, std::vector<double>(5, 3.0)))) << "constant series";
  EXPECT_TRUE(std::isnan(pearson({{1.0, kNaN, 3.0}}, {{kNaN, 2.0, 3.0}}))) << "one pair";
  EXPECT_TRUE(std::isnan(pearson({}, {})));
  // NaN pairs are skipped, not counted as zeros.
  EXPECT_DOUBLE_EQ(pearson({{1, 2, kNaN, 4}}, {{2, 4, 100, 8}}), 1.0);
}

TEST(Correlation, SpearmanRanksWithTiesAveraged) {
  const std::vector<double> x = {1, 2, 3, 4, 5, 6};
  std::vector<double> cube;
  for (double v : x) cube.push_back(v * v * v);
  EXPECT_DOUBLE_EQ(spearman(x, cube), 1.0) << "monotonic, not linear";
  EXPECT_LT(pearson(x, cube), 1.0);
  // Ranks by hand: x -> 1, 2.5, 2.5, 4; y -> 1, 3, 2, 4.
  EXPECT_NEAR(spearman({{1, 2, 2, 3}}, {{10, 30, 20, 40}}),
              reference_pearson({1, 2.5, 2.5, 4}, {1, 3, 2, 4}), 1e-15);
  EXPECT_NEAR(spearman({{1, kNaN, 2, 2, 3}}, {{10, 5, 30, 20, 40}}),
              reference_pearson({1, 2.5, 2.5, 4}, {1, 3, 2, 4}), 1e-15)
      << "ranked over the complete pairs only";
  EXPECT_DOUBLE_EQ(correlation(x, cube, CorrelationMethod::spearman), 1.0);
}

TEST(Correlation, LogReturnsNeedBothClosesPositive) {
  const auto r = log_returns(std::vector<double>{100, 110, kNaN, 121, 0, 5});
  ASSERT_EQ(r.size(), 6u);
  EXPECT_TRUE(std::isnan(r[0]));
  EXPECT_DOUBLE_EQ(r[1], std::log(1.1));
  EXPECT_TRUE(std::isnan(r[2]));
  EXPECT_TRUE(std::isnan(r[3])) << "the candle before is missing";
  EXPECT_TRUE(std::isnan(r[4])) << "a zero close";
  EXPECT_TRUE(std::isnan(r[5]));
  EXPECT_TRUE(log_returns(std::vector<double>{}).empty());
}

TEST(Correlation, TheBestLagFindsAFollower) {
  std::mt19937 rng(5);
  std::normal_distribution<double> d(0, 1);
  std::vector<double> x(300), y(300, kNaN);
  for (double& v : x) v = d(rng);
  for (size_t t = 2; t < x.size(); ++t) y[t] = x[t - 2];  // y follows x by 2
  auto best = best_lagged_correlation(x, y, 5);
  EXPECT_EQ(best.lag, 2);
  EXPECT_DOUBLE_EQ(best.value, 1.0);
  best = best_lagged_correlation(y, x, 5);
  EXPECT_EQ(best.lag, -2);
  // |correlation| 1 at -1, 0 and +1 (an alternating series): the lag nearest 0 wins.
  const std::vector<double> alt = {1, -1, 1, -1, 1, -1, 1, -1};
  best = best_lagged_correlation(alt, alt, 1);
  EXPECT_EQ(best.lag, 0);
  EXPECT_TRUE(std::isnan(best_lagged_correlation({{1.0}}, {{2.0}}, 3).value));
}

TEST(Correlation, MatrixIsSymmetricWithAUnitDiagonal) {
  std::mt19937 rng(9);
  std::normal_distribution<double> d(0, 1);
  std::vector<double> base(200);
  for (double& b : base) b = d(rng);
  std::vector<std::vector<double>> s = {noisy(rng, base, 0.9), noisy(rng, base, 0.5),
                                        noisy(rng, base, 0.0), std::vector<double>(200, 1.0)};
  const auto m = correlation_matrix(s, CorrelationMethod::pearson);
  ASSERT_EQ(m.size(), 16u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(m[i * 4 + i], 1.0);
    for (size_t j = 0; j < 3; ++j) {
      EXPECT_EQ(m[i * 4 + j], m[j * 4 + i]);
      if (i != j) {
        EXPECT_NEAR(m[i * 4 + j], reference_pearson(s[i], s[j]), 1e-12);
      }
    }
    EXPECT_TRUE(std::isnan(m[i * 4 + 3])) << "a constant series correlates with nothing";
  }
  EXPECT_TRUE(std::isnan(m[15]));
  EXPECT_GT(m[0 * 4 + 1], m[0 * 4 + 2]) << "the shared component shows";
}

}  // namespace
}  // namespace sf::analytics
