// The loader family (docs/workers.md): loader-producer dispatches on TYPE; loader-api-candles
// (api_candles_<interval>) and loader-api-trades (api_agg_trades, api_trades) are the
// same code restricted to their types. A loader pages through the whole TIME_RANGE of
// SYMBOL on the exchange's REST API (1000 rows a request, through the process's shared
// rate limiter), publishes its records to KAFKA_TOPIC keyed by symbol (a page of them a
// message in the binary form, or one JSON object a record: record_format below, formats in
// docs/protocol.md and market/binary.h), then the end-of-data marker the connector waits for.
//
// Telemetry: started (candles: with records_expected, the number of intervals of the range
// up to now); loading with records_written at least every 2 s, also while a request waits
// for the exchange's weight budget; finished with the total and records_expected (trades:
// with first_id and last_id, the first and last id published, also in the end marker); error
// with the exchange's message (e.g. "exchange error -1121: Invalid symbol."); interrupted
// on stop, obeyed within a second (between pages, and while waiting on the exchange), with
// the exact count published.
//
// Settings (TARGET_PARAMS, all optional; LoaderSettings): from_id and to_id, for trades and
// aggregate trades only: load just the ids [from_id, to_id] of the range (either alone: from
// from_id to the range's end, or from the range's start to to_id), paging by fromId (a repair
// loads the missing id ranges so); record_format, "binary" (default) or "json". Environment:
// EXCHANGE_URL (default https://api.binance.com), EXCHANGE_TIMEOUT_MS, EXCHANGE_WEIGHT_FRACTION
// (0..1, default 0.8), EXCHANGE_WEIGHT_FILE (the host-wide budget; the loader then reads the
// exchange's limit from exchangeInfo first).
#pragma once

#include "market/binary.h"
#include "workers/worker.h"

namespace sf::workers {

// Candles a range [start_ms, end_ms) holds for an interval, counting only those that have
// opened by `now_ms`. Calendar months ("1M") are counted by month starts.
int64_t expected_candles(int64_t start_ms, int64_t end_ms, std::string_view interval,
                         int64_t now_ms);

// What a loader of `type` will fetch over [start_ms, end_ms), as far as it is known before it
// runs: candles by counting the range's opens up to `now_ms`, in pages of 1000 at the klines
// weight; trades not at all (their number is the market's). Fields are empty when unknown.
struct LoadEstimate {
  std::optional<int64_t> records;
  std::optional<int64_t> requests;
  std::optional<int64_t> weight;  // request weight those requests cost at the exchange
};
LoadEstimate estimate_load(std::string_view type, int64_t start_ms, int64_t end_ms, int64_t now_ms);

// A loader's own settings (TARGET_PARAMS).
struct LoaderSettings {
  std::optional<int64_t> from_id;  // trades: the first id to load
  std::optional<int64_t> to_id;    // trades: the last id to load
  // The data topic's messages (market/binary.h): a page a message, or a JSON object a record.
  market::RecordFormat record_format = market::RecordFormat::binary;

  // Strict: unknown members (other than `interval`, which generic target entries carry),
  // negative ids and from_id after to_id are invalid_argument naming the field.
  static Result<LoaderSettings> from_params(const boost::json::object& params);
  // What from_params() accepts, as a JSON object of JSON Schemas by setting name.
  static std::string json_schema();
};

int run_loader_producer(WorkerContext& ctx);
int run_loader_candles(WorkerContext& ctx);
int run_loader_trades(WorkerContext& ctx);

}  // namespace sf::workers
