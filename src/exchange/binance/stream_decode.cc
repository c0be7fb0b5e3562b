// Decoders of the WebSocket market streams and of the /depth snapshot (decode.h: Decoder::
// stream_event, Decoder::depth), on the same strict field readers as the REST pages.
#include "base/enum_names.h"
#include "exchange/binance/decode.h"
#include "exchange/binance/decode_detail.h"

namespace sf::exchange::binance {

namespace {

using Kind = StreamEvent::Kind;

// Reads the fields of an object in order: each key of `keys` at most once (a repeat is an
// error), unknown keys ignored; every key whose bit is in `required` must be there.
// read(i, value) reads keys[i] (false with the error in w).
template <size_t N, typename Read>
Status read_fields(od::object& obj, const Where& w, const char* const (&keys)[N], unsigned required,
                   Read&& read) {
  unsigned seen = 0;
  for (auto field_r : obj) {
    od::field fld;
    if (auto e = std::move(field_r).get(fld)) return w.fail("", e);
    const int i = key_index(fld.key(), keys);
    if (i < 0) continue;
    if (seen & (1u << i)) return w.fail(keys[i], "duplicate key");
    seen |= 1u << i;
    if (!read(i, fld.value())) return std::move(*w.err);
  }
  return check_seen(seen | ~required, keys, w);
}

constexpr unsigned all_of(size_t n) { return (1u << n) - 1; }

// A side of a book: [["price", "qty"], ...], each at most 8 decimals (market::parse_units).
bool get_levels(od::value v, const Where& w, const char* field,
                std::vector<market::BookLevel>* out) {
  out->clear();
  od::array arr;
  if (auto e = v.get_array().get(arr)) return w.set(w.fail(field, e));
  for (auto level_r : arr) {
    // Named only in an error (a level costs no allocation otherwise).
    auto at = [&] { return "level " + std::to_string(out->size()); };
    od::array pair;
    if (auto e = level_r.get_array().get(pair))
      return w.set(w.fail(field, at() + ": " + simdjson::error_message(e)));
    std::string_view text[2];
    size_t n = 0;
    for (auto x : pair) {
      std::string_view s;
      if (auto e = x.get_string().get(s))
        return w.set(w.fail(field, at() + ": " + simdjson::error_message(e)));
      if (n < 2) text[n] = s;
      ++n;
    }
    if (n != 2)
      return w.set(w.fail(field, at() + " has " + std::to_string(n) + " elements, expected 2"));
    const auto price = market::parse_units(text[0]), qty = market::parse_units(text[1]);
    if (!price || !qty) {
      return w.set(w.fail(field, at() + ": '" + std::string(price ? text[1] : text[0]) +
                                     "' is not a decimal of at most 8 places"));
    }
    out->push_back({*price, *qty});
  }
  return true;
}

// A decimal field that must also fit 1e-8 units (for the trade's computed quote quantity).
bool get_units(od::value& v, const Where& w, const char* field, std::string* text, int64_t* units) {
  if (!get_decimal(v, w, field, text)) return false;
  const auto u = market::parse_units(*text);
  if (!u) return w.set(w.fail(field, "'" + *text + "' is not a decimal of at most 8 places"));
  *units = *u;
  return true;
}

Status read_trade(od::object& obj, const Where& w, TimeUnit unit, StreamEvent* out) {
  static const char* const kKeys[] = {"E", "s", "t", "p", "q", "T", "m", "M"};
  market::Trade& t = out->trade;
  t.is_best_match = true;  // "M" is optional (Binance marks it "ignore")
  int64_t price = 0, qty = 0;
  SF_TRY(read_fields(obj, w, kKeys, all_of(7), [&](int i, od::value v) {
    switch (i) {
      case 0:
        return get_time(v, w, kKeys[i], unit, &out->event_time);
      case 1:
        return get_text(v, w, kKeys[i], &t.symbol);
      case 2:
        return get_id(v, w, kKeys[i], &t.trade_id);
      case 3:
        return get_units(v, w, kKeys[i], &t.price, &price);
      case 4:
        return get_units(v, w, kKeys[i], &t.qty, &qty);
      case 5:
        return get_time(v, w, kKeys[i], unit, &t.time);
      case 6:
        return get_bool(v, w, kKeys[i], &t.is_buyer_maker);
      default:
        return get_bool(v, w, kKeys[i], &t.is_best_match);
    }
  }));
  // The stream has no quote quantity; historicalTrades' is price x qty to 8 decimals.
  __extension__ using u128 = unsigned __int128;
  const u128 quote = static_cast<u128>(price) * static_cast<u128>(qty) / market::kUnitsPerOne;
  if (quote > static_cast<u128>(INT64_MAX)) return w.fail("q", "price x qty out of range");
  t.quote_qty.clear();
  market::append_units(t.quote_qty, static_cast<int64_t>(quote));
  return ok_status();
}

Status read_agg_trade(od::object& obj, const Where& w, TimeUnit unit, StreamEvent* out) {
  // The REST row's keys (kAggTradeKeys) after the event's own two.
  static const char* const kKeys[] = {"E", "s", "a", "p", "q", "f", "l", "T", "m", "M"};
  market::AggTrade& t = out->agg_trade;
  t.is_best_match = true;
  SF_TRY(read_fields(obj, w, kKeys, all_of(9), [&](int i, od::value v) {
    if (i == 0) return get_time(v, w, kKeys[i], unit, &out->event_time);
    if (i == 1) return get_text(v, w, kKeys[i], &t.symbol);
    return agg_trade_field(i - 2, v, w, unit, t);
  }));
  return check_agg_trade(t, w);
}

Status read_kline(od::object& obj, const Where& w, TimeUnit unit, StreamEvent* out) {
  static const char* const kKeys[] = {"E", "s", "k"};
  static const char* const kK[] = {"t", "T", "s", "i", "o", "c", "h",
                                   "l", "v", "n", "x", "q", "V", "Q"};
  market::Candle& c = out->kline;
  std::string outer_symbol;
  SF_TRY(read_fields(obj, w, kKeys, all_of(3), [&](int i, od::value v) {
    if (i == 0) return get_time(v, w, kKeys[i], unit, &out->event_time);
    if (i == 1) return get_text(v, w, kKeys[i], &outer_symbol);
    od::object k;
    if (auto e = v.get_object().get(k)) return w.set(w.fail("k", e));
    const Where kw{"kline event: k"};
    Status st = read_fields(k, kw, kK, all_of(14), [&](int j, od::value kv) {
      switch (j) {
        case 0:
          return get_time(kv, kw, kK[j], unit, &c.open_time);
        case 1:
          return get_time(kv, kw, kK[j], unit, &c.close_time);
        case 2:
          return get_text(kv, kw, kK[j], &c.symbol);
        case 3:
          return get_text(kv, kw, kK[j], &c.interval);
        case 4:
          return get_decimal(kv, kw, kK[j], &c.open);
        case 5:
          return get_decimal(kv, kw, kK[j], &c.close);
        case 6:
          return get_decimal(kv, kw, kK[j], &c.high);
        case 7:
          return get_decimal(kv, kw, kK[j], &c.low);
        case 8:
          return get_decimal(kv, kw, kK[j], &c.volume);
        case 9:
          return get_id(kv, kw, kK[j], &c.trades);
        case 10:
          return get_bool(kv, kw, kK[j], &c.closed);
        case 11:
          return get_decimal(kv, kw, kK[j], &c.quote_volume);
        case 12:
          return get_decimal(kv, kw, kK[j], &c.taker_buy_base_volume);
        default:
          return get_decimal(kv, kw, kK[j], &c.taker_buy_quote_volume);
      }
    });
    if (!st.ok()) return w.set(st.error());
    return true;
  }));
  if (c.symbol != outer_symbol)
    return w.fail("s", "'" + outer_symbol + "' but k.s is '" + c.symbol + "'");
  if (c.close_time < c.open_time) return w.fail("k.T", "before k.t");
  return ok_status();
}

Status read_depth(od::object& obj, const Where& w, TimeUnit unit, StreamEvent* out) {
  static const char* const kKeys[] = {"E", "s", "U", "u", "b", "a"};
  DepthDiff& d = out->depth;
  std::string symbol;
  SF_TRY(read_fields(obj, w, kKeys, all_of(6), [&](int i, od::value v) {
    switch (i) {
      case 0:
        return get_time(v, w, kKeys[i], unit, &out->event_time);
      case 1:
        return get_text(v, w, kKeys[i], &symbol);
      case 2:
        return get_id(v, w, kKeys[i], &d.first_id);
      case 3:
        return get_id(v, w, kKeys[i], &d.last_id);
      case 4:
        return get_levels(v, w, kKeys[i], &d.bids);
      default:
        return get_levels(v, w, kKeys[i], &d.asks);
    }
  }));
  d.event_time = out->event_time;
  if (d.last_id < d.first_id) return w.fail("u", "below the first update id 'U'");
  return ok_status();
}

Status read_shutdown(od::object& obj, const Where& w, TimeUnit unit, StreamEvent* out) {
  static const char* const kKeys[] = {"E"};
  return read_fields(obj, w, kKeys, 0,
                     [&](int, od::value v) { return get_time(v, w, "E", unit, &out->event_time); });
}

// An object with "e": its type first (wherever it stands), then its fields in order.
Status read_event(od::object& obj, TimeUnit unit, StreamEvent* out) {
  // Errors built here directly: a Where local to this function made GCC 12 warn that its
  // (never set) std::optional might be used uninitialized.
  auto fail = [](std::string why) {
    return Error(Errc::parse_error, "stream event: field 'e': " + why, "e");
  };
  std::string_view type;
  if (auto e = obj.find_field_unordered("e").get_string().get(type))
    return fail(e == simdjson::NO_SUCH_FIELD ? "missing" : simdjson::error_message(e));
  const std::string t(type);  // the string buffer is reused as fields are read
  if (auto e = obj.reset().error()) return fail(simdjson::error_message(e));
  struct Type {
    const char* name;
    Kind kind;
    const char* where;
    Status (*read)(od::object&, const Where&, TimeUnit, StreamEvent*);
  };
  static const Type kTypes[] = {
      {"trade", Kind::trade, "trade event", read_trade},
      {"aggTrade", Kind::agg_trade, "aggTrade event", read_agg_trade},
      {"kline", Kind::kline, "kline event", read_kline},
      {"depthUpdate", Kind::depth, "depthUpdate event", read_depth},
      {"serverShutdown", Kind::server_shutdown, "serverShutdown event", read_shutdown},
  };
  for (const Type& type_info : kTypes) {
    if (t != type_info.name) continue;
    out->kind = type_info.kind;
    return type_info.read(obj, Where{type_info.where}, unit, out);
  }
  return fail("unknown event type '" + t.substr(0, 40) + "'");
}

// The raw JSON of a reply's "result" (null, an array, or anything else as its token).
bool get_raw(od::value v, const Where& w, const char* field, std::string* out) {
  od::json_type type;
  if (auto e = v.type().get(type)) return w.set(w.fail(field, e));
  std::string_view raw;
  simdjson::error_code e = simdjson::SUCCESS;
  if (type == od::json_type::array) {
    od::array a;
    e = v.get_array().get(a);
    if (!e) e = a.raw_json().get(raw);
  } else if (type == od::json_type::object) {
    od::object o;
    e = v.get_object().get(o);
    if (!e) e = o.raw_json().get(raw);
  } else {
    raw = trimmed_token(v);
  }
  if (e) return w.set(w.fail(field, e));
  out->assign(raw.data(), raw.size());
  return true;
}

}  // namespace

const char* to_string(StreamEvent::Kind k) {
  static constexpr const char* kNames[] = {"trade",           "agg_trade",     "kline",
                                           "depth",           "partial_depth", "book_ticker",
                                           "server_shutdown", "reply",         "error_reply"};
  return enum_name(k, kNames, "?");
}

Status Decoder::depth(Input json, DepthSnapshot* out) {
  static const char* const kKeys[] = {"lastUpdateId", "bids", "asks"};
  const Where w{"depth"};
  od::document doc;
  SF_TRY(impl_->start(json, w, &doc));
  od::object root;
  if (auto e = doc.get_object().get(root)) return w.fail("", e);
  SF_TRY(read_fields(root, w, kKeys, all_of(3), [&](int i, od::value v) {
    if (i == 0) return get_id(v, w, kKeys[i], &out->last_update_id);
    return get_levels(v, w, kKeys[i], i == 1 ? &out->bids : &out->asks);
  }));
  return Impl::finish(doc, w);
}

namespace {

// A message object: an event (it has "e"), or one told apart by its keys: at the top, the
// combined wrapper (stream, data), a reply (result | error, id); anywhere (also as a wrapper's
// data: Binance wraps partial books and bookTickers too) a partial book (lastUpdateId, bids,
// asks) or a bookTicker (u, s, b, B, a, A).
Status read_message(od::object& root, const Where& w, TimeUnit unit, StreamEvent* out,
                    bool nested) {
  {
    od::value e_value;
    const auto found = root.find_field_unordered("e").get(e_value);
    if (found != simdjson::NO_SUCH_FIELD) {
      if (found) return w.fail("", found);
      if (auto e = root.reset().error()) return w.fail("", e);
      return read_event(root, unit, out);
    }
    if (auto e = root.reset().error()) return w.fail("", e);
  }
  static const char* const kKeys[] = {"stream", "data", "result", "error", "id", "lastUpdateId",
                                      "bids",   "asks", "u",      "s",     "b",  "B",
                                      "a",      "A"};
  enum : unsigned {
    kStream = 1u << 0,
    kData = 1u << 1,
    kResult = 1u << 2,
    kError = 1u << 3,
    kId = 1u << 4,
    kPartial = (1u << 5) | (1u << 6) | (1u << 7),
    kTicker = (1u << 8) | (1u << 9) | (1u << 10) | (1u << 11) | (1u << 12) | (1u << 13),
    kTopOnly = kStream | kData | kResult | kError | kId,
  };
  unsigned seen = 0;
  BookTicker& tk = out->ticker;
  std::string bid_price, bid_qty, ask_price, ask_qty;
  for (auto field_r : root) {
    od::field fld;
    if (auto e = std::move(field_r).get(fld)) return w.fail("", e);
    const int i = key_index(fld.key(), kKeys);
    if (i < 0) continue;
    if (seen & (1u << i)) return w.fail(kKeys[i], "duplicate key");
    seen |= 1u << i;
    if (nested && (seen & kTopOnly))
      return w.fail(kKeys[i], "not allowed in a combined stream's data");
    od::value v = fld.value();
    bool ok = true;
    switch (i) {
      case 0:
        ok = get_text(v, w, kKeys[i], &out->stream);
        break;
      case 1: {
        od::object data;
        if (auto e = v.get_object().get(data)) return w.fail("data", e);
        SF_TRY(read_message(data, Where{"stream message: data"}, unit, out, true));
        break;
      }
      case 2:
        ok = get_raw(v, w, kKeys[i], &out->reply_json);
        break;
      case 3: {
        static const char* const kErr[] = {"code", "msg"};
        od::object eo;
        if (auto e = v.get_object().get(eo)) return w.fail("error", e);
        const Where ew{"stream message: error"};
        SF_TRY(read_fields(eo, ew, kErr, all_of(2), [&](int j, od::value ev) {
          if (j == 1) return get_text(ev, ew, kErr[j], &out->error.msg);
          if (auto e = ev.get_int64().get(out->error.code)) return ew.set(ew.fail("code", e));
          return true;
        }));
        break;
      }
      case 4: {
        if (v.is_null()) {
          out->reply_id = -1;
        } else {
          ok = get_id(v, w, kKeys[i], &out->reply_id);
        }
        break;
      }
      case 5:
        ok = get_id(v, w, kKeys[i], &out->snapshot.last_update_id);
        break;
      case 6:
        ok = get_levels(v, w, kKeys[i], &out->snapshot.bids);
        break;
      case 7:
        ok = get_levels(v, w, kKeys[i], &out->snapshot.asks);
        break;
      case 8:
        ok = get_id(v, w, kKeys[i], &tk.update_id);
        break;
      case 9:
        ok = get_text(v, w, kKeys[i], &tk.symbol);
        break;
      case 10:
        ok = get_decimal(v, w, kKeys[i], &bid_price);
        break;
      case 11:
        ok = get_decimal(v, w, kKeys[i], &bid_qty);
        break;
      case 12:
        ok = get_decimal(v, w, kKeys[i], &ask_price);
        break;
      default:
        ok = get_decimal(v, w, kKeys[i], &ask_qty);
        break;
    }
    if (!ok) return std::move(*w.err);
  }
  // Exactly one shape, complete.
  auto only = [&](unsigned mask) { return (seen & ~mask) == 0; };
  if (seen & kData) {
    if (!only(kStream | kData) || !(seen & kStream))
      return w.fail("stream", "a combined-stream message has exactly 'stream' and 'data'");
    return ok_status();
  }
  if (seen & (kResult | kError)) {
    if ((seen & kResult) && (seen & kError)) return w.fail("error", "both 'result' and 'error'");
    if (!(seen & kId)) return w.fail("id", "missing");
    if (!only(kResult | kError | kId))
      return w.fail("", "a reply has only 'result' or 'error', and 'id'");
    out->kind = seen & kResult ? Kind::reply : Kind::error_reply;
    return ok_status();
  }
  if (seen & kPartial) {
    if ((seen & kPartial) != kPartial || !only(kPartial))
      return w.fail("", "a partial book has exactly 'lastUpdateId', 'bids' and 'asks'");
    out->kind = Kind::partial_depth;
    return ok_status();
  }
  if (seen & kTicker) {
    if ((seen & kTicker) != kTicker || !only(kTicker))
      return w.fail("", "a bookTicker has exactly 'u', 's', 'b', 'B', 'a' and 'A'");
    const auto bp = market::parse_units(bid_price), bq = market::parse_units(bid_qty),
               ap = market::parse_units(ask_price), aq = market::parse_units(ask_qty);
    if (!bp || !bq || !ap || !aq) return w.fail("", "a bookTicker decimal has more than 8 places");
    tk.bid = {*bp, *bq};
    tk.ask = {*ap, *aq};
    out->kind = Kind::book_ticker;
    return ok_status();
  }
  return w.fail("e", "missing: not an event, a reply or a book message");
}

}  // namespace

Status Decoder::stream_event(Input json, TimeUnit unit, StreamEvent* out) {
  const Where w{"stream message"};
  out->stream.clear();
  out->event_time = 0;
  od::document doc;
  SF_TRY(impl_->start(json, w, &doc));
  od::object root;
  if (auto e = doc.get_object().get(root)) return w.fail("", e);
  SF_TRY(read_message(root, w, unit, out, false));
  return Impl::finish(doc, w);
}

}  // namespace sf::exchange::binance
