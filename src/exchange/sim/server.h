// SimServer: the Binance spot REST API served on loopback from a deterministic Market,
// with Binance's request weights and limits and injectable faults.
//
// Endpoints (GET): /api/v3/ping, /time, /exchangeInfo, /klines, /uiKlines (= klines),
// /aggTrades, /trades, /historicalTrades, /depth, /avgPrice, /ticker/24hr, /ticker/price,
// /ticker/bookTicker, /sapi/v1/system/status, and the control endpoint GET/POST /sim/control.
// Behaviour (details and the Binance facts it follows in README.md):
// - Rows are byte-compatible with Binance; prices/quantities are 8-decimal strings.
//   Header "X-MBX-TIME-UNIT: MICROSECOND" switches response times to microseconds;
//   startTime/endTime above 1e14 are read as microseconds.
// - Tickers, /avgPrice and /depth agree with the candles and trades: the last price is the
//   close of the still-open candle and /depth's best bid (Market::current_price).
// - Every error is Binance's {"code":<int>,"msg":"..."}: parameter errors HTTP 400 with
//   -11xx (a parameter sent twice: -1101), the http server's own 404/405/413/431/400/500
//   with -1000, /sim/control's 422/400 with -1130/-1135. The one exception is the injected
//   502 fault, an HTML page like a real gateway's.
// - Limits (unless limits == false): per client IP, weight summed per wall-clock minute
//   and returned in X-MBX-USED-WEIGHT-1M on every /api/v3 response (/sapi: in
//   X-SAPI-USED-IP-WEIGHT-1M, the same budget). Past weight_limit:
//   429, code -1003, Retry-After = seconds to the window's end. A client that then sends
//   more than `strikes_before_ban` requests before Retry-After has passed is banned:
//   418 with Retry-After, 2 minutes for the first ban, doubling for each further one
//   (capped at 3 days). Injected 429s (Retry-After 1) open the same 1-second "wait" state.
// - Faults, drawn from a PRNG seeded by `seed` (reproducible for a given request order):
//   latency (the handler sleeps on an io thread: raise `threads` for many concurrent
//   slow clients), random 500/502/503/504, injected 429, malformed 200 bodies (truncated,
//   or the first number turned into a string), holes (ranges without candles or trades).
//   Faults apply to /api/v3 and /sapi only, after the limit check; /sim/control is never
//   faulted.
// - WebSocket market streams on the same port (live.h): raw /ws/<stream> and combined
//   /stream, pings and the pong deadline, and the live fault knobs (Faults::ws: random
//   disconnects, stalls, skipped depth ids, malformed frames, serverShutdown).
// - Time: `clock` is simulated time (what the market is at: every candle, trade, book and
//   event time, kline pushes, depth ticks, a WebSocket connection's maximum age);
//   `real_clock` is protocol time: weight windows, 429 waits, bans and Retry-After, and the
//   live faults' schedule. Pings, the pong deadline, the 5 messages/s limit and latency_ms
//   are always the host's real time. `streamforge sim --speed X` runs `clock` X times as
//   fast as real time (ScaledClock) with the system clock as `real_clock`.
//
// Thread-safety: construct, start() and stop() from one controlling thread. port(),
// base_url(), market(), counters(), faults(), set_faults(), reset_limits() and
// server_shutdown() are safe from any thread once started. Handlers run on the server's `threads`
// io threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "exchange/sim/live.h"
#include "exchange/sim/market.h"

namespace sf::exchange::sim {

// Knobs changeable while running (POST /sim/control).
struct Faults {
  double error_rate_5xx = 0;  // share of requests answered 500/502/503/504
  double error_rate_429 = 0;  // share answered 429 (Retry-After: 1)
  double malformed_rate = 0;  // share of 200 bodies truncated or with a wrong-typed field
  int64_t latency_ms = 0;     // added before every /api/v3 and /sapi response
  std::vector<Hole> holes;
  LiveFaults ws;  // the WebSocket streams' (live.h); in JSON ws_<field>
};

struct SimOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0: any free port
  int threads = 2;
  uint64_t seed = 1;
  std::vector<std::string> symbols;  // extra symbols besides default_symbols()
  int64_t extra_trades_per_sec = Market::kDefaultExtraAggPerSec;  // each extra symbol's
  bool limits = true;                  // false: never 429/418 for weight (benchmarks)
  int64_t weight_limit = 6000;         // REQUEST_WEIGHT per minute
  int64_t raw_requests_limit = 61000;  // RAW_REQUESTS per 5 minutes: advertised only
  int strikes_before_ban = 10;         // requests tolerated while told to wait, then 418
  Faults faults;
  // Simulated time: "now" of the market and the streams. null: the system clock.
  const Clock* clock = nullptr;
  // Real (protocol) time: weight windows, waits, bans, the live faults' schedule. null:
  // `clock` when set (one ManualClock drives a whole test), else the system clock.
  const Clock* real_clock = nullptr;
  // WebSocket market streams (live.h): a connection is closed at this age (Binance: 24 h,
  // simulated time); a ping every ws_ping_interval_ms (0: Beast's idle pings instead) and
  // the close of a connection that leaves one unanswered for ws_pong_timeout_ms (0: never),
  // both real time (Binance: 20 s and 60 s).
  int64_t ws_max_age_ms = 24 * 3'600'000LL;
  int64_t ws_ping_interval_ms = 20'000;
  int64_t ws_pong_timeout_ms = 60'000;
  // The live streams send what happened every this many ms (real time): at most this much
  // between a trade and its event leaving (latency benchmarks lower it).
  int64_t ws_pump_interval_ms = 20;
  // Kline answers kept rendered, up to this many bytes of bodies (0: none, the default): the
  // same request asked again is answered from memory instead of computing its candles.
  // Only answers that cannot change are kept: from a startTime, every candle closed, a full
  // page or one that ends before now, and no holes among the faults. Benchmarks set it so
  // the exchange's side costs the host what a remote exchange's would (docs/benchmarks.md).
  size_t kline_cache_bytes = 0;
};

class SimServer {
 public:
  struct Counters {
    int64_t requests = 0;       // /api/v3 and /sapi requests received
    int64_t responses_429 = 0;  // every 429 sent (limit and injected)
    int64_t responses_418 = 0;
    int64_t injected_429 = 0;
    int64_t injected_5xx = 0;
    int64_t injected_malformed = 0;
    int64_t kline_cache_hits = 0;  // kline answers served rendered (kline_cache_bytes)
    // The live side (LiveCounters): open connections and injected faults.
    int64_t ws_connections = 0;
    int64_t ws_disconnects = 0;
    int64_t ws_stalls = 0;
    int64_t ws_depth_skipped = 0;
    int64_t ws_malformed = 0;
    int64_t ws_server_shutdowns = 0;
  };

  // Throws std::invalid_argument for invalid options (bad symbol names, rates outside
  // [0, 1], negative latency, holes with from >= to or an unknown symbol, live fault knobs
  // out of range, negative ping interval or pong timeout).
  explicit SimServer(SimOptions options);
  ~SimServer();  // stop()s
  SimServer(const SimServer&) = delete;
  SimServer& operator=(const SimServer&) = delete;

  // Listens on address:port. io_error when the port cannot be bound.
  Status start();
  // Idempotent; waits for in-flight requests.
  void stop();

  uint16_t port() const;
  std::string base_url() const;  // "http://127.0.0.1:PORT"
  const Market& market() const;

  Counters counters() const;
  Faults faults() const;
  // Replaces the fault knobs; invalid_argument (naming the field) leaves them unchanged.
  Status set_faults(Faults faults);
  // Forgets every client's used weight, wait state and bans.
  void reset_limits();
  // Sends serverShutdown on every open WebSocket connection (each is closed
  // faults().ws.shutdown_grace_ms later). POST /sim/control {"ws_server_shutdown":true}.
  void server_shutdown();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Validates fault knobs against a market (rates in [0,1], latency >= 0, holes well-formed
// and on known symbols, the ws_ knobs: validate_live_faults). invalid_argument naming the
// field.
Status validate_faults(const Faults& f, const Market& m);

}  // namespace sf::exchange::sim
