// The live loaders (docs/workers.md): real-time market data from the exchange's WebSocket
// streams into a workflow's data topic, until `stop` or the end of the workflow's
// time_range. One target per stream type:
//   loader-ws-trades      ws_trades              <s>@trade      -> trade records
//   loader-ws-agg-trades  ws_agg_trades          <s>@aggTrade   -> agg_trade records
//   loader-ws-klines      ws_klines_<interval>   <s>@kline_<iv> -> candle records
// for SYMBOL, or for every symbol of the `symbols` setting (docs/protocol.md), over as few
// connections as Binance allows (1024 streams each; exchange/binance/stream_feed.h).
//
// Guarantees:
// - No lost trades. Trades and aggregate trades are followed by id per symbol: a duplicate
//   (two connections side by side at rotation, a replay) is dropped; a jump (a reconnect
//   after a disconnect, a stall or a serverShutdown, a dropped or malformed frame) is filled
//   from REST (historicalTrades / aggTrades by fromId, through the shared weight budget,
//   workers/exchange_access.h) before the event that revealed it, so the ids published
//   are contiguous from the first one streamed. A fill that fails is retried every second
//   until it succeeds or the worker ends (then the ids it lacks are logged and reported).
// - Candles: a kline still open is published as a revision (closed = false), the closed
//   one as final; the store keeps the latest revision and never replaces a closed candle
//   with an open one (the schema's final flag). Closed klines missed while disconnected are
//   fetched from REST klines, so every closed interval is published closed.
// - The range: records before its start are not published; at its end (an event at or past
//   it, or the exchange clock 5 s past it on a silent stream) the trades up to the end are
//   filled from REST, the end-of-data marker is published, and the worker ends `finished`.
//   Live collection starts when the worker does: load the past with the api_* types.
// - `stop` ends it `interrupted` within a second, after publishing what it holds.
//
// Telemetry: `started`; `loading` every second with records_written and a message with the
// message rate, the lag from the exchange's event time to publishing (measured against
// this host's clock), reconnects, gaps found and filled, duplicates dropped and malformed
// messages; `finished` / `interrupted` / `error`. Metrics (when the runner has a registry):
// streamforge_live_messages_total, _reconnects_total, _gaps_total, _gap_records_total,
// _duplicates_total, _malformed_total, and the lag histogram streamforge_live_lag_seconds.
//
// Settings (TARGET_PARAMS; LiveSettings): symbols, record_format, stall_ms, rotate_after_s,
// backoff_max_ms. Environment: EXCHANGE_WS_URL (the stream server; default: derived from
// EXCHANGE_URL, see ws_url_for()), plus the REST variables of workers/exchange_access.h.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "market/binary.h"
#include "workers/worker.h"

namespace sf::workers {

struct LiveSettings {
  std::vector<std::string> symbols;  // empty: the workflow's SYMBOL
  market::RecordFormat record_format = market::RecordFormat::binary;
  int64_t stall_ms = 15'000;         // no message for this long: reconnect
  int64_t rotate_after_s = 84'600;   // open a successor connection at this age (23.5 h)
  int64_t backoff_max_ms = 5'000;    // reconnect backoff cap
  int64_t snapshot_interval_s = 60;  // order books: a full snapshot this often
  int64_t depth_limit = 1000;        // order books: levels a side of the REST snapshot

  // Strict: unknown members (other than `interval`), invalid or repeated symbols, more than
  // kMaxLiveSymbols of them, and values out of range are invalid_argument naming the field.
  static Result<LiveSettings> from_params(const boost::json::object& params);
  static std::string json_schema();
};

inline constexpr size_t kMaxLiveSymbols = 5000;

// The stream server for a REST base URL when EXCHANGE_WS_URL is not set: Binance's
// (wss://stream.binance.com:9443) for api.binance.com, else the same host and port with
// ws:// for http:// and wss:// for https:// (the simulator serves both on one port).
std::string ws_url_for(const std::string& rest_url);

int run_live_trades(WorkerContext& ctx);
int run_live_agg_trades(WorkerContext& ctx);
int run_live_klines(WorkerContext& ctx);
int run_live_orderbook(WorkerContext& ctx);

// Where loader-ws-orderbook publishes its snapshots: "<data topic>-snapshots" (its diffs go
// to the data topic itself).
std::string snapshot_topic(const std::string& data_topic);

}  // namespace sf::workers
