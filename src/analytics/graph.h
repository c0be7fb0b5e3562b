// Correlation-graph snapshots over aligned candle series (the graph-builder's computation,
// docs/analytics.md). Pure: the worker (workers/graph_builder.h) reads the candles from the
// store, aligns them on open time and writes what this returns.
//
// The grid: candle i of every series opens at grid_start + i * interval_ms; NaN marks a
// candle missing from the store (its close and volume). Returns: r[i] = ln(close[i] /
// close[i-1]) for i >= 1, NaN when either close is missing, so a missing candle removes the
// returns on both sides of it (analytics/correlation.h).
//
// Snapshot v covers the `window` candles [v * step, v * step + window) of the grid, and so
// the window - 1 returns between them. Per symbol (a node; every series gives a node in
// every snapshot, `candles` saying how many of the window's candles were present):
// - log_return: the sum of the window's present returns; volatility: their sample standard
//   deviation (ddof 1; 0 with fewer than 2); return_1..3: the window's last three returns
//   (0 where missing);
// - volume: the sum of the window's present volumes; volume_change: ln(second half's sum /
//   first half's sum) (halves of window / 2 candles, the first one shorter for an odd
//   window), 0 if either sum is 0;
// - next_return: the sum of the present returns of the `step` candles after the window,
//   has_next false (and next_return 0) when they run past the grid or none is present.
// Per pair (an edge, stored once): the correlation of the two symbols' window returns over
// their complete pairs (Pearson or Spearman; with max_lag > 0, the Pearson correlation at the
// lag in [-max_lag, max_lag] with the largest magnitude), none when fewer than min_pairs
// pairs or a constant series. An edge is kept when |correlation| >= threshold, or when it is
// among the top_k strongest (by |correlation|, ties to the byte-smaller symbol) of either of
// its ends. Without a lag, `symbol` is the byte-smaller end; with one, the leader (lag >= 0).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "analytics/correlation.h"
#include "base/result.h"
#include "market/records.h"

namespace sf::analytics {

struct AlignedSeries {
  std::string symbol;
  std::vector<double> close;   // one per grid candle; NaN: missing
  std::vector<double> volume;  // same length
};

struct GraphOptions {
  size_t window = 24;  // candles per snapshot, at least 3
  size_t step = 3;     // candles between snapshots, at least 1
  CorrelationMethod method = CorrelationMethod::pearson;
  int max_lag = 0;  // > 0: lagged cross-correlation (Pearson only), up to this many candles
  std::optional<double> threshold = 0.5;  // keep |correlation| >= this; nullopt: top_k only
  size_t top_k = 0;                       // also keep each node's k strongest edges; 0: off
  size_t min_pairs = 0;                   // 0: (window - 1) / 2, at least 2

  // invalid_argument naming the setting; the checks of one setting against another say
  // one of the texts below.
  Status validate() const;
  static constexpr std::string_view kMaxLagCheck = "max_lag must be between 0 and window - 2";
  static constexpr std::string_view kLaggedPearsonCheck =
      "a lagged correlation (max_lag > 0) is Pearson's";
  static constexpr std::string_view kMinPairsCheck = "min_pairs must be between 2 and window - 1";
  size_t effective_min_pairs() const;
};

struct GraphSnapshot {
  int64_t version = 0;
  int64_t window_start = 0, window_end = 0;
  std::vector<market::GraphNode> nodes;  // in the order of the series given
  std::vector<market::GraphEdge> edges;  // by (symbol, target)
};

// Snapshots a grid of `candles` candles holds: 0 if shorter than one window.
size_t snapshot_count(size_t candles, const GraphOptions& o);

// How build_snapshot computes the pair correlations; both give the values above, without
// allocating per pair.
// - fast (the default): each series' window is centred once (ranks for Spearman) and every
//   pair's sum of products comes from one blocked product of all the series (per lag with
//   max_lag > 0; AVX2 where the CPU has it). A pair where a series misses returns gets its
//   sums over the complete pairs by taking out the few positions the other one misses
//   (Spearman: its ranks among the complete pairs, exactly). A pair whose correction would
//   cost precision (a series nearly constant over the complete pairs) is computed pairwise.
// - pairwise: every pair over its complete pairs one at a time, the arithmetic of
//   analytics::correlation() (the reference the fast path is tested against).
enum class PairPath { fast, pairwise };

// Snapshot `version` (windows as above). The series hold the grid's candles from candle
// `offset` on (a block of the grid: 0 for all of it), all the same length, at least to the
// window's end; the step after the window counts only where the series reach past it.
// Series symbols must be distinct. Options must have passed validate().
GraphSnapshot build_snapshot(const std::vector<AlignedSeries>& series, int64_t grid_start,
                             int64_t interval_ms, int64_t version, const GraphOptions& o,
                             size_t offset = 0, PairPath path = PairPath::fast);

}  // namespace sf::analytics
