// The statistics of the graph-builder (issue 13): log returns of aligned closes and their
// correlations, Pearson, Spearman and lagged cross-correlation, over series in which NaN
// marks a missing value.
//
// Missing values: a return needs both closes (a missing candle makes the returns on both
// sides of it missing), and a correlation uses the pairwise-complete observations (the
// times where both series have a value), as pandas' DataFrame.corr does. A correlation is
// NaN with fewer than kMinPairs complete pairs or when either series is constant over them.
//
// Pure functions; any thread.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace sf::analytics {

inline constexpr size_t kMinPairs = 2;

enum class CorrelationMethod { pearson, spearman };

// r[0] = NaN, r[t] = ln(c[t] / c[t-1]) when both are present and positive, else NaN.
std::vector<double> log_returns(std::span<const double> closes);

// Over the pairwise-complete observations of x and y (equal lengths).
double pearson(std::span<const double> x, std::span<const double> y);
// Pearson of the ranks (ties get their average rank) of the complete pairs.
double spearman(std::span<const double> x, std::span<const double> y);
double correlation(std::span<const double> x, std::span<const double> y, CorrelationMethod m);
// Two-pass Pearson of data known to be complete (no NaN) over the first min(|a|, |b|)
// values; NaN below kMinPairs or for a constant series. The graph builder's pairwise path
// calls it on its scratch buffers.
double pearson_complete(std::span<const double> a, std::span<const double> b);

struct LaggedCorrelation {
  int lag = 0;       // corr(x[t], y[t + lag]): positive when y follows x
  double value = 0;  // NaN if no lag has enough pairs
};
// The lag in [-max_lag, max_lag] with the largest |Pearson correlation|; on a tie the lag
// nearest 0, then the negative one.
LaggedCorrelation best_lagged_correlation(std::span<const double> x, std::span<const double> y,
                                          int max_lag);

// The n x n matrix (row-major) of `series` (n series of equal length); symmetric, with 1 on
// the diagonal for a series that is not constant.
std::vector<double> correlation_matrix(const std::vector<std::vector<double>>& series,
                                       CorrelationMethod m);

}  // namespace sf::analytics
