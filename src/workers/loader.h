// The loader family (docs/workers.md): loader-producer dispatches on TYPE; loader-api-candles
// (api_candles_<interval>) and loader-api-trades (api_agg_trades, api_trades) are the
// same code restricted to their types. A loader pages through the whole TIME_RANGE of
// SYMBOL on the exchange's REST API (1000 rows a request, through the process's shared
// rate limiter), publishes one record per candle or trade to KAFKA_TOPIC keyed by symbol
// (format: docs/data.md), then the end-of-data marker the connector waits for.
//
// Telemetry: started (candles: with records_expected, the number of intervals of the range
// up to now); loading with records_written at least every 2 s, also while a request waits
// for the exchange's weight budget; finished with the total and records_expected; error
// with the exchange's message (e.g. "exchange error -1121: Invalid symbol."); interrupted
// on stop, obeyed within a second (between pages, and while waiting on the exchange), with
// the exact count published.
//
// Settings (TARGET_PARAMS, all optional): none yet. Environment: EXCHANGE_URL (default
// https://api.binance.com), EXCHANGE_TIMEOUT_MS, EXCHANGE_WEIGHT_FRACTION (0..1, default 0.8),
// EXCHANGE_WEIGHT_FILE (the host-wide budget; the loader then reads the exchange's limit from
// exchangeInfo first).
#pragma once

#include "workers/worker.h"

namespace sf::workers {

inline constexpr const char* kDefaultExchangeUrl = "https://api.binance.com";

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

int run_loader_producer(WorkerContext& ctx);
int run_loader_candles(WorkerContext& ctx);
int run_loader_trades(WorkerContext& ctx);

}  // namespace sf::workers
