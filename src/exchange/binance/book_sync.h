// Keeping a local order book in sync with Binance's spot depth stream: the documented
// snapshot-plus-diff algorithm (docs/binance.md "Keeping a local order book"), as a state
// machine with no I/O. The caller (a live order-book worker) feeds it the `<s>@depth` events
// as they arrive and the `GET /api/v3/depth` snapshots it fetched, and acts on each outcome.
//
//   buffering --on_snapshot(lastUpdateId >= first buffered U)--> synced
//   synced    --on_event(U > book id + 1: an event was lost)---> buffering (gap)
//
// - Buffering: events are kept (at most max_buffered; beyond that the oldest go, and the
//   first buffered U moves with them) until a snapshot arrives. A snapshot older than the
//   first buffered event (lastUpdateId < its U, strictly, as documented: even U ==
//   lastUpdateId + 1 is refetched) cannot be joined to the stream: the caller fetches again
//   (Outcome::snapshot_too_old).
// - A snapshot that fits starts the book at lastUpdateId; buffered events with
//   u <= lastUpdateId are dropped, the rest applied in order by the rule below.
// - The rule for every event once synced, book id B: u <= B -> stale, ignored; U > B + 1 ->
//   gap: the book is thrown away and buffering starts again with this event first (the
//   caller fetches a new snapshot; resyncs() counts these); otherwise each price level is set
//   (quantity 0 removes it) and B = u. The first event kept after a snapshot therefore has
//   U <= B + 1 <= u: Binance's "lastUpdateId within [U, u]", where U == B + 1 (an event
//   right after the snapshot, following a dropped one) is contiguous too.
//
// Events must have first_id <= last_id (the decoder refuses others). Thread-safety: none;
// one per symbol, owned by the worker's connection thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "exchange/binance/decode.h"
#include "market/order_book.h"

namespace sf::exchange::binance {

class BookSync {
 public:
  enum class State { buffering, synced };
  enum class Outcome {
    buffered,          // waiting for a snapshot; the event is kept
    applied,           // the book moved to the event's u
    stale,             // u <= the book's id: already in the book, ignored
    gap,               // an event was lost: book dropped, buffering again; fetch a snapshot
    snapshot_too_old,  // lastUpdateId < the first buffered U: fetch the snapshot again
    synced,            // the snapshot and the buffered events after it make the book
  };

  explicit BookSync(size_t max_buffered = 100'000);

  Outcome on_event(DepthDiff event);
  // Only while buffering (a snapshot is fetched because the state says so); calling it when
  // synced is a bug in the caller and throws std::logic_error.
  Outcome on_snapshot(const DepthSnapshot& snapshot);

  State state() const { return state_; }
  // Meaningful when synced; empty while buffering.
  const market::OrderBook& book() const { return book_; }
  // U of the oldest buffered event, while buffering with events.
  std::optional<int64_t> first_buffered_id() const;
  size_t buffered() const { return buffer_.size(); }
  int64_t resyncs() const { return resyncs_; }  // gaps seen after being synced

 private:
  Outcome apply(const DepthDiff& event);  // the rule, in state synced
  void start_over(std::deque<DepthDiff> keep);

  size_t max_buffered_;
  State state_ = State::buffering;
  market::OrderBook book_;
  std::deque<DepthDiff> buffer_;
  int64_t resyncs_ = 0;
};

const char* to_string(BookSync::Outcome o);

}  // namespace sf::exchange::binance
