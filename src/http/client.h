// Synchronous HTTP/1.1 and WebSocket clients for the CLI and tests.
//
// Both block the calling thread and run their own private io_context, so they can be used
// from any thread that is not an io thread of a Server. An instance is not thread-safe:
// use one per thread. Client speaks http and https, WsClient ws/http and wss/https; over
// TLS (1.2+) both verify the peer against the system CA store plus
// ClientTlsOptions::extra_ca_pem, send SNI for host names and check the certificate's host
// name (or IP address). Messages show ws URLs as http and wss URLs as https.
//
// Errors are Result errors, never exceptions:
//   bad base URL            -> invalid_argument ("invalid base URL 'x': ...")
//   connect failure         -> unavailable ("cannot connect to http://127.0.0.1:8080:
//                              Connection refused")
//   TLS handshake failure   -> unavailable ("TLS handshake with https://h:443 failed: ...
//                              (certificate: self-signed certificate)")
//   deadline passed         -> timeout ("GET http://127.0.0.1:8080/x: timed out after 10000 ms")
//   other I/O or protocol   -> io_error
// An HTTP error status (4xx/5xx) is not an error: it is returned in ClientResponse.
// Messages never contain the bearer token (URLs are passed through log::redact_url).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace sf::http {

struct ClientResponse {
  int status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  // Value of the first header with that name (case-insensitive), or "" if absent.
  std::string_view header(std::string_view name) const;
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct ClientTlsOptions {
  // Extra trusted CA certificates (PEM), on top of the system store: for private CAs and
  // tests with a self-signed server certificate.
  std::string extra_ca_pem;
};

class Client {
 public:
  // base_url: "http[s]://host[:port][/prefix]"; request paths are appended to the prefix.
  // timeout: the whole request (resolve, connect, TLS handshake, write, read) must finish
  // within it.
  explicit Client(std::string base_url, std::string bearer_token = {},
                  std::chrono::milliseconds timeout = std::chrono::seconds(10));
  Client(std::string base_url, std::string bearer_token, std::chrono::milliseconds timeout,
         ClientTlsOptions tls);
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;

  // Sends one request and reads the whole response. The connection is kept alive and
  // reused by the next request; a reused connection that the server has meanwhile closed
  // is reopened once, transparently. content_type is sent only with a non-empty body.
  Result<ClientResponse> request(std::string_view method, std::string_view path_and_query,
                                 std::string_view body = {},
                                 std::string_view content_type = "application/json");
  // The same with extra request headers (set after the defaults, so they may replace
  // User-Agent; never log them: they may carry API keys).
  Result<ClientResponse> request(std::string_view method, std::string_view path_and_query,
                                 std::string_view body, std::string_view content_type,
                                 const HeaderList& extra_headers);
  Result<ClientResponse> get(std::string_view path_and_query) {
    return request("GET", path_and_query);
  }
  Result<ClientResponse> get(std::string_view path_and_query, const HeaderList& extra_headers) {
    return request("GET", path_and_query, {}, "application/json", extra_headers);
  }
  Result<ClientResponse> post(std::string_view path_and_query, std::string_view body,
                              std::string_view content_type = "application/json") {
    return request("POST", path_and_query, body, content_type);
  }

  // A streaming request (a Kubernetes watch, a long poll) on a connection of its own: sends
  // the request, then, for a 2xx answer, gives each piece of the body to `on_body` as it
  // arrives; the result (status and headers, body empty) comes once the response ends or
  // on_body returns false. A non-2xx answer's body is read whole (at most 1 MiB) into the
  // result instead. The client's timeout bounds connecting and the response header;
  // `idle` bounds each wait for more of the body (Errc::timeout). `cancel`, checked at least
  // every 100 ms, ends the request with Errc::closed. The connection is closed afterwards.
  Result<ClientResponse> stream(std::string_view method, std::string_view path_and_query,
                                const HeaderList& extra_headers,
                                const std::function<bool(std::string_view)>& on_body,
                                std::chrono::milliseconds idle,
                                const std::atomic<bool>* cancel = nullptr);

  // Closes the kept-alive connection, if any.
  void disconnect();
  const std::string& base_url() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class WsClient {
 public:
  WsClient();
  // tls: for wss/https URLs (e.g. a private CA); ignored for ws/http.
  explicit WsClient(ClientTlsOptions tls);
  ~WsClient();  // close()s
  WsClient(WsClient&&) noexcept;
  WsClient& operator=(WsClient&&) noexcept;

  // Opens a WebSocket to base_url ("ws://host[:port][/prefix]", or http, or over TLS wss or
  // https, default port 443) + path_and_query (e.g. "/ws/events?queue_id=x"), e.g.
  // connect("wss://stream.binance.com:9443", "/stream?streams=btcusdt@trade"). timeout
  // bounds resolve, connect, TLS handshake and upgrade together. A refused upgrade is an
  // error naming the HTTP status, e.g.
  // "websocket upgrade to http://127.0.0.1:8080/ws/events refused: HTTP 401".
  Status connect(std::string_view base_url, std::string_view path_and_query,
                 std::string_view bearer_token = {},
                 std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // The next message from the server. Errc::timeout if none arrives in time (the
  // connection stays usable; call read() again), Errc::closed once the server has closed
  // the connection, io_error on other failures (the connection is then unusable).
  Result<std::string> read(std::chrono::milliseconds timeout);
  // Like read() for the first message (its errors are read()'s), then every further
  // message already available (buffered, or on the socket) without waiting, up to `max` in
  // all: each is appended to *out. Returns how many were appended. A failure after the first
  // is kept for the next call. One call per burst instead of one per frame is what lets a
  // reader keep up with a fast stream.
  Result<size_t> read_available(std::vector<std::string>* out, std::chrono::milliseconds timeout,
                                size_t max = 1024);
  // Sends a text message.
  Status send(std::string_view text, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Sends a close frame and waits briefly for the server's; then drops the connection.
  // Safe to call more than once.
  void close();
  bool is_open() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sf::http
