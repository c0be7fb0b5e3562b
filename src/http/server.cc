#include "http/server.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <exception>
#include <set>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>

#include "base/log.h"
#include "base/text.h"

namespace sf::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = boost::asio::ip::tcp;

// ---------------------------------------------------------------------------------------
// Free helpers, Request, Response

int http_status(Errc code) {
  switch (code) {
    case Errc::ok:
      return 200;
    case Errc::invalid_argument:
      return 422;
    case Errc::parse_error:
      return 400;
    case Errc::not_found:
      return 404;
    case Errc::already_exists:
      return 409;
    case Errc::too_large:
      return 413;
    case Errc::unavailable:
      return 503;
    case Errc::timeout:
      return 504;
    case Errc::closed:
      return 503;
    case Errc::permission_denied:
      return 403;
    case Errc::io_error:
    case Errc::internal:
      return 500;
  }
  return 500;
}

std::string error_json(std::string_view message, std::string_view field) {
  boost::json::object o;
  o["error"] = message;
  o["field"] = field;
  return boost::json::serialize(o);
}

namespace {

// Runs over the expected token's whole length whatever the input, so the time taken does
// not reveal how long a matching prefix a guess has.
bool constant_time_equal(std::string_view expected, std::string_view given) {
  unsigned char diff = expected.size() == given.size() ? 0 : 1;
  for (size_t i = 0; i < expected.size(); ++i) {
    unsigned char g = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
    diff |= static_cast<unsigned char>(static_cast<unsigned char>(expected[i]) ^ g);
  }
  return diff == 0;
}

// The entries of every Sec-WebSocket-Protocol header of a request (comma-separated tokens).
std::vector<std::string_view> subprotocols(const Request& req) {
  std::vector<std::string_view> out;
  for (const auto& [k, v] : req.headers) {
    if (!ascii_iequals(k, "Sec-WebSocket-Protocol")) continue;
    std::string_view rest = v;
    while (!rest.empty()) {
      const size_t comma = rest.find(',');
      std::string_view p = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      while (!p.empty() && (p.front() == ' ' || p.front() == '\t')) p.remove_prefix(1);
      while (!p.empty() && (p.back() == ' ' || p.back() == '\t')) p.remove_suffix(1);
      if (!p.empty()) out.push_back(p);
    }
  }
  return out;
}

}  // namespace

std::string_view Request::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (ascii_iequals(k, name)) return v;
  }
  return {};
}

std::string_view Request::path_param(std::string_view name) const {
  auto it = path_params.find(name);
  return it == path_params.end() ? std::string_view{} : std::string_view(it->second);
}

std::optional<std::string> Request::query_param(std::string_view name) const {
  for (const auto& [k, v] : query) {
    if (k == name) return v;
  }
  return std::nullopt;
}

Response Response::json(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Response Response::text(int status, std::string body, std::string content_type) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  r.content_type = std::move(content_type);
  return r;
}

Response Response::error(int status, std::string_view message, std::string_view field) {
  return json(status, error_json(message, field));
}

Response Response::from_error(const Error& e) {
  return error(http_status(e.code), e.message, e.field);
}

// ---------------------------------------------------------------------------------------
// Routing

namespace {

struct Pattern {
  std::vector<std::string> segments;  // literal text, or the parameter name
  std::vector<bool> is_param;

  // "/a/{b}/c" -> {a, b, c}. Throws std::invalid_argument when malformed.
  static Pattern parse(std::string_view text) {
    if (text.empty() || text.front() != '/') {
      throw std::invalid_argument("route pattern must start with '/': " + std::string(text));
    }
    Pattern p;
    if (text == "/") return p;
    std::string_view rest = text.substr(1);
    while (true) {
      auto slash = rest.find('/');
      std::string_view seg = rest.substr(0, slash);
      if (seg.size() >= 2 && seg.front() == '{' && seg.back() == '}') {
        std::string name(seg.substr(1, seg.size() - 2));
        if (name.empty() || name.find_first_of("{}/") != std::string::npos) {
          throw std::invalid_argument("bad parameter in route pattern: " + std::string(text));
        }
        for (size_t i = 0; i < p.segments.size(); ++i) {
          if (p.is_param[i] && p.segments[i] == name) {
            throw std::invalid_argument("duplicate parameter in route pattern: " +
                                        std::string(text));
          }
        }
        p.segments.push_back(std::move(name));
        p.is_param.push_back(true);
      } else {
        if (seg.find_first_of("{}") != std::string_view::npos) {
          throw std::invalid_argument("bad segment in route pattern: " + std::string(text));
        }
        p.segments.emplace_back(seg);
        p.is_param.push_back(false);
      }
      if (slash == std::string_view::npos) break;
      rest = rest.substr(slash + 1);
    }
    return p;
  }

  // The shape with parameter names erased: two patterns with the same shape are the same
  // route.
  std::string shape() const {
    std::string s;
    for (size_t i = 0; i < segments.size(); ++i) s += is_param[i] ? "/{}" : "/" + segments[i];
    return s.empty() ? "/" : s;
  }

  bool match(const std::vector<std::string>& path,
             std::map<std::string, std::string, std::less<>>* params) const {
    if (path.size() != segments.size()) return false;
    for (size_t i = 0; i < path.size(); ++i) {
      if (is_param[i]) {
        if (path[i].empty()) return false;
      } else if (path[i] != segments[i]) {
        return false;
      }
    }
    if (params) {
      for (size_t i = 0; i < path.size(); ++i) {
        if (is_param[i]) (*params)[segments[i]] = path[i];
      }
    }
    return true;
  }

  // Among patterns matching the same path, the one with literals earliest wins.
  bool more_specific_than(const Pattern& o) const {
    return std::lexicographical_compare(o.is_param.begin(), o.is_param.end(), is_param.begin(),
                                        is_param.end(), [](bool a, bool b) { return a && !b; });
  }
};

struct HttpRoute {
  Pattern pattern;
  std::string text;
  std::map<std::string, Server::Handler> methods;
};

struct WsRoute {
  Pattern pattern;
  Server::WsOpenHandler on_open;
  Server::WsCheck check;
  WsRouteOptions options;
};

template <typename Route>
const Route* best_match(const std::vector<Route>& routes, const std::vector<std::string>& segs,
                        const std::function<bool(const Route&)>& accept = {}) {
  const Route* best = nullptr;
  for (const auto& r : routes) {
    if (!r.pattern.match(segs, nullptr)) continue;
    if (accept && !accept(r)) continue;
    if (!best || r.pattern.more_specific_than(best->pattern)) best = &r;
  }
  return best;
}

std::string endpoint_string(const tcp::endpoint& ep) {
  auto addr = ep.address();
  std::string host = addr.is_v6() ? "[" + addr.to_string() + "]" : addr.to_string();
  return host + ":" + std::to_string(ep.port());
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Server state shared with the connections

namespace detail {

class Conn {
 public:
  virtual ~Conn() = default;
  // Closes the socket on the connection's strand; callable from any thread.
  virtual void abort() = 0;
  // After the io threads have been joined: mark the connection dead for the app.
  virtual void after_stop() {}
};

}  // namespace detail

struct Server::Impl {
  explicit Impl(ServerOptions o) : opts(std::move(o)) {}

  ServerOptions opts;
  std::vector<HttpRoute> routes;
  std::vector<WsRoute> ws_routes;
  Server::Handler fallback;
  std::set<std::string, std::less<>> public_paths;  // GETs that need no token

  std::unique_ptr<asio::io_context> ioc;
  std::optional<tcp::acceptor> acceptor;
  std::optional<asio::steady_timer> accept_retry;
  std::vector<std::thread> threads;
  uint16_t bound_port = 0;
  bool started = false;

  std::mutex mu;  // guards everything below
  std::unordered_map<detail::Conn*, std::weak_ptr<detail::Conn>> conns;
  bool stopping = false;
  bool stopped = false;
  int running_threads = 0;
  std::condition_variable threads_done;

  // Returns false when the server is stopping: the caller closes the connection.
  bool add_conn(const std::shared_ptr<detail::Conn>& c) {
    std::lock_guard lk(mu);
    if (stopping) return false;
    conns.emplace(c.get(), c);
    return true;
  }
  void remove_conn(detail::Conn* c) {
    std::lock_guard lk(mu);
    conns.erase(c);
  }

  bool authorized(const Request& req, bool upgrade = false) const {
    if (opts.bearer_token.empty()) return true;
    if (req.method == "GET" && (req.path == "/health" || public_paths.contains(req.path)))
      return true;
    std::string_view h = req.header("Authorization");
    if (h.empty() && upgrade) return subprotocol_bearer(req);
    constexpr std::string_view kScheme = "bearer ";
    if (h.size() < kScheme.size() || !ascii_iequals(h.substr(0, kScheme.size()), kScheme)) {
      return false;
    }
    std::string_view token = h.substr(kScheme.size());
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
    return constant_time_equal(opts.bearer_token, token);
  }

  // A WebSocket upgrade's "bearer.<base64url(token)>" subprotocol (ServerOptions).
  bool subprotocol_bearer(const Request& req) const {
    const std::string expected = "bearer." + base64url_encode(opts.bearer_token);
    bool ok = false;
    for (std::string_view p : subprotocols(req))
      if (p.starts_with("bearer.") && constant_time_equal(expected, p)) ok = true;
    return ok;
  }

  // The server's own error answers, in the app's format when it gave one.
  Response error(int status, std::string_view message, std::string_view field = {}) const {
    if (opts.error_response) return opts.error_response(status, message);
    return Response::error(status, message, field);
  }

  // Runs an app handler; an exception becomes a 500 (logged).
  Response call(const Server::Handler& h, const Request& req, const std::string& what) const {
    try {
      return h(req);
    } catch (const std::exception& e) {
      log::error("http handler for " + req.method + " " + what + " threw: " + e.what());
    } catch (...) {
      log::error("http handler for " + req.method + " " + what + " threw a non-standard exception");
    }
    return error(500, "internal server error");
  }

  static Response unauthorized() {
    Response r = Response::error(401, "missing or invalid bearer token", "Authorization");
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    return r;
  }

  // Routing for a parsed request: the handler's Response, or the error Response. The path
  // alone picks the route (the most specific pattern that matches), then the method: a
  // literal segment such as /queues/stop hides /queues/{queue_id} for every method, so
  // GET /queues/stop is a 405 naming the literal route's methods, never a parameter.
  Response dispatch(Request& req, const std::vector<std::string>& segs) const {
    const HttpRoute* route = best_match<HttpRoute>(routes, segs);
    if (route && route->methods.count(req.method)) {
      route->pattern.match(segs, &req.path_params);
      return call(route->methods.at(req.method), req, route->text);
    }
    if (fallback) return call(fallback, req, req.path);
    if (route) return not_allowed(req, route_methods(*route));
    if (req.path == "/health") {
      if (req.method == "GET") return Response::json(200, R"({"status":"ok"})");
      return not_allowed(req, "GET");
    }
    if (best_match<WsRoute>(ws_routes, segs)) {
      // A WebSocket handshake is a GET (RFC 6455); other methods are simply not allowed.
      if (req.method != "GET") return not_allowed(req, "GET");
      Response r = error(426, "websocket upgrade required");
      r.headers.emplace_back("Upgrade", "websocket");
      return r;
    }
    return error(404, "not found");
  }

  static std::string route_methods(const HttpRoute& r) {
    std::string allow;  // std::map keeps the methods sorted
    for (const auto& [m, h] : r.methods) allow += (allow.empty() ? "" : ", ") + m;
    return allow;
  }

  Response not_allowed(const Request& req, const std::string& allow) const {
    Response r = error(405, "method " + req.method + " not allowed", "method");
    r.headers.emplace_back("Allow", allow);
    return r;
  }
};

// Builds a Request from the parsed header/body; an error Response when the target is bad.
namespace {

std::optional<Response> parse_request(const Server::Impl& impl,
                                      bhttp::request<bhttp::string_body>& r,
                                      const std::string& remote, Request* out,
                                      std::vector<std::string>* segs) {
  out->method = std::string(r.method_string());
  out->target = std::string(r.target());
  out->remote_endpoint = remote;
  for (const auto& f : r) out->headers.emplace_back(f.name_string(), f.value());
  // RFC 9112 3.2: an HTTP/1.1 request without exactly one Host field is a 400.
  if (r.version() >= 11) {
    const size_t hosts = r.count(bhttp::field::host);
    if (hosts != 1)
      return impl.error(400, hosts == 0 ? "missing Host header" : "more than one Host header",
                        "Host");
  }
  auto u = boost::urls::parse_origin_form(out->target);
  if (!u) return impl.error(400, "invalid request target", "target");
  out->path = u->path();
  for (auto seg : u->segments()) segs->push_back(std::move(seg));
  for (auto p : u->params()) out->query.emplace_back(std::move(p.key), std::move(p.value));
  out->body = std::move(r.body());
  return std::nullopt;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// WebSocket connection

namespace detail {

class WsConn : public Conn, public std::enable_shared_from_this<WsConn> {
 public:
  WsConn(std::shared_ptr<Server::Impl> impl, beast::tcp_stream&& stream, Request request,
         Server::WsOpenHandler on_open, WsRouteOptions options)
      : impl_(std::move(impl)),
        ex_(stream.get_executor()),
        ws_(std::move(stream)),
        session_(new WsSession(std::move(request), impl_->opts.ws_max_queued_messages,
                               impl_->opts.ws_max_queued_bytes)),
        on_open_(std::move(on_open)),
        ropts_(options),
        timer_(ex_) {}

  ~WsConn() override { impl_->remove_conn(this); }

  void start(bhttp::request<bhttp::string_body> req) {
    {
      std::lock_guard lk(session_->mu_);
      session_->conn_ = weak_from_this();
    }
    req_ = std::move(req);
    if (!impl_->add_conn(shared_from_this())) {
      finish();
      return;
    }
    // The websocket stream has its own timeouts; the tcp_stream's must be off.
    beast::get_lowest_layer(ws_).expires_never();
    auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::server);
    if (pinging()) {
      // Our own pings and pong deadline (on_timer) replace Beast's idle pings.
      timeouts.idle_timeout = websocket::stream_base::none();
      timeouts.keep_alive_pings = false;
      // Runs inside the read operation, on the strand.
      ws_.control_callback([this](websocket::frame_type kind, beast::string_view payload) {
        if (kind == websocket::frame_type::pong) on_pong(payload);
      });
    }
    ws_.set_option(timeouts);
    bool named = false;  // the client offered our subprotocol (a browser with a token)
    for (std::string_view p : subprotocols(session_->request()))
      named = named || p == "streamforge";
    ws_.set_option(websocket::stream_base::decorator([named](websocket::response_type& res) {
      res.set(bhttp::field::server, "streamforge");
      if (named) res.set(bhttp::field::sec_websocket_protocol, "streamforge");
    }));
    ws_.read_message_max(impl_->opts.max_body_bytes);
    ws_.async_accept(req_, beast::bind_front_handler(&WsConn::on_accept, shared_from_this()));
  }

  void abort() override {
    asio::post(ex_, [self = shared_from_this()] { beast::get_lowest_layer(self->ws_).close(); });
  }

  void after_stop() override { finish(); }

  // WsSession::pause, on the strand.
  void set_paused(bool paused) {
    asio::post(ex_, [self = shared_from_this(), paused] { self->on_pause(paused); });
  }

  // On the strand: write the next queued message, or the close frame once drained.
  void write_next() {
    std::unique_lock lk(session_->mu_);
    if (session_->closed_ || finished_) return;
    if (paused_) {
      session_->busy_ = false;  // on_pause(false) restarts the chain
      return;
    }
    if (session_->queue_.empty()) {
      if (session_->close_requested_ && !close_started_) {
        close_started_ = true;
        lk.unlock();
        ws_.async_close(websocket::close_code::normal,
                        beast::bind_front_handler(&WsConn::on_closed, shared_from_this()));
        return;
      }
      session_->busy_ = close_started_;
      return;
    }
    writing_ = std::move(session_->queue_.front());
    session_->queue_.pop_front();
    session_->queued_bytes_ -= writing_.size();
    lk.unlock();
    ws_.text(true);
    ws_.async_write(asio::buffer(writing_),
                    beast::bind_front_handler(&WsConn::on_write, shared_from_this()));
  }

  void schedule_write() {
    asio::post(ex_, [self = shared_from_this()] { self->write_next(); });
  }

 private:
  void on_accept(beast::error_code ec) {
    if (ec) {
      log::debug("websocket handshake failed: " + ec.message());
      finish();
      return;
    }
    try {
      on_open_(session_);
    } catch (const std::exception& e) {
      log::error("websocket on_open for " + session_->request_.path + " threw: " + e.what());
      finish();
      return;
    } catch (...) {
      log::error("websocket on_open for " + session_->request_.path + " threw");
      finish();
      return;
    }
    do_read();
    write_next();
    if (pinging()) {
      next_ping_ = std::chrono::steady_clock::now() + ropts_.ping_interval;
      arm_timer();
    }
  }

  bool pinging() const { return ropts_.ping_interval.count() > 0; }

  void on_pause(bool paused) {
    if (finished_ || paused == paused_) return;
    paused_ = paused;
    if (paused) return;
    if (pinging()) {
      pings_.clear();  // the deadline starts afresh
      next_ping_ = std::chrono::steady_clock::now() + ropts_.ping_interval;
      arm_timer();
    }
    std::unique_lock lk(session_->mu_);
    if (session_->busy_ || session_->closed_) return;
    session_->busy_ = true;
    lk.unlock();
    write_next();
  }

  // The ping timer wakes at the next ping or at the oldest unanswered ping's deadline.
  void arm_timer() {
    auto at = next_ping_;
    if (!pings_.empty() && ropts_.pong_timeout.count() > 0)
      at = std::min(at, pings_.front().second + ropts_.pong_timeout);
    timer_.expires_at(at);  // cancels the wait before, whose handler sees operation_aborted
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->on_timer();
    });
  }

  void on_timer() {
    if (finished_) return;
    const auto now = std::chrono::steady_clock::now();
    if (!paused_ && !pings_.empty() && ropts_.pong_timeout.count() > 0 &&
        now >= pings_.front().second + ropts_.pong_timeout) {
      log::info("websocket client " + session_->request_.remote_endpoint + " on " +
                session_->request_.path + " did not answer a ping within " +
                std::to_string(ropts_.pong_timeout.count()) + " ms: disconnecting");
      finish();
      return;
    }
    if (now >= next_ping_) {
      if (!paused_ && !ping_in_flight_ && !close_started_) send_ping(now);
      next_ping_ += ropts_.ping_interval;
      if (next_ping_ <= now) next_ping_ = now + ropts_.ping_interval;
    }
    arm_timer();
  }

  void send_ping(std::chrono::steady_clock::time_point now) {
    const uint64_t seq = ++ping_seq_;
    const std::string payload = std::to_string(seq);
    // Without a deadline nothing needs the pings' times (and a silent client would grow
    // the list without end); with one, the list is bounded by the deadline.
    if (ropts_.pong_timeout.count() > 0) pings_.emplace_back(seq, now);
    ping_in_flight_ = true;
    ws_.async_ping(websocket::ping_data(payload.data(), payload.size()),
                   [self = shared_from_this()](beast::error_code) {
                     // An error here ends the read as well, which finish()es.
                     self->ping_in_flight_ = false;
                   });
  }

  // A pong echoing one of our pings answers it and every older one.
  void on_pong(beast::string_view payload) {
    uint64_t seq = 0;
    auto [p, ec] = std::from_chars(payload.data(), payload.data() + payload.size(), seq);
    if (ec != std::errc() || p != payload.data() + payload.size()) return;
    auto it =
        std::find_if(pings_.begin(), pings_.end(), [&](const auto& x) { return x.first == seq; });
    if (it != pings_.end()) pings_.erase(pings_.begin(), it + 1);
  }

  void do_read() {
    ws_.async_read(rbuf_, beast::bind_front_handler(&WsConn::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, size_t) {
    if (ec) {
      finish();
      return;
    }
    std::string msg = beast::buffers_to_string(rbuf_.data());
    rbuf_.consume(rbuf_.size());
    WsSession::MessageHandler handler;
    {
      std::lock_guard lk(session_->mu_);
      handler = session_->on_message_;
    }
    if (handler) {
      try {
        handler(msg);
      } catch (const std::exception& e) {
        log::error("websocket on_message threw: " + std::string(e.what()));
      } catch (...) {
        log::error("websocket on_message threw");
      }
    }
    do_read();
  }

  void on_write(beast::error_code ec, size_t) {
    writing_.clear();
    if (ec) {
      finish();
      return;
    }
    write_next();
  }

  void on_closed(beast::error_code) { finish(); }

  // Ends the session once: tells the app, then drops the socket.
  void finish() {
    if (finished_.exchange(true)) return;
    timer_.cancel();
    WsSession::CloseHandler handler;
    {
      std::lock_guard lk(session_->mu_);
      session_->closed_ = true;
      session_->queue_.clear();
      session_->queued_bytes_ = 0;
      if (!session_->close_notified_) {
        session_->close_notified_ = true;
        handler = std::move(session_->on_close_);
        session_->on_close_ = nullptr;
      }
    }
    if (handler) {
      try {
        handler();
      } catch (const std::exception& e) {
        log::error("websocket on_close threw: " + std::string(e.what()));
      } catch (...) {
        log::error("websocket on_close threw");
      }
    }
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(ws_).close();
  }

  std::shared_ptr<Server::Impl> impl_;
  asio::any_io_executor ex_;
  websocket::stream<beast::tcp_stream> ws_;
  std::shared_ptr<WsSession> session_;
  Server::WsOpenHandler on_open_;
  bhttp::request<bhttp::string_body> req_;
  beast::flat_buffer rbuf_;
  std::string writing_;
  bool close_started_ = false;
  // Atomic because after_stop() runs on the stopping thread, after the io threads joined.
  std::atomic<bool> finished_{false};
  // Keep-alive and pause state, on the strand.
  const WsRouteOptions ropts_;
  asio::steady_timer timer_;
  std::chrono::steady_clock::time_point next_ping_{};
  std::deque<std::pair<uint64_t, std::chrono::steady_clock::time_point>> pings_;  // unanswered
  uint64_t ping_seq_ = 0;
  bool ping_in_flight_ = false;
  bool paused_ = false;
};

// ---------------------------------------------------------------------------------------
// HTTP connection

class HttpConn : public Conn, public std::enable_shared_from_this<HttpConn> {
 public:
  HttpConn(std::shared_ptr<Server::Impl> impl, tcp::socket socket)
      : impl_(std::move(impl)), ex_(socket.get_executor()), stream_(std::move(socket)) {
    // Beast reads at most the buffer's spare capacity (512 bytes when empty): reserve
    // enough that a large body is not read in hundreds of tiny reads.
    buffer_.reserve(16 * 1024);
    beast::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_ = endpoint_string(ep);
  }

  ~HttpConn() override { impl_->remove_conn(this); }

  void start() {
    if (!impl_->add_conn(shared_from_this())) {
      stream_.close();
      return;
    }
    asio::dispatch(ex_, [self = shared_from_this()] { self->read_header(); });
  }

  void abort() override {
    asio::post(ex_, [self = shared_from_this()] {
      if (!self->upgraded_) self->stream_.close();
    });
  }

 private:
  void read_header() {
    parser_.emplace();
    parser_->body_limit(impl_->opts.max_body_bytes);
    stream_.expires_after(impl_->opts.idle_timeout);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             beast::bind_front_handler(&HttpConn::on_header, shared_from_this()));
  }

  void on_header(beast::error_code ec, size_t) {
    if (ec) return on_read_error(ec);
    auto& req = parser_->get();
    if (websocket::is_upgrade(req)) return upgrade();
    stream_.expires_after(impl_->opts.request_timeout);
    if (ascii_iequals(req[bhttp::field::expect], "100-continue") && !parser_->is_done()) {
      // Clients such as curl wait for this before sending a large body.
      auto cont = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_,
                                                                       req.version());
      bhttp::async_write(stream_, *cont,
                         [self = shared_from_this(), cont](beast::error_code ec2, size_t) {
                           if (ec2) return self->close();
                           self->read_body();
                         });
      return;
    }
    read_body();
  }

  void read_body() {
    bhttp::async_read(stream_, buffer_, *parser_,
                      beast::bind_front_handler(&HttpConn::on_body, shared_from_this()));
  }

  void on_read_error(beast::error_code ec) {
    if (ec == bhttp::error::body_limit) {
      // The body is not read: answer, then close (with a lingering drain, see below).
      std::string msg =
          "request body exceeds " + std::to_string(impl_->opts.max_body_bytes) + " bytes";
      return send(impl_->error(413, msg, "body"), parser_->get().version(), false, true);
    }
    if (ec == bhttp::error::header_limit) {
      return send(impl_->error(431, "request header too large", "headers"), 11, false, true);
    }
    if (ec == bhttp::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || ec == bhttp::error::partial_message ||
        ec.category() != bhttp::make_error_code(bhttp::error::bad_method).category()) {
      return close();
    }
    send(impl_->error(400, "malformed HTTP request: " + ec.message()), 11, false, true);
  }

  void on_body(beast::error_code ec, size_t) {
    if (ec) return on_read_error(ec);
    auto& r = parser_->get();
    Request req;
    std::vector<std::string> segs;
    Response res;
    if (auto bad = parse_request(*impl_, r, remote_, &req, &segs)) {
      res = std::move(*bad);
    } else if (!impl_->authorized(req)) {
      res = Server::Impl::unauthorized();
    } else {
      res = impl_->dispatch(req, segs);
    }
    log::debug("http " + req.method + " " + req.path + " -> " + std::to_string(res.status));
    send(std::move(res), r.version(), r.keep_alive(), false);
  }

  void upgrade() {
    auto& r = parser_->get();
    Request req;
    std::vector<std::string> segs;
    std::optional<Response> refusal = parse_request(*impl_, r, remote_, &req, &segs);
    const WsRoute* route = nullptr;
    if (!refusal) {
      if (!impl_->authorized(req, true)) {
        refusal = Server::Impl::unauthorized();
      } else if ((route = best_match<WsRoute>(impl_->ws_routes, segs)) == nullptr) {
        // Not a WebSocket path: plain routing answers (404/405 or an app route).
        refusal = impl_->dispatch(req, segs);
      } else {
        route->pattern.match(segs, &req.path_params);
        if (route->check) {
          try {
            refusal = route->check(req);
          } catch (const std::exception& e) {
            log::error("websocket check for " + req.path + " threw: " + e.what());
            refusal = impl_->error(500, "internal server error");
          }
        }
      }
    }
    if (refusal) return send(std::move(*refusal), r.version(), false, false);
    upgraded_ = true;
    stream_.expires_never();
    auto conn = std::make_shared<WsConn>(impl_, std::move(stream_), std::move(req), route->on_open,
                                         route->options);
    conn->start(parser_->release());
  }

  void send(Response res, unsigned version, bool keep_alive, bool linger) {
    if (res.drop_connection) {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
      return close();
    }
    if (res.status < 100 || res.status > 599) {
      log::error("http handler returned invalid status " + std::to_string(res.status));
      res = impl_->error(500, "internal server error");
    }
    res_ = {};
    res_.version(version);
    res_.result(static_cast<unsigned>(res.status));
    res_.set(bhttp::field::server, "streamforge");
    for (const auto& [k, v] : res.headers) {
      // CR/LF in a header would let a value inject headers or a second response.
      if (k.empty() || k.find_first_of(":\r\n ") != std::string::npos ||
          v.find_first_of("\r\n") != std::string::npos) {
        log::error("http handler returned an invalid header '" + k + "': dropped");
        continue;
      }
      res_.insert(k, v);
    }
    if (!res.body.empty() || res.status != 204) {
      res_.set(bhttp::field::content_type, res.content_type);
    }
    res_.body() = std::move(res.body);
    res_.keep_alive(keep_alive);
    res_.prepare_payload();
    stream_.expires_after(impl_->opts.request_timeout);
    bhttp::async_write(stream_, res_,
                       [self = shared_from_this(), linger](beast::error_code ec, size_t) {
                         self->on_write(ec, linger);
                       });
  }

  void on_write(beast::error_code ec, bool linger) {
    if (ec) return close();
    if (!res_.keep_alive()) {
      if (linger) return lingering_close();
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      return close();
    }
    read_header();
  }

  // After an error response to a request whose body we did not read: closing at once
  // with unread input makes the kernel send a reset, and the client may lose our response
  // before reading it. So stop sending, and discard input until the client closes (or a
  // short time passes).
  void lingering_close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(std::chrono::seconds(2));
    drain_.resize(64 * 1024);
    drain_more();
  }

  void drain_more() {
    stream_.async_read_some(asio::buffer(drain_),
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (ec) return self->close();
                              self->drain_more();
                            });
  }

  void close() {
    if (!upgraded_) stream_.close();
  }

  std::shared_ptr<Server::Impl> impl_;
  asio::any_io_executor ex_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bhttp::response<bhttp::string_body> res_;
  std::string remote_;
  std::string drain_;
  bool upgraded_ = false;
};

}  // namespace detail

// ---------------------------------------------------------------------------------------
// WsSession

WsSession::WsSession(Request request, size_t max_messages, size_t max_bytes)
    : request_(std::move(request)), max_messages_(max_messages), max_bytes_(max_bytes) {}

WsSession::~WsSession() = default;

size_t WsSession::queued() const {
  std::lock_guard lk(mu_);
  return queue_.size();
}

bool WsSession::send(std::string text) {
  std::shared_ptr<detail::WsConn> conn;
  bool overflow = false;
  {
    std::lock_guard lk(mu_);
    if (closed_ || close_requested_) return false;
    if (queue_.size() >= max_messages_ || queued_bytes_ + text.size() > max_bytes_) {
      overflow = true;
      closed_ = true;
      queue_.clear();
      queued_bytes_ = 0;
    } else {
      queued_bytes_ += text.size();
      queue_.push_back(std::move(text));
      if (busy_) return true;
      busy_ = true;
    }
    // Locked under mu_ so that Server::stop() (which marks sessions closed under mu_
    // before the io_context goes away) cannot race with this post.
    conn = conn_.lock();
    if (conn) {
      if (overflow) {
        conn->abort();
      } else {
        conn->schedule_write();
      }
    }
    conn.reset();
  }
  if (overflow) {
    log::warn("websocket client " + request_.remote_endpoint + " on " + request_.path +
              " is too slow (outbound queue full): dropping the connection");
  }
  return !overflow;
}

void WsSession::drop() {
  std::lock_guard lk(mu_);
  if (closed_) return;
  closed_ = true;
  queue_.clear();
  queued_bytes_ = 0;
  if (auto conn = conn_.lock()) conn->abort();  // the read fails and finish()es
}

void WsSession::pause(bool paused) {
  std::lock_guard lk(mu_);
  if (auto conn = conn_.lock()) conn->set_paused(paused);
}

void WsSession::close() {
  std::lock_guard lk(mu_);
  if (closed_ || close_requested_) return;
  close_requested_ = true;
  if (busy_) return;  // the running write chain sends the close frame when it drains
  busy_ = true;
  if (auto conn = conn_.lock()) conn->schedule_write();
}

bool WsSession::is_open() const {
  std::lock_guard lk(mu_);
  return !closed_ && !close_requested_;
}

void WsSession::on_close(CloseHandler handler) {
  {
    std::lock_guard lk(mu_);
    if (!close_notified_) {
      on_close_ = std::move(handler);
      return;
    }
  }
  if (handler) handler();
}

void WsSession::on_message(MessageHandler handler) {
  std::lock_guard lk(mu_);
  on_message_ = std::move(handler);
}

// ---------------------------------------------------------------------------------------
// Server

Server::Server(Options options) : impl_(std::make_shared<Impl>(std::move(options))) {
  if (impl_->opts.threads < 1) impl_->opts.threads = 1;
}

Server::~Server() {
  stop();
  // Pending handlers own connections, and connections own impl_: destroying the
  // io_context here (before impl_) releases them and breaks that cycle.
  impl_->accept_retry.reset();
  impl_->acceptor.reset();
  impl_->ioc.reset();
}

void Server::public_get(std::string_view path, Handler handler) {
  if (path.find('{') != std::string_view::npos)
    throw std::invalid_argument("public_get needs a literal path, not " + std::string(path));
  route("GET", path, std::move(handler));
  impl_->public_paths.emplace(path);
}

void Server::route(std::string_view method, std::string_view pattern, Handler handler) {
  if (impl_->started) throw std::logic_error("Server::route() after start()");
  if (method.empty() || !handler) throw std::invalid_argument("route needs a method and handler");
  Pattern p = Pattern::parse(pattern);
  std::string shape = p.shape();
  for (auto& r : impl_->routes) {
    if (r.pattern.shape() != shape) continue;
    if (r.pattern.segments != p.segments) {
      throw std::invalid_argument("route " + std::string(pattern) + " conflicts with " + r.text +
                                  " (different parameter names)");
    }
    if (!r.methods.emplace(std::string(method), std::move(handler)).second) {
      throw std::invalid_argument("duplicate route " + std::string(method) + " " +
                                  std::string(pattern));
    }
    return;
  }
  HttpRoute r{std::move(p), std::string(pattern), {}};
  r.methods.emplace(std::string(method), std::move(handler));
  impl_->routes.push_back(std::move(r));
}

void Server::fallback(Handler handler) {
  if (impl_->started) throw std::logic_error("Server::fallback() after start()");
  if (!handler) throw std::invalid_argument("fallback needs a handler");
  if (impl_->fallback) throw std::invalid_argument("fallback registered twice");
  impl_->fallback = std::move(handler);
}

void Server::websocket(std::string_view pattern, WsOpenHandler on_open, WsCheck check,
                       WsRouteOptions options) {
  if (impl_->started) throw std::logic_error("Server::websocket() after start()");
  if (!on_open) throw std::invalid_argument("websocket route needs an on_open handler");
  Pattern p = Pattern::parse(pattern);
  for (const auto& r : impl_->ws_routes) {
    if (r.pattern.shape() == p.shape()) {
      throw std::invalid_argument("duplicate websocket route " + std::string(pattern));
    }
  }
  if (options.ping_interval.count() < 0 || options.pong_timeout.count() < 0)
    throw std::invalid_argument("websocket ping interval and pong timeout must not be negative");
  impl_->ws_routes.push_back(WsRoute{std::move(p), std::move(on_open), std::move(check), options});
}

namespace {

void accept_loop(const std::shared_ptr<Server::Impl>& impl) {
  impl->acceptor->async_accept(
      asio::make_strand(*impl->ioc), [impl](beast::error_code ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted || !impl->acceptor->is_open()) return;
        if (ec) {
          // E.g. out of file descriptors: back off instead of spinning.
          log::warn("http accept failed: " + ec.message());
          impl->accept_retry->expires_after(std::chrono::milliseconds(100));
          impl->accept_retry->async_wait([impl](beast::error_code ec2) {
            if (!ec2) accept_loop(impl);
          });
          return;
        }
        std::make_shared<detail::HttpConn>(impl, std::move(socket))->start();
        accept_loop(impl);
      });
}

}  // namespace

Status Server::start() {
  Impl& s = *impl_;
  if (s.started) throw std::logic_error("Server::start() called twice");
  s.started = true;
  s.ioc = std::make_unique<asio::io_context>(s.opts.threads);
  std::string where = s.opts.address + ":" + std::to_string(s.opts.port);
  beast::error_code ec;
  auto addr = asio::ip::make_address(s.opts.address, ec);
  if (ec) return Error(Errc::invalid_argument, "invalid listen address '" + s.opts.address + "'");
  tcp::endpoint ep(addr, s.opts.port);
  auto strand = asio::make_strand(*s.ioc);
  s.acceptor.emplace(strand);
  s.accept_retry.emplace(strand);
  auto fail = [&]() -> Status {
    s.acceptor.reset();
    return Error(Errc::io_error, "cannot listen on " + where + ": " + ec.message());
  };
  s.acceptor->open(ep.protocol(), ec);
  if (ec) return fail();
  s.acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) return fail();
  s.acceptor->bind(ep, ec);
  if (ec) return fail();
  s.acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail();
  s.bound_port = s.acceptor->local_endpoint().port();

  accept_loop(impl_);
  s.running_threads = s.opts.threads;
  for (int i = 0; i < s.opts.threads; ++i) {
    s.threads.emplace_back([&s] {
      for (;;) {
        try {
          s.ioc->run();
          break;
        } catch (const std::exception& e) {
          // Handlers catch their own exceptions, so this is a bug; log it and keep serving
          // (run() may be resumed after an exception; the failed connection is dropped).
          log::error(std::string("http io thread caught exception: ") + e.what());
        } catch (...) {
          log::error("http io thread caught a non-standard exception");
        }
      }
      std::lock_guard lk(s.mu);
      if (--s.running_threads == 0) s.threads_done.notify_all();
    });
  }
  log::info("http server listening on " + base_url());
  return ok_status();
}

void Server::stop() {
  Impl& s = *impl_;
  if (!s.started || !s.ioc) return;
  std::vector<std::shared_ptr<detail::Conn>> live;
  {
    std::lock_guard lk(s.mu);
    if (s.stopped) return;
    if (s.ioc->get_executor().running_in_this_thread()) {
      throw std::logic_error("Server::stop() called from a handler");
    }
    s.stopped = true;
    s.stopping = true;  // new connections close themselves from now on
    for (auto& [p, w] : s.conns) {
      if (auto c = w.lock()) live.push_back(std::move(c));
    }
  }
  if (s.acceptor) {
    asio::post(s.acceptor->get_executor(), [&s] {
      beast::error_code ec;
      s.acceptor->close(ec);
      s.accept_retry->cancel();
    });
  }
  for (auto& c : live) c->abort();
  live.clear();
  {
    // Normally run() returns as soon as the aborted operations have completed; the
    // deadline only guards against a handler that blocks.
    std::unique_lock lk(s.mu);
    if (!s.threads_done.wait_for(lk, std::chrono::seconds(5),
                                 [&] { return s.running_threads == 0; })) {
      log::warn("http server stop: handlers still running after 5 s; stopping the io loop");
      s.ioc->stop();
    }
  }
  for (auto& t : s.threads) t.join();
  s.threads.clear();
  // Connections whose handlers are still queued (only if the loop was cut short) must
  // not be used by the app any more: close their sessions now, before the io_context
  // goes away.
  {
    std::lock_guard lk(s.mu);
    for (auto& [p, w] : s.conns) {
      if (auto c = w.lock()) live.push_back(std::move(c));
    }
  }
  for (auto& c : live) c->after_stop();
  live.clear();
  log::info("http server on port " + std::to_string(s.bound_port) + " stopped");
}

uint16_t Server::port() const { return impl_->bound_port; }

std::string Server::base_url() const {
  const std::string& a = impl_->opts.address;
  std::string host = a.find(':') != std::string::npos ? "[" + a + "]" : a;
  return "http://" + host + ":" + std::to_string(impl_->bound_port);
}

}  // namespace sf::http
