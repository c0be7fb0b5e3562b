// JSON helpers shared by every domain:
// - parse(): Boost.JSON parsing with a size bound and a clear error message;
// - Fields: strict typed access to an object's members that names the offending field;
// - Writer: a small, fast JSON writer whose numbers print the way people write them
//   (1722500000.123, not 1.722500000123E9), used for every message we emit.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace sf::json {

namespace bj = boost::json;

// Parses `text` (at most `max_bytes`, nesting at most 64 deep). Errc::too_large past the
// bound, Errc::parse_error for malformed JSON (message says where). Numbers are exact: a
// double is read from its text with std::from_chars (Boost.JSON 1.81's own conversion can
// miss the last bit, e.g. 123456789.12345679), so a double printed in shortest form reads
// back bit for bit.
Result<bj::value> parse(std::string_view text, size_t max_bytes = 1 << 20);

// Parses and requires a JSON object.
Result<bj::object> parse_object(std::string_view text, size_t max_bytes = 1 << 20);

// Strict reader over one object. Field paths in errors are prefixed with `prefix`
// (e.g. "targets[1]."), so a user sees exactly which field is wrong.
class Fields {
 public:
  explicit Fields(const bj::object& obj, std::string prefix = {})
      : obj_(obj), prefix_(std::move(prefix)) {}

  Result<std::string> str(std::string_view key) const;
  Result<std::optional<std::string>> opt_str(std::string_view key) const;
  Result<int64_t> int64(std::string_view key) const;
  Result<std::optional<int64_t>> opt_int64(std::string_view key) const;
  Result<double> number(std::string_view key) const;
  Result<std::optional<double>> opt_number(std::string_view key) const;
  Result<std::optional<bool>> opt_bool(std::string_view key) const;
  // Fails naming the first member not in `known`.
  Status only(std::initializer_list<std::string_view> known) const;

  std::string path(std::string_view key) const { return prefix_ + std::string(key); }
  const bj::object& object() const { return obj_; }

 private:
  Error missing(std::string_view key) const;
  const bj::value* find(std::string_view key) const;
  // A required member: the value `opt` read, or missing(key) when absent.
  template <typename T>
  Result<T> required(Result<std::optional<T>> opt, std::string_view key) const;
  Error wrong_type(std::string_view key, const char* want, const bj::value& got) const;

  const bj::object& obj_;
  std::string prefix_;
};

const char* kind_name(const bj::value& v);

// Appends JSON text to a string. The caller is responsible for well-formed nesting.
class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}

  Writer& begin_object();
  Writer& end_object();
  Writer& begin_array();
  Writer& end_array();
  Writer& key(std::string_view k);
  Writer& str(std::string_view v);
  Writer& int64(int64_t v);
  Writer& number(double v);
  Writer& boolean(bool v);
  Writer& null();
  Writer& value(const bj::value& v);  // any Boost.JSON value, numbers printed as ours

  // key + value shorthands
  Writer& kv(std::string_view k, std::string_view v) { return key(k).str(v); }
  Writer& kv(std::string_view k, const char* v) { return key(k).str(v); }
  Writer& kv(std::string_view k, const std::string& v) { return key(k).str(v); }
  Writer& kv_int(std::string_view k, int64_t v) { return key(k).int64(v); }
  Writer& kv_num(std::string_view k, double v) { return key(k).number(v); }
  Writer& kv_bool(std::string_view k, bool v) { return key(k).boolean(v); }

 private:
  void comma();
  Writer& open(char bracket);   // '{' or '[': a value, then no comma before the first member
  Writer& close(char bracket);  // '}' or ']'
  std::string& out_;
  bool need_comma_ = false;
};

void append_escaped(std::string& out, std::string_view s);
// Shortest text that reads back as the same double; integral values without ".0".
void append_number(std::string& out, double v);

// {"error": message, "field": field}
std::string error_body(const Error& e);

}  // namespace sf::json
