// A local order book of one symbol: price levels on each side, as the exchange's depth
// snapshots and diff events describe them (docs/binance.md's "local order book" rules live
// in exchange/binance/book_sync.h; this type only holds levels).
//
// Prices and quantities are fixed-point integers in units of 1e-8 (Binance prints at most
// 8 decimals), parsed strictly from the exchange's decimal text by parse_units() (units.h), so
// levels order numerically ("9.5" < "10.0") and compare exactly. A quantity is absolute: set()
// replaces a level, a quantity of 0 removes it.
//
// Thread-safety: none; one owner (a live worker's book, a test's rebuilt book).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "market/units.h"

namespace sf::market {

enum class BookSide { bid, ask };

struct BookLevel {
  int64_t price = 0;  // 1e-8 units
  int64_t qty = 0;    // 1e-8 units, > 0 in a book
  friend bool operator==(const BookLevel&, const BookLevel&) = default;
};

class OrderBook {
 public:
  // Sets a level (qty > 0) or removes it (qty == 0). A negative quantity or price is a bug
  // in the caller (decoders refuse them): it throws std::invalid_argument.
  void set(BookSide side, int64_t price, int64_t qty);
  void clear();

  // The update id the book reflects (a snapshot's lastUpdateId, then each applied event's
  // last id `u`); 0 before any.
  int64_t last_update_id() const { return last_update_id_; }
  void set_last_update_id(int64_t id) { last_update_id_ = id; }

  // Best first: bids from the highest price, asks from the lowest. n = 0: every level.
  std::vector<BookLevel> levels(BookSide side, size_t n = 0) const;
  std::optional<BookLevel> best(BookSide side) const;
  size_t size(BookSide side) const;
  bool empty() const { return bids_.empty() && asks_.empty(); }
  // A bid at or above an ask: a book out of sync with the exchange's.
  bool crossed() const;

  // Same levels and same update id.
  friend bool operator==(const OrderBook&, const OrderBook&) = default;

 private:
  std::map<int64_t, int64_t, std::greater<>> bids_;  // highest first
  std::map<int64_t, int64_t> asks_;                  // lowest first
  int64_t last_update_id_ = 0;
};

// Levels text: how a record (records.h: BookSnapshot, BookDiff) holds a side's levels, a JSON
// array of [price, quantity] pairs of 8-decimal strings, in the given order, no spaces:
//   [["64000.01000000","0.50000000"],["63999.99000000","1.20000000"]]
std::string levels_text(const std::vector<BookLevel>& levels);
void append_levels_text(std::string& out, const std::vector<BookLevel>& levels);
// Strict reading of levels text: exactly that shape (no spaces, every number parse_units()
// text); invalid_argument saying where it fails.
Result<std::vector<BookLevel>> parse_levels_text(std::string_view text);
// The same check without building the levels.
Status check_levels_text(std::string_view text);

}  // namespace sf::market
