#include "json/flat_object.h"

#include <simdjson.h>

#include <cstring>
#include <string>
#include <vector>

namespace sf::json {

namespace od = simdjson::ondemand;

const char* to_string(FlatType t) {
  switch (t) {
    case FlatType::null:
      return "null";
    case FlatType::boolean:
      return "boolean";
    case FlatType::integer:
      return "integer";
    case FlatType::number:
      return "number";
    case FlatType::string:
      return "string";
    case FlatType::array:
      return "array";
    case FlatType::object:
      return "object";
  }
  return "value";
}

namespace {

[[gnu::cold, gnu::noinline]] Error malformed(simdjson::error_code e) {
  return Error(Errc::parse_error, std::string("malformed JSON: ") + simdjson::error_message(e),
               "body");
}

[[gnu::cold, gnu::noinline]] Error malformed(const char* why) {
  return Error(Errc::parse_error, std::string("malformed JSON: ") + why, "body");
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
      case od::json_type::string:
        m.type = FlatType::string;
        return v.get_string().get(m.str);
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
        double d;
        return v.get_double().get(d);
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
    if (auto e = f.unescaped_key().get(m.key)) return malformed(e);
    if (auto e = Impl::read(f.value(), m)) return malformed(e);
  }
  // OUT_OF_BOUNDS: the iterator is past the last token, so nothing follows the object.
  if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS)
    return malformed("trailing bytes after the object");
  return std::span<const FlatMember>(im.members);
}

}  // namespace sf::json
