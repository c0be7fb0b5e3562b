// BinanceClient: the spot REST market-data endpoints (klines, aggTrades, historicalTrades,
// exchangeInfo, time) with retries, decoding and the shared RateLimiter.
//
// Base URL: "https://api.binance.com" (default), "https://data-api.binance.vision" (no
// historicalTrades there), testnet "https://testnet.binance.vision" (a trailing "/api" as
// Binance's docs write it is accepted), or the simulator "http://127.0.0.1:PORT".
// Request paths are "/api/v3/...".
//
// Behaviour per attempt (the limiter is asked for the endpoint's weight every attempt and
// is fed every response's X-MBX-USED-WEIGHT-1M, status and Retry-After):
//   200 + well-formed body     -> the decoded records
//   200 + malformed body       -> retried (transient), then Errc::parse_error
//   5xx, 408, timeouts, connection errors
//                              -> retried after capped exponential backoff with jitter,
//                                 then the last error (unavailable / timeout / io_error)
//   429                        -> the limiter holds every caller for Retry-After; retried
//   418                        -> the limiter bans every caller; fails at once with
//                                 Errc::unavailable "banned by the exchange until <UTC>"
//   other 4xx                  -> fails at once with Errc::invalid_argument and the
//                                 exchange's own code and message:
//                                 "exchange error -1121: Invalid symbol."
//   limiter wait over max_limiter_wait -> Errc::timeout; limiter closed or keep_waiting
//                                 false -> Errc::closed
// At most 1 + max_retries attempts are made in all.
//
// Times: arguments and results are epoch ms. With time_unit = microsecond the client sends
// X-MBX-TIME-UNIT: MICROSECOND and decodes µs responses back to ms.
//
// Thread-safety: one BinanceClient per thread (it owns one kept-alive HTTP connection and
// a decoder); the RateLimiter it refers to is shared and must outlive it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "exchange/binance/decode.h"
#include "exchange/binance/rate_limiter.h"
#include "http/client.h"
#include "market/records.h"

namespace sf::exchange::binance {

// Request weights (Binance spot, 2026).
inline constexpr int kWeightKlines = 2;
inline constexpr int kWeightAggTrades = 4;
inline constexpr int kWeightHistoricalTrades = 25;
inline constexpr int kWeightExchangeInfo = 20;
inline constexpr int kWeightTime = 1;
inline constexpr int kMaxLimit = 1000;
inline constexpr int kMaxDepthLimit = 5000;
// GET /api/v3/depth's weight by limit: 1-100 5, 101-500 25, 501-1000 50, 1001-5000 250.
constexpr int depth_weight(int limit) {
  return limit <= 100 ? 5 : limit <= 500 ? 25 : limit <= 1000 ? 50 : 250;
}

struct BinanceClientOptions {
  std::string base_url = "https://api.binance.com";
  std::chrono::milliseconds timeout{10'000};  // one HTTP request
  int max_retries = 5;                        // after the first attempt
  std::chrono::milliseconds backoff_base{250};
  std::chrono::milliseconds backoff_cap{10'000};
  // How long one attempt may wait in the rate limiter (a ban may last days).
  std::chrono::milliseconds max_limiter_wait{std::chrono::minutes(10)};
  TimeUnit time_unit = TimeUnit::millisecond;
  // exchange_info() hands the REQUEST_WEIGHT/minute limit to the limiter.
  bool apply_exchange_limits = true;
  std::string api_key;  // optional X-MBX-APIKEY header; never logged
  http::ClientTlsOptions tls;
  // Clock for `closed` (plus the offset learned by server_time()); null = the limiter's.
  const Clock* clock = nullptr;
  // Sleeps between retries; null = std::this_thread::sleep_for. Tests pass a recorder.
  std::function<void(std::chrono::milliseconds)> sleep;
  // Called on the client's thread at least every 100 ms while a request waits (for the rate
  // limiter's budget, a 429 or ban, or a retry's backoff); false gives the request up with
  // Errc::closed. A loader uses it to obey stop and keep sending telemetry while it waits.
  std::function<bool()> keep_waiting;
  uint64_t jitter_seed = 0;  // 0 = seeded from std::random_device
};

struct AggTradesQuery {
  std::optional<int64_t> from_id;
  std::optional<int64_t> start_ms;  // inclusive
  std::optional<int64_t> end_ms;    // inclusive; Binance wants end - start < 1 hour
  int limit = kMaxLimit;
};

struct BinanceClientStats {
  int64_t requests = 0;  // HTTP attempts made
  int64_t retries = 0;
  int64_t throttled = 0;  // 429s seen by this client
  int64_t malformed = 0;  // 200s with a body that failed to decode
};

class BinanceClient {
 public:
  using Options = BinanceClientOptions;

  BinanceClient(Options options, RateLimiter& limiter);
  BinanceClient(const BinanceClient&) = delete;
  BinanceClient& operator=(const BinanceClient&) = delete;

  // GET /api/v3/klines. start/end filter on open time, both inclusive (Binance's own
  // semantics; see paging.h for half-open ranges). limit 1..1000. Each candle's `closed`
  // is close_time < now_ms().
  Result<std::vector<market::Candle>> klines(std::string_view symbol, std::string_view interval,
                                             std::optional<int64_t> start_ms,
                                             std::optional<int64_t> end_ms, int limit = kMaxLimit);
  // GET /api/v3/aggTrades.
  Result<std::vector<market::AggTrade>> agg_trades(std::string_view symbol,
                                                   const AggTradesQuery& query);
  // GET /api/v3/historicalTrades (not served by data-api.binance.vision).
  Result<std::vector<market::Trade>> historical_trades(std::string_view symbol,
                                                       std::optional<int64_t> from_id,
                                                       int limit = kMaxLimit);
  // GET /api/v3/depth: the order book's top `limit` levels a side (1..5000) as of its
  // lastUpdateId, at Binance's weight for that limit (depth_weight()).
  Result<DepthSnapshot> depth(std::string_view symbol, int limit = 1000);
  // GET /api/v3/exchangeInfo (optionally for one symbol). Applies the weight limit to the
  // limiter when options.apply_exchange_limits.
  Result<ExchangeInfo> exchange_info(std::optional<std::string_view> symbol = std::nullopt);
  // GET /api/v3/time: the exchange's time in ms. Also learns the offset between the
  // exchange's clock and ours, used by now_ms().
  Result<int64_t> server_time();

  // Our clock plus the offset learned by server_time() (0 until then).
  int64_t now_ms() const;
  const BinanceClientStats& stats() const { return stats_; }
  const Options& options() const { return options_; }

 private:
  template <typename T, typename Decode>
  Result<T> fetch(const std::string& path_and_query, int weight, Decode&& decode);
  std::chrono::milliseconds backoff(int retry);

  Options options_;
  RateLimiter& limiter_;
  const Clock& clock_;
  http::Client http_;
  http::HeaderList headers_;
  std::string api_prefix_;  // "/api/v3" or "/v3"
  Decoder decoder_;
  std::mt19937_64 rng_;
  int64_t offset_ms_ = 0;
  BinanceClientStats stats_;
};

}  // namespace sf::exchange::binance
