// Strict decoders of Binance spot REST response bodies into the project's market records.
//
// Built on simdjson's on-demand API: one pass over the bytes, no DOM, and no heap
// allocation per row beyond the output strings (decimal text is copied verbatim, never
// converted to floating point). Decimals and plain non-negative integers (times, ids) are
// checked straight from their raw JSON token, 8 bytes at a time; anything unusual goes
// through simdjson's own parsers, so the verdict and the message are the same.
//
// Strictness: a body that is not well-formed JSON (truncated, trailing bytes), a missing
// field, a field of the wrong JSON type, a price or quantity that is not decimal text
// (-?digits[.digits]), a negative id/count, or a time outside [kMinTimeMs, kMaxTimeMs)
// after unit conversion yields Errc::parse_error with a message naming the page, the row
// index and the field, e.g.
//   "klines: row 3: field 'open' (index 1): 'abc' is not a decimal number".
// Unknown object keys are ignored (Binance adds fields over time); a kline row must have
// exactly 12 elements.
//
// Times: the caller says which unit it asked for (X-MBX-TIME-UNIT); every time in the
// output is epoch milliseconds (microseconds are floored to ms).
//
// Page decoders replace the contents of the output vector (reusing its rows, so a vector
// kept across calls decodes without allocating); on error the vector is cleared.
//
// Thread-safety: a Decoder holds a reusable parser and buffer; use one per thread. The
// free functions use a thread_local Decoder and may be called from any thread.
//
// For benchmarks: Decoder::klines(Input{bytes, /*padded=*/true}, ...) decodes in place
// when kPadding readable bytes follow the input (e.g. a simdjson::padded_string), so the
// figure is comparable with simdjson's raw parse of the same buffer; with padded=false
// the bytes are first copied into the decoder's own padded buffer (one memcpy).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "market/order_book.h"
#include "market/records.h"

namespace sf::exchange::binance {

enum class TimeUnit { millisecond, microsecond };
const char* to_string(TimeUnit u);  // "ms" / "us"

// Plausible times (ms): 2000-01-01 .. 2100-01-01 UTC. Anything else is a unit mix-up or
// garbage (a µs value read as ms lands past 2100; a ms value read as µs lands in 1970).
inline constexpr int64_t kMinTimeMs = 946'684'800'000;
inline constexpr int64_t kMaxTimeMs = 4'102'444'800'000;

// Bytes simdjson may read past the end of a padded input (SIMDJSON_PADDING).
inline constexpr size_t kPadding = 64;

// Converts a raw exchange time to ms; nullopt if negative or outside the plausible range.
std::optional<int64_t> to_ms(int64_t raw, TimeUnit unit);

struct RateLimit {
  std::string type;      // "REQUEST_WEIGHT", "RAW_REQUESTS", "ORDERS"
  std::string interval;  // "SECOND", "MINUTE", "HOUR", "DAY"
  int64_t interval_num = 0;
  int64_t limit = 0;
  friend bool operator==(const RateLimit&, const RateLimit&) = default;
};

struct SymbolInfo {
  std::string symbol;
  std::string status;  // "TRADING", "BREAK", "HALT", ...
  friend bool operator==(const SymbolInfo&, const SymbolInfo&) = default;
};

struct ExchangeInfo {
  int64_t server_time = 0;  // ms; 0 when the body had no serverTime
  std::vector<RateLimit> rate_limits;
  std::vector<SymbolInfo> symbols;

  // The REQUEST_WEIGHT limit per 1 MINUTE, if listed.
  std::optional<int64_t> request_weight_per_minute() const;
  // The RAW_REQUESTS limit and its window in ms (e.g. 5 MINUTE -> 300000), if listed.
  std::optional<std::pair<int64_t, int64_t>> raw_requests() const;
  // The symbol's entry, or nullptr.
  const SymbolInfo* find(std::string_view symbol) const;
};

// A Binance error body {"code": -1121, "msg": "Invalid symbol."}.
struct ExchangeError {
  int64_t code = 0;
  std::string msg;
};

// A `depthUpdate` event of `<s>@depth` / `<s>@depth@100ms`: price levels that changed
// between update ids U (first_id) and u (last_id), quantities absolute (0 removes a level).
struct DepthDiff {
  int64_t event_time = 0;  // E, ms
  int64_t first_id = 0;    // U
  int64_t last_id = 0;     // u, >= U
  std::vector<market::BookLevel> bids, asks;
  friend bool operator==(const DepthDiff&, const DepthDiff&) = default;
};

// `GET /api/v3/depth`, and the partial book of `<s>@depth<5|10|20>`: the book's top as of
// update id last_update_id.
struct DepthSnapshot {
  int64_t last_update_id = 0;
  std::vector<market::BookLevel> bids, asks;
  friend bool operator==(const DepthSnapshot&, const DepthSnapshot&) = default;
};

// `<s>@bookTicker`: the best bid and ask.
struct BookTicker {
  int64_t update_id = 0;  // u
  std::string symbol;     // s
  market::BookLevel bid, ask;
  friend bool operator==(const BookTicker&, const BookTicker&) = default;
};

// One message of a market-stream WebSocket connection, raw (`/ws/<stream>`) or combined
// (`/stream?streams=...`, each event wrapped as {"stream": name, "data": event}). Only the
// member of `kind` is meaningful; the others keep what an earlier message left (a reused
// StreamEvent decodes without allocating).
struct StreamEvent {
  enum class Kind {
    trade,            // <s>@trade -> trade
    agg_trade,        // <s>@aggTrade -> agg_trade
    kline,            // <s>@kline_<interval> -> kline (closed = "x")
    depth,            // <s>@depth[@100ms] -> depth
    partial_depth,    // <s>@depth<5|10|20>[@100ms] -> snapshot
    book_ticker,      // <s>@bookTicker -> ticker
    server_shutdown,  // {"e":"serverShutdown"}: reconnect
    reply,            // {"result": ..., "id": n}: reply_json is the result's JSON
    error_reply,      // {"error": {"code", "msg"}, "id": n}
  };
  Kind kind = Kind::trade;
  std::string stream;      // the combined wrapper's stream name; empty on a raw connection
  int64_t event_time = 0;  // E, ms; 0 where the message has none
  market::Trade trade;     // quote_qty = price x qty, truncated to 8 decimals (the stream has none)
  market::AggTrade agg_trade;
  market::Candle kline;
  DepthDiff depth;
  DepthSnapshot snapshot;
  BookTicker ticker;
  int64_t reply_id = -1;   // reply / error_reply: "id", -1 when null
  std::string reply_json;  // reply: "result" as raw JSON ("null", or LIST_SUBSCRIPTIONS' array)
  ExchangeError error;     // error_reply
};
const char* to_string(StreamEvent::Kind k);

class Decoder {
 public:
  // Input bytes. padded=true promises kPadding readable bytes after bytes.end(), so the
  // decoder parses them in place; otherwise they are copied into its own padded buffer.
  struct Input {
    std::string_view bytes;
    bool padded = false;
    Input(std::string_view b, bool p = false) : bytes(b), padded(p) {}  // NOLINT
    Input(const std::string& b) : bytes(b) {}                           // NOLINT
    Input(const char* b) : bytes(b) {}                                  // NOLINT
  };

  Decoder();
  ~Decoder();
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  // A klines page: [[openTime, "open", "high", "low", "close", "volume", closeTime,
  // "quoteVolume", trades, "takerBuyBase", "takerBuyQuote", unused], ...]. Replaces
  // *out's contents; symbol and interval are copied into every candle; `closed` is left
  // true (the client decides it from the clock). Also checks close_time >= open_time.
  Status klines(Input json, std::string_view symbol, std::string_view interval, TimeUnit unit,
                std::vector<market::Candle>* out);
  // An aggTrades page: [{"a","p","q","f","l","T","m","M"}, ...]. Replaces *out's contents.
  Status agg_trades(Input json, std::string_view symbol, TimeUnit unit,
                    std::vector<market::AggTrade>* out);
  // A historicalTrades page: [{"id","price","qty","quoteQty","time","isBuyerMaker",
  // "isBestMatch"}, ...]. Replaces *out's contents.
  Status trades(Input json, std::string_view symbol, TimeUnit unit,
                std::vector<market::Trade>* out);
  // exchangeInfo: rateLimits (required), symbols (required; symbol and status of each),
  // serverTime (optional).
  Result<ExchangeInfo> exchange_info(Input json, TimeUnit unit);
  // {"serverTime": n} -> ms.
  Result<int64_t> server_time(Input json, TimeUnit unit);
  // {"code": n, "msg": "..."}.
  Result<ExchangeError> error_body(Input json);

  // GET /api/v3/depth: {"lastUpdateId": n, "bids": [["price","qty"], ...], "asks": [...]}.
  // Prices and quantities must fit market::parse_units (at most 8 decimals).
  Status depth(Input json, DepthSnapshot* out);
  // A WebSocket market-stream message (stream_decode.cc). The event type is "e" wherever it
  // stands in the object; messages without one are told apart by their keys (partial book:
  // lastUpdateId; bookTicker: u; replies: result or error). Required fields per kind are
  // Binance's (docs/binance.md); unknown keys are ignored; an unknown "e" is a parse_error
  // naming it. Times in `unit` (timeUnit=MICROSECOND on the connection) become ms.
  Status stream_event(Input json, TimeUnit unit, StreamEvent* out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Convenience wrappers over a thread_local Decoder.
Result<std::vector<market::Candle>> decode_klines(std::string_view json, std::string_view symbol,
                                                  std::string_view interval, TimeUnit unit);
Result<std::vector<market::AggTrade>> decode_agg_trades(std::string_view json,
                                                        std::string_view symbol, TimeUnit unit);
Result<std::vector<market::Trade>> decode_trades(std::string_view json, std::string_view symbol,
                                                 TimeUnit unit);
Result<ExchangeInfo> decode_exchange_info(std::string_view json, TimeUnit unit);
Result<int64_t> decode_server_time(std::string_view json, TimeUnit unit);
Result<ExchangeError> decode_error_body(std::string_view json);

}  // namespace sf::exchange::binance
