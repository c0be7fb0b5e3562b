// The simulator's live side: Binance's spot market streams over WebSocket, from the same
// deterministic market the REST side serves (issue 12).
//
// - Connections: raw `/ws/<stream>` (events as they are) and combined
//   `/stream?streams=a/b/c` (each event wrapped as {"stream": name, "data": event}).
//   Stream names are lowercase, as Binance's; an unknown one refuses the upgrade (HTTP 400,
//   Binance's error body).
// - Streams: `<s>@trade`, `<s>@aggTrade`, `<s>@kline_<interval>`, `<s>@depth` (1000 ms),
//   `<s>@depth@100ms`, `<s>@depth<5|10|20>[@100ms]` (partial book {"lastUpdateId","bids",
//   "asks"}: the top N levels of /depth's book, every 1000 ms or 100 ms) and
//   `<s>@bookTicker` ({"u","s","b","B","a","A"}: the best level of each side, pushed when it
//   changes, at most once per 100 ms depth tick; u = that book's lastUpdateId). A trade
//   streamed at time T has the id and values /historicalTrades and /aggTrades return for it
//   (Market); depth updates chain onto /depth snapshots by update id (DepthModel); a kline
//   is pushed every 2 s (1 s for 1s klines) while open and once more, closed (x = true),
//   equal to /klines, when its interval ends. Events start at the subscription: trades
//   after it, the depth update of the next tick, the open kline. A partial book goes out at
//   each 1000/100 ms step (the latest one when a turn covers several steps).
// - Control messages (JSON text): SUBSCRIBE / UNSUBSCRIBE {"method","params":[...],"id"},
//   answered {"result":null,"id"}; LIST_SUBSCRIPTIONS answered with the names; anything
//   else {"error":{"code","msg"},"id"} (Binance's codes: 2 invalid request, 3 invalid
//   JSON). More than kMaxStreams streams on a connection is an error reply; more than
//   kMaxIncomingPerSecond messages in a second closes the connection, as Binance does.
// - Keep-alive (http::WsRouteOptions): a ping every ping_interval (Binance: 20 s); a
//   connection whose ping is not answered by a pong echoing it within pong_timeout
//   (Binance: 60 s) is closed.
// - A connection older than `max_age_ms` is closed (Binance: 24 h).
// - Faults (LiveFaults, changeable while running; each counted in LiveCounters): random
//   abrupt disconnects (TCP close, no close frame), stalls (nothing written, no pings, for
//   stall_ms; reading goes on and nothing is lost: what happened meanwhile follows), depth
//   diff events dropped from one connection's `@depth` streams (its next event's U is
//   above the previous u + 1), malformed event frames (truncated JSON or a number turned
//   into a string; replies and serverShutdown events are never malformed) and Binance's
//   maintenance signal {"e":"serverShutdown","E":<ms>}, after which the connection is
//   closed (close frame) shutdown_grace_ms later. Faults act on connections only: the
//   market, /depth and the trades served over REST are the same with or without them.
//   Every draw comes from a counter-based PRNG keyed by (seed, connection number, what is
//   drawn, its index): the n-th connection opened gets the same skipped depth ids, the
//   same malformed frames and the same fault intervals in every run with the same seed.
//
// Time. Two clocks:
// - simulated (`clock`, ScaledClock under `streamforge sim --speed`): every event and its
//   times, kline pushes (2 s / 1 s), depth ticks (100 ms, 1000 ms), partial books,
//   bookTicker, the maximum connection age, serverShutdown's E;
// - real (`real_clock`'s steady_ms()): the fault schedule: the intervals between
//   disconnects, stalls and scheduled serverShutdowns, a stall's length, the grace before
//   the close that follows a serverShutdown. Pings and the pong deadline (Beast's steady
//   timers), the 5 messages/s limit (the steady clock) and the pump's 20 ms turns are real
//   time too, whatever the clocks.
// A pump thread wakes every pump_interval and sends what happened since its last turn (at
// most kMaxEventsPerTurn a stream a turn; the rest follows), so a clock that runs faster
// than real time streams faster.
//
// Thread-safety: attach() before the http::Server starts; start()/stop() from the owning
// thread; set_faults(), server_shutdown(), counters(), reset_counters() and connections()
// from any thread; everything else runs on the server's io threads and the pump thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "exchange/sim/market.h"

namespace sf::http {
class Server;
}

namespace sf::exchange::sim {

// The live side's fault knobs (SimServer's Faults::ws; JSON and flags: ws_<name>).
// Intervals and durations in real milliseconds; 0 = off. Rates in [0, 1].
struct LiveFaults {
  int64_t disconnect_mean_ms = 0;    // mean time between abrupt disconnects of a connection
  int64_t stall_mean_ms = 0;         // mean time between stalls of a connection
  int64_t stall_ms = 5000;           // how long a stall lasts
  double depth_skip_rate = 0;        // share of @depth diff events dropped from a connection
  double malformed_rate = 0;         // share of event frames corrupted
  int64_t shutdown_mean_ms = 0;      // mean time between serverShutdown events of a connection
  int64_t shutdown_grace_ms = 3000;  // serverShutdown -> close frame
};
// invalid_argument naming the field (as JSON: "ws_stall_ms") when out of range.
Status validate_live_faults(const LiveFaults& f);

struct LiveCounters {
  int64_t connections = 0;       // open now
  int64_t disconnects = 0;       // injected abrupt disconnects
  int64_t stalls = 0;            // stalls begun
  int64_t depth_skipped = 0;     // depth diff events dropped
  int64_t malformed = 0;         // frames corrupted
  int64_t server_shutdowns = 0;  // serverShutdown events sent (scheduled and on demand)
};

struct LiveOptions {
  int64_t max_age_ms = 24 * 3'600'000LL;            // connection lifetime, simulated time
  std::chrono::milliseconds ping_interval{20'000};  // real time; 0: Beast's idle pings
  std::chrono::milliseconds pong_timeout{60'000};   // real time; 0: never closes
  std::chrono::milliseconds pump_interval{20};
  uint64_t seed = 1;  // the fault draws
  LiveFaults faults;
};

// A parsed stream name.
struct StreamName {
  enum class Type { trade, agg_trade, kline, depth, partial_depth, book_ticker };
  Type type = Type::trade;
  const SymbolSpec* symbol = nullptr;
  const Interval* interval = nullptr;  // kline
  int64_t depth_ms = 1000;             // depth, partial_depth: 1000 or 100
  size_t levels = 0;                   // partial_depth: 5, 10 or 20
  std::string name;                    // as given ("btcusdt@depth@100ms")
};
// nullopt for anything the market does not serve.
std::optional<StreamName> parse_stream_name(const Market& market, std::string_view name);

class LiveStreams {
 public:
  static constexpr size_t kMaxStreams = 1024;
  static constexpr int kMaxIncomingPerSecond = 5;
  static constexpr int64_t kMaxEventsPerTurn = 20'000;
  // A connection with this many messages not yet written gets no more until the next turn:
  // a stream that runs faster than the socket drains falls behind (and catches up) instead
  // of overflowing the server's queue, which would drop the connection as a slow client.
  static constexpr int64_t kMaxBacklog = 5'000;

  // `clock`: simulated time; `real_clock`: the fault schedule (see the header comment).
  LiveStreams(const Market& market, const Clock& clock, const Clock& real_clock,
              LiveOptions options = {});
  ~LiveStreams();  // stop()s
  LiveStreams(const LiveStreams&) = delete;
  LiveStreams& operator=(const LiveStreams&) = delete;

  // Registers /ws/{stream} and /stream on the server (before it starts).
  void attach(http::Server& server);
  void start();  // the pump thread
  void stop();   // idempotent; closes every connection

  // Replaces the fault knobs (validated by the caller: validate_live_faults). A changed
  // mean interval is drawn afresh from the time of the change.
  void set_faults(const LiveFaults& faults);
  // Sends serverShutdown on every open connection at the next turn (then closes each
  // shutdown_grace_ms later).
  void server_shutdown();

  size_t connections() const;
  LiveCounters counters() const;
  void reset_counters();  // the fault counts (connections stays)

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace sf::exchange::sim
