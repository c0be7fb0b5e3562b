// The non-record messages of a workflow's data topic and its dead-letter topic: the
// end-of-data marker a loader publishes after its records, and the DLQ entry a connector
// writes for a record it refuses (docs/data.md). Here, beside the records, so a loader and
// a connector share them without one including the other. Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "bus/bus.h"

namespace sf::market {

// ---- end-of-data marker --------------------------------------------------------------------
//
// The loader publishes it on the data topic after its last record (and after flushing
// them, so every data record is in the bus before the marker is):
//   key   "__end__"
//   value {"end_of_data":true,"published":N}   N = data records this loader run published
//   plus, from a trades or aggregate-trades loader that published any, "first_id":F and
//   "last_id":L: the first and last id it published (its range's first and last on the
//   exchange), against which the connector checks the edges of the store's ids.
// The connector finishes after the marker once a poll finds nothing more. `published` is
// reported in the `finished` message for the completeness report. A record with this key
// whose value is not a valid marker goes to the DLQ.
inline constexpr const char* kEndMarkerKey = "__end__";

struct EndMarker {
  int64_t published = 0;
  std::optional<int64_t> first_id;  // both or neither
  std::optional<int64_t> last_id;
  friend bool operator==(const EndMarker&, const EndMarker&) = default;
};

std::string encode_end_marker(const EndMarker& m);
// Strict: end_of_data true, published >= 0, and optionally first_id and last_id together
// (0 <= first_id <= last_id); no other member. parse_error or invalid_argument otherwise.
Result<EndMarker> decode_end_marker(std::string_view value);

// ---- dead-letter records -------------------------------------------------------------------

// The dead-letter topic of a data topic.
inline std::string dlq_topic(const std::string& data_topic) { return data_topic + "-dlq"; }

// The DLQ record value for `source` refused for `reason`:
//   {"reason":"...","source_topic":"...","source_partition":0,"source_offset":42,
//    "original":"<the original value>","original_base64":false}
// `original` is the original bytes as a JSON string when they are valid UTF-8, else their
// standard base64 (RFC 4648, padded) with "original_base64":true.
std::string encode_dlq_entry(std::string_view reason, const bus::Record& source);

}  // namespace sf::market
