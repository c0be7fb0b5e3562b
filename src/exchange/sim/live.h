// The simulator's live side: Binance's spot market streams over WebSocket, from the same
// deterministic market the REST side serves (issue 12).
//
// - Connections: raw `/ws/<stream>` (events as they are) and combined
//   `/stream?streams=a/b/c` (each event wrapped as {"stream": name, "data": event}).
//   Stream names are lowercase, as Binance's; an unknown one refuses the upgrade (HTTP 400,
//   Binance's error body).
// - Streams: `<s>@trade`, `<s>@aggTrade`, `<s>@kline_<interval>`, `<s>@depth` (1000 ms) and
//   `<s>@depth@100ms`. A trade streamed at time T has the id and values /historicalTrades
//   and /aggTrades return for it (Market); depth updates chain onto /depth snapshots by
//   update id (DepthModel); a kline is pushed every 2 s (1 s for 1s klines) while open and
//   once more, closed (x = true), equal to /klines, when its interval ends. Events start at
//   the subscription: trades after it, the depth update of the next tick, the open kline.
// - Control messages (JSON text): SUBSCRIBE / UNSUBSCRIBE {"method","params":[...],"id"},
//   answered {"result":null,"id"}; LIST_SUBSCRIPTIONS answered with the names; anything
//   else {"error":{"code","msg"},"id"} (Binance's codes: 2 invalid request, 3 invalid
//   JSON). More than kMaxStreams streams on a connection is an error reply; more than
//   kMaxIncomingPerSecond messages in a second closes the connection, as Binance does.
// - A connection older than `max_age_ms` is closed (Binance: 24 h).
// - Time is the simulator's clock: a pump thread wakes every pump_interval and sends what
//   happened since its last turn (at most kMaxEventsPerTurn a stream a turn; the rest follows),
//   so a clock that runs faster than real time streams faster.
//
// Thread-safety: attach() before the http::Server starts; start()/stop() from the owning
// thread; everything else runs on the server's io threads and the pump thread.
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

struct LiveOptions {
  int64_t max_age_ms = 24 * 3'600'000LL;  // connection lifetime
  std::chrono::milliseconds pump_interval{20};
};

// A parsed stream name.
struct StreamName {
  enum class Type { trade, agg_trade, kline, depth };
  Type type = Type::trade;
  const SymbolSpec* symbol = nullptr;
  const Interval* interval = nullptr;  // kline
  int64_t depth_ms = 1000;             // depth: 1000 or 100
  std::string name;                    // as given ("btcusdt@depth@100ms")
};
// nullopt for anything the market does not serve.
std::optional<StreamName> parse_stream_name(const Market& market, std::string_view name);

class LiveStreams {
 public:
  static constexpr size_t kMaxStreams = 1024;
  static constexpr int kMaxIncomingPerSecond = 5;
  static constexpr int64_t kMaxEventsPerTurn = 20'000;

  LiveStreams(const Market& market, const Clock& clock, LiveOptions options = {});
  ~LiveStreams();  // stop()s
  LiveStreams(const LiveStreams&) = delete;
  LiveStreams& operator=(const LiveStreams&) = delete;

  // Registers /ws/{stream} and /stream on the server (before it starts).
  void attach(http::Server& server);
  void start();  // the pump thread
  void stop();   // idempotent; closes every connection

  size_t connections() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace sf::exchange::sim
