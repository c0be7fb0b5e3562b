#include "market/order_book.h"

#include <stdexcept>

namespace sf::market {

void OrderBook::set(BookSide side, int64_t price, int64_t qty) {
  if (price < 0 || qty < 0) throw std::invalid_argument("OrderBook::set: negative price or qty");
  auto apply = [&](auto& levels) {
    if (qty == 0)
      levels.erase(price);
    else
      levels[price] = qty;
  };
  side == BookSide::bid ? apply(bids_) : apply(asks_);
}

void OrderBook::clear() {
  bids_.clear();
  asks_.clear();
  last_update_id_ = 0;
}

std::vector<BookLevel> OrderBook::levels(BookSide side, size_t n) const {
  std::vector<BookLevel> out;
  auto take = [&](const auto& levels) {
    for (const auto& [p, q] : levels) {
      if (n > 0 && out.size() == n) break;
      out.push_back({p, q});
    }
  };
  side == BookSide::bid ? take(bids_) : take(asks_);
  return out;
}

std::optional<BookLevel> OrderBook::best(BookSide side) const {
  if (side == BookSide::bid)
    return bids_.empty() ? std::nullopt
                         : std::optional(BookLevel{bids_.begin()->first, bids_.begin()->second});
  return asks_.empty() ? std::nullopt
                       : std::optional(BookLevel{asks_.begin()->first, asks_.begin()->second});
}

size_t OrderBook::size(BookSide side) const {
  return side == BookSide::bid ? bids_.size() : asks_.size();
}

bool OrderBook::crossed() const {
  return !bids_.empty() && !asks_.empty() && bids_.begin()->first >= asks_.begin()->first;
}

}  // namespace sf::market
