#include "exchange/binance/book_sync.h"

#include <stdexcept>
#include <utility>

#include "base/enum_names.h"

namespace sf::exchange::binance {

BookSync::BookSync(size_t max_buffered) : max_buffered_(max_buffered == 0 ? 1 : max_buffered) {}

std::optional<int64_t> BookSync::first_buffered_id() const {
  if (state_ != State::buffering || buffer_.empty()) return std::nullopt;
  return buffer_.front().first_id;
}

BookSync::Outcome BookSync::on_event(DepthDiff event) {
  if (state_ == State::synced) return apply(event);
  buffer_.push_back(std::move(event));
  // Bounded while no snapshot comes: the oldest go, and the snapshot must then be at least
  // as new as the first one left.
  while (buffer_.size() > max_buffered_) buffer_.pop_front();
  return Outcome::buffered;
}

BookSync::Outcome BookSync::on_snapshot(const DepthSnapshot& snap) {
  if (state_ != State::buffering)
    throw std::logic_error("BookSync::on_snapshot while synced (no snapshot was asked for)");
  if (!buffer_.empty() && snap.last_update_id < buffer_.front().first_id)
    return Outcome::snapshot_too_old;
  book_.clear();
  for (const auto& l : snap.bids) book_.set(market::BookSide::bid, l.price, l.qty);
  for (const auto& l : snap.asks) book_.set(market::BookSide::ask, l.price, l.qty);
  book_.set_last_update_id(snap.last_update_id);
  state_ = State::synced;
  std::deque<DepthDiff> pending = std::exchange(buffer_, {});
  while (!pending.empty()) {
    if (apply(pending.front()) == Outcome::gap) {
      // apply() started over with that event first; the newer ones follow it.
      pending.pop_front();
      for (auto& e : pending) buffer_.push_back(std::move(e));
      return Outcome::gap;
    }
    pending.pop_front();
  }
  return Outcome::synced;
}

BookSync::Outcome BookSync::apply(const DepthDiff& e) {
  const int64_t id = book_.last_update_id();
  if (e.last_id <= id) return Outcome::stale;
  if (e.first_id > id + 1) {
    ++resyncs_;
    std::deque<DepthDiff> keep;
    keep.push_back(e);
    start_over(std::move(keep));
    return Outcome::gap;
  }
  for (const auto& l : e.bids) book_.set(market::BookSide::bid, l.price, l.qty);
  for (const auto& l : e.asks) book_.set(market::BookSide::ask, l.price, l.qty);
  book_.set_last_update_id(e.last_id);
  return Outcome::applied;
}

void BookSync::start_over(std::deque<DepthDiff> keep) {
  book_.clear();
  state_ = State::buffering;
  buffer_ = std::move(keep);
}

const char* to_string(BookSync::Outcome o) {
  static constexpr const char* kNames[] = {"buffered", "applied",          "stale",
                                           "gap",      "snapshot_too_old", "synced"};
  return enum_name(o, kNames, "?");
}

}  // namespace sf::exchange::binance
