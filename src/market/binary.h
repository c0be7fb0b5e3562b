// The two forms of a data-topic message (docs/protocol.md, "Data topics"):
// - json: one record, one JSON object (records.h's codec): readable with any Kafka tool;
// - binary: a page of records of one kind in one message, each field in schema order
//   (market/schema.h), so a loader publishes an exchange page as one message and a
//   connector reads it without a JSON parser. About a third of the bytes of the JSON form,
//   and one bus message per page instead of one per record: the per-message costs of the
//   bus (librdkafka's queueing, timestamps, delivery reports, compression framing) are
//   paid once per page (docs/benchmarks.md, issue 11).
//
// Binary layout, little-endian:
//   byte 0      0xB1 (a JSON record starts with '{' or whitespace, never this byte)
//   byte 1      the kind (market::Kind: 0 candle, 1 agg_trade, 2 trade, 3 book_snapshot,
//               4 book_diff)
//   bytes 2..5  record count N, uint32 (1..kMaxPageRecords)
//   N records, each its schema's fields in order:
//     text, decimal  uvarint byte length (LEB128, at most 3 bytes; at most
//                    kMaxRecordTextBytes), then the UTF-8 bytes;
//                    a decimal is the exchange's text, exactly as in the JSON form
//     integer        int64, 8 bytes two's complement
//     boolean        1 byte, 0 or 1
//   nothing after the last record.
// Decoding is as strict as the JSON form's (every rule of the schema, Schema<R>::check) and
// also refuses a wrong kind, a truncated page, trailing bytes and a bad boolean byte.
//
// Everything here is pure: safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "market/records.h"

namespace sf::market {

enum class RecordFormat { json, binary };
const char* to_string(RecordFormat f);
// "json" or "binary"; invalid_argument otherwise.
Result<RecordFormat> record_format_from_string(std::string_view s);

inline constexpr unsigned char kBinaryPageMagic = 0xB1;
inline constexpr size_t kBinaryPageHeader = 6;
inline constexpr size_t kMaxPageRecords = 100'000;

// True if a data-topic message is in the binary form (by its first byte).
inline bool is_binary_page(std::string_view value) {
  return !value.empty() && static_cast<unsigned char>(value[0]) == kBinaryPageMagic;
}

// The record count a binary page's header states (nullopt for a JSON record or a page
// shorter than its header); decode_message() checks it against the page.
inline std::optional<size_t> binary_page_count(std::string_view value) {
  if (!is_binary_page(value) || value.size() < kBinaryPageHeader) return std::nullopt;
  const auto* p = reinterpret_cast<const unsigned char*>(value.data());
  return static_cast<size_t>(p[2] | (p[3] << 8) | (p[4] << 16) |
                             (static_cast<uint32_t>(p[5]) << 24));
}

// Appends one binary message holding `records` to `out`. Throws std::invalid_argument for
// an empty span or more than kMaxPageRecords records (a caller's bug).
void encode_page_to(std::string& out, std::span<const Candle> records);
void encode_page_to(std::string& out, std::span<const AggTrade> records);
void encode_page_to(std::string& out, std::span<const Trade> records);
void encode_page_to(std::string& out, std::span<const BookSnapshot> records);
void encode_page_to(std::string& out, std::span<const BookDiff> records);

// Decodes one data-topic message of kind `kind`, either form, into rows[at], rows[at+1], ...
// (growing `rows` as needed and reusing the records already there, as decode_into() does).
// Returns how many records it held (1 for JSON). On error nothing is counted: the rows from
// `at` on hold partly decoded records, and the message names the record's index in the page
// and the field: Errc::parse_error for framing (truncated, trailing bytes, wrong kind) and
// JSON syntax, invalid_argument for a field failing its rule, too_large past the bounds.
Result<size_t> decode_message(Kind kind, std::string_view value, std::vector<Record>& rows,
                              size_t at);

}  // namespace sf::market
