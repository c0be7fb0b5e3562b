// Test support: an order book published or stored by loader-ws-orderbook, checked against the
// exchange simulator's (exchange/sim/depth.h). Header-only; needs gtest, sf_market and
// sf_exchange_sim.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "exchange/sim/depth.h"
#include "exchange/sim/market.h"
#include "market/order_book.h"
#include "market/records.h"

namespace sf::testing {

struct BookCheck {
  size_t checkpoints = 0;  // later snapshots the diffs rebuilt the book up to, all equal
  size_t resyncs = 0;      // later snapshots a hole in the diffs kept from being rebuilt
};

// `snaps` and `diffs` of one symbol in update-id order. Every snapshot must be the
// simulator's book at its update id; from each snapshot, the diffs after it (last_update_id
// above its id, in order) must rebuild the simulator's book at the next snapshot's id, unless
// they have a hole there (a resync: its snapshot starts anew). Failures are test failures.
inline BookCheck check_book_against_sim(const std::vector<market::BookSnapshot>& snaps,
                                        const std::vector<market::BookDiff>& diffs,
                                        const exchange::sim::Market& market,
                                        std::string_view symbol) {
  namespace sim = exchange::sim;
  BookCheck out;
  const sim::DepthModel model(market);
  const sim::SymbolSpec* spec = market.find(symbol);
  if (!spec) {
    ADD_FAILURE() << "unknown symbol " << symbol;
    return out;
  }
  auto levels = [](const std::string& text) {
    auto l = market::parse_levels_text(text);
    EXPECT_TRUE(l.ok()) << l.error().message;
    return l.ok() ? *l : std::vector<market::BookLevel>{};
  };
  // The simulator's book at an update id that ends a tick.
  auto sim_book = [&](int64_t update_id) {
    EXPECT_EQ(update_id % sim::DepthModel::kIdsPerTick, 0) << update_id;
    return model.book(*spec, update_id / sim::DepthModel::kIdsPerTick - 1);
  };
  for (const auto& s : snaps) {
    auto want = sim_book(s.update_id);
    EXPECT_EQ(levels(s.bids), want.bids) << "snapshot " << s.update_id;
    EXPECT_EQ(levels(s.asks), want.asks) << "snapshot " << s.update_id;
  }
  if (snaps.empty()) return out;
  market::OrderBook book;
  auto load = [&](const market::BookSnapshot& s) {
    book.clear();
    for (const auto& l : levels(s.bids)) book.set(market::BookSide::bid, l.price, l.qty);
    for (const auto& l : levels(s.asks)) book.set(market::BookSide::ask, l.price, l.qty);
    book.set_last_update_id(s.update_id);
  };
  load(snaps[0]);
  size_t di = 0;
  for (size_t si = 1; si < snaps.size(); ++si) {
    const auto& s = snaps[si];
    bool hole = false;
    for (; di < diffs.size(); ++di) {
      const auto& d = diffs[di];
      if (d.last_update_id <= book.last_update_id()) continue;
      if (d.last_update_id > s.update_id) break;
      if (d.first_update_id > book.last_update_id() + 1) hole = true;
      for (const auto& l : levels(d.bids)) book.set(market::BookSide::bid, l.price, l.qty);
      for (const auto& l : levels(d.asks)) book.set(market::BookSide::ask, l.price, l.qty);
      book.set_last_update_id(d.last_update_id);
    }
    if (!hole && book.last_update_id() == s.update_id) {
      auto want = sim_book(s.update_id);
      EXPECT_EQ(book.levels(market::BookSide::bid), want.bids) << "rebuilt at " << s.update_id;
      EXPECT_EQ(book.levels(market::BookSide::ask), want.asks) << "rebuilt at " << s.update_id;
      ++out.checkpoints;
    } else {
      ++out.resyncs;
    }
    load(s);
  }
  return out;
}

}  // namespace sf::testing
