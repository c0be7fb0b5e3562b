#include "market/binary.h"

#include "market/order_book.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "base/text.h"
#include "market/schema.h"
#include "protocol/validate.h"

namespace sf::market {

const char* to_string(RecordFormat f) { return f == RecordFormat::json ? "json" : "binary"; }

Result<RecordFormat> record_format_from_string(std::string_view s) {
  if (s == "json") return RecordFormat::json;
  if (s == "binary") return RecordFormat::binary;
  return Error(Errc::invalid_argument,
               "record format '" + std::string(s) + "' is neither 'json' nor 'binary'",
               "record_format");
}

namespace {

// A text field is at most this long (as in the JSON form, whose whole record is bounded).
constexpr size_t kMaxFieldBytes = kMaxRecordTextBytes;  // fits the 3-byte uvarint (2 MiB)

void put_u32(std::string& out, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out.append(b, 4);
}

template <class R>
struct BinaryEncoder {
  std::string& out;
  void text(const FieldInfo&, size_t, const std::string& v) {
    // Written whole: a field past kMaxFieldBytes (a bug upstream) makes the page fail to
    // decode and go to the DLQ, rather than arrive altered.
    size_t n = v.size();
    while (n >= 0x80) {
      out += static_cast<char>((n & 0x7F) | 0x80);
      n >>= 7;
    }
    out += static_cast<char>(n);
    out.append(v);
  }
  void decimal(const FieldInfo& f, size_t i, const std::string& v) { text(f, i, v); }
  void integer(const FieldInfo&, size_t, int64_t v) {
    char b[8];
    const auto u = static_cast<uint64_t>(v);
    for (int k = 0; k < 8; ++k) b[k] = static_cast<char>(u >> (8 * k));
    out.append(b, 8);
  }
  void boolean(const FieldInfo&, size_t, bool v) { out += v ? '\1' : '\0'; }
  // IEEE-754 binary64, little-endian: the double's bits, exactly.
  void real(const FieldInfo& f, size_t i, double v) { integer(f, i, std::bit_cast<int64_t>(v)); }
};

template <class R>
void encode_page(std::string& out, std::span<const R> records) {
  // Loaders hand over exchange pages (at most 1000 records, never empty); anything else is
  // a caller's bug, not data to drop silently.
  if (records.empty() || records.size() > kMaxPageRecords)
    throw std::invalid_argument("a binary page holds 1.." + std::to_string(kMaxPageRecords) +
                                " records, not " + std::to_string(records.size()));
  out.reserve(out.size() + kBinaryPageHeader + records.size() * 16 * kFieldCount<R>);
  out += static_cast<char>(kBinaryPageMagic);
  out += static_cast<char>(Schema<R>::kind);
  put_u32(out, static_cast<uint32_t>(records.size()));
  for (const R& r : records) visit_fields(r, BinaryEncoder<R>{out});
}

// Reads one record's fields from a cursor over the page, applying the schema's rules.
struct Cursor {
  const unsigned char* p;
  const unsigned char* end;
  size_t record = 0;  // index in the page, for messages

  Error error(Errc code, const FieldInfo& f, const std::string& what) const {
    return Error(
        code, "record " + std::to_string(record) + ": field '" + std::string(f.name) + "': " + what,
        std::string(f.name));
  }
  [[gnu::cold]] Error truncated(const FieldInfo& f) const {
    return error(Errc::parse_error, f, "the page ends inside it (truncated)");
  }

  Status bytes(const FieldInfo& f, std::string& v) {
    size_t n = 0;
    for (int shift = 0;; shift += 7) {
      if (p == end) return truncated(f);
      if (shift > 14) return error(Errc::parse_error, f, "length longer than 3 bytes");
      const unsigned char b = *p++;
      n |= static_cast<size_t>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) break;
    }
    if (n > kMaxFieldBytes)
      return error(Errc::too_large, f,
                   std::to_string(n) + " bytes, more than " + std::to_string(kMaxFieldBytes));
    if (static_cast<size_t>(end - p) < n) return truncated(f);
    // A reused row usually gets text of the same length: one memcpy, no general replace.
    if (v.size() == n) {
      if (n != 0) std::memcpy(v.data(), p, n);
    } else {
      v.assign(reinterpret_cast<const char*>(p), n);
    }
    p += n;
    return {};
  }
};

struct BinaryDecoder {
  Cursor& c;
  Status text(const FieldInfo& f, size_t, std::string& v) const {
    SF_TRY(c.bytes(f, v));
    if (f.rule == Rule::symbol && !protocol::is_valid_symbol(v)) {
      auto s = protocol::check_symbol(v, std::string(f.name));
      return c.error(Errc::invalid_argument, f, s ? "not a symbol" : s.error().message);
    }
    if (f.rule == Rule::interval && interval_ms(v) < 0)
      return c.error(Errc::invalid_argument, f, "unknown interval '" + v + "'");
    if (f.rule == Rule::levels) {
      if (auto l = check_levels_text(v); !l)
        return c.error(Errc::invalid_argument, f, l.error().message);
      return {};
    }
    if (f.rule == Rule::none && !is_valid_utf8(v))
      return c.error(Errc::invalid_argument, f, "not valid UTF-8");
    return {};
  }
  Status decimal(const FieldInfo& f, size_t, std::string& v) const {
    SF_TRY(c.bytes(f, v));
    if (is_decimal(v)) return {};
    return c.error(Errc::invalid_argument, f, "'" + v + "' is not a decimal number");
  }
  Status integer(const FieldInfo& f, size_t, int64_t& v) const {
    if (c.end - c.p < 8) return c.truncated(f);
    uint64_t u = 0;
    for (int k = 7; k >= 0; --k) u = (u << 8) | c.p[k];
    c.p += 8;
    v = static_cast<int64_t>(u);
    if (f.rule == Rule::non_negative && v < 0)
      return c.error(Errc::invalid_argument, f, "must not be negative");
    return {};
  }
  Status real(const FieldInfo& f, size_t i, double& v) const {
    int64_t bits = 0;
    SF_TRY(integer(FieldInfo{f.name, f.type, f.key, Rule::none, f.doc}, i, bits));
    v = std::bit_cast<double>(bits);
    if (!std::isfinite(v)) return c.error(Errc::invalid_argument, f, "not a finite number");
    return {};
  }
  Status boolean(const FieldInfo& f, size_t, bool& v) const {
    if (c.p == c.end) return c.truncated(f);
    const unsigned char b = *c.p++;
    if (b > 1) return c.error(Errc::parse_error, f, "boolean byte " + std::to_string(b));
    v = b == 1;
    return {};
  }
};

template <class R>
Result<size_t> decode_page(std::string_view value, std::vector<Record>& rows, size_t at) {
  const auto* p = reinterpret_cast<const unsigned char*>(value.data());
  if (value.size() < kBinaryPageHeader)
    return Error(Errc::parse_error, "binary page of " + std::to_string(value.size()) +
                                        " bytes is shorter than its 6-byte header");
  if (p[1] != static_cast<unsigned char>(Schema<R>::kind)) {
    const auto k = static_cast<size_t>(p[1]);
    return Error(
        Errc::parse_error,
        "binary page of kind " +
            (k < kKindCount ? std::string(to_string(static_cast<Kind>(k))) : std::to_string(k)) +
            ", expected " + std::string(Schema<R>::name));
  }
  const size_t n = *binary_page_count(value);
  if (n == 0 || n > kMaxPageRecords)
    return Error(Errc::parse_error, "binary page says it holds " + std::to_string(n) +
                                        " records (1.." + std::to_string(kMaxPageRecords) + ")");
  Cursor c{p + kBinaryPageHeader, p + value.size()};
  if (rows.size() < at + n) rows.resize(at + n);
  for (size_t i = 0; i < n; ++i) {
    c.record = i;
    Record* out = &rows[at + i];
    R* r = std::get_if<R>(out);
    if (r == nullptr) r = &out->emplace<R>();
    SF_TRY(try_visit_fields(*r, BinaryDecoder{c}));
    if (auto s = Schema<R>::check(*r); !s)
      return Error(s.error().code, "record " + std::to_string(i) + ": " + s.error().message,
                   s.error().field);
  }
  if (c.p != c.end)
    return Error(Errc::parse_error, std::to_string(c.end - c.p) + " bytes after the last of " +
                                        std::to_string(n) + " records");
  return static_cast<size_t>(n);
}

}  // namespace

void encode_page_to(std::string& out, std::span<const Candle> r) { encode_page(out, r); }
void encode_page_to(std::string& out, std::span<const AggTrade> r) { encode_page(out, r); }
void encode_page_to(std::string& out, std::span<const Trade> r) { encode_page(out, r); }
void encode_page_to(std::string& out, std::span<const BookSnapshot> r) { encode_page(out, r); }
void encode_page_to(std::string& out, std::span<const BookDiff> r) { encode_page(out, r); }

Result<size_t> decode_message(Kind kind, std::string_view value, std::vector<Record>& rows,
                              size_t at) {
  if (!is_binary_page(value)) {
    if (rows.size() <= at) rows.resize(at + 1);
    SF_TRY(decode_into(kind, value, &rows[at]));
    return size_t{1};
  }
  return with_kind(
      kind, [&](auto type) { return decode_page<typename decltype(type)::type>(value, rows, at); });
}

}  // namespace sf::market
