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

void append_levels_text(std::string& out, const std::vector<BookLevel>& levels) {
  out += '[';
  for (size_t i = 0; i < levels.size(); ++i) {
    out += i ? ",[\"" : "[\"";
    append_units(out, levels[i].price);
    out += "\",\"";
    append_units(out, levels[i].qty);
    out += "\"]";
  }
  out += ']';
}

std::string levels_text(const std::vector<BookLevel>& levels) {
  std::string s;
  s.reserve(2 + levels.size() * 36);
  append_levels_text(s, levels);
  return s;
}

namespace {

// Reads levels text, calling on_level(price, qty) for each pair.
template <class F>
Status read_levels(std::string_view t, F&& on_level) {
  size_t i = 0;
  auto fail = [&](const std::string& why) {
    return Error(Errc::invalid_argument, "levels text: " + why + " at byte " + std::to_string(i));
  };
  auto expect = [&](char c) {
    if (i < t.size() && t[i] == c) {
      ++i;
      return true;
    }
    return false;
  };
  auto number = [&](int64_t* v) -> bool {
    if (!expect('"')) return false;
    const size_t end = t.find('"', i);
    if (end == std::string_view::npos) return false;
    auto u = parse_units(t.substr(i, end - i));
    if (!u) return false;
    *v = *u;
    i = end + 1;
    return true;
  };
  if (!expect('[')) return fail("expected '['");
  if (expect(']')) return i == t.size() ? Status{} : fail("unexpected text after the array");
  for (;;) {
    int64_t price = 0, qty = 0;
    if (!expect('[')) return fail("expected '[' opening a level");
    if (!number(&price)) return fail("expected a price as a quoted decimal");
    if (!expect(',')) return fail("expected ','");
    if (!number(&qty)) return fail("expected a quantity as a quoted decimal");
    if (!expect(']')) return fail("expected ']' closing a level");
    on_level(price, qty);
    if (expect(']')) break;
    if (!expect(',')) return fail("expected ',' or ']'");
  }
  if (i != t.size()) return fail("unexpected text after the array");
  return {};
}

}  // namespace

Result<std::vector<BookLevel>> parse_levels_text(std::string_view text) {
  std::vector<BookLevel> out;
  SF_TRY(read_levels(text, [&](int64_t p, int64_t q) { out.push_back({p, q}); }));
  return out;
}

Status check_levels_text(std::string_view text) {
  return read_levels(text, [](int64_t, int64_t) {});
}

}  // namespace sf::market
