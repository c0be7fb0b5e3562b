// Validation of names and ranges that arrive from the network and end up in topic names,
// table names, URLs or exchange requests. Names are checked against a whitelist pattern,
// never escaped or interpolated raw.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace sf::protocol {

// Exchange symbol: [A-Z0-9]{2,20}.
bool is_valid_symbol(std::string_view s);
// Identifier usable as a Kafka topic, queue id or telemetry id:
// [A-Za-z0-9][A-Za-z0-9._-]{0,199}.
bool is_safe_name(std::string_view s);
// Identifier usable as a SQL table / ArangoDB collection name: [A-Za-z][A-Za-z0-9_]{0,62}.
bool is_safe_collection(std::string_view s);

// Path words of the API under /queues/ that can never be queue ids.
inline constexpr std::array<std::string_view, 4> kReservedQueueIds = {"list", "start", "stop",
                                                                      "start-test-flow"};
bool is_reserved_queue_id(std::string_view s);

// Kline intervals a target's `interval` may name.
inline constexpr std::array<std::string_view, 16> kKlineIntervals = {
    "1s", "1m", "3m", "5m",  "15m", "30m", "1h", "2h",
    "4h", "6h", "8h", "12h", "1d",  "3d",  "1w", "1M"};
bool is_kline_interval(std::string_view s);

// The checks above and parse_time_range() as JSON Schema (ECMA-262) patterns, for the
// OpenAPI document: a string matches exactly when the check accepts it (for time ranges:
// when it parses, whatever the order of its ends, which no pattern can express).
// protocol_test holds the two to each other.
inline constexpr std::string_view kSymbolPattern = "^[A-Z0-9]{2,20}$";
inline constexpr std::string_view kSafeNamePattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$";
inline constexpr std::string_view kCollectionPattern = "^[A-Za-z][A-Za-z0-9_]{0,62}$";
const std::string& time_range_pattern();

Status check_symbol(std::string_view s, const std::string& field);
Status check_safe_name(std::string_view s, const std::string& field);
Status check_collection(std::string_view s, const std::string& field);

// A half-open UTC interval [start_ms, end_ms).
struct TimeRange {
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  friend bool operator==(const TimeRange&, const TimeRange&) = default;
};

// Parses "A:B" where A and B are each "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM[:SS][Z]" (UTC).
// A date alone means 00:00:00 UTC of that day, so "2024-08-01:2024-08-02" is one day.
// Fails (invalid_argument, naming `field`) on any other shape, impossible dates, or an
// end that is not after the start.
Result<TimeRange> parse_time_range(std::string_view text, const std::string& field = "time_range");

// Days since 1970-01-01 for a proleptic Gregorian date (no validation): base/civil.h's.
int64_t days_from_civil(int y, unsigned m, unsigned d);

// "YYYY-MM-DDTHH:MM:SS" (UTC) for epoch milliseconds (seconds truncated); the inverse of
// one side of parse_time_range.
std::string format_instant(int64_t ms);
// "A:B" in the time_range format for [start_ms, end_ms).
std::string format_time_range(int64_t start_ms, int64_t end_ms);

// An inclusive range of trade ids or aggregate-trade ids: what a trades connector reports
// missing (docs/protocol.md, `missing_ranges`), written "id:FROM-TO".
struct IdRange {
  int64_t first = 0;
  int64_t last = 0;
  friend bool operator==(const IdRange&, const IdRange&) = default;
};

// True when `text` is meant as an id range (starts with "id:"), whether valid or not.
bool is_id_range_text(std::string_view text);
// Parses "id:FROM-TO": FROM and TO decimal integers (digits only, no sign, no leading zero,
// at most 2^63 - 1), FROM <= TO. invalid_argument naming `field` otherwise.
Result<IdRange> parse_id_range(std::string_view text, const std::string& field);
// "id:FROM-TO" for first <= last (both non-negative).
std::string format_id_range(int64_t first, int64_t last);
// A worker setting's optional bounds of an id range (either may be absent): each not
// negative, and first not after last. invalid_argument naming the offending field otherwise.
Status check_id_bounds(const std::optional<int64_t>& first, const std::optional<int64_t>& last,
                       const std::string& first_field, const std::string& last_field);

}  // namespace sf::protocol
