#include "exchange/binance/book_sync.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace sf::exchange::binance {
namespace {

using market::BookLevel;
using market::BookSide;
using O = BookSync::Outcome;

DepthDiff diff(int64_t U, int64_t u, std::vector<BookLevel> bids = {},
               std::vector<BookLevel> asks = {}) {
  return {.event_time = 0, .first_id = U, .last_id = u, .bids = bids, .asks = asks};
}

DepthSnapshot snapshot(int64_t id) {
  return {.last_update_id = id, .bids = {{100, 1}, {99, 2}}, .asks = {{101, 3}, {102, 4}}};
}

// Step 1: events are buffered until a snapshot comes; the first buffered U is known.
TEST(BookSync, BuffersUntilASnapshot) {
  BookSync s;
  EXPECT_EQ(s.state(), BookSync::State::buffering);
  EXPECT_FALSE(s.first_buffered_id());
  EXPECT_EQ(s.on_event(diff(10, 12)), O::buffered);
  EXPECT_EQ(s.on_event(diff(13, 15)), O::buffered);
  EXPECT_EQ(s.first_buffered_id(), 10);
  EXPECT_EQ(s.buffered(), 2u);
  EXPECT_TRUE(s.book().empty());
}

// Step 2: a snapshot older than the first buffered event is fetched again.
TEST(BookSync, ASnapshotOlderThanTheFirstEventIsFetchedAgain) {
  BookSync s;
  s.on_event(diff(10, 12));
  EXPECT_EQ(s.on_snapshot(snapshot(9)), O::snapshot_too_old);
  EXPECT_EQ(s.state(), BookSync::State::buffering);
  EXPECT_EQ(s.buffered(), 1u) << "the buffer is kept for the next snapshot";
  EXPECT_EQ(s.on_snapshot(snapshot(10)), O::synced) << "lastUpdateId == U is new enough";
}

// Step 3: buffered events with u <= lastUpdateId are dropped, the rest applied in order.
TEST(BookSync, BufferedEventsInTheSnapshotAreDroppedTheRestApplied) {
  BookSync s;
  s.on_event(diff(10, 12, {{100, 9}}));  // in the snapshot: must not be applied
  s.on_event(diff(13, 15, {{99, 0}}));   // contains 14: applied
  s.on_event(diff(16, 16, {}, {{101, 7}}));
  EXPECT_EQ(s.on_snapshot(snapshot(14)), O::synced);
  EXPECT_EQ(s.state(), BookSync::State::synced);
  EXPECT_EQ(s.book().last_update_id(), 16);
  EXPECT_EQ(s.book().levels(BookSide::bid), (std::vector<BookLevel>{{100, 1}}));
  EXPECT_EQ(s.book().levels(BookSide::ask), (std::vector<BookLevel>{{101, 7}, {102, 4}}));
  EXPECT_EQ(s.buffered(), 0u);
  EXPECT_THROW(s.on_snapshot(snapshot(20)), std::logic_error);
}

// A kept event right after the snapshot (U == lastUpdateId + 1) is contiguous; but a
// snapshot below the first buffered U is refetched, as documented, even when it would join.
TEST(BookSync, TheEventRightAfterTheSnapshotJoins) {
  BookSync s;
  s.on_event(diff(11, 13));
  EXPECT_EQ(s.on_snapshot(snapshot(10)), O::snapshot_too_old);
  BookSync t;
  t.on_event(diff(9, 10));
  t.on_event(diff(11, 13));
  EXPECT_EQ(t.on_snapshot(snapshot(10)), O::synced);
  EXPECT_EQ(t.book().last_update_id(), 13);
}

// Step 3 fails: the first event kept starts after lastUpdateId + 1 (events between the
// snapshot and it are missing): start over from that event.
TEST(BookSync, AHoleBetweenSnapshotAndBufferIsAGap) {
  BookSync s;
  s.on_event(diff(5, 6));
  s.on_event(diff(12, 13));
  s.on_event(diff(14, 14));
  EXPECT_EQ(s.on_snapshot(snapshot(10)), O::gap);
  EXPECT_EQ(s.state(), BookSync::State::buffering);
  EXPECT_TRUE(s.book().empty()) << "the book is thrown away";
  EXPECT_EQ(s.first_buffered_id(), 12) << "buffering again from the event after the hole";
  EXPECT_EQ(s.buffered(), 2u);
  EXPECT_EQ(s.resyncs(), 1);
  EXPECT_EQ(s.on_snapshot(snapshot(13)), O::synced);
  EXPECT_EQ(s.book().last_update_id(), 14);
}

// Step 4: once synced, stale events are ignored, contiguous or overlapping ones applied, a
// gap throws the book away.
TEST(BookSync, SyncedEventsStaleAppliedOrGap) {
  BookSync s;
  ASSERT_EQ(s.on_snapshot(snapshot(10)), O::synced) << "no event yet: the snapshot alone";
  EXPECT_EQ(s.on_event(diff(8, 10, {{100, 5}})), O::stale);
  EXPECT_EQ(s.book().best(BookSide::bid)->qty, 1);
  EXPECT_EQ(s.on_event(diff(9, 12, {{100, 5}})), O::applied) << "overlaps the book's id";
  EXPECT_EQ(s.on_event(diff(13, 13, {{98, 1}})), O::applied);
  EXPECT_EQ(s.book().last_update_id(), 13);
  EXPECT_EQ(s.book().size(BookSide::bid), 3u);
  EXPECT_EQ(s.on_event(diff(15, 16)), O::gap) << "update 14 was lost";
  EXPECT_EQ(s.state(), BookSync::State::buffering);
  EXPECT_EQ(s.first_buffered_id(), 15);
  EXPECT_EQ(s.resyncs(), 1);
  EXPECT_EQ(s.on_event(diff(17, 18)), O::buffered);
  EXPECT_EQ(s.on_snapshot(snapshot(16)), O::synced);
  EXPECT_EQ(s.book().last_update_id(), 18);
}

TEST(BookSync, TheBufferIsBoundedOldestFirst) {
  BookSync s(3);
  for (int64_t i = 1; i <= 5; ++i) s.on_event(diff(i * 10, i * 10 + 9));
  EXPECT_EQ(s.buffered(), 3u);
  EXPECT_EQ(s.first_buffered_id(), 30);
  EXPECT_EQ(s.on_snapshot(snapshot(25)), O::snapshot_too_old)
      << "the dropped events make an older snapshot unusable";
  EXPECT_EQ(s.on_snapshot(snapshot(35)), O::synced);
  EXPECT_EQ(s.book().last_update_id(), 59);
}

TEST(BookSync, OutcomesHaveNames) {
  EXPECT_STREQ(to_string(O::gap), "gap");
  EXPECT_STREQ(to_string(O::snapshot_too_old), "snapshot_too_old");
  EXPECT_STREQ(to_string(O::synced), "synced");
}

}  // namespace
}  // namespace sf::exchange::binance
