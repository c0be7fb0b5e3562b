// Byte-text helpers with no domain in them: UTF-8 validity and standard base64 (the DLQ
// entries of market/data_topic.h use both), ASCII case-insensitive comparison (HTTP header
// names and tokens). Pure functions, safe from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sf {

// True if `s` is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF).
bool is_valid_utf8(std::string_view s);
// The longest prefix of `s` of at most `max_bytes` that does not cut a UTF-8 sequence (for
// quoting a caller's text in an error message without breaking it).
std::string_view utf8_prefix(std::string_view s, size_t max_bytes);
// Standard base64 (RFC 4648) with padding.
std::string base64_encode(std::string_view bytes);
// Standard base64 back to bytes: padding optional, whitespace (line breaks of PEM-style
// text) skipped; nullopt for any other character outside the alphabet or a bad length.
std::optional<std::string> base64_decode(std::string_view text);
// URL-safe base64 (RFC 4648 section 5: '-' and '_') without padding.
std::string base64url_encode(std::string_view bytes);
// True if `a` and `b` are equal but for the case of ASCII letters.
bool ascii_iequals(std::string_view a, std::string_view b);

}  // namespace sf
