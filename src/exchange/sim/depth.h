// The simulated order book of a symbol over time, with Binance's update ids: what the REST
// /depth snapshots and (issue 12) the depth streams serve, consistent with each other, so a
// client that follows Binance's snapshot-plus-diff algorithm keeps exactly this book.
//
// - Time is cut into ticks of kTickMs from kEpochMs. Tick k ends at tick_end_ms(k) and
//   carries the update ids [first_id(k), last_id(k)] (kIdsPerTick of them).
// - The book after tick k is a pure function of k: bids from the mid price down and asks
//   from one price tick above it, kLevels each, one price tick apart (bids stop above 0).
//   The mid is Market::current_price at the tick's end, so at an instant that ends a tick
//   the best bid is the tickers' last price. A level's quantity is hashed from its price
//   and its generation: every kLifeTicks ticks, at a phase of its own, so a tick changes
//   about 2 x kLevels / kLifeTicks levels besides the ones a moving mid shifts.
// - update(from, to) is the change from the book after tick `from` to the book after tick
//   `to`: every level whose quantity differs (0: gone), U = first_id(from + 1),
//   u = last_id(to); consecutive updates chain (the next U is this u + 1).
//
// Thread-safety: immutable; const methods from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "exchange/sim/market.h"
#include "market/order_book.h"

namespace sf::exchange::sim {

struct DepthBook {
  int64_t last_update_id = 0;
  std::vector<market::BookLevel> bids, asks;  // best first
};

struct DepthUpdate {
  int64_t first_id = 0, last_id = 0;          // U, u
  int64_t time_ms = 0;                        // the end of the last tick it covers
  std::vector<market::BookLevel> bids, asks;  // changed levels, best first; qty 0 = removed
};

class DepthModel {
 public:
  static constexpr int64_t kTickMs = 100;
  static constexpr int64_t kIdsPerTick = 10;
  static constexpr size_t kLevels = 1000;
  static constexpr int64_t kLifeTicks = 50;

  explicit DepthModel(const Market& market) : market_(market) {}

  // The last tick completed at t_ms (its end <= t_ms); -1 before the first.
  static int64_t tick_at(int64_t t_ms);
  static int64_t tick_end_ms(int64_t tick) { return kEpochMs + (tick + 1) * kTickMs; }
  static int64_t first_id(int64_t tick) { return tick * kIdsPerTick + 1; }
  static int64_t last_id(int64_t tick) { return (tick + 1) * kIdsPerTick; }

  // The book after tick `tick` (>= 0), at most `limit` levels a side.
  DepthBook book(const SymbolSpec& s, int64_t tick, size_t limit = kLevels) const;
  // The changes after tick `from` up to tick `to` (0 <= from < to).
  DepthUpdate update(const SymbolSpec& s, int64_t from, int64_t to) const;
  // The same from two full books (book(s, from), book(s, to)): a stream that keeps the last
  // book it sent from computes each book once.
  static DepthUpdate diff(const DepthBook& from, const DepthBook& to);

 private:
  const Market& market_;
};

}  // namespace sf::exchange::sim
