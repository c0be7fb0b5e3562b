#include "analytics/graph.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <tuple>
#include <utility>

namespace sf::analytics {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr size_t kKeepScratchBytes = 64 << 20;

double or_zero(double v) { return std::isnan(v) ? 0.0 : v; }

struct Candidate {
  size_t a, b;  // series indices, a's symbol byte-smaller
  double corr;
  int lag;
  size_t pairs;
};

// ---- the pairwise path: one pair at a time, the arithmetic of correlation.cc ----------------

// Scratch of the pairwise path, sized once per snapshot (the window's returns).
struct PairScratch {
  std::vector<double> a, b, ra, rb;
  std::vector<size_t> idx;
  void resize(size_t m) {
    a.resize(m);
    b.resize(m);
    ra.resize(m);
    rb.resize(m);
    idx.resize(m);
  }
};

// The complete pairs of x[0, n) and y[0, n) into s.a, s.b; their number.
size_t compact(const double* x, const double* y, size_t n, PairScratch& s) {
  size_t k = 0;
  for (size_t i = 0; i < n; ++i) {
    if (std::isnan(x[i]) || std::isnan(y[i])) continue;
    s.a[k] = x[i];
    s.b[k] = y[i];
    ++k;
  }
  return k;
}

// Average ranks (1-based, ties averaged) of v[0, n) into r, through idx.
void ranks_into(const double* v, size_t n, double* r, size_t* idx) {
  std::iota(idx, idx + n, size_t{0});
  std::sort(idx, idx + n, [&](size_t i, size_t j) { return v[i] < v[j]; });
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j + 1 < n && v[idx[j + 1]] == v[idx[i]]) ++j;
    const double avg = (static_cast<double>(i) + static_cast<double>(j)) / 2.0 + 1.0;
    for (size_t k = i; k <= j; ++k) r[idx[k]] = avg;
    i = j + 1;
  }
}

// Pearson or Spearman of x[0, n) and y[0, n) over their complete pairs, their number in *pairs.
double pairwise_corr(const double* x, const double* y, size_t n, CorrelationMethod m,
                     PairScratch& s, size_t* pairs) {
  const size_t k = compact(x, y, n, s);
  *pairs = k;
  if (m == CorrelationMethod::pearson) return pearson_complete({s.a.data(), k}, {s.b.data(), k});
  if (k < kMinPairs) return kNaN;
  ranks_into(s.a.data(), k, s.ra.data(), s.idx.data());
  ranks_into(s.b.data(), k, s.rb.data(), s.idx.data());
  return pearson_complete({s.ra.data(), k}, {s.rb.data(), k});
}

// ---- the fast path's kernels --------------------------------------------------------------
// GCC vector extensions; each kernel is built for AVX2 and for the baseline, picked at load
// time (target_clones). No vector crosses a function boundary.

using v4d = double __attribute__((vector_size(32)));
using v4du = double __attribute__((vector_size(32), aligned(8)));  // an unaligned load
#define SF_LOAD4(p) (*reinterpret_cast<const v4du*>(p))

// c[i * rows + j] += sum over t < len of a[i * ld + t] * b[j * ld + t], for i, j < rows (a
// multiple of 3) in 3 x 3 blocks; with `upper`, only the blocks on or above the diagonal.
// len is a multiple of 4; the rows of b are read up to b + (rows - 1) * ld + len.
__attribute__((target_clones("avx2", "default"))) void gram(const double* a, const double* b,
                                                            size_t ld, size_t rows, size_t len,
                                                            bool upper, double* c) {
  constexpr size_t kChunk = 512;  // values of each row per pass: all rows' stay in L2
  for (size_t t0 = 0; t0 < len; t0 += kChunk) {
    const size_t t1 = std::min(len, t0 + kChunk);
    for (size_t i = 0; i < rows; i += 3) {
      const double *a0 = a + i * ld, *a1 = a0 + ld, *a2 = a1 + ld;
      for (size_t j = upper ? i : 0; j < rows; j += 3) {
        const double *b0 = b + j * ld, *b1 = b0 + ld, *b2 = b1 + ld;
        v4d c00 = {}, c01 = {}, c02 = {}, c10 = {}, c11 = {}, c12 = {}, c20 = {}, c21 = {},
            c22 = {};
        for (size_t t = t0; t < t1; t += 4) {
          const v4d y0 = SF_LOAD4(b0 + t), y1 = SF_LOAD4(b1 + t), y2 = SF_LOAD4(b2 + t);
          v4d x = SF_LOAD4(a0 + t);
          c00 += x * y0;
          c01 += x * y1;
          c02 += x * y2;
          x = SF_LOAD4(a1 + t);
          c10 += x * y0;
          c11 += x * y1;
          c12 += x * y2;
          x = SF_LOAD4(a2 + t);
          c20 += x * y0;
          c21 += x * y1;
          c22 += x * y2;
        }
        double* o = c + i * rows + j;
        o[0] += (c00[0] + c00[1]) + (c00[2] + c00[3]);
        o[1] += (c01[0] + c01[1]) + (c01[2] + c01[3]);
        o[2] += (c02[0] + c02[1]) + (c02[2] + c02[3]);
        o += rows;
        o[0] += (c10[0] + c10[1]) + (c10[2] + c10[3]);
        o[1] += (c11[0] + c11[1]) + (c11[2] + c11[3]);
        o[2] += (c12[0] + c12[1]) + (c12[2] + c12[3]);
        o += rows;
        o[0] += (c20[0] + c20[1]) + (c20[2] + c20[3]);
        o[1] += (c21[0] + c21[1]) + (c21[2] + c21[3]);
        o[2] += (c22[0] + c22[1]) + (c22[2] + c22[3]);
      }
    }
  }
}

// Spearman over the complete pairs of series a and b, exactly. a's rank among them at t is
// its rank r_t among a's present values less, for each rank r_g in ga[0, nra) (of a position
// where a is present and b missing), clamp(r_t - r_g, -1/2, 1/2) + 1/2: 1 above that value,
// 1/2 on a tie, 0 below (the average ranks of distinct values differ by 1 at least), and 0
// where a is missing (rank 0, below every present rank, so u is 0 there); likewise b's with
// gb. Returns in out[0..2] the sums over every position t < len of u * v, u * u and v * v,
// u and v those ranks. All are multiples of 1/4 below 2^53: exact in any order.
__attribute__((target_clones("avx2", "default"))) void rank_sums(const double* rank_a,
                                                                 const double* ga, size_t nra,
                                                                 const double* rank_b,
                                                                 const double* gb, size_t nrb,
                                                                 size_t len, double* out) {
  const v4d lo = {-0.5, -0.5, -0.5, -0.5}, hi = {0.5, 0.5, 0.5, 0.5};
  const double ha = 0.5 * static_cast<double>(nra), hb = 0.5 * static_cast<double>(nrb);
  const v4d ca = {ha, ha, ha, ha}, cb = {hb, hb, hb, hb};
  v4d sab = {}, saa = {}, sbb = {};
  for (size_t t = 0; t < len; t += 4) {
    const v4d ra = SF_LOAD4(rank_a + t), rb = SF_LOAD4(rank_b + t);
    v4d u = ra - ca, v = rb - cb;
    for (size_t k = 0; k < nra; ++k) {
      const v4d g = {ga[k], ga[k], ga[k], ga[k]};
      v4d d = ra - g;
      d = d < lo ? lo : d;
      u -= d > hi ? hi : d;
    }
    for (size_t k = 0; k < nrb; ++k) {
      const v4d g = {gb[k], gb[k], gb[k], gb[k]};
      v4d d = rb - g;
      d = d < lo ? lo : d;
      v -= d > hi ? hi : d;
    }
    sab += u * v;
    saa += u * u;
    sbb += v * v;
  }
  out[0] = (sab[0] + sab[1]) + (sab[2] + sab[3]);
  out[1] = (saa[0] + saa[1]) + (saa[2] + saa[3]);
  out[2] = (sbb[0] + sbb[1]) + (sbb[2] + sbb[3]);
}

// x[t] = v[t] - mean where p[t] is a number (the value is present), else 0, for t < len (a
// multiple of 4), mean the present values' mean (count of them, 0 if none); out[0]: the
// present values' sum, out[1], out[2]: the sums of x and x * x.
__attribute__((target_clones("avx2", "default"))) void centre_values(const double* v,
                                                                     const double* p, size_t len,
                                                                     size_t count, double* x,
                                                                     double* out) {
  const v4d zero = {};
  v4d s = {};
  for (size_t t = 0; t < len; t += 4) {
    const v4d pv = SF_LOAD4(p + t);
    s += pv == pv ? SF_LOAD4(v + t) : zero;
  }
  const double sum = (s[0] + s[1]) + (s[2] + s[3]);
  const double mean = count > 0 ? sum / static_cast<double>(count) : 0.0;
  const v4d mv = {mean, mean, mean, mean};
  v4d s1 = {}, s2 = {};
  for (size_t t = 0; t < len; t += 4) {
    const v4d pv = SF_LOAD4(p + t);
    const v4d xv = pv == pv ? SF_LOAD4(v + t) - mv : zero;
    *reinterpret_cast<v4du*>(x + t) = xv;
    s1 += xv;
    s2 += xv * xv;
  }
  out[0] = sum;
  out[1] = (s1[0] + s1[1]) + (s1[2] + s1[3]);
  out[2] = (s2[0] + s2[1]) + (s2[2] + s2[3]);
}

// The sum of v[0, n)'s numbers (NaN: missing) and how many there are.
__attribute__((target_clones("avx2", "default"))) double present_sum(const double* v, size_t n,
                                                                     size_t* count) {
  const v4d zero = {}, one = {1, 1, 1, 1};
  v4d s = {}, c = {};
  size_t t = 0;
  for (; t + 4 <= n; t += 4) {
    const v4d x = SF_LOAD4(v + t);
    s += x == x ? x : zero;
    c += x == x ? one : zero;
  }
  double sum = (s[0] + s[1]) + (s[2] + s[3]);
  auto k = static_cast<size_t>((c[0] + c[1]) + (c[2] + c[3]));
  for (; t < n; ++t) {
    if (std::isnan(v[t])) continue;
    sum += v[t];
    ++k;
  }
  if (count) *count = k;
  return sum;
}

#undef SF_LOAD4

// ---- one window ---------------------------------------------------------------------------

// The window's returns of every series and what the fast path derives from them.
struct Window {
  size_t n = 0;                     // series
  size_t m = 0;                     // returns per series (window - 1)
  size_t len = 0;                   // m rounded up to a multiple of 4: the products' length
  size_t ld = 0;                    // row stride: len + max_lag, rounded up to 4
  size_t rows = 0;                  // n rounded up to a multiple of 3 (zero rows)
  std::vector<double> raw;          // n x ld: returns, NaN where missing and past m
  std::vector<double> x;            // rows x ld: centred values, 0 where missing and past m
  std::vector<double> rank;         // Spearman, n x ld: ranks among the present values, 0 elsewhere
  std::vector<uint32_t> gaps;       // the missing positions (< m) of series s at
  std::vector<size_t> gap_at;       // [gap_at[s], gap_at[s + 1])
  std::vector<size_t> count;        // present returns per series
  std::vector<double> sum, sum2;    // sums of x and x * x per series
  std::vector<double> psum, psum2;  // lagged, n x (m + 1): their prefix sums
  std::vector<double> g;            // rows x rows products (of one lag)
  std::vector<Candidate> best;      // per pair: its value (NaN: none), lag, complete pairs
  std::vector<Candidate> cands;     // the pairs with a value and enough complete pairs
  std::vector<std::pair<double, uint32_t>> sorted;  // Spearman: a series' values, sorted
  std::vector<double> removed;  // Spearman: ranks where the other series is missing
  PairScratch pair;

  const double* r(size_t s) const { return raw.data() + s * ld; }
  const double* xs(size_t s) const { return x.data() + s * ld; }
  std::span<const uint32_t> gaps_of(size_t s) const {
    return {gaps.data() + gap_at[s], gap_at[s + 1] - gap_at[s]};
  }
  bool present(size_t s, size_t t) const { return !std::isnan(raw[s * ld + t]); }
  size_t bytes() const {
    return (raw.capacity() + x.capacity() + rank.capacity() + psum.capacity() + psum2.capacity() +
            g.capacity()) *
               sizeof(double) +
           (best.capacity() + cands.capacity()) * sizeof(Candidate) +
           gaps.capacity() * sizeof(uint32_t) + sorted.capacity() * sizeof(sorted[0]) +
           removed.capacity() * sizeof(double);
  }
};

// Centres series s's values (the returns, or for Spearman its ranks) into w.x, with their
// sums; returns the sum of the values.
double centre(Window& w, size_t s, const double* v) {
  double out[3];
  centre_values(v, w.r(s), w.len, w.count[s], w.x.data() + s * w.ld, out);
  w.sum[s] = out[1];
  w.sum2[s] = out[2];
  return out[0];
}

// Average ranks of series s's present returns into w.rank (its positions sorted by value).
void rank_series(Window& w, size_t s) {
  const double* v = w.r(s);
  double* rk = w.rank.data() + s * w.ld;
  auto& sorted = w.sorted;  // (value, position): a direct sort, no indirection
  sorted.clear();
  for (size_t t = 0; t < w.m; ++t)
    if (w.present(s, t)) sorted.emplace_back(v[t], static_cast<uint32_t>(t));
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& x, const auto& y) { return x.first < y.first; });
  const size_t n = sorted.size();
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j + 1 < n && sorted[j + 1].first == sorted[i].first) ++j;
    const double avg = (static_cast<double>(i) + static_cast<double>(j)) / 2.0 + 1.0;
    for (size_t k = i; k <= j; ++k) rk[sorted[k].second] = avg;
    i = j + 1;
  }
}

// D (the sum of x_a[t] * x_b[t + lag] over t, from w.g holding lag |lag|'s products).
double product(const Window& w, size_t a, size_t b, int lag) {
  if (lag == 0) return w.g[std::min(a, b) * w.rows + std::max(a, b)];  // upper triangle
  return lag > 0 ? w.g[a * w.rows + b] : w.g[b * w.rows + a];
}

// Pearson of a[t] and b[t + lag] over their complete pairs, t in [from, to), from the
// blocked product and the sums corrected for the positions the other one misses (x is 0 where
// a series misses a value, so those take out nothing); the pairwise arithmetic where the
// correction would lose precision. Sets *pairs.
double fast_pearson(Window& w, size_t a, size_t b, int lag, size_t* pairs) {
  const size_t m = w.m, l = static_cast<size_t>(std::abs(lag));
  const size_t from = lag < 0 ? l : 0, to = lag < 0 ? m : m - l;  // a's; b's are + lag
  const auto ga = w.gaps_of(a), gb = w.gaps_of(b);
  const double *xa = w.xs(a), *xb = w.xs(b);
  double sa, saa, sb, sbb;
  size_t n;  // complete pairs: a's present values in range, less those paired with b's gaps
  if (lag == 0) {
    sa = w.sum[a], saa = w.sum2[a], sb = w.sum[b], sbb = w.sum2[b];
    for (uint32_t g : gb) {
      sa -= xa[g];
      saa -= xa[g] * xa[g];
    }
    for (uint32_t g : ga) {
      sb -= xb[g];
      sbb -= xb[g] * xb[g];
    }
    n = w.count[a] - gb.size();
  } else {
    const size_t pa = a * (m + 1), pb = b * (m + 1), bf = lag > 0 ? l : 0, bt = bf + to - from;
    sa = w.psum[pa + to] - w.psum[pa + from];
    saa = w.psum2[pa + to] - w.psum2[pa + from];
    sb = w.psum[pb + bt] - w.psum[pb + bf];
    sbb = w.psum2[pb + bt] - w.psum2[pb + bf];
    n = to - from;
    for (uint32_t g : ga) {
      if (g < from || g >= to) continue;
      --n;
      const size_t u = g + bf - from;  // b's position paired with a's gap
      sb -= xb[u];
      sbb -= xb[u] * xb[u];
    }
    for (uint32_t g : gb) {
      if (g < bf || g >= bt) continue;
      --n;
      const size_t t = g + from - bf;  // a's position paired with b's gap
      sa -= xa[t];
      saa -= xa[t] * xa[t];
    }
  }
  // Positions missing on both sides were taken out twice.
  for (size_t i = 0, j = 0; i < ga.size() && j < gb.size();) {
    const int64_t u = static_cast<int64_t>(ga[i]) + lag, v = gb[j];
    if (u < v) {
      ++i;
    } else if (u > v) {
      ++j;
    } else {
      n += ga[i] >= from && ga[i] < to;
      ++i;
      ++j;
    }
  }
  *pairs = n;
  if (n < kMinPairs) return kNaN;
  const double inv = 1.0 / static_cast<double>(n);
  const double cov = product(w, a, b, lag) - sa * sb * inv;
  const double va = saa - sa * sa * inv, vb = sbb - sb * sb * inv;
  // The centring is by each series' mean over all its returns: over the complete pairs the
  // mean moves little, unless the series is nearly constant there (then va is mostly
  // cancellation, and 0 exactly for a constant series is what the pairwise path tells).
  if (!(va > 0.5 * saa) || !(vb > 0.5 * sbb)) {
    size_t k = 0;
    return pairwise_corr(w.r(a) + from, w.r(b) + (lag > 0 ? l : 0), to - from,
                         CorrelationMethod::pearson, w.pair, &k);
  }
  return std::clamp(cov / std::sqrt(va * vb), -1.0, 1.0);
}

// Spearman of a and b over their complete pairs (exact: the pairwise path's value).
double fast_spearman(Window& w, size_t a, size_t b, size_t* pairs) {
  const auto ga = w.gaps_of(a), gb = w.gaps_of(b);
  if (ga.empty() && gb.empty()) {  // x holds the centred ranks: exact sums
    *pairs = w.m;
    const double saa = w.sum2[a], sbb = w.sum2[b];
    if (saa == 0 || sbb == 0) return kNaN;
    return std::clamp(product(w, a, b, 0) / std::sqrt(saa * sbb), -1.0, 1.0);
  }
  // The ranks of a at the positions where a is present and b missing (ra), and b's the
  // other way round (rb).
  double* ra = w.removed.data();
  size_t nra = 0;
  const double *rka = w.rank.data() + a * w.ld, *rkb = w.rank.data() + b * w.ld;
  for (uint32_t g : gb)
    if (w.present(a, g)) ra[nra++] = rka[g];
  double* rb = ra + nra;
  size_t nrb = 0;
  for (uint32_t g : ga)
    if (w.present(b, g)) rb[nrb++] = rkb[g];
  const size_t n = w.count[a] - nra;
  *pairs = n;
  if (n < kMinPairs) return kNaN;
  double s[3];
  rank_sums(rka, ra, nra, rkb, rb, nrb, w.len, s);
  // The sums of squares ran over a's (b's) present positions: take out those b (a) misses.
  auto rank_at = [](double r, const double* rm, size_t nrm) {
    double u = r - 0.5 * static_cast<double>(nrm);
    for (size_t k = 0; k < nrm; ++k) u -= std::clamp(r - rm[k], -0.5, 0.5);
    return u;
  };
  for (size_t k = 0; k < nra; ++k) {
    const double u = rank_at(ra[k], ra, nra);
    s[1] -= u * u;
  }
  for (size_t k = 0; k < nrb; ++k) {
    const double v = rank_at(rb[k], rb, nrb);
    s[2] -= v * v;
  }
  // Ranks 1..n (ties averaged) sum to n (n + 1) / 2: their mean is (n + 1) / 2.
  const double nn = static_cast<double>(n), mean = (nn + 1) / 2;
  const double sab = s[0] - nn * mean * mean, saa = s[1] - nn * mean * mean,
               sbb = s[2] - nn * mean * mean;
  if (saa == 0 || sbb == 0) return kNaN;
  return std::clamp(sab / std::sqrt(saa * sbb), -1.0, 1.0);
}

// Lags in the order of preference for ties: 0, -1, 1, -2, 2, ...
int lag_at(int k) { return k % 2 ? -(k + 1) / 2 : k / 2; }

}  // namespace

Status GraphOptions::validate() const {
  if (window < 3 || window > 1'000'000)
    return Error(Errc::invalid_argument, "window must be between 3 and 1000000 candles", "window");
  if (step < 1 || step > 1'000'000)
    return Error(Errc::invalid_argument, "step must be between 1 and 1000000 candles", "step");
  if (max_lag < 0 || static_cast<size_t>(max_lag) + 2 > window)
    return Error(Errc::invalid_argument, std::string(kMaxLagCheck), "max_lag");
  if (max_lag > 0 && method != CorrelationMethod::pearson)
    return Error(Errc::invalid_argument, std::string(kLaggedPearsonCheck), "method");
  if (threshold && !(*threshold >= 0 && *threshold <= 1))
    return Error(Errc::invalid_argument, "threshold must be between 0 and 1", "threshold");
  if (!threshold && top_k == 0)
    return Error(Errc::invalid_argument, "no edge rule: give a threshold, a top_k, or both",
                 "top_k");
  if (top_k > 10'000) return Error(Errc::invalid_argument, "top_k must be at most 10000", "top_k");
  if (min_pairs != 0 && (min_pairs < 2 || min_pairs > window - 1))
    return Error(Errc::invalid_argument, std::string(kMinPairsCheck), "min_pairs");
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
                             size_t offset, PairPath path) {
  GraphSnapshot snap;
  const size_t grid_first = static_cast<size_t>(version) * o.step;  // the window's first candle
  const size_t first = grid_first - offset;                         // ... in the series
  const size_t end = first + o.window;                              // one past its last
  snap.version = version;
  snap.window_start = grid_start + static_cast<int64_t>(grid_first) * interval_ms;
  snap.window_end = snap.window_start + static_cast<int64_t>(o.window) * interval_ms;

  // Returns of the window (window - 1 of them) per series, and the nodes. The scratch is kept
  // per thread between calls (about 6 MB for 200 series of a 1440-candle window), unless it
  // grew past kKeepScratchBytes.
  thread_local Window w;
  struct Release {
    Window& w;
    ~Release() {
      if (w.bytes() > kKeepScratchBytes) w = Window{};
    }
  } release{w};
  w.n = series.size();
  w.m = o.window - 1;
  w.len = (w.m + 3) / 4 * 4;
  w.ld = (w.len + static_cast<size_t>(o.max_lag) + 3) / 4 * 4;
  w.rows = (w.n + 2) / 3 * 3;
  w.raw.assign(w.n * w.ld, kNaN);
  w.count.assign(w.n, 0);
  w.gap_at.assign(w.n + 1, 0);
  w.gaps.clear();
  w.sum.assign(w.n, 0.0);
  w.sum2.assign(w.n, 0.0);
  w.x.assign(w.rows * w.ld, 0.0);
  snap.nodes.reserve(series.size());
  for (size_t s = 0; s < series.size(); ++s) {
    const AlignedSeries& a = series[s];
    const double* c = a.close.data();
    double* r = w.raw.data() + s * w.ld;
    size_t present = 0;
    for (size_t t = 0; t < w.m; ++t) {
      const double c1 = c[first + t + 1], c0 = c[first + t];
      if (c1 > 0 && c0 > 0) {  // NaN > 0 is false
        r[t] = std::log(c1 / c0);
        ++present;
      } else {
        w.gaps.push_back(static_cast<uint32_t>(t));
      }
    }
    w.count[s] = present;
    w.gap_at[s + 1] = w.gaps.size();
    // The centred returns (the fast path's Pearson values) give the volatility's sum of
    // squares too.
    const double sum = centre(w, s, r);
    const std::span<const double> rs(r, w.m);

    market::GraphNode node;
    node.symbol = a.symbol;
    node.version = version;
    node.window_start = snap.window_start;
    node.window_end = snap.window_end;
    size_t candles = 0;
    present_sum(c + first, o.window, &candles);
    node.candles = static_cast<int64_t>(candles);
    node.log_return = sum;
    node.volatility = present >= 2 ? std::sqrt(w.sum2[s] / static_cast<double>(present - 1)) : 0.0;
    const double* vol = a.volume.data() + first;
    const size_t half = o.window / 2;
    const double v1 = present_sum(vol, half, nullptr);
    const double v2 = present_sum(vol + half, o.window - half, nullptr);
    node.volume = v1 + v2;
    node.volume_change = v1 > 0 && v2 > 0 ? std::log(v2 / v1) : 0.0;
    node.return_1 = or_zero(rs[w.m - 1]);
    node.return_2 = or_zero(rs[w.m - 2]);
    node.return_3 = w.m >= 3 ? or_zero(rs[w.m - 3]) : 0.0;
    if (end - 1 + o.step < a.close.size()) {
      // The step's present returns (candles [end, end + step)): over each run of present
      // closes they add up to ln(last / first) of the run.
      double next = 0;
      bool any = false;
      const size_t stop = end + o.step;
      for (size_t i = end - 1; i < stop;) {
        if (!(c[i] > 0)) {
          ++i;
          continue;
        }
        size_t j = i;
        while (j + 1 < stop && c[j + 1] > 0) ++j;
        if (j > i) {
          next += std::log(c[j] / c[i]);
          any = true;
        }
        i = j + 1;
      }
      node.has_next = any;
      node.next_return = any ? next : 0.0;
    }
    snap.nodes.push_back(std::move(node));
  }
  w.pair.resize(w.m);

  // Every pair once, in byte order of the symbols.
  std::vector<size_t> order(series.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](size_t i, size_t j) { return series[i].symbol < series[j].symbol; });
  const size_t min_pairs = o.effective_min_pairs();
  const size_t npairs = w.n * (w.n - 1) / 2;
  std::vector<Candidate>& cands = w.cands;
  cands.clear();
  // Each pair's value, lag and complete pairs, in the order of `order`.
  std::vector<Candidate>& best = w.best;
  best.resize(npairs);
  size_t p = 0;
  for (size_t x = 0; x < order.size(); ++x)
    for (size_t y = x + 1; y < order.size(); ++y) best[p++] = {order[x], order[y], kNaN, 0, 0};

  if (path == PairPath::pairwise) {
    for (Candidate& c : best) {
      const double *ra = w.r(c.a), *rb = w.r(c.b);
      if (o.max_lag == 0) {
        c.corr = pairwise_corr(ra, rb, w.m, o.method, w.pair, &c.pairs);
        continue;
      }
      for (int k = 0; k <= 2 * o.max_lag; ++k) {
        const int lag = lag_at(k);
        const size_t l = static_cast<size_t>(std::abs(lag));
        const size_t from = lag < 0 ? l : 0;
        size_t pairs = 0;
        const double v = pairwise_corr(ra + from, rb + (lag > 0 ? l : 0), w.m - l,
                                       CorrelationMethod::pearson, w.pair, &pairs);
        if (std::isnan(v)) continue;
        if (std::isnan(c.corr) || std::abs(v) > std::abs(c.corr)) c = {c.a, c.b, v, lag, pairs};
      }
    }
  } else {
    w.removed.resize(2 * w.gaps.size());
    w.g.resize(w.rows * w.rows);
    if (o.method == CorrelationMethod::spearman) {
      w.rank.assign(w.n * w.ld, 0.0);
      for (size_t s = 0; s < w.n; ++s) {
        rank_series(w, s);
        centre(w, s, w.rank.data() + s * w.ld);
      }
      std::fill(w.g.begin(), w.g.end(), 0.0);
      gram(w.x.data(), w.x.data(), w.ld, w.rows, w.len, true, w.g.data());
      for (Candidate& c : best) c.corr = fast_spearman(w, c.a, c.b, &c.pairs);
    } else {
      if (o.max_lag > 0) {
        w.psum.assign(w.n * (w.m + 1), 0.0);
        w.psum2.assign(w.n * (w.m + 1), 0.0);
        for (size_t s = 0; s < w.n; ++s) {
          const double* x = w.xs(s);
          double* ps = w.psum.data() + s * (w.m + 1);
          double* ps2 = w.psum2.data() + s * (w.m + 1);
          for (size_t t = 0; t < w.m; ++t) {
            ps[t + 1] = ps[t] + x[t];
            ps2[t + 1] = ps2[t] + x[t] * x[t];
          }
        }
      }
      // Lag by lag in the order of preference (0, -1, 1, ...); lags -l and l share the
      // products of lag l (transposed).
      for (int k = 0; k <= 2 * o.max_lag; ++k) {
        const int lag = lag_at(k);
        if (lag <= 0) {
          const size_t l = static_cast<size_t>(-lag);
          std::fill(w.g.begin(), w.g.end(), 0.0);
          gram(w.x.data(), w.x.data() + l, w.ld, w.rows, w.len, l == 0, w.g.data());
        }
        for (Candidate& c : best) {
          size_t pairs = 0;
          const double v = fast_pearson(w, c.a, c.b, lag, &pairs);
          if (std::isnan(v)) continue;
          if (std::isnan(c.corr) || std::abs(v) > std::abs(c.corr)) c = {c.a, c.b, v, lag, pairs};
        }
      }
    }
  }
  for (const Candidate& c : best)
    if (!std::isnan(c.corr) && c.pairs >= min_pairs) cands.push_back(c);

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
