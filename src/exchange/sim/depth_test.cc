#include "exchange/sim/depth.h"

#include <gtest/gtest.h>

#include "exchange/binance/book_sync.h"

namespace sf::exchange::sim {
namespace {

namespace bn = exchange::binance;
using market::BookSide;

constexpr int64_t kAug1 = 1722470400000;  // 2024-08-01T00:00:00Z

market::OrderBook as_order_book(const DepthBook& b) {
  market::OrderBook o;
  for (const auto& l : b.bids) o.set(BookSide::bid, l.price, l.qty);
  for (const auto& l : b.asks) o.set(BookSide::ask, l.price, l.qty);
  o.set_last_update_id(b.last_update_id);
  return o;
}

bn::DepthDiff as_diff(const DepthUpdate& u) {
  return {.event_time = u.time_ms,
          .first_id = u.first_id,
          .last_id = u.last_id,
          .bids = u.bids,
          .asks = u.asks};
}

TEST(SimDepth, TicksAndUpdateIds) {
  EXPECT_EQ(DepthModel::tick_at(kEpochMs + 99), -1);
  EXPECT_EQ(DepthModel::tick_at(kEpochMs + 100), 0);
  EXPECT_EQ(DepthModel::tick_at(kEpochMs + 250), 1);
  const int64_t k = DepthModel::tick_at(kAug1);
  EXPECT_EQ(DepthModel::tick_end_ms(k), kAug1);
  EXPECT_EQ(DepthModel::last_id(k) + 1, DepthModel::first_id(k + 1));
  EXPECT_EQ(DepthModel::last_id(k) - DepthModel::first_id(k) + 1, DepthModel::kIdsPerTick);
}

TEST(SimDepth, TheBookSitsOnTheLastPrice) {
  Market m(7);
  DepthModel model(m);
  for (const auto& s : m.symbols()) {
    const int64_t k = DepthModel::tick_at(kAug1 + 30'500);
    const DepthBook b = model.book(s, k);
    ASSERT_EQ(b.bids.size(), DepthModel::kLevels) << s.name;
    ASSERT_EQ(b.asks.size(), DepthModel::kLevels);
    EXPECT_EQ(b.bids[0].price, m.current_price(s, kAug1 + 30'500)) << "best bid = last price";
    EXPECT_EQ(b.asks[0].price - b.bids[0].price, s.tick) << "a spread of one price tick";
    EXPECT_FALSE(as_order_book(b).crossed());
    for (const auto& l : b.bids) EXPECT_GT(l.qty, 0);
    EXPECT_EQ(model.book(s, k, 5).bids.size(), 5u);
    EXPECT_EQ(model.book(s, k, 5).asks[4], b.asks[4]) << "a limit only cuts";
  }
}

// What the streams promise: a client that joins a snapshot and applies the updates by the
// documented algorithm holds exactly the model's book, tick after tick and in 1 s steps.
TEST(SimDepth, UpdatesChainOntoSnapshotsByTheDocumentedAlgorithm) {
  Market m(11);
  DepthModel model(m);
  const SymbolSpec& s = *m.find("BTCUSDT");
  const int64_t k0 = DepthModel::tick_at(kAug1);
  for (int64_t step : {int64_t{1}, int64_t{10}}) {  // @depth@100ms, @depth (1000 ms)
    bn::BookSync sync;
    // Events arrive before the snapshot is fetched; the first ones are older than it.
    for (int64_t k = k0; k < k0 + 3 * step; k += step)
      EXPECT_EQ(sync.on_event(as_diff(model.update(s, k, k + step))),
                bn::BookSync::Outcome::buffered);
    const DepthBook snap = model.book(s, k0 + step);
    ASSERT_EQ(sync.on_snapshot({snap.last_update_id, snap.bids, snap.asks}),
              bn::BookSync::Outcome::synced);
    EXPECT_EQ(sync.book(), as_order_book(model.book(s, k0 + 3 * step)));
    size_t changed = 0;
    for (int64_t k = k0 + 3 * step; k < k0 + 300; k += step) {
      const DepthUpdate u = model.update(s, k, k + step);
      changed += u.bids.size() + u.asks.size();
      ASSERT_EQ(sync.on_event(as_diff(u)), bn::BookSync::Outcome::applied);
      ASSERT_EQ(sync.book(), as_order_book(model.book(s, k + step))) << "tick " << k + step;
    }
    EXPECT_GT(changed, 0u) << "the book moves";
    EXPECT_EQ(sync.resyncs(), 0);
  }
}

TEST(SimDepth, ASkippedUpdateIsSeenAsAGap) {
  Market m(11);
  DepthModel model(m);
  const SymbolSpec& s = *m.find("ETHUSDT");
  const int64_t k0 = DepthModel::tick_at(kAug1);
  bn::BookSync sync;
  const DepthBook snap = model.book(s, k0);
  ASSERT_EQ(sync.on_snapshot({snap.last_update_id, snap.bids, snap.asks}),
            bn::BookSync::Outcome::synced);
  EXPECT_EQ(sync.on_event(as_diff(model.update(s, k0 + 1, k0 + 2))), bn::BookSync::Outcome::gap);
}

}  // namespace
}  // namespace sf::exchange::sim
