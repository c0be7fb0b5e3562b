// Market-data records as they travel on a workflow's data topic (one JSON object per
// record, keyed by symbol) and land in the store. Field names are the project's public
// format (docs/data.md). Prices and quantities stay the exchange's decimal text, never
// converted to floating point; times are epoch milliseconds. Each kind's fields are listed
// once, in market/schema.h, and everything that reads or writes them walks that schema.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/result.h"

namespace sf::market {

struct Candle {
  std::string symbol;
  std::string interval;  // "1m", "1h", ...
  int64_t open_time = 0;
  int64_t close_time = 0;
  std::string open, high, low, close, volume, quote_volume;
  int64_t trades = 0;
  std::string taker_buy_base_volume, taker_buy_quote_volume;
  bool closed = true;  // false: the candle was still open when loaded; a later run replaces it
  friend bool operator==(const Candle&, const Candle&) = default;
};

struct AggTrade {
  std::string symbol;
  int64_t agg_id = 0;
  std::string price, qty;
  int64_t first_trade_id = 0, last_trade_id = 0;
  int64_t time = 0;
  bool is_buyer_maker = false;
  bool is_best_match = true;
  friend bool operator==(const AggTrade&, const AggTrade&) = default;
};

struct Trade {
  std::string symbol;
  int64_t trade_id = 0;
  std::string price, qty, quote_qty;
  int64_t time = 0;
  bool is_buyer_maker = false;
  bool is_best_match = true;
  friend bool operator==(const Trade&, const Trade&) = default;
};

// The order book (ws_orderbook), as a consumer rebuilds it: a full snapshot of the book as
// of update id `update_id`, and every diff after it (Binance's depth events). `bids` and
// `asks` are levels text (market/order_book.h, levels_text()): a JSON array of
// ["price","quantity"] pairs, best first in a snapshot; in a diff the levels that changed,
// quantity "0.00000000" removing one.
struct BookSnapshot {
  std::string symbol;
  int64_t update_id = 0;  // the book reflects every diff up to this id
  int64_t time = 0;       // ms: the event time of the last diff applied (of the exchange)
  std::string bids, asks;
  friend bool operator==(const BookSnapshot&, const BookSnapshot&) = default;
};

struct BookDiff {
  std::string symbol;
  int64_t last_update_id = 0;   // u
  int64_t first_update_id = 0;  // U
  int64_t time = 0;             // E, ms
  std::string bids, asks;
  friend bool operator==(const BookDiff&, const BookDiff&) = default;
};

// A node of a correlation-graph snapshot (the graph-builder): a symbol's features over one
// window of candles. Field meanings: market/schema.h and docs/data.md.
struct GraphNode {
  std::string symbol;
  int64_t version = 0;  // the snapshot: 0, 1, ... in window order
  int64_t window_start = 0, window_end = 0;
  int64_t candles = 0;
  double log_return = 0, volatility = 0, volume = 0, volume_change = 0;
  double return_1 = 0, return_2 = 0, return_3 = 0;
  double next_return = 0;
  bool has_next = false;
  friend bool operator==(const GraphNode&, const GraphNode&) = default;
};

// An edge of a snapshot: two symbols whose returns correlate.
struct GraphEdge {
  std::string symbol, target;
  int64_t version = 0;
  int64_t window_start = 0, window_end = 0;
  double correlation = 0;
  int64_t lag = 0;
  int64_t samples = 0;
  friend bool operator==(const GraphEdge&, const GraphEdge&) = default;
};

// In Record's alternative order (schema.h checks it).
enum class Kind { candle, agg_trade, trade, book_snapshot, book_diff, graph_node, graph_edge };
const char* to_string(Kind k);

// The record kind a workflow `type` produces: api_candles_<interval> and ws_klines_<interval>
// -> candle, api_agg_trades and ws_agg_trades -> agg_trade, api_trades and ws_trades -> trade
// (schema.h's workflow_type and live_type). Errc::invalid_argument otherwise.
Result<Kind> kind_for_type(std::string_view type);
// True for the live (WebSocket) types: ws_trades, ws_agg_trades, ws_klines_<interval>.
bool is_live_type(std::string_view type);
// The interval of an api_candles_<interval> or ws_klines_<interval> type ("1m"), or
// invalid_argument.
Result<std::string> interval_for_type(std::string_view type);
// Milliseconds of a fixed-length kline interval (1s..1w); 0 for "1M" (calendar month).
int64_t interval_ms(std::string_view interval);

using Record = std::variant<Candle, AggTrade, Trade, BookSnapshot, BookDiff, GraphNode, GraphEdge>;

std::string encode(const Candle& c);
std::string encode(const AggTrade& t);
std::string encode(const Trade& t);
std::string encode(const BookSnapshot& b);
std::string encode(const BookDiff& b);
std::string encode(const GraphNode& n);
std::string encode(const GraphEdge& e);
std::string encode(const Record& r);
// The same text appended to `out` (so a caller can reuse one buffer for many records).
void encode_to(std::string& out, const Candle& c);
void encode_to(std::string& out, const AggTrade& t);
void encode_to(std::string& out, const Trade& t);
void encode_to(std::string& out, const BookSnapshot& b);
void encode_to(std::string& out, const BookDiff& b);
void encode_to(std::string& out, const GraphNode& n);
void encode_to(std::string& out, const GraphEdge& e);

// A record's JSON text, byte for byte encode()'s, written field by field from values a store
// read (its rows), without building a Record: a fast path for reads that only pass records
// on. Call every field of the kind once, in schema order (kind_info(kind).fields), each
// with the call of its FieldType (text and decimal fields: text()), then end(); or only some
// fields (still in schema order) for an object of those fields alone.
class JsonRecordWriter {
 public:
  JsonRecordWriter(Kind kind, std::string& out);
  void text(size_t field, std::string_view v);
  void integer(size_t field, int64_t v);
  void boolean(size_t field, bool v);
  void real(size_t field, double v);
  void end();

 private:
  void key(size_t field);
  const std::vector<std::string>& keys_;  // `{"name":` or `,"name":` (with `"` for strings)
  std::string& out_;
  bool started_ = false;
};

// The most bytes a record's JSON text, or one text field of a binary page, may have: an
// order-book snapshot of 5000 levels a side fits.
inline constexpr size_t kMaxRecordTextBytes = 1 << 20;

// Strict decoding of one data-topic record of the given kind: every field present with the
// right JSON type, no unknown fields, symbol valid, decimals well-formed
// (-?digits[.digits]), times non-negative, close_time >= open_time, no key twice. Errors
// name the field: Errc::parse_error for text that is not one JSON object, invalid_argument
// for a field that fails validation, too_large past kMaxRecordTextBytes.
// Uses a thread_local simdjson parser (json::FlatObjectParser): safe from any thread.
Result<Record> decode(Kind kind, std::string_view json);
// The same into *out, reusing its strings' capacity when it already holds a `kind` record
// (for batch loops). On error *out holds a partly decoded record.
Status decode_into(Kind kind, std::string_view json, Record* out);

// True for decimal text as exchanges print it: optional '-', digits, optional '.digits'.
// At most 64 bytes.
bool is_decimal(std::string_view s);

// The natural key of a record within its collection, as text ("BTCUSDT|1m|1722470400000").
std::string natural_key(const Record& r);

}  // namespace sf::market
