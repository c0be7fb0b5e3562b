#include "json/json.h"

#include <boost/json/basic_parser_impl.hpp>
#include <charconv>

#include "base/json_escape.h"

#include <cmath>
#include <cstdio>

namespace sf::json {

namespace {

// A Boost.JSON parser handler building a value like boost::json::parser's, except that a
// double is converted from its text by std::from_chars (exact) instead of Boost 1.81's
// approximation. A number split over several on_number_part() calls is reassembled.
struct ExactHandler {
  static constexpr std::size_t max_object_size = bj::object::max_size();
  static constexpr std::size_t max_array_size = bj::array::max_size();
  static constexpr std::size_t max_key_size = bj::string::max_size();
  static constexpr std::size_t max_string_size = bj::string::max_size();
  using ec_t = boost::system::error_code;

  bj::value_stack st;
  std::string number;  // the parts of the number being parsed

  bool on_document_begin(ec_t&) { return true; }
  bool on_document_end(ec_t&) { return true; }
  bool on_object_begin(ec_t&) { return true; }
  bool on_object_end(std::size_t n, ec_t&) {
    st.push_object(n);
    return true;
  }
  bool on_array_begin(ec_t&) { return true; }
  bool on_array_end(std::size_t n, ec_t&) {
    st.push_array(n);
    return true;
  }
  bool on_key_part(bj::string_view s, std::size_t, ec_t&) {
    st.push_chars(s);
    return true;
  }
  bool on_key(bj::string_view s, std::size_t, ec_t&) {
    st.push_key(s);
    return true;
  }
  bool on_string_part(bj::string_view s, std::size_t, ec_t&) {
    st.push_chars(s);
    return true;
  }
  bool on_string(bj::string_view s, std::size_t, ec_t&) {
    st.push_string(s);
    return true;
  }
  bool on_number_part(bj::string_view s, ec_t&) {
    number.append(s.data(), s.size());
    return true;
  }
  bool on_int64(std::int64_t i, bj::string_view, ec_t&) {
    number.clear();
    st.push_int64(i);
    return true;
  }
  bool on_uint64(std::uint64_t u, bj::string_view, ec_t&) {
    number.clear();
    st.push_uint64(u);
    return true;
  }
  bool on_double(double d, bj::string_view s, ec_t&) {
    number.append(s.data(), s.size());
    double exact = 0;
    const char* end = number.data() + number.size();
    auto [p, ec] = std::from_chars(number.data(), end, exact);
    // Out of range (1e400): Boost's value, as before.
    if (ec == std::errc() && p == end) d = exact;
    number.clear();
    st.push_double(d);
    return true;
  }
  bool on_bool(bool b, ec_t&) {
    st.push_bool(b);
    return true;
  }
  bool on_null(ec_t&) {
    st.push_null();
    return true;
  }
  bool on_comment_part(bj::string_view, ec_t&) { return true; }
  bool on_comment(bj::string_view, ec_t&) { return true; }
};

}  // namespace

Result<bj::value> parse(std::string_view text, size_t max_bytes) {
  if (text.size() > max_bytes)
    return Error(Errc::too_large,
                 "JSON text of " + std::to_string(text.size()) + " bytes exceeds the limit of " +
                     std::to_string(max_bytes) + " bytes",
                 "body");
  bj::parse_options opts;
  opts.max_depth = 64;
  bj::basic_parser<ExactHandler> p(opts);
  p.handler().st.reset();
  boost::system::error_code ec;
  const size_t n = p.write_some(false, text.data(), text.size(), ec);
  if (!ec && n < text.size()) ec = bj::error::extra_data;
  if (ec) return Error(Errc::parse_error, "malformed JSON: " + ec.message(), "body");
  return p.handler().st.release();
}

Result<bj::object> parse_object(std::string_view text, size_t max_bytes) {
  auto v = parse(text, max_bytes);
  if (!v) return v.error();
  if (!v->is_object())
    return Error(Errc::parse_error, std::string("expected a JSON object, got ") + kind_name(*v),
                 "body");
  return std::move(v->get_object());
}

const char* kind_name(const bj::value& v) {
  switch (v.kind()) {
    case bj::kind::null:
      return "null";
    case bj::kind::bool_:
      return "boolean";
    case bj::kind::int64:
    case bj::kind::uint64:
      return "integer";
    case bj::kind::double_:
      return "number";
    case bj::kind::string:
      return "string";
    case bj::kind::array:
      return "array";
    case bj::kind::object:
      return "object";
  }
  return "value";
}

Error Fields::missing(std::string_view key) const {
  return Error(Errc::invalid_argument, "missing required field '" + path(key) + "'", path(key));
}

Error Fields::wrong_type(std::string_view key, const char* want, const bj::value& got) const {
  return Error(Errc::invalid_argument,
               "field '" + path(key) + "' must be " + want + ", got " + kind_name(got), path(key));
}

const bj::value* Fields::find(std::string_view key) const {
  return obj_.if_contains(bj::string_view(key.data(), key.size()));
}

template <typename T>
Result<T> Fields::required(Result<std::optional<T>> opt, std::string_view key) const {
  if (!opt) return opt.error();
  if (!*opt) return missing(key);
  return std::move(**opt);
}

Result<std::optional<std::string>> Fields::opt_str(std::string_view key) const {
  auto* v = find(key);
  if (!v) return std::optional<std::string>();
  if (!v->is_string()) return wrong_type(key, "a string", *v);
  return std::optional<std::string>(std::string(v->get_string()));
}

Result<std::string> Fields::str(std::string_view key) const { return required(opt_str(key), key); }

Result<std::optional<int64_t>> Fields::opt_int64(std::string_view key) const {
  auto* v = find(key);
  if (!v) return std::optional<int64_t>();
  if (v->is_int64()) return std::optional<int64_t>(v->get_int64());
  if (v->is_uint64() && v->get_uint64() <= static_cast<uint64_t>(INT64_MAX))
    return std::optional<int64_t>(static_cast<int64_t>(v->get_uint64()));
  return wrong_type(key, "an integer", *v);
}

Result<int64_t> Fields::int64(std::string_view key) const { return required(opt_int64(key), key); }

Result<std::optional<double>> Fields::opt_number(std::string_view key) const {
  auto* v = find(key);
  if (!v) return std::optional<double>();
  if (v->is_number()) return std::optional<double>(v->to_number<double>());
  return wrong_type(key, "a number", *v);
}

Result<double> Fields::number(std::string_view key) const { return required(opt_number(key), key); }

Result<std::optional<bool>> Fields::opt_bool(std::string_view key) const {
  auto* v = find(key);
  if (!v) return std::optional<bool>();
  if (!v->is_bool()) return wrong_type(key, "a boolean", *v);
  return std::optional<bool>(v->get_bool());
}

Status Fields::only(std::initializer_list<std::string_view> known) const {
  for (const auto& kv : obj_) {
    std::string_view k(kv.key().data(), kv.key().size());
    bool found = false;
    for (auto n : known) found = found || n == k;
    if (!found) return Error(Errc::invalid_argument, "unknown field '" + path(k) + "'", path(k));
  }
  return {};
}

void append_escaped(std::string& out, std::string_view s) {
  out += '"';
  append_json_escaped(out, s);
  out += '"';
}

void append_number(std::string& out, double v) {
  if (!std::isfinite(v)) {  // JSON has no NaN/Inf
    out += "null";
    return;
  }
  char buf[64];
  std::to_chars_result r;
  if (std::fabs(v) < 1e17 && v == std::floor(v)) {
    r = std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(v));
  } else {
    r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general);
    // Prefer fixed notation for ordinary magnitudes (timestamps, fractions).
    if (std::fabs(v) >= 1e-4 && std::fabs(v) < 1e17)
      r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
  }
  out.append(buf, r.ptr);
}

void Writer::comma() {
  if (need_comma_) out_ += ',';
  need_comma_ = true;
}
Writer& Writer::open(char bracket) {
  comma();
  out_ += bracket;
  need_comma_ = false;
  return *this;
}
Writer& Writer::close(char bracket) {
  out_ += bracket;
  need_comma_ = true;
  return *this;
}
Writer& Writer::begin_object() { return open('{'); }
Writer& Writer::end_object() { return close('}'); }
Writer& Writer::begin_array() { return open('['); }
Writer& Writer::end_array() { return close(']'); }
Writer& Writer::key(std::string_view k) {
  comma();
  append_escaped(out_, k);
  out_ += ':';
  need_comma_ = false;
  return *this;
}
Writer& Writer::str(std::string_view v) {
  comma();
  append_escaped(out_, v);
  return *this;
}
Writer& Writer::int64(int64_t v) {
  comma();
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out_.append(buf, r.ptr);
  return *this;
}
Writer& Writer::number(double v) {
  comma();
  append_number(out_, v);
  return *this;
}
Writer& Writer::boolean(bool v) {
  comma();
  out_ += v ? "true" : "false";
  return *this;
}
Writer& Writer::null() {
  comma();
  out_ += "null";
  return *this;
}
Writer& Writer::value(const bj::value& v) {
  switch (v.kind()) {
    case bj::kind::null:
      return null();
    case bj::kind::bool_:
      return boolean(v.get_bool());
    case bj::kind::int64:
      return int64(v.get_int64());
    case bj::kind::uint64: {
      comma();
      out_ += std::to_string(v.get_uint64());
      return *this;
    }
    case bj::kind::double_:
      return number(v.get_double());
    case bj::kind::string:
      return str(std::string_view(v.get_string().data(), v.get_string().size()));
    case bj::kind::array:
      begin_array();
      for (const auto& e : v.get_array()) value(e);
      return end_array();
    case bj::kind::object:
      begin_object();
      for (const auto& kv : v.get_object()) {
        key(std::string_view(kv.key().data(), kv.key().size()));
        value(kv.value());
      }
      return end_object();
  }
  return *this;
}

std::string error_body(const Error& e) {
  std::string out;
  Writer w(out);
  w.begin_object().kv("error", e.message).kv("field", e.field).end_object();
  return out;
}

}  // namespace sf::json
