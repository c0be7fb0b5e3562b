// sf::http::Server: a small HTTP/1.1 + WebSocket server (Boost.Beast) with a router.
//
// Contract:
// - Register every route and WebSocket path before start(); registering afterwards throws
//   std::logic_error. Routes are matched segment by segment; "{name}" matches one
//   non-empty segment and binds it (percent-decoded) as a path parameter. Literal segments
//   win over parameters ("/queues/list" beats "/queues/{queue_id}"). The path alone picks
//   the route, then the method: a method the most specific route lacks is a 405 naming
//   that route's methods, even when a less specific route has it.
// - Errors are JSON bodies {"error":"<message>","field":"<field>"}: unknown path 404,
//   known path with another method 405 (with an Allow header), body over max_body_bytes
//   413 (then the connection is closed), malformed request 400 (also an HTTP/1.1 request
//   without exactly one Host header), missing or wrong bearer token 401, handler exception
//   500 (logged; the server keeps running). A WebSocket-only path answers a plain GET with
//   426 and other methods with 405.
// - When no route is registered for GET /health, the server answers it with
//   {"status":"ok"}. GET /health never requires the bearer token.
// - Handlers and WebSocket callbacks run on the server's io thread(s): they must not block
//   for long (no synchronous network calls or long computations), or they stall every
//   connection served by that thread. Requests of one connection are handled in order;
//   with threads > 1, handlers of different connections run concurrently, so handlers
//   must be thread-safe.
// - Thread-safety: route()/websocket() before start(), from one thread. start() and stop()
//   from one controlling thread (not concurrently with each other), never from inside a
//   handler (stop() would join its own thread; it throws std::logic_error there). port()
//   and base_url() from any thread after start().
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace sf::http {

using Header = std::pair<std::string, std::string>;

// Maps the project-wide error codes to HTTP status codes (the one place that does so).
int http_status(Errc code);

// {"error":"<message>","field":"<field>"}, properly escaped.
std::string error_json(std::string_view message, std::string_view field = {});

// An incoming request as handed to a Handler (and, for WebSocket upgrades, to the app
// through WsSession::request()).
struct Request {
  std::string method;           // "GET", "POST", ...
  std::string target;           // raw request-target: path and query as received
  std::string path;             // percent-decoded path, without the query
  std::vector<Header> headers;  // in received order; use header() for lookups
  std::map<std::string, std::string, std::less<>> path_params;  // from "{name}" segments
  std::vector<std::pair<std::string, std::string>> query;       // decoded, in order
  std::string body;
  std::string remote_endpoint;  // "127.0.0.1:54321"

  // Value of the first header with that name (case-insensitive), or "" if absent.
  std::string_view header(std::string_view name) const;
  // Value of the path parameter, or "" if the route has no such parameter.
  std::string_view path_param(std::string_view name) const;
  // Decoded value of the first query parameter with that key ("" for "?key").
  std::optional<std::string> query_param(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<Header> headers;  // extra headers (Content-Type/Length are set from the fields)
  // True: the server closes the connection without sending anything (test doubles use it
  // to simulate a server that dies mid-request). Every other field is ignored.
  bool drop_connection = false;

  static Response json(int status, std::string body);
  static Response text(int status, std::string body,
                       std::string content_type = "text/plain; charset=utf-8");
  // A JSON error body (see error_json).
  static Response error(int status, std::string_view message, std::string_view field = {});
  // A JSON error body with the status from http_status(e.code).
  static Response from_error(const Error& e);
};

struct ServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0 = pick a free port; Server::port() returns the bound one
  size_t max_body_bytes = size_t{1} << 20;  // also the largest incoming WebSocket message
  int threads = 1;
  // Empty = no auth. When set, every route (and WebSocket upgrade) except GET /health and
  // the public_get() paths requires "Authorization: Bearer <token>"; compared in constant
  // time, never logged. Browsers cannot set headers on a WebSocket, so an upgrade may
  // instead offer the subprotocols "streamforge" and "bearer.<base64url(token), no
  // padding>"; the server then answers with the subprotocol "streamforge".
  std::string bearer_token;
  // A keep-alive connection idle this long (waiting for the next request) is closed.
  std::chrono::milliseconds idle_timeout{60'000};
  // Reading a request body and writing a response must each finish within this.
  std::chrono::milliseconds request_timeout{30'000};
  // Outbound WebSocket queue bound per session: a client that falls this far behind is
  // disconnected (send() returns false, on_close runs) rather than growing memory.
  size_t ws_max_queued_messages = 10'000;
  size_t ws_max_queued_bytes = size_t{16} << 20;
  // Builds the server's own error answers (malformed request 400, body over the limit 413,
  // header too large 431, handler exception 500, and without a fallback() unknown path
  // 404, wrong method 405, WebSocket path 426) instead of the default error_json body:
  // for apps whose clients expect another error format. The server still adds its own
  // headers (Allow, Upgrade) and closes the connection where it would.
  std::function<Response(int status, std::string_view message)> error_response;
};

// Keep-alive of one WebSocket route (Server::websocket). The default (both zero) is Beast's
// suggested server behaviour: a ping after 150 s without incoming data, the connection
// closed after 300 s without any. With ping_interval set, the server instead sends a ping
// every ping_interval whatever the traffic (payload: a decimal sequence number) and, with
// pong_timeout set too, closes the connection (TCP close, no close frame) when a ping has
// not been answered by a pong echoing its payload within pong_timeout; an unsolicited pong
// or one with another payload does not count. Real time (steady clock). Pings are held,
// like messages, while the session is paused (WsSession::pause).
struct WsRouteOptions {
  std::chrono::milliseconds ping_interval{0};
  std::chrono::milliseconds pong_timeout{0};  // 0: unanswered pings never close
};

namespace detail {
class WsConn;
}

// One accepted WebSocket connection. The app gets it in the on_open callback and may keep
// the shared_ptr as long as it likes; once the connection is gone, send() returns false.
// All methods are thread-safe.
class WsSession {
 public:
  using CloseHandler = std::function<void()>;
  using MessageHandler = std::function<void(const std::string& text)>;

  ~WsSession();
  WsSession(const WsSession&) = delete;
  WsSession& operator=(const WsSession&) = delete;

  // The upgrade request: path, path params, query params, headers (body is empty).
  const Request& request() const { return request_; }
  std::optional<std::string> query_param(std::string_view name) const {
    return request_.query_param(name);
  }

  // Queues a text message; messages go out in send() order, one write at a time. Returns
  // false if the session is closed or closing, or if the message would exceed the
  // outbound queue bound, in which case the connection is dropped (slow client).
  bool send(std::string text);
  // Sends a close frame after the queued messages have been written. Idempotent.
  void close();
  // Ends the connection at once: the TCP connection is closed without a close frame and
  // queued messages are discarded (simulating a network failure). Idempotent; on_close runs.
  void drop();
  // true: nothing more is written (messages queue up, pings are not sent, a close() waits)
  // until pause(false); reading goes on (the WebSocket layer still answers the client's own
  // pings). On resume, the route's ping deadline starts afresh.
  void pause(bool paused);
  // True until the connection ends (or close() was called).
  bool is_open() const;
  // Messages queued and not yet written.
  size_t queued() const;

  // Called once when the connection ends for any reason (client close, error, close(),
  // server stop), on an io thread or the thread calling Server::stop(). Set it in on_open
  // to be sure not to miss it; set after the end, it runs at once on the caller's thread.
  void on_close(CloseHandler handler);
  // Called for each text or binary message from the client, on an io thread.
  void on_message(MessageHandler handler);

 private:
  friend class detail::WsConn;
  WsSession(Request request, size_t max_messages, size_t max_bytes);

  const Request request_;
  const size_t max_messages_;
  const size_t max_bytes_;

  mutable std::mutex mu_;
  std::weak_ptr<detail::WsConn> conn_;
  std::deque<std::string> queue_;
  size_t queued_bytes_ = 0;
  bool busy_ = true;  // a write is in flight or scheduled (true until the handshake is done)
  bool closed_ = false;
  bool close_requested_ = false;
  bool close_notified_ = false;
  CloseHandler on_close_;
  MessageHandler on_message_;
};

class Server {
 public:
  using Options = ServerOptions;
  using Handler = std::function<Response(const Request&)>;
  using WsOpenHandler = std::function<void(std::shared_ptr<WsSession>)>;
  // Optional check before a WebSocket upgrade: return a Response to refuse it (e.g. 404
  // for an unknown queue_id), std::nullopt to accept.
  using WsCheck = std::function<std::optional<Response>(const Request&)>;

  explicit Server(Options options = {});
  ~Server();  // stop()s
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Registers a handler for METHOD + pattern, e.g. route("GET", "/queues/{queue_id}", h).
  // Throws std::invalid_argument for a malformed pattern or a duplicate (method, pattern),
  // std::logic_error after start().
  void route(std::string_view method, std::string_view pattern, Handler handler);
  // route() for a GET of a literal path (no "{name}" segments) that never needs the bearer
  // token: public files such as the web UI's. Throws std::invalid_argument for a pattern
  // with parameters.
  void public_get(std::string_view path, Handler handler);
  // Accepts WebSocket upgrades on pattern (same syntax as route()). A plain (non-upgrade)
  // request to that path gets 426 unless a route() also matches it. `options`: the route's
  // pings and pong deadline (WsRouteOptions).
  void websocket(std::string_view pattern, WsOpenHandler on_open, WsCheck check = {},
                 WsRouteOptions options = {});
  // Handles every request that no route() matches, whatever its path and method, instead
  // of the built-in 404/405/426 answers (and the built-in GET /health): for apps that route
  // themselves. At most one; before start() (std::logic_error otherwise).
  void fallback(Handler handler);

  // Binds, listens and runs the io_context on `threads` background threads. Returns an
  // io_error ("cannot listen on 127.0.0.1:8080: Address already in use") on failure.
  // A Server starts at most once (std::logic_error otherwise).
  Status start();
  // Closes the listener and every connection (WebSocket clients see the TCP connection
  // drop), waits for in-flight handlers and joins the threads. Idempotent.
  void stop();

  uint16_t port() const;         // the bound port, valid after a successful start()
  std::string base_url() const;  // "http://<address>:<port>"

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace sf::http
