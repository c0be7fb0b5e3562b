#include "analytics/correlation.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <numeric>

namespace sf::analytics {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The complete pairs of x and y.
void complete_pairs(std::span<const double> x, std::span<const double> y, std::vector<double>* a,
                    std::vector<double>* b) {
  const size_t n = std::min(x.size(), y.size());
  for (size_t i = 0; i < n; ++i) {
    if (std::isnan(x[i]) || std::isnan(y[i])) continue;
    a->push_back(x[i]);
    b->push_back(y[i]);
  }
}

// Average ranks (1-based) of v.
std::vector<double> ranks(const std::vector<double>& v) {
  std::vector<size_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](size_t i, size_t j) { return v[i] < v[j]; });
  std::vector<double> r(v.size());
  for (size_t i = 0; i < idx.size();) {
    size_t j = i;
    while (j + 1 < idx.size() && v[idx[j + 1]] == v[idx[i]]) ++j;
    const double avg = (static_cast<double>(i) + static_cast<double>(j)) / 2.0 + 1.0;
    for (size_t k = i; k <= j; ++k) r[idx[k]] = avg;
    i = j + 1;
  }
  return r;
}

}  // namespace

double pearson_complete(std::span<const double> a, std::span<const double> b) {
  const size_t n = std::min(a.size(), b.size());
  if (n < kMinPairs) return kNaN;
  const double ma = std::accumulate(a.begin(), a.begin() + n, 0.0) / static_cast<double>(n);
  const double mb = std::accumulate(b.begin(), b.begin() + n, 0.0) / static_cast<double>(n);
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < n; ++i) {
    const double da = a[i] - ma, db = b[i] - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  if (saa == 0 || sbb == 0) return kNaN;
  // Rounding may push a perfect correlation a hair past 1.
  return std::clamp(sab / std::sqrt(saa * sbb), -1.0, 1.0);
}

std::vector<double> log_returns(std::span<const double> c) {
  std::vector<double> r(c.size(), kNaN);
  for (size_t t = 1; t < c.size(); ++t)
    if (c[t] > 0 && c[t - 1] > 0) r[t] = std::log(c[t] / c[t - 1]);  // NaN > 0 is false
  return r;
}

double pearson(std::span<const double> x, std::span<const double> y) {
  std::vector<double> a, b;
  complete_pairs(x, y, &a, &b);
  return pearson_complete(a, b);
}

double spearman(std::span<const double> x, std::span<const double> y) {
  std::vector<double> a, b;
  complete_pairs(x, y, &a, &b);
  if (a.size() < kMinPairs) return kNaN;
  return pearson_complete(ranks(a), ranks(b));
}

double correlation(std::span<const double> x, std::span<const double> y, CorrelationMethod m) {
  return m == CorrelationMethod::pearson ? pearson(x, y) : spearman(x, y);
}

LaggedCorrelation best_lagged_correlation(std::span<const double> x, std::span<const double> y,
                                          int max_lag) {
  LaggedCorrelation best{0, kNaN};
  const auto n = static_cast<int>(std::min(x.size(), y.size()));
  // Lags in the order of preference for ties: 0, -1, 1, -2, 2, ...
  for (int k = 0; k <= 2 * max_lag; ++k) {
    const int lag = k % 2 ? -(k + 1) / 2 : k / 2;
    if (std::abs(lag) >= n) continue;
    // corr(x[t], y[t + lag]) over the t where both indices exist.
    const int from = std::max(0, -lag), to = std::min(n, n - lag);
    const double v =
        pearson(x.subspan(static_cast<size_t>(from), static_cast<size_t>(to - from)),
                y.subspan(static_cast<size_t>(from + lag), static_cast<size_t>(to - from)));
    if (std::isnan(v)) continue;
    if (std::isnan(best.value) || std::abs(v) > std::abs(best.value)) best = {lag, v};
  }
  return best;
}

std::vector<double> correlation_matrix(const std::vector<std::vector<double>>& s,
                                       CorrelationMethod m) {
  const size_t n = s.size();
  std::vector<double> out(n * n, kNaN);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = i; j < n; ++j) {
      double v = correlation(s[i], s[j], m);
      if (i == j && !std::isnan(v)) v = 1.0;  // exactly, whatever the rounding
      out[i * n + j] = out[j * n + i] = v;
    }
  return out;
}

}  // namespace sf::analytics
