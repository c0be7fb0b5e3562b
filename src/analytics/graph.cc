#include "analytics/graph.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <tuple>

namespace sf::analytics {

namespace {

// Complete pairs of x[t] and y[t + lag] (lag may be negative).
size_t complete_pairs_at(std::span<const double> x, std::span<const double> y, int lag) {
  const auto n = static_cast<int>(std::min(x.size(), y.size()));
  size_t pairs = 0;
  for (int t = std::max(0, -lag); t < std::min(n, n - lag); ++t)
    pairs += !std::isnan(x[static_cast<size_t>(t)]) && !std::isnan(y[static_cast<size_t>(t + lag)]);
  return pairs;
}

double nan_sum(std::span<const double> v, size_t* present = nullptr) {
  double s = 0;
  size_t n = 0;
  for (double x : v) {
    if (std::isnan(x)) continue;
    s += x;
    ++n;
  }
  if (present) *present = n;
  return s;
}

double sample_std(std::span<const double> v) {
  size_t n = 0;
  const double sum = nan_sum(v, &n);
  if (n < 2) return 0;
  const double mean = sum / static_cast<double>(n);
  double ss = 0;
  for (double x : v)
    if (!std::isnan(x)) ss += (x - mean) * (x - mean);
  return std::sqrt(ss / static_cast<double>(n - 1));
}

double or_zero(double v) { return std::isnan(v) ? 0.0 : v; }

struct Candidate {
  size_t a, b;  // series indices, a's symbol byte-smaller
  double corr;
  int lag;
  size_t pairs;
};

}  // namespace

Status GraphOptions::validate() const {
  if (window < 3 || window > 1'000'000)
    return Error(Errc::invalid_argument, "window must be between 3 and 1000000 candles", "window");
  if (step < 1 || step > 1'000'000)
    return Error(Errc::invalid_argument, "step must be between 1 and 1000000 candles", "step");
  if (max_lag < 0 || static_cast<size_t>(max_lag) + 2 > window)
    return Error(Errc::invalid_argument, "max_lag must be between 0 and window - 2", "max_lag");
  if (max_lag > 0 && method != CorrelationMethod::pearson)
    return Error(Errc::invalid_argument, "a lagged correlation (max_lag > 0) is Pearson's",
                 "method");
  if (threshold && !(*threshold >= 0 && *threshold <= 1))
    return Error(Errc::invalid_argument, "threshold must be between 0 and 1", "threshold");
  if (!threshold && top_k == 0)
    return Error(Errc::invalid_argument, "no edge rule: give a threshold, a top_k, or both",
                 "top_k");
  if (top_k > 10'000) return Error(Errc::invalid_argument, "top_k must be at most 10000", "top_k");
  if (min_pairs != 0 && (min_pairs < 2 || min_pairs > window - 1))
    return Error(Errc::invalid_argument, "min_pairs must be between 2 and window - 1", "min_pairs");
  return {};
}

size_t GraphOptions::effective_min_pairs() const {
  return min_pairs != 0 ? min_pairs : std::max<size_t>(2, (window - 1) / 2);
}

size_t snapshot_count(size_t candles, const GraphOptions& o) {
  return candles < o.window ? 0 : (candles - o.window) / o.step + 1;
}

GraphSnapshot build_snapshot(const std::vector<AlignedSeries>& series, int64_t grid_start,
                             int64_t interval_ms, int64_t version, const GraphOptions& o,
                             size_t offset) {
  GraphSnapshot snap;
  const size_t grid_first = static_cast<size_t>(version) * o.step;  // the window's first candle
  const size_t first = grid_first - offset;                         // ... in the series
  const size_t end = first + o.window;                              // one past its last
  snap.version = version;
  snap.window_start = grid_start + static_cast<int64_t>(grid_first) * interval_ms;
  snap.window_end = snap.window_start + static_cast<int64_t>(o.window) * interval_ms;

  // Returns of the window (window - 1 of them) and of the step after it, per series.
  std::vector<std::vector<double>> window_returns(series.size());
  snap.nodes.reserve(series.size());
  for (size_t s = 0; s < series.size(); ++s) {
    const AlignedSeries& a = series[s];
    const size_t n = a.close.size();
    auto ret = [&](size_t i) {
      const double c1 = a.close[i], c0 = a.close[i - 1];
      return c1 > 0 && c0 > 0 ? std::log(c1 / c0) : std::numeric_limits<double>::quiet_NaN();
    };
    std::vector<double>& r = window_returns[s];
    r.resize(o.window - 1);
    for (size_t i = first + 1; i < end; ++i) r[i - first - 1] = ret(i);

    market::GraphNode node;
    node.symbol = a.symbol;
    node.version = version;
    node.window_start = snap.window_start;
    node.window_end = snap.window_end;
    for (size_t i = first; i < end; ++i) node.candles += !std::isnan(a.close[i]);
    node.log_return = nan_sum(r);
    node.volatility = sample_std(r);
    const std::span<const double> vol(a.volume.data() + first, o.window);
    node.volume = nan_sum(vol);
    const size_t half = o.window / 2;
    const double v1 = nan_sum(vol.subspan(0, half)), v2 = nan_sum(vol.subspan(half));
    node.volume_change = v1 > 0 && v2 > 0 ? std::log(v2 / v1) : 0.0;
    node.return_1 = or_zero(r[r.size() - 1]);
    node.return_2 = or_zero(r[r.size() - 2]);
    node.return_3 = r.size() >= 3 ? or_zero(r[r.size() - 3]) : 0.0;
    if (end - 1 + o.step < n) {
      size_t present = 0;
      double next = 0;
      for (size_t i = end; i < end + o.step; ++i) {
        const double x = ret(i);
        if (std::isnan(x)) continue;
        next += x;
        ++present;
      }
      node.has_next = present > 0;
      node.next_return = node.has_next ? next : 0.0;
    }
    snap.nodes.push_back(std::move(node));
  }

  // Every pair once, in byte order of the symbols.
  std::vector<size_t> order(series.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](size_t i, size_t j) { return series[i].symbol < series[j].symbol; });
  const size_t min_pairs = o.effective_min_pairs();
  std::vector<Candidate> cands;
  for (size_t x = 0; x < order.size(); ++x) {
    for (size_t y = x + 1; y < order.size(); ++y) {
      const size_t a = order[x], b = order[y];
      const std::vector<double>&ra = window_returns[a], &rb = window_returns[b];
      Candidate c{a, b, 0, 0, 0};
      if (o.max_lag > 0) {
        const LaggedCorrelation l = best_lagged_correlation(ra, rb, o.max_lag);
        c.corr = l.value;
        c.lag = l.lag;
      } else {
        c.corr = correlation(ra, rb, o.method);
      }
      if (std::isnan(c.corr)) continue;
      c.pairs = complete_pairs_at(ra, rb, c.lag);
      if (c.pairs < min_pairs) continue;
      cands.push_back(c);
    }
  }

  std::vector<bool> keep(cands.size(), false);
  if (o.threshold)
    for (size_t i = 0; i < cands.size(); ++i) keep[i] = std::abs(cands[i].corr) >= *o.threshold;
  if (o.top_k > 0) {
    // Each node's candidates, strongest first (ties: the byte-smaller other end).
    std::vector<std::vector<size_t>> by_node(series.size());
    for (size_t i = 0; i < cands.size(); ++i) {
      by_node[cands[i].a].push_back(i);
      by_node[cands[i].b].push_back(i);
    }
    for (size_t s = 0; s < series.size(); ++s) {
      auto& list = by_node[s];
      auto other = [&](size_t i) -> const std::string& {
        return series[cands[i].a == s ? cands[i].b : cands[i].a].symbol;
      };
      std::sort(list.begin(), list.end(), [&](size_t i, size_t j) {
        const double ci = std::abs(cands[i].corr), cj = std::abs(cands[j].corr);
        return ci != cj ? ci > cj : other(i) < other(j);
      });
      for (size_t k = 0; k < std::min(o.top_k, list.size()); ++k) keep[list[k]] = true;
    }
  }

  for (size_t i = 0; i < cands.size(); ++i) {
    if (!keep[i]) continue;
    const Candidate& c = cands[i];
    market::GraphEdge e;
    // corr(a[t], b[t + lag]): a leads when lag >= 0.
    const bool b_leads = c.lag < 0;
    e.symbol = series[b_leads ? c.b : c.a].symbol;
    e.target = series[b_leads ? c.a : c.b].symbol;
    e.version = version;
    e.window_start = snap.window_start;
    e.window_end = snap.window_end;
    e.correlation = c.corr;
    e.lag = std::abs(c.lag);
    e.samples = static_cast<int64_t>(c.pairs);
    snap.edges.push_back(std::move(e));
  }
  std::sort(snap.edges.begin(), snap.edges.end(), [](const auto& x, const auto& y) {
    return std::tie(x.symbol, x.target) < std::tie(y.symbol, y.target);
  });
  return snap;
}

}  // namespace sf::analytics
