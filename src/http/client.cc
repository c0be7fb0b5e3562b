#include "http/client.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/url/parse.hpp>

#include "base/log.h"
#include "base/text.h"

namespace sf::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

template <typename S>
std::string str(const S& s) {
  return std::string(s.data(), s.size());
}

// Where a base URL points. The request/response code is written against the stream type
// (plain tcp_stream or ssl_stream over it).
struct Endpoint {
  bool tls = false;         // https or wss
  std::string host;         // for resolving/connecting (IPv6 without brackets)
  std::string port;         // numeric string
  std::string host_header;  // "host:port" as written in the URL
  std::string prefix;       // base path without trailing '/', may be empty
  std::string display;      // http[s]://host:port (ws[s] shown as http[s]), redacted
};

// http and https; with websocket_ok also ws and wss (the same as http and https).
Result<Endpoint> parse_base_url(std::string_view url, bool websocket_ok) {
  std::string shown = log::redact_url(url);
  auto u = boost::urls::parse_absolute_uri(url);
  if (!u) {
    return Error(Errc::invalid_argument, "invalid base URL '" + shown + "': " + u.error().message(),
                 "base_url");
  }
  std::string scheme = str(u->scheme());
  for (auto& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  bool plain = scheme == "http" || (websocket_ok && scheme == "ws");
  bool tls = scheme == "https" || (websocket_ok && scheme == "wss");
  if (!plain && !tls) {
    return Error(Errc::invalid_argument,
                 "invalid base URL '" + shown + "': scheme must be " +
                     (websocket_ok ? "ws, wss, http or https" : "http or https"),
                 "base_url");
  }
  Endpoint ep;
  ep.tls = tls;
  ep.host = u->host_address();
  if (!u->has_authority() || ep.host.empty()) {
    return Error(Errc::invalid_argument, "invalid base URL '" + shown + "': no host", "base_url");
  }
  if (u->has_query() || u->has_fragment()) {
    return Error(Errc::invalid_argument,
                 "invalid base URL '" + shown + "': must not have a query or fragment", "base_url");
  }
  ep.port = u->has_port() && !u->port().empty() ? str(u->port()) : (ep.tls ? "443" : "80");
  ep.host_header = str(u->encoded_host_and_port());
  ep.prefix = str(u->encoded_path());
  while (!ep.prefix.empty() && ep.prefix.back() == '/') ep.prefix.pop_back();
  ep.display = log::redact_url((ep.tls ? "https://" : "http://") + ep.host_header);
  return ep;
}

// Runs ioc until `done` or the deadline; false if the deadline passed first.
bool run_until(asio::io_context& ioc, const bool& done, Clock::time_point deadline) {
  ioc.restart();
  while (!done) {
    if (ioc.run_one_until(deadline) == 0) break;
  }
  return done;
}

// Resolves host:port. Numeric addresses need no lookup; names use the system resolver,
// which cannot be interrupted, so a slow DNS server may overrun the deadline.
Result<tcp::resolver::results_type> resolve(asio::io_context& ioc, const Endpoint& ep) {
  tcp::resolver resolver(ioc);
  beast::error_code ec;
  auto results = resolver.resolve(ep.host, ep.port, ec);
  if (ec) {
    return Error(Errc::unavailable,
                 "cannot connect to " + ep.display + ": cannot resolve host: " + ec.message());
  }
  return results;
}

Status connect_stream(asio::io_context& ioc, beast::tcp_stream& stream, const Endpoint& ep,
                      Clock::time_point deadline) {
  auto results = resolve(ioc, ep);
  if (!results) return results.error();
  beast::error_code ec;
  stream.expires_at(deadline);
  stream.async_connect(*results, [&](beast::error_code e, const tcp::endpoint&) { ec = e; });
  ioc.restart();
  ioc.run();
  stream.expires_never();
  if (ec == beast::error::timeout) {
    return Error(Errc::timeout, "cannot connect to " + ep.display + ": timed out");
  }
  if (ec) return Error(Errc::unavailable, "cannot connect to " + ep.display + ": " + ec.message());
  stream.socket().set_option(tcp::no_delay(true), ec);
  return ok_status();
}

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// The TLS client context of one ClientTlsOptions (TLS 1.2+, peers verified against the
// system CA store plus extra_ca_pem), made on first use and then kept: reading the system
// store is not free. Streams made from it must not outlive it.
class TlsContext {
 public:
  explicit TlsContext(ClientTlsOptions options) : options_(std::move(options)) {}

  Result<ssl::context*> get(const Endpoint& ep) {
    if (ctx_) return &*ctx_;
    try {
      ssl::context ctx(ssl::context::tls_client);
      ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                      ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
      ctx.set_default_verify_paths();
      if (!options_.extra_ca_pem.empty()) {
        ctx.add_certificate_authority(
            asio::buffer(options_.extra_ca_pem.data(), options_.extra_ca_pem.size()));
      }
      ctx.set_verify_mode(ssl::verify_peer);
      ctx_.emplace(std::move(ctx));
    } catch (const std::exception& e) {
      return Error(Errc::invalid_argument, "cannot set up TLS for " + ep.display + ": " + e.what());
    }
    return &*ctx_;
  }

 private:
  ClientTlsOptions options_;
  std::optional<ssl::context> ctx_;
};

// Connects the TCP layer of `stream` (made from a TlsContext) and runs the TLS handshake:
// SNI for host names (not addresses, as RFC 6066 says) and the peer's certificate checked
// for ep.host, a name or an address. A failed check names the certificate problem.
Status connect_tls(asio::io_context& ioc, TlsStream& stream, const Endpoint& ep,
                   Clock::time_point deadline) {
  SF_TRY(connect_stream(ioc, beast::get_lowest_layer(stream), ep, deadline));
  beast::error_code ec;
  boost::asio::ip::make_address(ep.host, ec);
  bool is_ip = !ec;
  if (!is_ip && !SSL_set_tlsext_host_name(stream.native_handle(), ep.host.c_str())) {
    return Error(Errc::io_error, "cannot set TLS server name for " + ep.display);
  }
  // OpenSSL's own check (what ssl::host_name_verification does in a verify callback, but
  // a failure is reported as X509_V_ERR_HOSTNAME_MISMATCH / IP_ADDRESS_MISMATCH rather
  // than "unspecified certificate verification error").
  X509_VERIFY_PARAM* param = SSL_get0_param(stream.native_handle());
  if (!(is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, ep.host.c_str())
              : X509_VERIFY_PARAM_set1_host(param, ep.host.c_str(), ep.host.size()))) {
    return Error(Errc::io_error, "cannot set the TLS host name check for " + ep.display);
  }
  ec = {};
  beast::get_lowest_layer(stream).expires_at(deadline);
  stream.async_handshake(ssl::stream_base::client, [&](beast::error_code e) { ec = e; });
  ioc.restart();
  ioc.run();
  beast::get_lowest_layer(stream).expires_never();
  if (ec == beast::error::timeout) {
    return Error(Errc::timeout, "TLS handshake with " + ep.display + ": timed out");
  }
  if (ec) {
    std::string why = ec.message();
    long verify = SSL_get_verify_result(stream.native_handle());
    if (verify != X509_V_OK) {
      why += std::string(" (certificate: ") + X509_verify_cert_error_string(verify) + ")";
    }
    return Error(Errc::unavailable, "TLS handshake with " + ep.display + " failed: " + why);
  }
  return ok_status();
}

long long ms(std::chrono::milliseconds d) { return static_cast<long long>(d.count()); }

}  // namespace

std::string_view ClientResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (ascii_iequals(k, name)) return v;
  }
  return {};
}

// ---------------------------------------------------------------------------------------
// Client

struct Client::Impl {
  std::string base_url;
  std::string token;
  std::chrono::milliseconds timeout;
  Result<Endpoint> endpoint;
  TlsContext tls;  // its context is made on the first https connection
  asio::io_context ioc;
  std::optional<beast::tcp_stream> stream;
  std::optional<TlsStream> tls_stream;
  beast::flat_buffer buffer;

  Impl(std::string url, std::string tok, std::chrono::milliseconds t, ClientTlsOptions tls_options)
      : base_url(std::move(url)),
        token(std::move(tok)),
        timeout(t),
        endpoint(parse_base_url(base_url, false)),
        tls(std::move(tls_options)) {
    // Beast reads at most the buffer's spare capacity (512 bytes when empty); a large
    // response read 512 bytes at a time costs 4x the time of the transfer itself.
    buffer.reserve(64 * 1024);
  }

  bool connected() const { return stream.has_value() || tls_stream.has_value(); }

  // The request for path_and_query on the endpoint (which must be valid), with the default
  // headers, then `extra` (which may replace them), and the body; *what names it for
  // messages (redacted).
  bhttp::request<bhttp::string_body> make_request(
      std::string_view method, std::string_view path_and_query, std::string_view body,
      std::string_view content_type, const HeaderList& extra, std::string* what) const {
    const Endpoint& ep = *endpoint;
    std::string path(path_and_query);
    if (path.empty() || path.front() != '/') path.insert(path.begin(), '/');
    *what = std::string(method) + " " + log::redact_url(ep.display + ep.prefix + path);
    bhttp::request<bhttp::string_body> req;
    req.method_string(method);
    req.target(ep.prefix + path);
    req.version(11);
    req.set(bhttp::field::host, ep.host_header);
    req.set(bhttp::field::user_agent, "streamforge");
    if (!token.empty()) req.set(bhttp::field::authorization, "Bearer " + token);
    for (const auto& [name, value] : extra) req.set(name, value);
    if (!body.empty()) {
      req.set(bhttp::field::content_type, content_type);
      req.body() = std::string(body);
    }
    req.prepare_payload();
    return req;
  }

  beast::tcp_stream& lowest() {
    return tls_stream ? beast::get_lowest_layer(*tls_stream) : *stream;
  }

  void drop() {
    if (connected()) {
      beast::error_code ec;
      // No TLS close_notify: waiting for the peer's answer could block; a plain close is
      // safe for HTTP because every message is length-delimited.
      lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
      lowest().close();
      stream.reset();
      tls_stream.reset();
    }
    buffer.clear();
  }

  // Opens a new connection (TCP, then the TLS handshake for https).
  Status open(const Endpoint& ep, Clock::time_point deadline) {
    if (!ep.tls) {
      stream.emplace(ioc);
      return connect_stream(ioc, *stream, ep, deadline);
    }
    ssl::context* ctx = nullptr;
    SF_TRY_ASSIGN(ctx, tls.get(ep));
    tls_stream.emplace(ioc, *ctx);
    return connect_tls(ioc, *tls_stream, ep, deadline);
  }

  // One write + read on the current connection.
  template <typename Stream>
  beast::error_code exchange(Stream& s, bhttp::request<bhttp::string_body>& req,
                             bhttp::response<bhttp::string_body>* res, Clock::time_point deadline) {
    beast::error_code ec;
    beast::get_lowest_layer(s).expires_at(deadline);
    bhttp::async_write(s, req, [&](beast::error_code e, size_t) { ec = e; });
    ioc.restart();
    ioc.run();
    if (ec) return ec;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(std::uint64_t{256} << 20);
    bhttp::async_read(s, buffer, parser, [&](beast::error_code e, size_t) { ec = e; });
    ioc.restart();
    ioc.run();
    beast::get_lowest_layer(s).expires_never();
    if (!ec) *res = parser.release();
    return ec;
  }
};

Client::Client(std::string base_url, std::string bearer_token, std::chrono::milliseconds timeout)
    : Client(std::move(base_url), std::move(bearer_token), timeout, ClientTlsOptions{}) {}
Client::Client(std::string base_url, std::string bearer_token, std::chrono::milliseconds timeout,
               ClientTlsOptions tls)
    : impl_(std::make_unique<Impl>(std::move(base_url), std::move(bearer_token), timeout,
                                   std::move(tls))) {}
Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

const std::string& Client::base_url() const { return impl_->base_url; }

void Client::disconnect() { impl_->drop(); }

Result<ClientResponse> Client::request(std::string_view method, std::string_view path_and_query,
                                       std::string_view body, std::string_view content_type) {
  static const HeaderList kNone;
  return request(method, path_and_query, body, content_type, kNone);
}

Result<ClientResponse> Client::request(std::string_view method, std::string_view path_and_query,
                                       std::string_view body, std::string_view content_type,
                                       const HeaderList& extra_headers) {
  Impl& s = *impl_;
  if (!s.endpoint) return s.endpoint.error();
  const Endpoint& ep = *s.endpoint;
  std::string what;
  auto req = s.make_request(method, path_and_query, body, content_type, extra_headers, &what);
  auto deadline = Clock::now() + s.timeout;

  bhttp::response<bhttp::string_body> res;
  for (int attempt = 0;; ++attempt) {
    bool reused = s.connected();
    if (!reused) {
      Status st = s.open(ep, deadline);
      if (!st.ok()) {
        s.drop();
        return st.error();
      }
    }
    beast::error_code ec = s.tls_stream ? s.exchange(*s.tls_stream, req, &res, deadline)
                                        : s.exchange(*s.stream, req, &res, deadline);
    if (!ec) break;
    s.drop();
    // A kept-alive connection the server closed while idle fails at once with EOF or a
    // reset, before any response byte: that request was not processed, so resend once.
    bool stale = ec == bhttp::error::end_of_stream || ec == asio::error::connection_reset ||
                 ec == asio::error::broken_pipe || ec == asio::error::eof ||
                 ec == ssl::error::stream_truncated;
    if (reused && stale && attempt == 0) continue;
    if (ec == beast::error::timeout) {
      return Error(Errc::timeout,
                   what + ": timed out after " + std::to_string(ms(s.timeout)) + " ms");
    }
    return Error(Errc::io_error, what + ": " + ec.message());
  }
  if (!res.keep_alive()) s.drop();

  ClientResponse out;
  out.status = static_cast<int>(res.result_int());
  for (const auto& f : res) out.headers.emplace_back(f.name_string(), f.value());
  out.body = std::move(res.body());
  return out;
}

namespace {

// Runs `ioc` until `done`, checking `cancel` every 100 ms; on cancel closes `lowest` (the
// pending operation completes with operation_aborted) and returns false.
bool run_cancellable(asio::io_context& ioc, const bool& done, beast::tcp_stream& lowest,
                     const std::atomic<bool>* cancel) {
  ioc.restart();
  while (!done) {
    if (cancel != nullptr && cancel->load()) {
      lowest.cancel();
      beast::error_code ignored;
      lowest.socket().close(ignored);
      while (!done && ioc.run_one() > 0) {
      }
      return false;
    }
    if (ioc.run_one_for(std::chrono::milliseconds(100)) == 0 && ioc.stopped()) ioc.restart();
  }
  return true;
}

// The request/response part of Client::stream on an open connection.
template <typename Stream>
Result<ClientResponse> stream_exchange(asio::io_context& ioc, Stream& s,
                                       bhttp::request<bhttp::string_body>& req,
                                       Clock::time_point deadline, std::chrono::milliseconds idle,
                                       const std::function<bool(std::string_view)>& on_body,
                                       const std::atomic<bool>* cancel, const std::string& what) {
  beast::tcp_stream& lowest = beast::get_lowest_layer(s);
  beast::error_code ec;
  bool done = false;
  auto finish = [&](beast::error_code e, size_t) {
    ec = e;
    done = true;
  };
  auto failed = [&](const char* stage) -> Error {
    if (cancel != nullptr && cancel->load()) return Error(Errc::closed, what + ": cancelled");
    if (ec == beast::error::timeout) return Error(Errc::timeout, what + ": timed out " + stage);
    return Error(Errc::io_error, what + ": " + ec.message());
  };
  lowest.expires_at(deadline);
  bhttp::async_write(s, req, finish);
  if (!run_cancellable(ioc, done, lowest, cancel) || ec) return failed("sending the request");

  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::buffer_body> parser;
  parser.body_limit(boost::none);  // a watch has no end; each piece is handed on
  done = false;
  bhttp::async_read_header(s, buffer, parser, finish);
  if (!run_cancellable(ioc, done, lowest, cancel) || ec) return failed("waiting for the answer");

  ClientResponse out;
  out.status = static_cast<int>(parser.get().result_int());
  for (const auto& f : parser.get()) out.headers.emplace_back(f.name_string(), f.value());
  const bool ok = out.status >= 200 && out.status < 300;
  constexpr size_t kMaxErrorBody = 1 << 20;
  std::vector<char> piece(64 * 1024);
  while (!parser.is_done()) {
    parser.get().body().data = piece.data();
    parser.get().body().size = piece.size();
    done = false;
    if (ok) {
      lowest.expires_after(idle);
    } else {
      lowest.expires_at(deadline);
    }
    bhttp::async_read_some(s, buffer, parser, finish);
    if (!run_cancellable(ioc, done, lowest, cancel)) return failed("");
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec) return failed("waiting for more of the body");
    const size_t got = piece.size() - parser.get().body().size;
    if (got == 0) continue;
    if (!ok) {
      if (out.body.size() + got > kMaxErrorBody) break;
      out.body.append(piece.data(), got);
    } else if (!on_body(std::string_view(piece.data(), got))) {
      break;
    }
  }
  return out;
}

}  // namespace

Result<ClientResponse> Client::stream(std::string_view method, std::string_view path_and_query,
                                      const HeaderList& extra_headers,
                                      const std::function<bool(std::string_view)>& on_body,
                                      std::chrono::milliseconds idle,
                                      const std::atomic<bool>* cancel) {
  Impl& s = *impl_;
  if (!s.endpoint) return s.endpoint.error();
  const Endpoint& ep = *s.endpoint;
  std::string what;
  auto req = s.make_request(method, path_and_query, {}, {}, extra_headers, &what);
  auto deadline = Clock::now() + s.timeout;

  s.drop();  // a connection of its own, closed afterwards
  if (Status st = s.open(ep, deadline); !st.ok()) {
    s.drop();
    return st.error();
  }
  auto out = s.tls_stream
                 ? stream_exchange(s.ioc, *s.tls_stream, req, deadline, idle, on_body, cancel, what)
                 : stream_exchange(s.ioc, *s.stream, req, deadline, idle, on_body, cancel, what);
  s.drop();
  return out;
}

// ---------------------------------------------------------------------------------------
// WsClient

struct WsClient::Impl {
  TlsContext tls;  // before the streams made from its context
  asio::io_context ioc;
  // At most one is set: ws for ws/http URLs, wss for wss/https.
  std::optional<websocket::stream<beast::tcp_stream>> ws;
  std::optional<websocket::stream<TlsStream>> wss;
  std::string url;  // redacted, for messages
  bool open = false;
  beast::flat_buffer rbuf;
  bool read_pending = false;
  bool read_done = false;
  beast::error_code read_ec;

  explicit Impl(ClientTlsOptions tls_options) : tls(std::move(tls_options)) {
    rbuf.reserve(16 * 1024);
  }

  bool connected() const { return ws.has_value() || wss.has_value(); }

  // f(the websocket stream), whichever transport it runs on. Only while connected().
  template <typename F>
  decltype(auto) with_ws(F&& f) {
    return wss ? f(*wss) : f(*ws);
  }

  void teardown() {
    if (connected()) {
      with_ws([](auto& w) { beast::get_lowest_layer(w).close(); });
      // Destroying the stream also cancels its handshake/close timer, which may otherwise
      // stay armed for the whole handshake timeout; pending operations then complete with
      // operation_aborted. Let them run: their handlers refer to this object.
      ws.reset();
      wss.reset();
      ioc.restart();
      ioc.run();
    }
    open = false;
    read_pending = false;
    read_done = false;
    rbuf.clear();
  }

  // Starts the read of the next message unless one is pending.
  void start_read() {
    if (read_pending) return;
    read_done = false;
    rbuf.clear();
    with_ws([this](auto& w) {
      w.async_read(rbuf, [this](beast::error_code ec, size_t) {
        read_ec = ec;
        read_done = true;
      });
    });
    read_pending = true;
  }

  // The message (or the error) of a read that is done.
  Result<std::string> complete_read() {
    read_pending = false;
    if (read_ec) {
      beast::error_code ec = read_ec;
      open = false;
      websocket::close_reason reason = with_ws([](auto& w) { return w.reason(); });
      // The server's close frame arrived. Over TLS the teardown after it (close_notify both
      // ways) may still fail, e.g. when the server drops the TCP connection without its
      // close_notify; the connection was closed by the server all the same.
      if (ec == websocket::error::closed || reason.code != websocket::close_code::none) {
        std::string msg = "websocket " + url + " closed by server (code " +
                          std::to_string(static_cast<int>(reason.code)) + ")";
        if (!reason.reason.empty()) msg += ": " + std::string(reason.reason.c_str());
        teardown();
        return Error(Errc::closed, std::move(msg));
      }
      teardown();
      return Error(Errc::io_error, "websocket " + url + " read failed: " + ec.message());
    }
    std::string msg = beast::buffers_to_string(rbuf.data());
    rbuf.consume(rbuf.size());
    return msg;
  }
};

namespace {

// The WebSocket upgrade on a connected (and, for wss, TLS-handshaken) stream.
template <typename WsStream>
Status ws_handshake(asio::io_context& ioc, WsStream& ws, const Endpoint& ep,
                    const std::string& target, const std::string& url,
                    std::string_view bearer_token, Clock::time_point deadline) {
  auto opt = websocket::stream_base::timeout::suggested(beast::role_type::client);
  opt.handshake_timeout =
      std::max(std::chrono::milliseconds(1),
               std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
  ws.set_option(opt);
  std::string auth = bearer_token.empty() ? "" : "Bearer " + std::string(bearer_token);
  ws.set_option(websocket::stream_base::decorator([auth](websocket::request_type& req) {
    req.set(bhttp::field::user_agent, "streamforge");
    if (!auth.empty()) req.set(bhttp::field::authorization, auth);
  }));
  ws.read_message_max(std::uint64_t{64} << 20);

  websocket::response_type res;
  beast::error_code ec;
  bool done = false;
  ws.async_handshake(res, ep.host_header, target, [&](beast::error_code e) {
    ec = e;
    done = true;
  });
  // Not run(): after a refused upgrade the handshake timer stays armed until it expires.
  if (!run_until(ioc, done, deadline + std::chrono::seconds(1))) ec = beast::error::timeout;
  if (!ec) return ok_status();
  if (ec == websocket::error::upgrade_declined) {
    int status = static_cast<int>(res.result_int());
    std::string msg = "websocket upgrade to " + url + " refused: HTTP " + std::to_string(status);
    if (!res.body().empty()) msg += ": " + res.body();
    Errc code = status == 404                    ? Errc::not_found
                : status == 401 || status == 403 ? Errc::invalid_argument
                : status >= 500                  ? Errc::unavailable
                                                 : Errc::io_error;
    return Error(code, std::move(msg));
  }
  if (ec == beast::error::timeout) {
    return Error(Errc::timeout, "websocket handshake with " + url + ": timed out");
  }
  return Error(Errc::io_error, "websocket handshake with " + url + ": " + ec.message());
}

}  // namespace

WsClient::WsClient() : WsClient(ClientTlsOptions{}) {}
WsClient::WsClient(ClientTlsOptions tls) : impl_(std::make_unique<Impl>(std::move(tls))) {}
WsClient::~WsClient() {
  if (impl_) close();
}
WsClient::WsClient(WsClient&&) noexcept = default;
WsClient& WsClient::operator=(WsClient&& o) noexcept {
  if (this != &o) {
    if (impl_) close();
    impl_ = std::move(o.impl_);
  }
  return *this;
}

bool WsClient::is_open() const { return impl_ && impl_->open; }

Status WsClient::connect(std::string_view base_url, std::string_view path_and_query,
                         std::string_view bearer_token, std::chrono::milliseconds timeout) {
  if (!impl_) impl_ = std::make_unique<Impl>(ClientTlsOptions{});  // moved from
  Impl& s = *impl_;
  close();
  auto ep = parse_base_url(base_url, true);
  if (!ep) return ep.error();
  std::string path(path_and_query);
  if (path.empty() || path.front() != '/') path.insert(path.begin(), '/');
  s.url = log::redact_url(ep->display + ep->prefix + path);
  auto deadline = Clock::now() + timeout;

  Status st = ok_status();
  if (ep->tls) {
    ssl::context* ctx = nullptr;
    SF_TRY_ASSIGN(ctx, s.tls.get(*ep));
    s.wss.emplace(s.ioc, *ctx);
    st = connect_tls(s.ioc, s.wss->next_layer(), *ep, deadline);
  } else {
    s.ws.emplace(s.ioc);
    st = connect_stream(s.ioc, beast::get_lowest_layer(*s.ws), *ep, deadline);
  }
  if (st.ok()) {
    st = s.with_ws([&](auto& w) {
      return ws_handshake(s.ioc, w, *ep, ep->prefix + path, s.url, bearer_token, deadline);
    });
  }
  if (!st.ok()) {
    s.teardown();
    return st;
  }
  s.open = true;
  return ok_status();
}

Result<std::string> WsClient::read(std::chrono::milliseconds timeout) {
  if (!impl_ || !impl_->connected()) return Error(Errc::closed, "websocket is not connected");
  Impl& s = *impl_;
  if (!s.read_pending && !s.open)
    return Error(Errc::closed, "websocket to " + s.url + " is closed");
  s.start_read();
  if (!run_until(s.ioc, s.read_done, Clock::now() + timeout)) {
    // The read stays pending (cancelling would break the stream); the next call resumes it.
    return Error(Errc::timeout, "no websocket message from " + s.url + " within " +
                                    std::to_string(ms(timeout)) + " ms");
  }
  return s.complete_read();
}

Result<size_t> WsClient::read_available(std::vector<std::string>* out,
                                        std::chrono::milliseconds timeout, size_t max) {
  auto first = read(timeout);
  if (!first) return first.error();
  out->push_back(std::move(*first));
  size_t n = 1;
  Impl& s = *impl_;
  while (n < max && s.open) {
    s.start_read();
    // Runs only what is ready: a frame in the stream's buffer, or bytes the socket already
    // holds (Asio tries the receive at once). Otherwise the read stays pending for the next
    // call.
    s.ioc.restart();
    s.ioc.poll();
    if (!s.read_done || s.read_ec) break;  // an error is reported by the next call
    auto m = s.complete_read();
    out->push_back(std::move(*m));
    ++n;
  }
  return n;
}

Status WsClient::send(std::string_view text, std::chrono::milliseconds timeout) {
  if (!impl_ || !impl_->open) return Error(Errc::closed, "websocket is not connected");
  Impl& s = *impl_;
  bool done = false;
  beast::error_code ec;
  s.with_ws([&](auto& w) {
    w.text(true);
    w.async_write(asio::buffer(text.data(), text.size()), [&](beast::error_code e, size_t) {
      ec = e;
      done = true;
    });
  });
  if (!run_until(s.ioc, done, Clock::now() + timeout)) {
    s.teardown();  // the write cannot be abandoned half-way; the connection is lost
    return Error(Errc::timeout, "websocket send to " + s.url + ": timed out after " +
                                    std::to_string(ms(timeout)) + " ms");
  }
  if (ec) {
    s.teardown();
    return Error(Errc::io_error, "websocket send to " + s.url + ": " + ec.message());
  }
  return ok_status();
}

void WsClient::close() {
  if (!impl_ || !impl_->connected()) return;
  Impl& s = *impl_;
  if (s.open) {
    s.open = false;
    bool done = false;
    s.with_ws([&](auto& w) {
      w.async_close(websocket::close_code::normal, [&](beast::error_code) { done = true; });
    });
    // Over TLS this includes the close_notify exchange.
    run_until(s.ioc, done, Clock::now() + std::chrono::seconds(2));
  }
  s.teardown();
}

}  // namespace sf::http
