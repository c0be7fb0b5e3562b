#include "exchange/binance/decode.h"

#include "exchange/binance/decode_detail.h"

namespace sf::exchange::binance {

namespace od = simdjson::ondemand;
using market::AggTrade;
using market::Candle;
using market::Trade;

static_assert(kPadding == simdjson::SIMDJSON_PADDING);

const char* to_string(TimeUnit u) { return u == TimeUnit::microsecond ? "us" : "ms"; }

std::optional<int64_t> to_ms(int64_t raw, TimeUnit unit) {
  if (raw < 0) return std::nullopt;
  int64_t ms = unit == TimeUnit::microsecond ? raw / 1000 : raw;
  if (ms < kMinTimeMs || ms >= kMaxTimeMs) return std::nullopt;
  return ms;
}

std::optional<int64_t> ExchangeInfo::request_weight_per_minute() const {
  for (const auto& r : rate_limits) {
    if (r.type == "REQUEST_WEIGHT" && r.interval == "MINUTE" && r.interval_num == 1) return r.limit;
  }
  return std::nullopt;
}

std::optional<std::pair<int64_t, int64_t>> ExchangeInfo::raw_requests() const {
  for (const auto& r : rate_limits) {
    if (r.type != "RAW_REQUESTS") continue;
    int64_t unit = r.interval == "SECOND"   ? 1000
                   : r.interval == "MINUTE" ? 60'000
                   : r.interval == "HOUR"   ? 3'600'000
                   : r.interval == "DAY"    ? 86'400'000
                                            : 0;
    if (unit == 0) continue;
    return std::make_pair(r.limit, unit * r.interval_num);
  }
  return std::nullopt;
}

const SymbolInfo* ExchangeInfo::find(std::string_view symbol) const {
  for (const auto& s : symbols) {
    if (s.symbol == symbol) return &s;
  }
  return nullptr;
}

Decoder::Decoder() : impl_(std::make_unique<Impl>()) {}
Decoder::~Decoder() = default;

Status Decoder::klines(Input json, std::string_view symbol, std::string_view interval,
                       TimeUnit unit, std::vector<Candle>* out) {
  static const char* const kFields[12] = {"open_time",
                                          "open",
                                          "high",
                                          "low",
                                          "close",
                                          "volume",
                                          "close_time",
                                          "quote_volume",
                                          "trades",
                                          "taker_buy_base_volume",
                                          "taker_buy_quote_volume",
                                          "ignore"};
  return impl_->rows(json, "klines", out, [&](Row& row_r, const Where& w, Candle& c) -> Status {
    od::array row;
    if (auto e = row_r.get_array().get(row)) return w.fail("", e);
    set_text(&c.symbol, symbol.data(), symbol.size());
    set_text(&c.interval, interval.data(), interval.size());
    c.closed = true;
    // The 12 elements in order, unrolled: element k is read right after the iterator has
    // moved to it, and a row that ends early or goes on past 12 is reported as such.
    od::array_iterator it, end;
    if (auto e = row.begin().get(it)) return w.fail("", e);
    if (auto e = row.end().get(end)) return w.fail("", e);
    od::value v;
    auto at = [&](size_t k) -> bool {
      if (k > 0) ++it;
      if (!(it != end)) {
        return w.set(w.fail(kFields[k], "row has " + std::to_string(k) + " elements, expected 12"));
      }
      if (auto e = (*it).get(v)) return w.set(w.fail(kFields[k], e));
      return true;
    };
    SF_DTRY(at(0) && get_time(v, w, kFields[0], unit, &c.open_time), w);
    SF_DTRY(at(1) && get_decimal(v, w, kFields[1], &c.open), w);
    SF_DTRY(at(2) && get_decimal(v, w, kFields[2], &c.high), w);
    SF_DTRY(at(3) && get_decimal(v, w, kFields[3], &c.low), w);
    SF_DTRY(at(4) && get_decimal(v, w, kFields[4], &c.close), w);
    SF_DTRY(at(5) && get_decimal(v, w, kFields[5], &c.volume), w);
    SF_DTRY(at(6) && get_time(v, w, kFields[6], unit, &c.close_time), w);
    SF_DTRY(at(7) && get_decimal(v, w, kFields[7], &c.quote_volume), w);
    SF_DTRY(at(8) && get_id(v, w, kFields[8], &c.trades), w);
    SF_DTRY(at(9) && get_decimal(v, w, kFields[9], &c.taker_buy_base_volume), w);
    SF_DTRY(at(10) && get_decimal(v, w, kFields[10], &c.taker_buy_quote_volume), w);
    SF_DTRY(at(11), w);  // unused; skipped by the iterator, still checked for well-formedness
    ++it;
    if (it != end) {
      // A 13th element, or the row is malformed after the 12th: tell the two apart.
      od::value extra;
      if (auto e = (*it).get(extra)) return w.fail("", e);
      return w.fail("", "more than 12 elements");
    }
    if (c.close_time < c.open_time) return w.fail("close_time", "before open_time");
    return ok_status();
  });
}

Status Decoder::agg_trades(Input json, std::string_view symbol, TimeUnit unit,
                           std::vector<AggTrade>* out) {
  return impl_->rows(json, "aggTrades", out, [&](Row& row, const Where& w, AggTrade& t) -> Status {
    t.symbol.assign(symbol);
    SF_TRY(read_object(row, w, kAggTradeKeys, true,
                       [&](int i, od::value v) { return agg_trade_field(i, v, w, unit, t); }));
    return check_agg_trade(t, w);
  });
}

Status Decoder::trades(Input json, std::string_view symbol, TimeUnit unit,
                       std::vector<Trade>* out) {
  static const char* const kKeys[] = {"id",   "price",        "qty",        "quoteQty",
                                      "time", "isBuyerMaker", "isBestMatch"};
  auto read_row = [&](Row& row, const Where& w, Trade& t) -> Status {
    t.symbol.assign(symbol);
    return read_object(row, w, kKeys, true, [&](int i, od::value v) {
      switch (i) {
        case 0:
          return get_id(v, w, kKeys[i], &t.trade_id);
        case 1:
          return get_decimal(v, w, kKeys[i], &t.price);
        case 2:
          return get_decimal(v, w, kKeys[i], &t.qty);
        case 3:
          return get_decimal(v, w, kKeys[i], &t.quote_qty);
        case 4:
          return get_time(v, w, kKeys[i], unit, &t.time);
        case 5:
          return get_bool(v, w, kKeys[i], &t.is_buyer_maker);
        default:
          return get_bool(v, w, kKeys[i], &t.is_best_match);
      }
    });
  };
  return impl_->rows(json, "historicalTrades", out, read_row);
}

Result<ExchangeInfo> Decoder::exchange_info(Input json, TimeUnit unit) {
  Where w{"exchangeInfo"};
  od::document doc;
  SF_TRY(impl_->start(json, w, &doc));
  od::object root;
  if (auto e = doc.get_object().get(root)) return w.fail("", e);
  ExchangeInfo info;
  bool have_limits = false, have_symbols = false;
  for (auto field_r : root) {
    od::field fld;
    if (auto e = std::move(field_r).get(fld)) return w.fail("", e);
    od::raw_json_string key = fld.key();
    od::value v = fld.value();
    if (key.unsafe_is_equal("serverTime")) {
      SF_DTRY(get_time(v, w, "serverTime", unit, &info.server_time), w);
    } else if (key.unsafe_is_equal("rateLimits")) {
      have_limits = true;
      od::array arr;
      if (auto e = v.get_array().get(arr)) return w.fail("rateLimits", e);
      Where rw{"exchangeInfo: rateLimits", 0, true};
      for (auto el : arr) {
        static const char* const kKeys[] = {"rateLimitType", "interval", "intervalNum", "limit"};
        RateLimit& r = info.rate_limits.emplace_back();
        SF_TRY(read_object(el, rw, kKeys, false, [&](int i, od::value fv) {
          switch (i) {
            case 0:
              return get_text(fv, rw, kKeys[i], &r.type);
            case 1:
              return get_text(fv, rw, kKeys[i], &r.interval);
            case 2:
              return get_id(fv, rw, kKeys[i], &r.interval_num);
            default:
              return get_id(fv, rw, kKeys[i], &r.limit);
          }
        }));
        ++rw.row;
      }
    } else if (key.unsafe_is_equal("symbols")) {
      have_symbols = true;
      od::array arr;
      if (auto e = v.get_array().get(arr)) return w.fail("symbols", e);
      Where sw{"exchangeInfo: symbols", 0, true};
      for (auto el : arr) {
        static const char* const kKeys[] = {"symbol", "status"};
        SymbolInfo& s = info.symbols.emplace_back();
        SF_TRY(read_object(el, sw, kKeys, false, [&](int i, od::value fv) {
          return get_text(fv, sw, kKeys[i], i == 0 ? &s.symbol : &s.status);
        }));
        ++sw.row;
      }
    }
  }
  if (!have_limits) return w.fail("rateLimits", "missing");
  if (!have_symbols) return w.fail("symbols", "missing");
  SF_TRY(Impl::finish(doc, w));
  return info;
}

Result<int64_t> Decoder::server_time(Input json, TimeUnit unit) {
  Where w{"time"};
  od::document doc;
  SF_TRY(impl_->start(json, w, &doc));
  od::object root;
  if (auto e = doc.get_object().get(root)) return w.fail("", e);
  std::optional<int64_t> t;
  for (auto field_r : root) {
    od::field fld;
    if (auto e = std::move(field_r).get(fld)) return w.fail("", e);
    if (fld.key().unsafe_is_equal("serverTime")) {
      int64_t ms;
      od::value v = fld.value();
      SF_DTRY(get_time(v, w, "serverTime", unit, &ms), w);
      t = ms;
    }
  }
  if (!t) return w.fail("serverTime", "missing");
  SF_TRY(Impl::finish(doc, w));
  return *t;
}

Result<ExchangeError> Decoder::error_body(Input json) {
  Where w{"error body"};
  od::document doc;
  SF_TRY(impl_->start(json, w, &doc));
  od::object root;
  if (auto e = doc.get_object().get(root)) return w.fail("", e);
  ExchangeError err;
  bool have_code = false, have_msg = false;
  for (auto field_r : root) {
    od::field fld;
    if (auto e = std::move(field_r).get(fld)) return w.fail("", e);
    od::raw_json_string key = fld.key();
    if (key.unsafe_is_equal("code")) {
      if (auto e = fld.value().get_int64().get(err.code)) return w.fail("code", e);
      have_code = true;
    } else if (key.unsafe_is_equal("msg")) {
      SF_DTRY(get_text(fld.value(), w, "msg", &err.msg), w);
      have_msg = true;
    }
  }
  if (!have_code) return w.fail("code", "missing");
  if (!have_msg) return w.fail("msg", "missing");
  SF_TRY(Impl::finish(doc, w));
  return err;
}

namespace {
Decoder& local_decoder() {
  thread_local Decoder d;
  return d;
}
}  // namespace

Result<std::vector<Candle>> decode_klines(std::string_view json, std::string_view symbol,
                                          std::string_view interval, TimeUnit unit) {
  std::vector<Candle> out;
  SF_TRY(local_decoder().klines(json, symbol, interval, unit, &out));
  return out;
}

Result<std::vector<AggTrade>> decode_agg_trades(std::string_view json, std::string_view symbol,
                                                TimeUnit unit) {
  std::vector<AggTrade> out;
  SF_TRY(local_decoder().agg_trades(json, symbol, unit, &out));
  return out;
}

Result<std::vector<Trade>> decode_trades(std::string_view json, std::string_view symbol,
                                         TimeUnit unit) {
  std::vector<Trade> out;
  SF_TRY(local_decoder().trades(json, symbol, unit, &out));
  return out;
}

Result<ExchangeInfo> decode_exchange_info(std::string_view json, TimeUnit unit) {
  return local_decoder().exchange_info(json, unit);
}

Result<int64_t> decode_server_time(std::string_view json, TimeUnit unit) {
  return local_decoder().server_time(json, unit);
}

Result<ExchangeError> decode_error_body(std::string_view json) {
  return local_decoder().error_body(json);
}

}  // namespace sf::exchange::binance
