// A strict reader of one flat JSON object (a record: members whose values are scalars), for
// hot paths that decode many small objects (data-topic records). It is built on simdjson's
// On-Demand API and reuses its buffers, so reading an object allocates nothing once the
// parser has warmed up; json::parse() (Boost.JSON) remains the general reader.
//
// Strictness: the text must be exactly one well-formed JSON object (no trailing bytes, valid
// UTF-8, strings and numbers well-formed, no raw control character in a string); anything
// else is Errc::parse_error with a message in json::parse()'s style ("malformed JSON: ...",
// "expected a JSON object, got array"). A member whose value is an array or an object is
// reported with that type and not read further (the caller refuses it by type); duplicate
// keys are reported as they come (the caller decides). Text longer than max_bytes is
// Errc::too_large.
//
// Lifetime: keys and string values are views into the parser's buffers (in place for text
// without escapes, unescaped otherwise), valid until the next parse() or the parser's
// destruction.
//
// Thread-safety: a FlatObjectParser belongs to one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "base/result.h"

namespace sf::json {

enum class FlatType : uint8_t { null, boolean, integer, number, string, array, object };
// "null", "boolean", "integer", "number", "string", "array", "object" (as kind_name()).
const char* to_string(FlatType t);

struct FlatMember {
  std::string_view key;  // unescaped
  FlatType type = FlatType::null;
  std::string_view str;  // FlatType::string: the unescaped value
  int64_t integer = 0;   // FlatType::integer (a JSON integer that fits in int64)
  bool boolean = false;  // FlatType::boolean
  double number = 0;     // FlatType::number (a fraction, an exponent or past int64)
};

class FlatObjectParser {
 public:
  FlatObjectParser();
  ~FlatObjectParser();
  FlatObjectParser(const FlatObjectParser&) = delete;
  FlatObjectParser& operator=(const FlatObjectParser&) = delete;

  // The members of the object in `text`, in document order.
  Result<std::span<const FlatMember>> parse(std::string_view text, size_t max_bytes);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sf::json
