#include "market/records.h"

#include "json/json.h"
#include "protocol/validate.h"

namespace sf::market {

namespace {

Status check_decimal(const std::string& v, const char* field) {
  if (is_decimal(v)) return {};
  return Error(Errc::invalid_argument,
               std::string("field '") + field + "': '" + v + "' is not a decimal number", field);
}

Status check_non_negative(int64_t v, const char* field) {
  if (v >= 0) return {};
  return Error(Errc::invalid_argument, std::string("field '") + field + "' must not be negative",
               field);
}

Result<bool> req_bool(const json::Fields& f, const char* key) {
  auto b = f.opt_bool(key);
  if (!b) return b.error();
  if (!*b)
    return Error(Errc::invalid_argument, std::string("missing required field '") + key + "'", key);
  return **b;
}

}  // namespace

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
  size_t i = 0;
  if (i < s.size() && s[i] == '-') ++i;
  size_t digits = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++digits;
  if (digits == 0) return false;
  if (i == s.size()) return true;
  if (s[i] != '.') return false;
  ++i;
  size_t frac = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++frac;
  return frac > 0 && i == s.size() && s.size() <= 64;
}

std::string encode(const Candle& c) {
  std::string out;
  out.reserve(320);
  json::Writer(out)
      .begin_object()
      .kv("symbol", c.symbol)
      .kv("interval", c.interval)
      .kv_int("open_time", c.open_time)
      .kv_int("close_time", c.close_time)
      .kv("open", c.open)
      .kv("high", c.high)
      .kv("low", c.low)
      .kv("close", c.close)
      .kv("volume", c.volume)
      .kv("quote_volume", c.quote_volume)
      .kv_int("trades", c.trades)
      .kv("taker_buy_base_volume", c.taker_buy_base_volume)
      .kv("taker_buy_quote_volume", c.taker_buy_quote_volume)
      .kv_bool("closed", c.closed)
      .end_object();
  return out;
}

std::string encode(const AggTrade& t) {
  std::string out;
  out.reserve(200);
  json::Writer(out)
      .begin_object()
      .kv("symbol", t.symbol)
      .kv_int("agg_id", t.agg_id)
      .kv("price", t.price)
      .kv("qty", t.qty)
      .kv_int("first_trade_id", t.first_trade_id)
      .kv_int("last_trade_id", t.last_trade_id)
      .kv_int("time", t.time)
      .kv_bool("is_buyer_maker", t.is_buyer_maker)
      .kv_bool("is_best_match", t.is_best_match)
      .end_object();
  return out;
}

std::string encode(const Trade& t) {
  std::string out;
  out.reserve(200);
  json::Writer(out)
      .begin_object()
      .kv("symbol", t.symbol)
      .kv_int("trade_id", t.trade_id)
      .kv("price", t.price)
      .kv("qty", t.qty)
      .kv("quote_qty", t.quote_qty)
      .kv_int("time", t.time)
      .kv_bool("is_buyer_maker", t.is_buyer_maker)
      .kv_bool("is_best_match", t.is_best_match)
      .end_object();
  return out;
}

std::string encode(const Record& r) {
  return std::visit([](const auto& x) { return encode(x); }, r);
}

Result<Record> decode(Kind kind, std::string_view text) {
  auto obj = json::parse_object(text, 64 * 1024);
  if (!obj) return obj.error();
  json::Fields f(*obj);
  switch (kind) {
    case Kind::candle: {
      SF_TRY(f.only({"symbol", "interval", "open_time", "close_time", "open", "high", "low",
                     "close", "volume", "quote_volume", "trades", "taker_buy_base_volume",
                     "taker_buy_quote_volume", "closed"}));
      Candle c;
      SF_TRY_ASSIGN(c.symbol, f.str("symbol"));
      SF_TRY(protocol::check_symbol(c.symbol, "symbol"));
      SF_TRY_ASSIGN(c.interval, f.str("interval"));
      if (interval_ms(c.interval) < 0)
        return Error(Errc::invalid_argument,
                     "field 'interval': unknown interval '" + c.interval + "'", "interval");
      SF_TRY_ASSIGN(c.open_time, f.int64("open_time"));
      SF_TRY(check_non_negative(c.open_time, "open_time"));
      SF_TRY_ASSIGN(c.close_time, f.int64("close_time"));
      if (c.close_time < c.open_time)
        return Error(Errc::invalid_argument, "field 'close_time' is before 'open_time'",
                     "close_time");
      for (auto [field, dst] : {std::pair{"open", &c.open},
                                {"high", &c.high},
                                {"low", &c.low},
                                {"close", &c.close},
                                {"volume", &c.volume},
                                {"quote_volume", &c.quote_volume},
                                {"taker_buy_base_volume", &c.taker_buy_base_volume},
                                {"taker_buy_quote_volume", &c.taker_buy_quote_volume}}) {
        SF_TRY_ASSIGN(*dst, f.str(field));
        SF_TRY(check_decimal(*dst, field));
      }
      SF_TRY_ASSIGN(c.trades, f.int64("trades"));
      SF_TRY(check_non_negative(c.trades, "trades"));
      SF_TRY_ASSIGN(c.closed, req_bool(f, "closed"));
      return Record(std::move(c));
    }
    case Kind::agg_trade: {
      SF_TRY(f.only({"symbol", "agg_id", "price", "qty", "first_trade_id", "last_trade_id", "time",
                     "is_buyer_maker", "is_best_match"}));
      AggTrade t;
      SF_TRY_ASSIGN(t.symbol, f.str("symbol"));
      SF_TRY(protocol::check_symbol(t.symbol, "symbol"));
      SF_TRY_ASSIGN(t.agg_id, f.int64("agg_id"));
      SF_TRY(check_non_negative(t.agg_id, "agg_id"));
      SF_TRY_ASSIGN(t.price, f.str("price"));
      SF_TRY(check_decimal(t.price, "price"));
      SF_TRY_ASSIGN(t.qty, f.str("qty"));
      SF_TRY(check_decimal(t.qty, "qty"));
      SF_TRY_ASSIGN(t.first_trade_id, f.int64("first_trade_id"));
      SF_TRY_ASSIGN(t.last_trade_id, f.int64("last_trade_id"));
      if (t.last_trade_id < t.first_trade_id)
        return Error(Errc::invalid_argument, "field 'last_trade_id' is below 'first_trade_id'",
                     "last_trade_id");
      SF_TRY_ASSIGN(t.time, f.int64("time"));
      SF_TRY(check_non_negative(t.time, "time"));
      SF_TRY_ASSIGN(t.is_buyer_maker, req_bool(f, "is_buyer_maker"));
      SF_TRY_ASSIGN(t.is_best_match, req_bool(f, "is_best_match"));
      return Record(std::move(t));
    }
    case Kind::trade: {
      SF_TRY(f.only({"symbol", "trade_id", "price", "qty", "quote_qty", "time", "is_buyer_maker",
                     "is_best_match"}));
      Trade t;
      SF_TRY_ASSIGN(t.symbol, f.str("symbol"));
      SF_TRY(protocol::check_symbol(t.symbol, "symbol"));
      SF_TRY_ASSIGN(t.trade_id, f.int64("trade_id"));
      SF_TRY(check_non_negative(t.trade_id, "trade_id"));
      for (auto [field, dst] :
           {std::pair{"price", &t.price}, {"qty", &t.qty}, {"quote_qty", &t.quote_qty}}) {
        SF_TRY_ASSIGN(*dst, f.str(field));
        SF_TRY(check_decimal(*dst, field));
      }
      SF_TRY_ASSIGN(t.time, f.int64("time"));
      SF_TRY(check_non_negative(t.time, "time"));
      SF_TRY_ASSIGN(t.is_buyer_maker, req_bool(f, "is_buyer_maker"));
      SF_TRY_ASSIGN(t.is_best_match, req_bool(f, "is_best_match"));
      return Record(std::move(t));
    }
  }
  return Error(Errc::internal, "unknown record kind");
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
