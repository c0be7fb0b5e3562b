#include "exchange/sim/depth.h"

#include <algorithm>
#include <cmath>

#include "exchange/sim/hash.h"

namespace sf::exchange::sim {

namespace {

// The quantity of the level at `price` after tick `tick`.
int64_t level_qty(const SymbolSpec& s, int64_t price, int64_t tick) {
  const auto p = static_cast<uint64_t>(price);
  const uint64_t key = s.seed ^ 0x6465707468ULL;  // "depth"
  const auto phase = static_cast<int64_t>(splitmix(key ^ p) % DepthModel::kLifeTicks);
  const int64_t generation = (tick + phase) / DepthModel::kLifeTicks;
  const double mean = std::max(1.0, s.volume_per_sec * 2 * static_cast<double>(kUnit));
  const auto q = static_cast<int64_t>(
      mean * u01(splitmix(key ^ (p * 0xd6e8feb86659fd93ULL) ^ static_cast<uint64_t>(generation))));
  return std::max(s.step, q / s.step * s.step);
}

// The changed levels between two sides of the same ordering (`better(a, b)`: a comes
// first), appended to *out: b's quantity where it differs from a's, 0 where b lacks it.
template <typename Better>
void side_diff(const std::vector<market::BookLevel>& a, const std::vector<market::BookLevel>& b,
               Better better, std::vector<market::BookLevel>* out) {
  size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (j == b.size() || (i < a.size() && better(a[i].price, b[j].price))) {
      out->push_back({a[i++].price, 0});
    } else if (i == a.size() || better(b[j].price, a[i].price)) {
      out->push_back(b[j++]);
    } else {
      if (a[i].qty != b[j].qty) out->push_back(b[j]);
      ++i, ++j;
    }
  }
}

}  // namespace

int64_t DepthModel::tick_at(int64_t t_ms) {
  const int64_t since = t_ms - kEpochMs;
  if (since < kTickMs) return -1;
  return since / kTickMs - 1;
}

DepthBook DepthModel::book(const SymbolSpec& s, int64_t tick, size_t limit) const {
  DepthBook b;
  b.last_update_id = last_id(tick);
  const int64_t mid = market_.current_price(s, tick_end_ms(tick));
  const size_t n = std::min(limit, kLevels);
  b.bids.reserve(n);
  b.asks.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t bid = mid - static_cast<int64_t>(i) * s.tick;
    if (bid <= 0) break;
    b.bids.push_back({bid, level_qty(s, bid, tick)});
  }
  for (size_t i = 0; i < n; ++i) {
    const int64_t ask = mid + static_cast<int64_t>(i + 1) * s.tick;
    b.asks.push_back({ask, level_qty(s, ask, tick)});
  }
  return b;
}

DepthUpdate DepthModel::update(const SymbolSpec& s, int64_t from, int64_t to) const {
  return diff(book(s, from), book(s, to));
}

DepthUpdate DepthModel::diff(const DepthBook& a, const DepthBook& b) {
  DepthUpdate u;
  u.first_id = a.last_update_id + 1;
  u.last_id = b.last_update_id;
  u.time_ms = tick_end_ms(b.last_update_id / kIdsPerTick - 1);
  side_diff(a.bids, b.bids, std::greater<>(), &u.bids);
  side_diff(a.asks, b.asks, std::less<>(), &u.asks);
  return u;
}

}  // namespace sf::exchange::sim
