// A worker's way to the exchange's REST API: the client options from its environment
// (EXCHANGE_URL, EXCHANGE_TIMEOUT_MS) and the weight budget it spends from: the process's
// shared RateLimiter when the runner passes one, else its own (EXCHANGE_WEIGHT_FRACTION),
// shared host-wide through EXCHANGE_WEIGHT_FILE when that is set (docs/workers.md). Used by
// the historical loaders and by the live workers' gap fills, so both spend from one budget.
//
// Threading: make_exchange_access() on the worker's thread; the BinanceClient it returns is
// that thread's (clients for other threads are made from `options` and `limiter`).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "base/result.h"
#include "exchange/binance/client.h"
#include "exchange/binance/rate_limiter.h"
#include "workers/worker.h"

namespace sf::workers {

inline constexpr const char* kDefaultExchangeUrl = "https://api.binance.com";

struct ExchangeAccess {
  exchange::binance::BinanceClientOptions options;
  std::unique_ptr<exchange::binance::RateLimiter> own_limiter;  // when the context has none
  exchange::binance::RateLimiter* limiter = nullptr;
  std::unique_ptr<exchange::binance::BinanceClient> client;
};

// A RateLimiterOptions::on_limit_response that counts the exchange's 429 and 418 answers in
// `metrics` (streamforge_exchange_throttled_total, streamforge_exchange_bans_total: what the
// alerting rules of deploy/monitoring watch); does nothing without a registry.
std::function<void(int status)> limit_response_counter(metrics::Registry* metrics);

// `keep_waiting` is called while a request waits (budget, throttling, a retry); false gives
// up. `symbol` is the one exchangeInfo is asked about when the budget is host-wide (the
// exchange's limit is read first). Errc::invalid_argument for a bad variable (a worker's
// configuration error, the message names it); other errors from sharing the budget.
Result<ExchangeAccess> make_exchange_access(const WorkerContext& ctx,
                                            std::function<bool()> keep_waiting,
                                            const std::string& symbol, const std::string& queue_id);

}  // namespace sf::workers
