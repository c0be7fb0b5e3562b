// Prices and quantities as fixed-point integers in units of 1e-8 (Binance prints at most 8
// decimals), and their exchange text: the one codec the simulator, the order book and the
// stream decoders share.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sf::market {

inline constexpr int64_t kUnitsPerOne = 100'000'000;  // 1e-8 units

// Units of 1e-8 in non-negative decimal text ("64000.01", "0.00100000", "5"): digits, an
// optional '.' followed by 1..8 digits. nullopt for anything else (a sign, an exponent,
// more than 8 decimals, empty parts, a value above INT64_MAX units): an exchange value that
// cannot be held exactly is refused, never rounded.
std::optional<int64_t> parse_units(std::string_view text);

// Writes units with exactly 8 decimals ("64000.01000000", "-0.50000000") at p, at most 30
// bytes; returns the end. For callers that build rows in a buffer of their own.
char* put_units(char* p, int64_t units);
// Appends the same text; no allocation when the string has capacity.
void append_units(std::string& out, int64_t units);
std::string format_units(int64_t units);

}  // namespace sf::market
