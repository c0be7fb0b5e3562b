#include "market/records.h"

#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <span>

#include "base/json_escape.h"
#include "json/flat_object.h"
#include "market/order_book.h"
#include "market/schema.h"
#include "protocol/validate.h"

namespace sf::market {

int64_t interval_ms(std::string_view iv) {
  static const std::pair<std::string_view, int64_t> kIntervals[] = {
      {"1s", 1000},       {"1m", 60'000},      {"3m", 180'000},     {"5m", 300'000},
      {"15m", 900'000},   {"30m", 1'800'000},  {"1h", 3'600'000},   {"2h", 7'200'000},
      {"4h", 14'400'000}, {"6h", 21'600'000},  {"8h", 28'800'000},  {"12h", 43'200'000},
      {"1d", 86'400'000}, {"3d", 259'200'000}, {"1w", 604'800'000}, {"1M", 0}};
  for (const auto& [n, ms] : kIntervals)
    if (n == iv) return ms;
  return -1;
}

Result<std::string> interval_for_type(std::string_view type) {
  for (std::string_view prefix : {"api_candles_", "ws_klines_"})
    if (type.starts_with(prefix) && interval_ms(type.substr(prefix.size())) >= 0)
      return std::string(type.substr(prefix.size()));
  return Error(Errc::invalid_argument,
               "type '" + std::string(type) +
                   "' is not api_candles_<interval> or ws_klines_<interval> with a Binance "
                   "interval (1s 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w 1M)",
               "type");
}

namespace {
// Byte classes for is_decimal(): 0 a digit, 1 '.', 2 anything else.
constexpr auto kDecimalClass = [] {
  std::array<uint8_t, 256> t{};
  t.fill(2);
  for (int c = '0'; c <= '9'; ++c) t[static_cast<size_t>(c)] = 0;
  t['.'] = 1;
  return t;
}();
}  // namespace

bool is_decimal(std::string_view s) {
  // Every byte a digit but an optional leading '-' and one '.' between digits: the first
  // and last bytes after the sign are digits, and the bytes between add up their classes
  // without a branch (decimals are checked by the million; a branch per byte mispredicted
  // at every dot).
  const size_t n = s.size();
  if (n == 0 || n > 64) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t start = p[0] == '-' ? 1 : 0;
  if (n == start || kDecimalClass[p[start]] != 0 || kDecimalClass[p[n - 1]] != 0) return false;
  unsigned dots = 0, other = 0;
  for (size_t i = start + 1; i + 1 < n; ++i) {
    const unsigned c = kDecimalClass[p[i]];
    dots += c & 1;
    other |= c & 2;
  }
  return other == 0 && dots <= 1;
}

namespace {

// The encoders write fixed key fragments and append values: keys need no escaping and the
// commas are known, so only string values go through the escaper (whose clean-string fast
// path is one append for the symbols and decimals these records hold).
void put_int(std::string& out, int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// The shortest text that reads back as the same double (std::to_chars). Callers never pass
// a non-finite value: the stores refuse one (store::check_decimals) and the graph-builder
// makes none; should one slip through, JSON gets null, which every decoder refuses.
void put_real(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out.append("null");
    return;
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// True if s has no byte JSON needs escaped (control characters, '"', '\\'), checked 8
// bytes at a time with the usual has-zero / has-less-than word tricks (exact as a yes/no).
bool json_clean(std::string_view s) {
  constexpr uint64_t k1 = 0x0101010101010101ULL;
  constexpr uint64_t k80 = 0x8080808080808080ULL;
  auto flagged = [](uint64_t v) {
    const uint64_t q = v ^ (k1 * '"');
    const uint64_t b = v ^ (k1 * '\\');
    return (((v - k1 * 0x20) & ~v) | ((q - k1) & ~q) | ((b - k1) & ~b)) & k80;
  };
  const char* p = s.data();
  const size_t n = s.size();
  if (n < 8) {
    for (size_t i = 0; i < n; ++i) {
      const auto c = static_cast<unsigned char>(p[i]);
      if (c < 0x20 || c == '"' || c == '\\') return false;
    }
    return true;
  }
  uint64_t v;
  for (size_t i = 0; i + 8 <= n; i += 8) {
    std::memcpy(&v, p + i, 8);
    if (flagged(v)) return false;
  }
  std::memcpy(&v, p + n - 8, 8);  // the tail, overlapping the last whole word
  return flagged(v) == 0;
}

void put_str(std::string& out, std::string_view s) {
  if (json_clean(s)) {
    out.append(s);  // symbols and decimals: the usual case
  } else {
    append_json_escaped(out, s);
  }
  out += '"';
}

const char* json_bool(bool b) { return b ? "true" : "false"; }

// Every field's key fragment, built at compile time from the schema: `{"symbol":"` for the
// first field, `,"agg_id":` for an integer, `,"price":"` for a string (its opening quote).
template <class R>
struct KeyFragments {
  static constexpr size_t kChars = [] {
    size_t n = 0;
    for (const FieldInfo& f : detail::kFieldInfos<R>) n += f.name.size() + 5;
    return n;
  }();
  std::array<char, kChars> chars{};
  std::array<size_t, kFieldCount<R> + 1> at{};

  constexpr KeyFragments() {
    size_t n = 0, i = 0;
    for (const FieldInfo& f : detail::kFieldInfos<R>) {
      at[i] = n;
      chars[n++] = i++ == 0 ? '{' : ',';
      chars[n++] = '"';
      for (char c : f.name) chars[n++] = c;
      chars[n++] = '"';
      chars[n++] = ':';
      if (f.type == FieldType::text || f.type == FieldType::decimal) chars[n++] = '"';
    }
    at[i] = n;
  }
};
template <class R>
inline constexpr KeyFragments<R> kKeyFragments{};

template <class R>
struct JsonEncoder {
  std::string& out;
  void key(size_t i) {
    const auto& k = kKeyFragments<R>;
    out.append(k.chars.data() + k.at[i], k.at[i + 1] - k.at[i]);
  }
  void text(const FieldInfo&, size_t i, const std::string& v) {
    key(i);
    put_str(out, v);
  }
  void decimal(const FieldInfo& f, size_t i, const std::string& v) { text(f, i, v); }
  void integer(const FieldInfo&, size_t i, int64_t v) {
    key(i);
    put_int(out, v);
  }
  void boolean(const FieldInfo&, size_t i, bool v) {
    key(i);
    out.append(json_bool(v));
  }
  void real(const FieldInfo&, size_t i, double v) {
    key(i);
    put_real(out, v);
  }
};

template <class R>
void encode_record(std::string& out, const R& r) {
  visit_fields(r, JsonEncoder<R>{out});
  out += '}';
}

}  // namespace

namespace {
const std::vector<std::string>& key_fragments(Kind kind) {
  static const std::array<std::vector<std::string>, kKindCount> kAll = [] {
    std::array<std::vector<std::string>, kKindCount> all;
    for (size_t k = 0; k < all.size(); ++k) {
      const auto& fields = kind_info(static_cast<Kind>(k)).fields;
      for (size_t i = 0; i < fields.size(); ++i) {
        std::string s = (i == 0 ? "{\"" : ",\"") + std::string(fields[i].name) + "\":";
        if (fields[i].type == FieldType::text || fields[i].type == FieldType::decimal) s += '"';
        all[k].push_back(std::move(s));
      }
    }
    return all;
  }();
  return kAll.at(static_cast<size_t>(kind));
}
}  // namespace

JsonRecordWriter::JsonRecordWriter(Kind kind, std::string& out)
    : keys_(key_fragments(kind)), out_(out) {}
void JsonRecordWriter::key(size_t field) {
  out_ += started_ ? ',' : '{';
  started_ = true;
  out_.append(keys_[field], 1);
}
void JsonRecordWriter::text(size_t field, std::string_view v) {
  key(field);
  put_str(out_, v);
}
void JsonRecordWriter::integer(size_t field, int64_t v) {
  key(field);
  put_int(out_, v);
}
void JsonRecordWriter::boolean(size_t field, bool v) {
  key(field);
  out_.append(json_bool(v));
}
void JsonRecordWriter::real(size_t field, double v) {
  key(field);
  put_real(out_, v);
}
void JsonRecordWriter::end() { out_ += started_ ? "}" : "{}"; }

void encode_to(std::string& out, const Candle& c) { encode_record(out, c); }
void encode_to(std::string& out, const AggTrade& t) { encode_record(out, t); }
void encode_to(std::string& out, const Trade& t) { encode_record(out, t); }
void encode_to(std::string& out, const BookSnapshot& b) { encode_record(out, b); }
void encode_to(std::string& out, const BookDiff& b) { encode_record(out, b); }
void encode_to(std::string& out, const GraphNode& n) { encode_record(out, n); }
void encode_to(std::string& out, const GraphEdge& e) { encode_record(out, e); }

namespace {
// One allocation for the usual record: about 24 bytes a field (key, value, punctuation).
template <class R>
std::string encode_one(const R& r) {
  std::string out;
  out.reserve(24 * kFieldCount<R>);
  encode_record(out, r);
  return out;
}
}  // namespace

std::string encode(const Candle& c) { return encode_one(c); }
std::string encode(const AggTrade& t) { return encode_one(t); }
std::string encode(const Trade& t) { return encode_one(t); }
std::string encode(const BookSnapshot& b) { return encode_one(b); }
std::string encode(const BookDiff& b) { return encode_one(b); }
std::string encode(const GraphNode& n) { return encode_one(n); }
std::string encode(const GraphEdge& e) { return encode_one(e); }

std::string encode(const Record& r) {
  return std::visit([](const auto& x) { return encode(x); }, r);
}

namespace {

// One record object's members by field index (the kind's field list), after refusing
// unknown and duplicate keys. Typed readers with the messages json::Fields gives.
template <size_t N>
class Members {
 public:
  explicit Members(const std::array<std::string_view, N>& names) : names_(names) {}

  // Unknown or repeated keys fail here, before any field is looked at.
  Status index(std::span<const json::FlatMember> members) {
    for (size_t j = 0; j < members.size(); ++j) {
      const json::FlatMember& m = members[j];
      // Our encoder writes the fields in order: try the member's own position first.
      size_t i = j;
      if (j >= N || m.key != names_[j]) {
        i = 0;
        while (i < N && m.key != names_[i]) ++i;
      }
      if (i == N) {
        const std::string k(m.key);
        return Error(Errc::invalid_argument, "unknown field '" + k + "'", k);
      }
      if (at_[i] != nullptr) {
        return Error(Errc::invalid_argument, "duplicate field '" + std::string(m.key) + "'",
                     name(i));
      }
      at_[i] = &m;
    }
    return {};
  }

  Status str(size_t i, std::string* out) const {
    const json::FlatMember* m = at_[i];
    if (m == nullptr) return missing(i);
    if (m->type != json::FlatType::string) return wrong_type(i, "a string");
    // A reused row usually gets text of the same length: one memcpy, no general replace.
    if (out->size() == m->str.size()) {
      if (!m->str.empty()) std::memcpy(out->data(), m->str.data(), m->str.size());
    } else {
      out->assign(m->str);
    }
    return {};
  }
  Status decimal(size_t i, std::string* out) const {
    SF_TRY(str(i, out));
    if (is_decimal(*out)) return {};
    return Error(Errc::invalid_argument,
                 "field '" + name(i) + "': '" + *out + "' is not a decimal number", name(i));
  }
  Status int64(size_t i, int64_t* out) const {
    const json::FlatMember* m = at_[i];
    if (m == nullptr) return missing(i);
    if (m->type != json::FlatType::integer) return wrong_type(i, "an integer");
    *out = m->integer;
    return {};
  }
  Status non_negative(size_t i, int64_t* out) const {
    SF_TRY(int64(i, out));
    if (*out >= 0) return {};
    return Error(Errc::invalid_argument,
                 std::string("field '") + name(i) + "' must not be negative", name(i));
  }
  Status boolean(size_t i, bool* out) const {
    const json::FlatMember* m = at_[i];
    if (m == nullptr) return missing(i);
    if (m->type != json::FlatType::boolean) return wrong_type(i, "a boolean");
    *out = m->boolean;
    return {};
  }
  // A JSON number (integer or not) that is a finite double.
  Status real(size_t i, double* out) const {
    const json::FlatMember* m = at_[i];
    if (m == nullptr) return missing(i);
    if (m->type == json::FlatType::integer) {
      *out = static_cast<double>(m->integer);
    } else if (m->type == json::FlatType::number) {
      *out = m->number;
    } else {
      return wrong_type(i, "a number");
    }
    if (std::isfinite(*out)) return {};
    return Error(Errc::invalid_argument, "field '" + name(i) + "' is not a finite number", name(i));
  }
  Status symbol(size_t i, std::string* out) const {
    SF_TRY(str(i, out));
    if (protocol::is_valid_symbol(*out)) return {};
    return protocol::check_symbol(*out, name(i));
  }

 private:
  [[gnu::cold]] Error missing(size_t i) const {
    return Error(Errc::invalid_argument, std::string("missing required field '") + name(i) + "'",
                 name(i));
  }
  [[gnu::cold]] Error wrong_type(size_t i, const char* want) const {
    return Error(Errc::invalid_argument,
                 std::string("field '") + name(i) + "' must be " + want + ", got " +
                     json::to_string(at_[i]->type),
                 name(i));
  }

  std::string name(size_t i) const { return std::string(names_[i]); }

  const std::array<std::string_view, N>& names_;
  const json::FlatMember* at_[N] = {};
};

// Data-topic records are small objects decoded by the million: one reused parser a thread.
json::FlatObjectParser& local_parser() {
  thread_local json::FlatObjectParser p;
  return p;
}

constexpr size_t kMaxRecordBytes = kMaxRecordTextBytes;

template <class R>
inline constexpr auto kFieldNames = std::apply(
    [](const auto&... f) { return std::array<std::string_view, sizeof...(f)>{f.info.name...}; },
    Schema<R>::fields);

// Reads each field of the schema from the indexed members, with its type's reader and rule.
template <size_t N>
struct FieldDecoder {
  const Members<N>& m;
  Status text(const FieldInfo& f, size_t i, std::string& v) const {
    if (f.rule == Rule::symbol) return m.symbol(i, &v);
    SF_TRY(m.str(i, &v));
    if (f.rule == Rule::interval && interval_ms(v) < 0)
      return Error(Errc::invalid_argument,
                   "field '" + std::string(f.name) + "': unknown interval '" + v + "'",
                   std::string(f.name));
    if (f.rule == Rule::levels) {
      if (auto l = check_levels_text(v); !l)
        return Error(Errc::invalid_argument,
                     "field '" + std::string(f.name) + "': " + l.error().message,
                     std::string(f.name));
    }
    return {};
  }
  Status decimal(const FieldInfo&, size_t i, std::string& v) const { return m.decimal(i, &v); }
  Status integer(const FieldInfo& f, size_t i, int64_t& v) const {
    return f.rule == Rule::non_negative ? m.non_negative(i, &v) : m.int64(i, &v);
  }
  Status boolean(const FieldInfo&, size_t i, bool& v) const { return m.boolean(i, &v); }
  Status real(const FieldInfo&, size_t i, double& v) const { return m.real(i, &v); }
};

template <class R>
Status decode_members(std::span<const json::FlatMember> members, Record* out) {
  Members<kFieldCount<R>> m(kFieldNames<R>);
  SF_TRY(m.index(members));
  R* r = std::get_if<R>(out);
  if (r == nullptr) r = &out->emplace<R>();
  SF_TRY(try_visit_fields(*r, FieldDecoder<kFieldCount<R>>{m}));
  return Schema<R>::check(*r);
}

}  // namespace

Status decode_into(Kind kind, std::string_view text, Record* out) {
  std::span<const json::FlatMember> members;
  SF_TRY_ASSIGN(members, local_parser().parse(text, kMaxRecordBytes));
  return with_kind(
      kind, [&](auto type) { return decode_members<typename decltype(type)::type>(members, out); });
}

Result<Record> decode(Kind kind, std::string_view text) {
  Record r;
  SF_TRY(decode_into(kind, text, &r));
  return r;
}

}  // namespace sf::market
