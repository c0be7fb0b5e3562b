#include "json/flat_object.h"

#include <simdjson.h>

#include <cstring>
#include <string>
#include <vector>

#include "base/enum_names.h"

namespace sf::json {

namespace od = simdjson::ondemand;

namespace {
constexpr const char* kFlatTypeNames[] = {"null",   "boolean", "integer", "number",
                                          "string", "array",   "object"};
}  // namespace

const char* to_string(FlatType t) { return enum_name(t, kFlatTypeNames, "value"); }

namespace {

[[gnu::cold, gnu::noinline]] Error malformed(simdjson::error_code e) {
  return Error(Errc::parse_error, std::string("malformed JSON: ") + simdjson::error_message(e),
               "body");
}

[[gnu::cold, gnu::noinline]] Error malformed(const char* why) {
  return Error(Errc::parse_error, std::string("malformed JSON: ") + why, "body");
}

// What a string's raw content (between its quotes) holds: nothing special, an escape
// (the caller has simdjson unescape it) or a raw control character, which JSON forbids.
enum class Content { plain, escaped, control };

Content classify(const char* p, size_t n) {
  Content c = Content::plain;
  for (size_t i = 0; i < n; ++i) {
    const auto b = static_cast<unsigned char>(p[i]);
    if (b < 0x20) return Content::control;
    if (b == '\\') c = Content::escaped;
  }
  return c;
}

// The same, 8 bytes at a time for the plain case (the padded buffer allows reading a whole
// word past the content).
Content scan_content(const char* p, size_t n) {
  constexpr uint64_t k1 = 0x0101010101010101ULL;
  constexpr uint64_t k80 = 0x8080808080808080ULL;
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v;
    std::memcpy(&v, p + i, 8);
    const uint64_t b = v ^ (k1 * '\\');
    uint64_t flagged = (((v - k1 * 0x20) & ~v) | ((b - k1) & ~b)) & k80;
    if (n - i < 8) flagged &= (uint64_t{1} << (8 * (n - i))) - 1;  // bytes past the content
    if (flagged) return classify(p, n);
  }
  return Content::plain;
}

}  // namespace

struct FlatObjectParser::Impl {
  od::parser parser;
  std::unique_ptr<char[]> buf;  // the input plus simdjson's padding
  size_t cap = 0;
  std::vector<FlatMember> members;  // reused: no allocation per object once warm

  // Reads one member's value into m (type, and the value of a scalar).
  static simdjson::error_code read(od::value v, FlatMember& m) {
    od::json_type t;
    if (auto e = v.type().get(t)) return e;
    switch (t) {
      case od::json_type::array:
        m.type = FlatType::array;  // not read; the object iterator skips it
        return simdjson::SUCCESS;
      case od::json_type::object:
        m.type = FlatType::object;
        return simdjson::SUCCESS;
      case od::json_type::string: {
        m.type = FlatType::string;
        // Strings without escapes are read in place from their raw token ("...", then at
        // most whitespace): no unescaping copy.
        std::string_view tok = v.raw_json_token();
        while (!tok.empty() && tok.back() != '"') tok.remove_suffix(1);
        if (tok.size() < 2) return simdjson::STRING_ERROR;
        const Content c = scan_content(tok.data() + 1, tok.size() - 2);
        if (c == Content::control) return simdjson::UNESCAPED_CHARS;
        if (c == Content::escaped) return v.get_string().get(m.str);
        m.str = tok.substr(1, tok.size() - 2);
        return simdjson::SUCCESS;
      }
      case od::json_type::boolean:
        m.type = FlatType::boolean;
        return v.get_bool().get(m.boolean);
      case od::json_type::null: {
        bool is_null = false;
        if (auto e = v.is_null().get(is_null)) return e;
        m.type = FlatType::null;
        return is_null ? simdjson::SUCCESS : simdjson::N_ATOM_ERROR;
      }
      case od::json_type::number: {
        od::number_type nt;
        if (auto e = v.get_number_type().get(nt)) return e;
        if (nt == od::number_type::signed_integer) {
          m.type = FlatType::integer;
          return v.get_int64().get(m.integer);
        }
        // Past int64 or with a fraction/exponent: still a well-formed number, not an int64.
        m.type = FlatType::number;
        return v.get_double().get(m.number);
      }
    }
    return simdjson::TAPE_ERROR;
  }
};

FlatObjectParser::FlatObjectParser() : impl_(std::make_unique<Impl>()) {}
FlatObjectParser::~FlatObjectParser() = default;

Result<std::span<const FlatMember>> FlatObjectParser::parse(std::string_view text,
                                                            size_t max_bytes) {
  if (text.size() > max_bytes)
    return Error(Errc::too_large,
                 "JSON text of " + std::to_string(text.size()) + " bytes exceeds the limit of " +
                     std::to_string(max_bytes) + " bytes",
                 "body");
  Impl& im = *impl_;
  const size_t need = text.size() + simdjson::SIMDJSON_PADDING;
  if (need > im.cap) {
    im.cap = std::max(need, im.cap * 2);
    im.buf.reset(new char[im.cap]);
  }
  if (!text.empty()) std::memcpy(im.buf.get(), text.data(), text.size());
  std::memset(im.buf.get() + text.size(), 0, simdjson::SIMDJSON_PADDING);

  od::document doc;
  if (auto e = im.parser.iterate(im.buf.get(), text.size(), im.cap).get(doc)) return malformed(e);
  od::json_type root;
  if (auto e = doc.type().get(root)) return malformed(e);
  if (root != od::json_type::object) {
    const char* got = root == od::json_type::array     ? "array"
                      : root == od::json_type::number  ? "number"
                      : root == od::json_type::string  ? "string"
                      : root == od::json_type::boolean ? "boolean"
                                                       : "null";
    return Error(Errc::parse_error, std::string("expected a JSON object, got ") + got, "body");
  }
  od::object obj;
  if (auto e = doc.get_object().get(obj)) return malformed(e);
  im.members.clear();
  for (auto field_r : obj) {
    od::field f;
    if (auto e = std::move(field_r).get(f)) return malformed(e);
    FlatMember& m = im.members.emplace_back();
    // Keys without escapes are read in place (up to the closing quote), others unescaped.
    const char* k = f.key().raw();
    size_t n = 0;
    bool escaped = false;
    for (;; ++n) {
      const auto b = static_cast<unsigned char>(k[n]);
      if (b == '"') break;
      if (b < 0x20) return malformed(simdjson::UNESCAPED_CHARS);
      if (b == '\\') {
        escaped = true;
        ++n;  // the escaped byte (maybe a quote) is not the end
        if (static_cast<unsigned char>(k[n]) < 0x20) return malformed(simdjson::UNESCAPED_CHARS);
      }
    }
    if (!escaped) {
      m.key = std::string_view(k, n);
    } else if (auto e = f.unescaped_key().get(m.key)) {
      return malformed(e);
    }
    if (auto e = Impl::read(f.value(), m)) return malformed(e);
  }
  // OUT_OF_BOUNDS: the iterator is past the last token, so nothing follows the object.
  if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS)
    return malformed("trailing bytes after the object");
  return std::span<const FlatMember>(im.members);
}

}  // namespace sf::json
