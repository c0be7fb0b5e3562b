// StreamFeed: the connections of a live collector to Binance's market streams, kept open.
//
// It owns the connections and nothing about their content: messages arrive as text, in
// order per connection, and the caller decodes them, drops duplicates by id and fills gaps
// (workers/live.h). What it does:
// - streams are spread over connections of at most kMaxStreamsPerConnection each (Binance's
//   1024); a connection opens `/stream?streams=...` with as many names as fit in the URL and
//   SUBSCRIBEs the rest, at most kSubscribesPerSecond control messages a second (Binance
//   closes a connection sending more than 5 a second);
// - a connection that closes, fails or stalls (no message for `stall_timeout`; the TCP
//   connection may stay open) is replaced after a capped exponential backoff
//   (backoff_initial doubling to backoff_max, reset once a new connection delivers), which
//   also keeps a flapping server under Binance's 300 connection attempts per 5 minutes;
// - before a connection reaches its maximum age (`rotate_after`, Binance closes at 24 h) a
//   successor with the same streams is opened; both deliver side by side until the
//   successor's first message plus `overlap`, then the old one is closed. renew() does the
//   same at once (a `serverShutdown` event). Side by side, the same event arrives twice:
//   the caller drops it by id;
// - pings are answered by the WebSocket client while it reads.
//
// Every change of a connection's state is also a message (Notice below), in order with its
// messages, so the caller knows when to look for a gap: after `connected`, the first event
// of each stream may be far past the last one seen.
//
// Threading: one thread per open connection (a blocking read loop that takes every frame
// already received at once) plus a supervisor
// thread; start() and stop() from the owning thread; take(), renew() and stats() from one
// consumer thread (take) and any thread (renew, stats). stop() returns within about the
// read poll (50 ms) plus a WebSocket close handshake.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "http/client.h"

namespace sf::exchange::binance {

inline constexpr size_t kMaxStreamsPerConnection = 1024;
inline constexpr int kSubscribesPerSecond = 4;

// Binance's stream name of a symbol's stream: lowercase symbol, '@', the stream
// ("BTCUSDT", "trade" -> "btcusdt@trade"; "kline_1m", "depth@100ms", "aggTrade").
std::string stream_name(std::string_view symbol, std::string_view stream);

struct StreamFeedOptions {
  // ws[s]://host[:port] (Binance: wss://stream.binance.com:9443 or
  // wss://data-stream.binance.vision); the path is /stream.
  std::string base_url;
  std::vector<std::string> streams;  // names as stream_name() makes them; not empty
  http::ClientTlsOptions tls;
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds stall_timeout{15'000};
  std::chrono::milliseconds rotate_after{23 * 3'600'000LL + 30 * 60'000LL};
  std::chrono::milliseconds overlap{2'000};
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{5'000};
  // take() waits this long after the first message for more to join its batch (unless a
  // batch's worth is already queued): at most this much added latency for a wake-up per
  // batch instead of per message. 0: no linger.
  std::chrono::milliseconds linger{1};
  // Longest URL the first request may have; the streams beyond go in SUBSCRIBE messages.
  size_t max_url_bytes = 4096;
};

struct FeedMessage {
  enum class Type {
    message,       // `text` is a frame from the server
    connected,     // the connection is open and its streams are subscribed; `text` is
                   // "successor" when it opened beside a live one (rotation, renew())
    disconnected,  // it closed or failed; `text` says why
    stalled,       // nothing arrived for stall_timeout; it is being closed
    retired,       // closed after a successor took over (rotation or renew())
  };
  Type type = Type::message;
  int64_t connection = 0;  // 1, 2, ...: which connection, in the order they were opened
  size_t group = 0;        // which subset of the streams (index of kMaxStreamsPerConnection)
  std::string text;
  int64_t received_us = 0;  // steady clock, µs
};
const char* to_string(FeedMessage::Type t);

struct StreamFeedStats {
  int64_t connects = 0;          // connections opened
  int64_t connect_failures = 0;  // attempts that failed
  int64_t disconnects = 0;       // connections lost (closed, failed, stalled)
  int64_t stalls = 0;
  int64_t rotations = 0;  // successors opened for age or renew()
  int64_t messages = 0;
};

class StreamFeed {
 public:
  // invalid_argument: no streams, an empty base URL.
  static Result<std::unique_ptr<StreamFeed>> create(StreamFeedOptions options);
  ~StreamFeed();  // stop()s
  StreamFeed(const StreamFeed&) = delete;
  StreamFeed& operator=(const StreamFeed&) = delete;

  void start();
  void stop();  // idempotent: closes every connection and joins every thread

  // Moves what arrived into *out (appended), waiting up to `timeout` for the first, then up
  // to `linger` for more. Returns how many were added (0 on timeout or once stopped).
  size_t take(std::vector<FeedMessage>* out, std::chrono::milliseconds timeout);
  // Opens a successor for `connection` now and retires it as rotation does (a
  // serverShutdown announced on it). Ignored for a connection no longer open.
  void renew(int64_t connection);
  StreamFeedStats stats() const;

  struct Impl;

 private:
  explicit StreamFeed(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace sf::exchange::binance
