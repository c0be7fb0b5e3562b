#include "market/records.h"

#include <charconv>
#include <cstring>
#include <span>

#include "base/json_escape.h"
#include "json/flat_object.h"
#include "protocol/validate.h"

namespace sf::market {

const char* to_string(Kind k) {
  switch (k) {
    case Kind::candle:
      return "candle";
    case Kind::agg_trade:
      return "agg_trade";
    case Kind::trade:
      return "trade";
  }
  return "candle";
}

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
  constexpr std::string_view kPrefix = "api_candles_";
  if (type.substr(0, kPrefix.size()) != kPrefix || interval_ms(type.substr(kPrefix.size())) < 0)
    return Error(Errc::invalid_argument,
                 "type '" + std::string(type) +
                     "' is not api_candles_<interval> with a Binance interval (1s 1m 3m 5m 15m "
                     "30m 1h 2h 4h 6h 8h 12h 1d 3d 1w 1M)",
                 "type");
  return std::string(type.substr(kPrefix.size()));
}

Result<Kind> kind_for_type(std::string_view type) {
  if (type == "api_agg_trades") return Kind::agg_trade;
  if (type == "api_trades") return Kind::trade;
  if (interval_for_type(type)) return Kind::candle;
  return Error(Errc::invalid_argument,
               "unknown data type '" + std::string(type) +
                   "' (expected api_candles_<interval>, api_agg_trades or api_trades)",
               "type");
}

bool is_decimal(std::string_view s) {
  // One pass: every byte a digit but an optional leading '-' and one '.' between digits.
  const size_t n = s.size();
  if (n == 0 || n > 64) return false;
  const char* p = s.data();
  const size_t start = p[0] == '-' ? 1 : 0;
  if (n == start) return false;
  size_t dot = n;  // none
  for (size_t i = start; i < n; ++i) {
    if (static_cast<unsigned char>(p[i] - '0') > 9) {
      if (p[i] != '.' || dot != n) return false;
      dot = i;
    }
  }
  return dot == n || (dot > start && dot + 1 < n);
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

}  // namespace

void encode_to(std::string& out, const Candle& c) {
  out.append("{\"symbol\":\"");
  put_str(out, c.symbol);
  out.append(",\"interval\":\"");
  put_str(out, c.interval);
  out.append(",\"open_time\":");
  put_int(out, c.open_time);
  out.append(",\"close_time\":");
  put_int(out, c.close_time);
  out.append(",\"open\":\"");
  put_str(out, c.open);
  out.append(",\"high\":\"");
  put_str(out, c.high);
  out.append(",\"low\":\"");
  put_str(out, c.low);
  out.append(",\"close\":\"");
  put_str(out, c.close);
  out.append(",\"volume\":\"");
  put_str(out, c.volume);
  out.append(",\"quote_volume\":\"");
  put_str(out, c.quote_volume);
  out.append(",\"trades\":");
  put_int(out, c.trades);
  out.append(",\"taker_buy_base_volume\":\"");
  put_str(out, c.taker_buy_base_volume);
  out.append(",\"taker_buy_quote_volume\":\"");
  put_str(out, c.taker_buy_quote_volume);
  out.append(",\"closed\":");
  out.append(json_bool(c.closed));
  out += '}';
}

void encode_to(std::string& out, const AggTrade& t) {
  out.append("{\"symbol\":\"");
  put_str(out, t.symbol);
  out.append(",\"agg_id\":");
  put_int(out, t.agg_id);
  out.append(",\"price\":\"");
  put_str(out, t.price);
  out.append(",\"qty\":\"");
  put_str(out, t.qty);
  out.append(",\"first_trade_id\":");
  put_int(out, t.first_trade_id);
  out.append(",\"last_trade_id\":");
  put_int(out, t.last_trade_id);
  out.append(",\"time\":");
  put_int(out, t.time);
  out.append(",\"is_buyer_maker\":");
  out.append(json_bool(t.is_buyer_maker));
  out.append(",\"is_best_match\":");
  out.append(json_bool(t.is_best_match));
  out += '}';
}

void encode_to(std::string& out, const Trade& t) {
  out.append("{\"symbol\":\"");
  put_str(out, t.symbol);
  out.append(",\"trade_id\":");
  put_int(out, t.trade_id);
  out.append(",\"price\":\"");
  put_str(out, t.price);
  out.append(",\"qty\":\"");
  put_str(out, t.qty);
  out.append(",\"quote_qty\":\"");
  put_str(out, t.quote_qty);
  out.append(",\"time\":");
  put_int(out, t.time);
  out.append(",\"is_buyer_maker\":");
  out.append(json_bool(t.is_buyer_maker));
  out.append(",\"is_best_match\":");
  out.append(json_bool(t.is_best_match));
  out += '}';
}

std::string encode(const Candle& c) {
  std::string out;
  out.reserve(320);
  encode_to(out, c);
  return out;
}

std::string encode(const AggTrade& t) {
  std::string out;
  out.reserve(200);
  encode_to(out, t);
  return out;
}

std::string encode(const Trade& t) {
  std::string out;
  out.reserve(200);
  encode_to(out, t);
  return out;
}

std::string encode(const Record& r) {
  return std::visit([](const auto& x) { return encode(x); }, r);
}

namespace {

// One record object's members by field index (the kind's field list), after refusing
// unknown and duplicate keys. Typed readers with the messages json::Fields gives.
template <size_t N>
class Members {
 public:
  Members(const std::string_view (&names)[N]) : names_(names) {}  // NOLINT

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

  const std::string_view (&names_)[N];
  const json::FlatMember* at_[N] = {};
};

// Data-topic records are small objects decoded by the million: one reused parser a thread.
json::FlatObjectParser& local_parser() {
  thread_local json::FlatObjectParser p;
  return p;
}

constexpr size_t kMaxRecordBytes = 64 * 1024;

}  // namespace

Status decode_into(Kind kind, std::string_view text, Record* out) {
  std::span<const json::FlatMember> members;
  SF_TRY_ASSIGN(members, local_parser().parse(text, kMaxRecordBytes));
  switch (kind) {
    case Kind::candle: {
      static constexpr std::string_view kNames[] = {"symbol",
                                                    "interval",
                                                    "open_time",
                                                    "close_time",
                                                    "open",
                                                    "high",
                                                    "low",
                                                    "close",
                                                    "volume",
                                                    "quote_volume",
                                                    "trades",
                                                    "taker_buy_base_volume",
                                                    "taker_buy_quote_volume",
                                                    "closed"};
      Members f(kNames);
      SF_TRY(f.index(members));
      Candle* c = std::get_if<Candle>(out);
      if (c == nullptr) c = &out->emplace<Candle>();
      SF_TRY(f.symbol(0, &c->symbol));
      SF_TRY(f.str(1, &c->interval));
      if (interval_ms(c->interval) < 0)
        return Error(Errc::invalid_argument,
                     "field 'interval': unknown interval '" + c->interval + "'", "interval");
      SF_TRY(f.non_negative(2, &c->open_time));
      SF_TRY(f.int64(3, &c->close_time));
      if (c->close_time < c->open_time)
        return Error(Errc::invalid_argument, "field 'close_time' is before 'open_time'",
                     "close_time");
      SF_TRY(f.decimal(4, &c->open));
      SF_TRY(f.decimal(5, &c->high));
      SF_TRY(f.decimal(6, &c->low));
      SF_TRY(f.decimal(7, &c->close));
      SF_TRY(f.decimal(8, &c->volume));
      SF_TRY(f.decimal(9, &c->quote_volume));
      SF_TRY(f.decimal(11, &c->taker_buy_base_volume));
      SF_TRY(f.decimal(12, &c->taker_buy_quote_volume));
      SF_TRY(f.non_negative(10, &c->trades));
      SF_TRY(f.boolean(13, &c->closed));
      return {};
    }
    case Kind::agg_trade: {
      static constexpr std::string_view kNames[] = {"symbol", "agg_id",         "price",
                                                    "qty",    "first_trade_id", "last_trade_id",
                                                    "time",   "is_buyer_maker", "is_best_match"};
      Members f(kNames);
      SF_TRY(f.index(members));
      AggTrade* t = std::get_if<AggTrade>(out);
      if (t == nullptr) t = &out->emplace<AggTrade>();
      SF_TRY(f.symbol(0, &t->symbol));
      SF_TRY(f.non_negative(1, &t->agg_id));
      SF_TRY(f.decimal(2, &t->price));
      SF_TRY(f.decimal(3, &t->qty));
      SF_TRY(f.int64(4, &t->first_trade_id));
      SF_TRY(f.int64(5, &t->last_trade_id));
      if (t->last_trade_id < t->first_trade_id)
        return Error(Errc::invalid_argument, "field 'last_trade_id' is below 'first_trade_id'",
                     "last_trade_id");
      SF_TRY(f.non_negative(6, &t->time));
      SF_TRY(f.boolean(7, &t->is_buyer_maker));
      SF_TRY(f.boolean(8, &t->is_best_match));
      return {};
    }
    case Kind::trade: {
      static constexpr std::string_view kNames[] = {
          "symbol",    "trade_id", "price",          "qty",
          "quote_qty", "time",     "is_buyer_maker", "is_best_match"};
      Members f(kNames);
      SF_TRY(f.index(members));
      Trade* t = std::get_if<Trade>(out);
      if (t == nullptr) t = &out->emplace<Trade>();
      SF_TRY(f.symbol(0, &t->symbol));
      SF_TRY(f.non_negative(1, &t->trade_id));
      SF_TRY(f.decimal(2, &t->price));
      SF_TRY(f.decimal(3, &t->qty));
      SF_TRY(f.decimal(4, &t->quote_qty));
      SF_TRY(f.non_negative(5, &t->time));
      SF_TRY(f.boolean(6, &t->is_buyer_maker));
      SF_TRY(f.boolean(7, &t->is_best_match));
      return {};
    }
  }
  return Error(Errc::internal, "unknown record kind");
}

Result<Record> decode(Kind kind, std::string_view text) {
  Record r;
  SF_TRY(decode_into(kind, text, &r));
  return r;
}

std::string natural_key(const Record& r) {
  struct V {
    std::string operator()(const Candle& c) const {
      return c.symbol + "|" + c.interval + "|" + std::to_string(c.open_time);
    }
    std::string operator()(const AggTrade& t) const {
      return t.symbol + "|" + std::to_string(t.agg_id);
    }
    std::string operator()(const Trade& t) const {
      return t.symbol + "|" + std::to_string(t.trade_id);
    }
  };
  return std::visit(V{}, r);
}

}  // namespace sf::market
