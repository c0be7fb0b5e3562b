#include "market/order_book.h"

#include <charconv>
#include <limits>
#include <stdexcept>

namespace sf::market {

std::optional<int64_t> parse_units(std::string_view s) {
  const size_t dot = s.find('.');
  const std::string_view whole = s.substr(0, dot);
  const std::string_view frac =
      dot == std::string_view::npos ? std::string_view{} : s.substr(dot + 1);
  if (whole.empty() || (dot != std::string_view::npos && (frac.empty() || frac.size() > 8)))
    return std::nullopt;
  for (std::string_view part : {whole, frac})
    for (char c : part)
      if (c < '0' || c > '9') return std::nullopt;
  uint64_t w = 0;
  // from_chars refuses overflow; leading zeros are fine ("0.5", "00.5" both mean 0.5).
  if (auto r = std::from_chars(whole.data(), whole.data() + whole.size(), w);
      r.ec != std::errc{} || r.ptr != whole.data() + whole.size())
    return std::nullopt;
  int64_t f = 0;
  for (size_t i = 0; i < 8; ++i) f = f * 10 + (i < frac.size() ? frac[i] - '0' : 0);
  constexpr auto kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (w > (kMax - static_cast<uint64_t>(f)) / kUnitsPerOne) return std::nullopt;
  return static_cast<int64_t>(w) * kUnitsPerOne + f;
}

std::string format_units(int64_t units) {
  std::string out = std::to_string(units / kUnitsPerOne);
  std::string frac = std::to_string(units % kUnitsPerOne);
  out += '.';
  out.append(8 - frac.size(), '0');
  out += frac;
  return out;
}

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
