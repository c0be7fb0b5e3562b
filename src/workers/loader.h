// The loader family (seed 4.2): loader-producer dispatches on TYPE; loader-api-candles
// (api_candles_<interval>) and loader-api-trades (api_agg_trades, api_trades) are the
// same code restricted to their types. A loader pages through the whole TIME_RANGE of
// SYMBOL on the exchange's REST API (1000 rows a request, through the process's shared
// rate limiter), publishes one record per candle or trade to KAFKA_TOPIC keyed by symbol
// (format: docs/data.md), then the end-of-data marker the connector waits for.
//
// Telemetry: started; loading with records_written at least every 2 s; finished with the
// total and records_expected (candles: the number of intervals of the range up to now);
// error with the exchange's message (e.g. "exchange error -1121: Invalid symbol.");
// interrupted on stop, obeyed within a second (between pages).
//
// Settings (TARGET_PARAMS, all optional): none yet. Environment: EXCHANGE_URL (default
// https://api.binance.com), EXCHANGE_TIMEOUT_MS, EXCHANGE_WEIGHT_FRACTION (0..1, default 0.8).
#pragma once

#include "workers/worker.h"

namespace sf::workers {

inline constexpr const char* kExchangeUrlEnv = "EXCHANGE_URL";
inline constexpr const char* kDefaultExchangeUrl = "https://api.binance.com";

// Candles a range [start_ms, end_ms) holds for an interval, counting only those that have
// opened by `now_ms`. Calendar months ("1M") are counted by month starts.
int64_t expected_candles(int64_t start_ms, int64_t end_ms, std::string_view interval,
                         int64_t now_ms);

int run_loader_producer(WorkerContext& ctx);
int run_loader_candles(WorkerContext& ctx);
int run_loader_trades(WorkerContext& ctx);

}  // namespace sf::workers
