// Internal to the Binance decoders (decode.cc, stream_decode.cc): the strict field readers
// over simdjson on-demand values, the error builder, and Decoder::Impl. Not part of the
// library's interface; include only from the decoders' own sources.
#pragma once

#include <simdjson.h>

#include <bit>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "exchange/binance/decode.h"

namespace sf::exchange::binance::detail {

namespace od = simdjson::ondemand;

// Builds the error messages; kept out of line so the hot loops stay small.
struct Where {
  const char* page;
  size_t row = 0;
  bool in_row = false;
  mutable std::optional<Error> err;  // set by the bool helpers on failure

  explicit Where(const char* p, size_t r = 0, bool in = false) : page(p), row(r), in_row(in) {}

  // Stores the error; returns false so helpers can `return w.set(...)`.
  [[gnu::cold]] bool set(Error e) const {
    err = std::move(e);
    return false;
  }

  [[gnu::noinline, gnu::cold]] Error fail(std::string_view field, std::string_view why) const {
    std::string m = page;
    if (in_row) m += ": row " + std::to_string(row);
    if (!field.empty()) m += ": field '" + std::string(field) + "'";
    m += ": ";
    m += why;
    return Error(Errc::parse_error, std::move(m), std::string(field));
  }
  [[gnu::noinline, gnu::cold]] Error fail(std::string_view field, simdjson::error_code e) const {
    const char* why = e == simdjson::INCORRECT_TYPE ? "wrong JSON type"
                      : e == simdjson::NUMBER_OUT_OF_RANGE || e == simdjson::NUMBER_ERROR
                          ? "not an integer"
                          : nullptr;
    std::string text = why ? std::string(why) + " (" + simdjson::error_message(e) + ")"
                           : std::string("malformed JSON (") + simdjson::error_message(e) + ")";
    return fail(field, text);
  }
};

inline bool is_digit(char c) { return static_cast<unsigned char>(c - '0') < 10; }

// Shows a JSON string's text (up to its closing quote, at most 40 bytes) in messages.
[[gnu::cold]] inline std::string shown_string(const char* p) {
  std::string out;
  for (; *p != '"' && out.size() < 40; ++p) {
    if (*p == '\\' && p[1] != 0) out += *p++;
    out += *p;
  }
  return out;
}

// -?digits[.digits], at most 64 bytes, one byte at a time (the general case).
inline bool is_decimal_bytes(const char* s, size_t n) {
  if (n == 0 || n > 64) return false;
  const char* p = s;
  const char* e = s + n;
  if (*p == '-') ++p;
  const char* d = p;
  while (p < e && is_digit(*p)) ++p;
  if (p == d) return false;
  if (p == e) return true;
  if (*p != '.') return false;
  const char* f = ++p;
  while (p < e && is_digit(*p)) ++p;
  return p != f && p == e;
}

constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHigh = 0x8080808080808080ULL;

// The high bit of every byte of x that is not an ASCII digit (exact per byte: the
// subtraction cannot borrow across bytes because each byte has its high bit set first).
inline uint64_t non_digits(uint64_t x) {
  const uint64_t y = x ^ (kOnes * '0');  // digits become 0..9
  return (((y | kHigh) - kOnes * 10) & kHigh) | (y & kHigh);
}

// High bits of the first k (1..8) bytes.
inline uint64_t lanes(size_t k) { return k >= 8 ? kHigh : kHigh & ((uint64_t{1} << (8 * k)) - 1); }

// The same check 8 bytes at a time for decimals of up to 24 bytes (all that exchanges
// print but the longest): a valid one has no non-digit byte but an optional leading '-'
// and at most one inner '.'. Reads three whole 8-byte words, so up to 23 bytes past the
// start of the text: the closing quote and the padded input's padding cover them.
[[gnu::always_inline]] inline bool is_decimal_text(const char* s, size_t n) {
  if constexpr (std::endian::native != std::endian::little) return is_decimal_bytes(s, n);
  if (n == 0 || n > 24) return is_decimal_bytes(s, n);
  uint64_t w0, w1, w2;
  std::memcpy(&w0, s, 8);
  std::memcpy(&w1, s + 8, 8);
  std::memcpy(&w2, s + 16, 8);
  uint64_t m0 = non_digits(w0) & lanes(n);
  const uint64_t m1 = n > 8 ? non_digits(w1) & lanes(n - 8) : 0;
  const uint64_t m2 = n > 16 ? non_digits(w2) & lanes(n - 16) : 0;
  size_t start = 0;
  if (s[0] == '-') {
    m0 &= ~uint64_t{0x80};
    start = 1;
  }
  if (n == start) return false;
  if ((m0 | m1 | m2) == 0) return true;                                   // digits only
  if ((m0 != 0 && (m1 | m2) != 0) || (m1 != 0 && m2 != 0)) return false;  // two words
  const uint64_t m = m0 | m1 | m2;
  if ((m & (m - 1)) != 0) return false;  // two or more non-digits in one word
  const size_t at = (m0 != 0 ? 0 : m1 != 0 ? 8 : 16) + static_cast<size_t>(std::countr_zero(m)) / 8;
  return s[at] == '.' && at > start && at + 1 < n;
}

// Copies text into a reused output string. Rows reused from the previous page usually get
// text of the same length (prices keep their 8 decimals): then one memcpy, without
// std::string::assign's general replace path.
inline void set_text(std::string* out, const char* s, size_t n) {
  if (out->size() == n) {
    if (n != 0) std::memcpy(out->data(), s, n);
    return;
  }
  out->clear();
  out->append(s, n);
}

// A scalar's raw token without the whitespace that may follow it up to the next
// structural character.
inline std::string_view trimmed_token(od::value& v) {
  std::string_view tok = v.raw_json_token();
  if (!tok.empty() && tok.back() > ' ') [[likely]]
    return tok;  // a quote or a digit: no whitespace follows
  while (!tok.empty() &&
         (tok.back() == ' ' || tok.back() == '\n' || tok.back() == '\r' || tok.back() == '\t'))
    tok.remove_suffix(1);
  return tok;
}

// The value of the 8 ASCII digits in w (the first digit in the lowest byte), by the usual
// multiply-and-add on pairs, then quads (as simdjson parses eight digits).
inline uint64_t eight_digits(uint64_t w) {
  w -= kOnes * '0';
  w = (w * 10) + (w >> 8);
  constexpr uint64_t kMask = 0x000000FF000000FFULL;
  constexpr uint64_t kMul1 = 100 + (1000000ULL << 32);
  constexpr uint64_t kMul2 = 1 + (10000ULL << 32);
  return (((w & kMask) * kMul1) + (((w >> 16) & kMask) * kMul2)) >> 32;
}

// The value of the first k (1..8) ASCII digits in w: they are moved to the top and '0's
// put in front of them.
inline uint64_t digits_value(uint64_t w, size_t k) {
  if (k < 8) w = (w << (8 * (8 - k))) | ((kOnes * '0') >> (8 * k));
  return eight_digits(w);
}

// A token of 1..16 plain digits without a leading zero (always a valid JSON integer that
// fits in int64): its value, read 8 bytes at a time for the check. False for anything
// else, which the caller hands to simdjson's number parser for the exact value or error.
[[gnu::always_inline]] inline bool plain_digits(std::string_view tok, int64_t* out) {
  const size_t n = tok.size();
  if constexpr (std::endian::native != std::endian::little) return false;
  if (n == 0 || n > 16 || (tok[0] == '0' && n > 1)) return false;
  uint64_t lo, hi;
  std::memcpy(&lo, tok.data(), 8);  // within the padded input
  std::memcpy(&hi, tok.data() + 8, 8);
  uint64_t m = non_digits(lo) & lanes(n);
  if (n > 8) m |= non_digits(hi) & lanes(n - 8);
  if (m != 0) return false;
  if (n <= 8) {
    *out = static_cast<int64_t>(digits_value(lo, n));
  } else {
    static constexpr uint64_t kPow10[] = {1,      10,      100,      1000,     10000,
                                          100000, 1000000, 10000000, 100000000};
    *out = static_cast<int64_t>(digits_value(lo, 8) * kPow10[n - 8] + digits_value(hi, n - 8));
  }
  return true;
}

// The errors of get_decimal(), out of line so that the inlined happy path stays small.
[[gnu::noinline, gnu::cold]] inline bool decimal_error(od::value v, std::string_view tok,
                                                       const Where& w, const char* field) {
  if (tok.size() < 2 || tok.front() != '"' || tok.back() != '"') {
    od::raw_json_string raw;  // not a string: the same error get_raw_json_string() gives
    auto e = v.get_raw_json_string().get(raw);
    return w.set(w.fail(field, e ? e : simdjson::STRING_ERROR));
  }
  return w.set(w.fail(field, "'" + shown_string(tok.data() + 1) + "' is not a decimal number"));
}

// Reads decimal text (-?digits[.digits], at most 64 bytes) straight from the JSON bytes,
// with no unescaping copy: the value's raw token is the quoted string (its closing quote
// guaranteed by simdjson's stage 1, trailing whitespace up to the next structural
// character at most), so its length is known without scanning for the quote. A string
// with an escape is not decimal text anyway (a backslash is not a digit). The value is
// not consumed; the iterator skips it.
[[gnu::always_inline]] inline bool get_decimal(od::value& v, const Where& w, const char* field,
                                               std::string* out) {
  const std::string_view tok = trimmed_token(v);
  if (tok.size() < 2 || tok.front() != '"' || tok.back() != '"' ||
      !is_decimal_text(tok.data() + 1, tok.size() - 2)) [[unlikely]]
    return decimal_error(v, tok, w, field);
  set_text(out, tok.data() + 1, tok.size() - 2);
  return true;
}

// Anything but plain digits: simdjson's parser gives the value or the error.
[[gnu::noinline]] inline bool id_slow(od::value v, const Where& w, const char* field,
                                      int64_t* out) {
  if (auto e = v.get_int64().get(*out)) return w.set(w.fail(field, e));
  if (*out < 0) return w.set(w.fail(field, "must not be negative"));
  return true;
}

[[gnu::always_inline]] inline bool get_id(od::value& v, const Where& w, const char* field,
                                          int64_t* out) {
  if (plain_digits(trimmed_token(v), out)) [[likely]]
    return true;
  return id_slow(v, w, field, out);
}

[[gnu::noinline]] inline bool time_slow(od::value v, const Where& w, const char* field,
                                        TimeUnit unit, int64_t* out) {
  int64_t raw;
  if (!plain_digits(trimmed_token(v), &raw)) {
    if (auto e = v.get_int64().get(raw)) return w.set(w.fail(field, e));
  }
  auto ms = to_ms(raw, unit);
  if (!ms) {
    return w.set(
        w.fail(field, std::to_string(raw) + " is not a plausible time in " + to_string(unit)));
  }
  *out = *ms;
  return true;
}

// The common case inline (plain digits, milliseconds in range); the rest in time_slow().
[[gnu::always_inline]] inline bool get_time(od::value& v, const Where& w, const char* field,
                                            TimeUnit unit, int64_t* out) {
  int64_t raw;
  if (unit == TimeUnit::millisecond && plain_digits(trimmed_token(v), &raw) && raw >= kMinTimeMs &&
      raw < kMaxTimeMs) [[likely]] {
    *out = raw;
    return true;
  }
  return time_slow(v, w, field, unit, out);
}

inline bool get_bool(od::value v, const Where& w, const char* field, bool* out) {
  if (auto e = v.get_bool().get(*out)) return w.set(w.fail(field, e));
  return true;
}

inline bool get_text(od::value v, const Where& w, const char* field, std::string* out) {
  std::string_view s;
  if (auto e = v.get_string().get(s)) return w.set(w.fail(field, e));
  out->assign(s.data(), s.size());
  return true;
}

// The next output row. Rows left in *out by the previous call are reused, so their
// strings keep their capacity (no allocation, no zero-fill of a fresh record); the caller
// trims the vector to the rows decoded.
// Clears the output unless the decode succeeded (no half-decoded pages leak out).
template <typename T>
struct ClearOnError {
  std::vector<T>* out;
  bool ok = false;
  ~ClearOnError() {
    if (!ok) out->clear();
  }
};

template <typename T>
inline T& next_row(std::vector<T>* out, size_t n) {
  if (n < out->size()) return (*out)[n];
  return out->emplace_back();
}

// Field bits of the object rows; every one must be seen exactly once.
template <size_t N>
inline Status check_seen(unsigned seen, const char* const (&names)[N], const Where& w) {
  for (size_t i = 0; i < N; ++i) {
    if (!(seen & (1u << i))) return w.fail(names[i], "missing");
  }
  return ok_status();
}

// Index of key in names, or -1.
template <size_t N>
inline int key_index(od::raw_json_string key, const char* const (&names)[N]) {
  for (size_t i = 0; i < N; ++i) {
    if (key.unsafe_is_equal(names[i])) return static_cast<int>(i);
  }
  return -1;
}

// Reads one object: each of keys must be there once (a repeated one is an error when
// reject_repeats), other keys are ignored; read(i, value) reads keys[i] (false with the
// error in w).
template <size_t N, typename Read>
[[gnu::always_inline]] inline Status read_object(auto& element, const Where& w,
                                                 const char* const (&keys)[N], bool reject_repeats,
                                                 Read&& read) {
  od::object obj;
  if (auto e = element.get_object().get(obj)) return w.fail("", e);
  unsigned seen = 0;
  for (auto field_r : obj) {
    od::field fld;
    if (auto e = std::move(field_r).get(fld)) return w.fail("", e);
    int i = key_index(fld.key(), keys);
    if (i < 0) continue;  // unknown key: ignored
    if (reject_repeats && (seen & (1u << i))) return w.fail(keys[i], "duplicate key");
    seen |= 1u << i;
    if (!read(i, fld.value())) return std::move(*w.err);
  }
  return check_seen(seen, keys, w);
}

// An aggregate trade's fields, as /aggTrades rows and aggTrade events (after "E", "s") name
// them: agg_trade_field(i, ...) reads kAggTradeKeys[i]; check_agg_trade() the rule across.
inline constexpr const char* kAggTradeKeys[] = {"a", "p", "q", "f", "l", "T", "m", "M"};

[[gnu::always_inline]] inline bool agg_trade_field(int i, od::value v, const Where& w,
                                                   TimeUnit unit, market::AggTrade& t) {
  const char* key = kAggTradeKeys[i];
  switch (i) {
    case 0:
      return get_id(v, w, key, &t.agg_id);
    case 1:
      return get_decimal(v, w, key, &t.price);
    case 2:
      return get_decimal(v, w, key, &t.qty);
    case 3:
      return get_id(v, w, key, &t.first_trade_id);
    case 4:
      return get_id(v, w, key, &t.last_trade_id);
    case 5:
      return get_time(v, w, key, unit, &t.time);
    case 6:
      return get_bool(v, w, key, &t.is_buyer_maker);
    default:
      return get_bool(v, w, key, &t.is_best_match);
  }
}

inline Status check_agg_trade(const market::AggTrade& t, const Where& w) {
  if (t.last_trade_id < t.first_trade_id) return w.fail("l", "below first trade id 'f'");
  return ok_status();
}

}  // namespace sf::exchange::binance::detail

namespace sf::exchange::binance {

using namespace detail;  // NOLINT: this header is included by the decoders' sources only

// The bool helpers above keep the happy path free of Status objects (measurably faster
// in the per-field loops); on failure the error waits in the Where.
// One element of a page's array, as the rows' readers get it.
using Row = simdjson::simdjson_result<od::value>;

#define SF_DTRY(call, where)                     \
  do {                                           \
    if (!(call)) return std::move(*(where).err); \
  } while (0)

struct Decoder::Impl {
  od::parser parser;
  std::unique_ptr<char[]> buf;
  size_t cap = 0;

  // A padded view of the input (copied into buf unless the caller promised padding).
  simdjson::padded_string_view view(const Input& in) {
    if (in.padded) {
      return simdjson::padded_string_view(in.bytes.data(), in.bytes.size(),
                                          in.bytes.size() + kPadding);
    }
    size_t need = in.bytes.size() + kPadding;
    if (need > cap) {
      cap = std::max(need, cap * 2);
      buf.reset(new char[cap]);
    }
    if (!in.bytes.empty()) std::memcpy(buf.get(), in.bytes.data(), in.bytes.size());
    std::memset(buf.get() + in.bytes.size(), 0, kPadding);
    return simdjson::padded_string_view(buf.get(), in.bytes.size(), cap);
  }

  // Starts a document; *top is the root value.
  Status start(const Input& in, const Where& w, od::document* doc) {
    if (auto e = parser.iterate(view(in)).get(*doc)) return w.fail("", e);
    return ok_status();
  }

  // The document must end after the root value (no trailing bytes, nothing truncated).
  static Status finish(od::document& doc, const Where& w) {
    // OUT_OF_BOUNDS = the iterator is past the last token: nothing follows the root.
    auto loc = doc.current_location();
    if (loc.error() == simdjson::OUT_OF_BOUNDS) return ok_status();
    return w.fail("", "trailing bytes after the JSON value");
  }

  // A page that is an array of rows, one T each: read_row(row, w, &t) reads one row (w
  // names it) into a reused output row. *out holds the rows decoded, or nothing on error.
  template <typename T, typename ReadRow>
  [[gnu::always_inline]] inline Status rows(Input json, const char* page, std::vector<T>* out,
                                            ReadRow&& read_row) {
    Where w{page};
    ClearOnError<T> guard{out};
    od::document doc;
    SF_TRY(start(json, w, &doc));
    od::array rows;
    if (auto e = doc.get_array().get(rows)) return w.fail("", e);
    w.in_row = true;
    for (auto row_r : rows) {
      SF_TRY(read_row(row_r, w, next_row(out, w.row)));
      ++w.row;
    }
    w.in_row = false;
    out->resize(w.row);
    SF_TRY(finish(doc, w));
    guard.ok = true;
    return ok_status();
  }
};

}  // namespace sf::exchange::binance
