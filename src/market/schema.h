// The one description of every record kind's fields (docs/data.md's tables are printed from
// it): name, type, natural-key part, decoding rule and documentation, with a member pointer
// per field. The encoder and decoder (records.cc), the three data stores (DDL, column lists,
// COPY/insert row writers, readers, key order and upsert rules), check_decimals and the
// docs generator all walk it, so adding a kind is its struct in records.h, its Kind, its
// place in Record and a Schema<> specialisation below (plus the exchange's decoder).
//
// Two views of the same table:
// - compile time: visit_fields() / try_visit_fields() walk a record's members through
//   their member pointers (a fold over a constexpr tuple: no per-field dispatch at run
//   time, so the hot paths are what hand-written code would be);
// - run time: kind_info(kind) gives the type-erased FieldInfo list (names, types, keys)
//   for DDL, queries and messages, and with_kind() turns a Kind back into its record type.
//
// A field's name is at once its JSON member on the data topic, its SQL column (SQLite and
// PostgreSQL, which adds a nullable TEXT column `<name>_text` per decimal field) and its
// ArangoDB attribute. Key fields come first, in key order.
//
// Everything here is constant data and pure functions: safe from any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

#include "base/result.h"
#include "market/records.h"

namespace sf::market {

enum class FieldType {
  text,     // JSON string, SQL TEXT
  decimal,  // JSON string of market::is_decimal text; PostgreSQL NUMERIC (+ <name>_text)
  integer,  // JSON integer, 64-bit
  boolean,  // JSON true/false
  real,     // JSON number, a finite double (analytics: correlations, features); SQL REAL /
            // double precision
};

// What the decoder checks beyond the JSON type.
enum class Rule {
  none,
  symbol,        // protocol::is_valid_symbol
  interval,      // a Binance kline interval (interval_ms() >= 0)
  non_negative,  // integer >= 0
  levels,        // order-book levels text (order_book.h, check_levels_text)
};

// A field without its member pointer: what DDL, queries, messages and docs need.
struct FieldInfo {
  std::string_view name;
  FieldType type;
  bool key;   // part of the natural key
  Rule rule;  // decoder check
  std::string_view doc;
};

// A field of record type R holding a T (std::string, int64_t or bool).
template <class R, class T, FieldType Type>
struct Field {
  static constexpr FieldType type = Type;
  FieldInfo info;
  T R::*member;
};

template <class R>
constexpr Field<R, std::string, FieldType::text> text(std::string_view name, std::string R::*m,
                                                      bool key, Rule rule, std::string_view doc) {
  return {{name, FieldType::text, key, rule, doc}, m};
}
template <class R>
constexpr Field<R, std::string, FieldType::decimal> decimal(std::string_view name,
                                                            std::string R::*m,
                                                            std::string_view doc) {
  return {{name, FieldType::decimal, false, Rule::none, doc}, m};
}
template <class R>
constexpr Field<R, int64_t, FieldType::integer> integer(std::string_view name, int64_t R::*m,
                                                        bool key, Rule rule, std::string_view doc) {
  return {{name, FieldType::integer, key, rule, doc}, m};
}
template <class R>
constexpr Field<R, double, FieldType::real> real(std::string_view name, double R::*m,
                                                 std::string_view doc) {
  return {{name, FieldType::real, false, Rule::none, doc}, m};
}
template <class R>
constexpr Field<R, bool, FieldType::boolean> boolean(std::string_view name, bool R::*m,
                                                     std::string_view doc) {
  return {{name, FieldType::boolean, false, Rule::none, doc}, m};
}

inline constexpr bool kKey = true;

// Specialised per record kind with:
//   kind, name (to_string(kind): the stores' catalogues), title (docs heading), workflow_type
//   (the historical workflow type producing it; empty if none), live_type (the live,
//   WebSocket one; both with "<interval>" standing for a kline interval; one type may
//   produce several kinds, each on a topic and in a collection of its own), time_field (what
//   Query's range filters), final_flag (a boolean field that makes a stored record final: a later
//   record with the same key and the flag false does not replace one with it true; nullptr if the
//   kind has none), fields (a tuple of Field), and check() for rules across fields.
template <class R>
struct Schema;

template <>
struct Schema<Candle> {
  static constexpr Kind kind = Kind::candle;
  static constexpr std::string_view name = "candle";
  static constexpr std::string_view title = "Candles";
  static constexpr std::string_view workflow_type = "api_candles_<interval>";
  static constexpr std::string_view live_type = "ws_klines_<interval>";
  static constexpr std::string_view time_field = "open_time";
  static constexpr bool Candle::*final_flag = &Candle::closed;
  static constexpr auto fields = std::tuple{
      text("symbol", &Candle::symbol, kKey, Rule::symbol, "`BTCUSDT`"),
      text("interval", &Candle::interval, kKey, Rule::interval, "`1m`, `1h`, ... (Binance's)"),
      integer("open_time", &Candle::open_time, kKey, Rule::non_negative, "ms"),
      integer("close_time", &Candle::close_time, false, Rule::none, "ms, not before `open_time`"),
      decimal("open", &Candle::open, ""),
      decimal("high", &Candle::high, ""),
      decimal("low", &Candle::low, ""),
      decimal("close", &Candle::close, ""),
      decimal("volume", &Candle::volume, "base asset"),
      decimal("quote_volume", &Candle::quote_volume, "quote asset"),
      integer("trades", &Candle::trades, false, Rule::non_negative, "number of trades"),
      decimal("taker_buy_base_volume", &Candle::taker_buy_base_volume, ""),
      decimal("taker_buy_quote_volume", &Candle::taker_buy_quote_volume, ""),
      boolean("closed", &Candle::closed,
              "false for a candle still open when it was loaded; a later run replaces it, "
              "a closed candle is final"),
  };
  static Status check(const Candle& c);
};

template <>
struct Schema<AggTrade> {
  static constexpr Kind kind = Kind::agg_trade;
  static constexpr std::string_view name = "agg_trade";
  static constexpr std::string_view title = "Aggregate trades";
  static constexpr std::string_view workflow_type = "api_agg_trades";
  static constexpr std::string_view live_type = "ws_agg_trades";
  static constexpr std::string_view time_field = "time";
  static constexpr bool AggTrade::*final_flag = nullptr;
  static constexpr auto fields = std::tuple{
      text("symbol", &AggTrade::symbol, kKey, Rule::symbol, "`BTCUSDT`"),
      integer("agg_id", &AggTrade::agg_id, kKey, Rule::non_negative, "aggregate trade id"),
      decimal("price", &AggTrade::price, ""),
      decimal("qty", &AggTrade::qty, ""),
      integer("first_trade_id", &AggTrade::first_trade_id, false, Rule::none, ""),
      integer("last_trade_id", &AggTrade::last_trade_id, false, Rule::none,
              "not below `first_trade_id`"),
      integer("time", &AggTrade::time, false, Rule::non_negative, "ms"),
      boolean("is_buyer_maker", &AggTrade::is_buyer_maker, ""),
      boolean("is_best_match", &AggTrade::is_best_match, ""),
  };
  static Status check(const AggTrade& t);
};

template <>
struct Schema<Trade> {
  static constexpr Kind kind = Kind::trade;
  static constexpr std::string_view name = "trade";
  static constexpr std::string_view title = "Trades";
  static constexpr std::string_view workflow_type = "api_trades";
  static constexpr std::string_view live_type = "ws_trades";
  static constexpr std::string_view time_field = "time";
  static constexpr bool Trade::*final_flag = nullptr;
  static constexpr auto fields = std::tuple{
      text("symbol", &Trade::symbol, kKey, Rule::symbol, "`BTCUSDT`"),
      integer("trade_id", &Trade::trade_id, kKey, Rule::non_negative, "trade id"),
      decimal("price", &Trade::price, ""),
      decimal("qty", &Trade::qty, ""),
      decimal("quote_qty", &Trade::quote_qty, ""),
      integer("time", &Trade::time, false, Rule::non_negative, "ms"),
      boolean("is_buyer_maker", &Trade::is_buyer_maker, ""),
      boolean("is_best_match", &Trade::is_best_match, ""),
  };
  static Status check(const Trade&) { return {}; }
};

template <>
struct Schema<BookSnapshot> {
  static constexpr Kind kind = Kind::book_snapshot;
  static constexpr std::string_view name = "book_snapshot";
  static constexpr std::string_view title = "Order-book snapshots";
  static constexpr std::string_view workflow_type = "";  // live only
  static constexpr std::string_view live_type = "ws_orderbook";
  static constexpr std::string_view time_field = "time";
  static constexpr bool BookSnapshot::*final_flag = nullptr;
  static constexpr auto fields = std::tuple{
      text("symbol", &BookSnapshot::symbol, kKey, Rule::symbol, "`BTCUSDT`"),
      integer("update_id", &BookSnapshot::update_id, kKey, Rule::non_negative,
              "the book reflects every diff up to this update id"),
      integer("time", &BookSnapshot::time, false, Rule::non_negative,
              "ms: event time of the last diff applied"),
      text("bids", &BookSnapshot::bids, false, Rule::levels,
           "levels text: `[[\"price\",\"qty\"],...]`, best (highest) first"),
      text("asks", &BookSnapshot::asks, false, Rule::levels, "levels text, best (lowest) first"),
  };
  static Status check(const BookSnapshot&) { return {}; }
};

template <>
struct Schema<BookDiff> {
  static constexpr Kind kind = Kind::book_diff;
  static constexpr std::string_view name = "book_diff";
  static constexpr std::string_view title = "Order-book diffs";
  static constexpr std::string_view workflow_type = "";  // live only
  static constexpr std::string_view live_type = "ws_orderbook";
  static constexpr std::string_view time_field = "time";
  static constexpr bool BookDiff::*final_flag = nullptr;
  static constexpr auto fields = std::tuple{
      text("symbol", &BookDiff::symbol, kKey, Rule::symbol, "`BTCUSDT`"),
      integer("last_update_id", &BookDiff::last_update_id, kKey, Rule::non_negative,
              "`u`: the last update id the diff covers"),
      integer("first_update_id", &BookDiff::first_update_id, false, Rule::non_negative,
              "`U`: the first, not above `last_update_id`"),
      integer("time", &BookDiff::time, false, Rule::non_negative, "ms: the event time `E`"),
      text("bids", &BookDiff::bids, false, Rule::levels,
           "levels text of the bids that changed; quantity 0 removes a level"),
      text("asks", &BookDiff::asks, false, Rule::levels, "levels text of the asks that changed"),
  };
  static Status check(const BookDiff& d);
};

// Graph snapshots (the graph-builder, docs/analytics.md): one node per symbol and window,
// one edge per correlated pair. A rolling series writes versions 0, 1, ... (window order).
template <>
struct Schema<GraphNode> {
  static constexpr Kind kind = Kind::graph_node;
  static constexpr std::string_view name = "graph_node";
  static constexpr std::string_view title = "Graph nodes";
  static constexpr std::string_view workflow_type = "";  // written by the graph-builder
  static constexpr std::string_view live_type = "";
  static constexpr std::string_view time_field = "window_start";
  static constexpr bool GraphNode::*final_flag = nullptr;
  static constexpr auto fields = std::tuple{
      text("symbol", &GraphNode::symbol, kKey, Rule::symbol, "the node: `BTCUSDT`"),
      integer("version", &GraphNode::version, kKey, Rule::non_negative,
              "the snapshot: 0, 1, ... in window order"),
      integer("window_start", &GraphNode::window_start, false, Rule::non_negative,
              "ms: open time of the window's first candle"),
      integer("window_end", &GraphNode::window_end, false, Rule::non_negative,
              "ms: open time of the candle after the window (exclusive)"),
      integer("candles", &GraphNode::candles, false, Rule::non_negative,
              "candles of the window present in the store"),
      real("log_return", &GraphNode::log_return, "sum of the window's log returns"),
      real("volatility", &GraphNode::volatility,
           "sample standard deviation of the window's log returns"),
      real("volume", &GraphNode::volume, "base volume summed over the window"),
      real("volume_change", &GraphNode::volume_change,
           "log(volume of the window's second half / its first half); 0 if either is 0"),
      real("return_1", &GraphNode::return_1, "the window's last log return"),
      real("return_2", &GraphNode::return_2, "the one before"),
      real("return_3", &GraphNode::return_3, "the one before that"),
      real("next_return", &GraphNode::next_return,
           "log return over the step after the window (the trainer's label); 0 if unknown"),
      boolean("has_next", &GraphNode::has_next,
              "false when the step after the window is not in the range (no label)"),
  };
  static Status check(const GraphNode& n);
};

template <>
struct Schema<GraphEdge> {
  static constexpr Kind kind = Kind::graph_edge;
  static constexpr std::string_view name = "graph_edge";
  static constexpr std::string_view title = "Graph edges";
  static constexpr std::string_view workflow_type = "";  // written by the graph-builder
  static constexpr std::string_view live_type = "";
  static constexpr std::string_view time_field = "window_start";
  static constexpr bool GraphEdge::*final_flag = nullptr;
  static constexpr auto fields = std::tuple{
      text("symbol", &GraphEdge::symbol, kKey, Rule::symbol,
           "one end (the leader for a lagged correlation); before `target` in byte order "
           "unless lagged"),
      text("target", &GraphEdge::target, kKey, Rule::symbol, "the other end"),
      integer("version", &GraphEdge::version, kKey, Rule::non_negative, "the snapshot"),
      integer("window_start", &GraphEdge::window_start, false, Rule::non_negative, "ms"),
      integer("window_end", &GraphEdge::window_end, false, Rule::non_negative, "ms, exclusive"),
      real("correlation", &GraphEdge::correlation, "in [-1, 1]: the edge's weight"),
      integer("lag", &GraphEdge::lag, false, Rule::non_negative,
              "candles by which `symbol` leads `target` (0 unless lagged)"),
      integer("samples", &GraphEdge::samples, false, Rule::non_negative,
              "return pairs the correlation was computed from"),
  };
  static Status check(const GraphEdge& e);
};

// ---- the compile-time walk ---------------------------------------------------------------

template <class R>
inline constexpr size_t kFieldCount = std::tuple_size_v<decltype(Schema<R>::fields)>;

namespace detail {
template <class Rec, class V, class F>
decltype(auto) call(V& v, const F& f, size_t i, Rec& rec) {
  auto& value = rec.*f.member;
  if constexpr (F::type == FieldType::text) {
    return v.text(f.info, i, value);
  } else if constexpr (F::type == FieldType::decimal) {
    return v.decimal(f.info, i, value);
  } else if constexpr (F::type == FieldType::integer) {
    return v.integer(f.info, i, value);
  } else if constexpr (F::type == FieldType::real) {
    return v.real(f.info, i, value);
  } else {
    return v.boolean(f.info, i, value);
  }
}
}  // namespace detail

// Calls f(field, index) for every Field of R's schema, in order (field.member,
// field.info; std::remove_cvref_t<decltype(field)>::type is the FieldType as a constant).
template <class R, class F>
void for_each_field(F&& f) {
  std::apply(
      [&](const auto&... field) {
        size_t i = 0;
        (f(field, i++), ...);
      },
      Schema<R>::fields);
}

// A visitor for visit_fields() whose every method calls f(info, index, value).
template <class F>
struct AnyField {
  F f;
  decltype(auto) text(const FieldInfo& i, size_t n, auto& v) { return f(i, n, v); }
  decltype(auto) decimal(const FieldInfo& i, size_t n, auto& v) { return f(i, n, v); }
  decltype(auto) integer(const FieldInfo& i, size_t n, auto& v) { return f(i, n, v); }
  decltype(auto) boolean(const FieldInfo& i, size_t n, auto& v) { return f(i, n, v); }
  decltype(auto) real(const FieldInfo& i, size_t n, auto& v) { return f(i, n, v); }
};

// Calls v.text / v.decimal / v.integer / v.boolean / v.real (const FieldInfo&, size_t index,
// T& value)
// for every field of `rec` in schema order (T const when Rec is).
template <class Rec, class V>
void visit_fields(Rec& rec, V&& v) {
  using R = std::remove_const_t<Rec>;
  std::apply(
      [&](const auto&... f) {
        size_t i = 0;
        (detail::call(v, f, i++, rec), ...);
      },
      Schema<R>::fields);
}

// The same with visitor methods returning Status: stops at the first error and returns it.
template <class Rec, class V>
Status try_visit_fields(Rec& rec, V&& v) {
  using R = std::remove_const_t<Rec>;
  Status st;
  std::apply(
      [&](const auto&... f) {
        size_t i = 0;
        // Only a failure is kept: the common all-ok walk assigns nothing.
        auto one = [&](const auto& field) {
          Status s = detail::call(v, field, i++, rec);
          if (s.ok()) [[likely]]
            return true;
          st = std::move(s);
          return false;
        };
        (one(f) && ...);
      },
      Schema<R>::fields);
  return st;
}

// ---- the run-time view -------------------------------------------------------------------

struct KindInfo {
  Kind kind;
  std::string_view name;  // to_string(kind): the catalogues' kind text
  std::string_view title;
  std::string_view workflow_type;
  std::string_view live_type;
  std::span<const FieldInfo> fields;
  size_t key_fields;                              // the first N fields form the natural key
  std::string_view time_field;                    // what Query::from_ms/to_ms filter on
  std::string_view final_flag;                    // empty if the kind has none
  size_t index_of(std::string_view field) const;  // fields.size() if absent
  bool has(std::string_view field) const { return index_of(field) < fields.size(); }
};

namespace detail {
template <class R>
constexpr auto field_infos() {
  return std::apply([](const auto&... f) { return std::array<FieldInfo, sizeof...(f)>{f.info...}; },
                    Schema<R>::fields);
}
template <class R>
inline constexpr auto kFieldInfos = field_infos<R>();
}  // namespace detail

template <class R>
std::span<const FieldInfo> field_infos() {
  return detail::kFieldInfos<R>;
}

// Every kind, in Kind order (which is Record's alternative order).
inline constexpr auto kAllKinds = []<size_t... I>(std::index_sequence<I...>) {
  return std::array<Kind, sizeof...(I)>{static_cast<Kind>(I)...};
}
(std::make_index_sequence<std::variant_size_v<Record>>{});
inline constexpr size_t kKindCount = kAllKinds.size();

static_assert(
    []<size_t... I>(std::index_sequence<I...>) {
      return ((Schema<std::variant_alternative_t<I, Record>>::kind == static_cast<Kind>(I)) && ...);
    }(std::make_index_sequence<kKindCount>{}),
    "Record's alternatives are in Kind order");

namespace detail {
// True if R's key fields come first (the stores take the first key_fields as the key).
template <class R>
constexpr bool keys_lead() {
  bool record_field_seen = false;
  for (const FieldInfo& f : kFieldInfos<R>) {
    if (f.key && record_field_seen) return false;
    record_field_seen = record_field_seen || !f.key;
  }
  return true;
}
}  // namespace detail

static_assert(
    []<size_t... I>(std::index_sequence<I...>) {
      return (detail::keys_lead<std::variant_alternative_t<I, Record>>() && ...);
    }(std::make_index_sequence<kKindCount>{}),
    "every schema lists its key fields first");

const KindInfo& kind_info(Kind k);

// The kind a record is (Record's alternative index is its Kind).
inline Kind kind_of(const Record& r) { return static_cast<Kind>(r.index()); }
// The Kind whose to_string() is `s` (the stores' catalogues), or nullopt.
std::optional<Kind> kind_from_string(std::string_view s);

// Calls f(std::type_identity<R>{}) for kind k's record type R and returns what f returns.
template <size_t I = 0, class F>
decltype(auto) with_kind(Kind k, F&& f) {
  if constexpr (I + 1 < kKindCount) {
    if (static_cast<size_t>(k) != I) return with_kind<I + 1>(k, std::forward<F>(f));
  }
  return f(std::type_identity<std::variant_alternative_t<I, Record>>{});
}

// ---- record helpers built on the walk ------------------------------------------------------

// Strict order of two records of one kind by natural key (text by bytes, integers by value).
bool key_less(const Record& a, const Record& b);
// Whether `later` replaces `earlier` (same key) as consecutive upserts decide: always, except
// that a record whose final flag is set is kept against one without it.
bool replaces(const Record& later, const Record& earlier);
// The value of the kind's time_field.
int64_t time_of(const Record& r);
// The value of r's text field `field`, or nullopt if its kind has none.
std::optional<std::string_view> text_of(const Record& r, std::string_view field);
// Trades and aggregate trades: records with exchange ids, checked for gaps by id.
constexpr bool has_ids(Kind k) { return k == Kind::trade || k == Kind::agg_trade; }
// True if r's final flag is set (false for kinds without one).
bool is_final(const Record& r);

// The field tables of docs/data.md (between its "schema" markers), as
// `streamforge schema --markdown` prints them.
std::string schema_markdown();

}  // namespace sf::market
