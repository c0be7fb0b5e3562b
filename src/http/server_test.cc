#include "http/server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <stdexcept>
#include <thread>
#include <vector>

#include "base/text.h"
#include "http/client.h"
#include "tests/support/raw_http.h"

namespace sf::http {
namespace {

using namespace std::chrono_literals;

using sf::testing::raw_exchange;

Response echo_params(const Request& r) {
  return Response::text(
      200, std::string(r.path_param("queue_id")) + "|" + r.query_param("name").value_or("-") + "|" +
               r.query_param("x").value_or("-") + "|" + r.query_param("flag").value_or("-"));
}

TEST(HttpServer, RoutingPathParamsAndQueryDecoding) {
  Server s;
  s.route("GET", "/queues/{queue_id}", echo_params);
  s.route("GET", "/queues/list", [](const Request&) { return Response::text(200, "list"); });
  s.route("GET", "/queues/{queue_id}/targets/{target}", [](const Request& r) {
    return Response::text(
        200, std::string(r.path_param("queue_id")) + "," + std::string(r.path_param("target")));
  });
  s.route("GET", "/", [](const Request&) { return Response::text(200, "root"); });
  ASSERT_TRUE(s.start().ok());
  Client c(s.base_url());

  auto r = c.get("/queues/q%201?name=a%20b%2Fc&x=1+2&flag");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "q 1|a b/c|1 2|");
  EXPECT_EQ(r->header("content-type"), "text/plain; charset=utf-8");

  r = c.get("/queues/list");  // a literal segment wins over a parameter
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, "list");

  r = c.get("/queues/a%2Fb");  // an encoded slash stays inside its segment
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, "a/b|-|-|-");

  r = c.get("/queues/a/targets/loader");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, "a,loader");

  r = c.get("/");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, "root");

  r = c.get("/queues/");  // a parameter never matches an empty segment
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 404);
}

TEST(HttpServer, NotFoundAndMethodNotAllowed) {
  Server s;
  s.route("GET", "/queues/{queue_id}", echo_params);
  s.route("POST", "/queues/{queue_id}", echo_params);
  ASSERT_TRUE(s.start().ok());
  Client c(s.base_url());

  auto r = c.get("/nope");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->body, R"({"error":"not found","field":""})");
  EXPECT_EQ(r->header("Content-Type"), "application/json");

  r = c.request("DELETE", "/queues/x");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->header("Allow"), "GET, POST");
  EXPECT_EQ(r->body, R"({"error":"method DELETE not allowed","field":"method"})");
}

TEST(HttpServer, LiteralSegmentHidesTheParameterRouteForEveryMethod) {
  Server s;
  s.route("GET", "/queues/{queue_id}", echo_params);
  s.route("POST", "/queues/stop", [](const Request&) { return Response::text(200, "stop"); });
  ASSERT_TRUE(s.start().ok());
  Client c(s.base_url());

  // /queues/stop is the literal route: GET on it is not a lookup of a queue named "stop".
  for (const char* method : {"GET", "OPTIONS", "DELETE"}) {
    auto r = c.request(method, "/queues/stop");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 405) << method << ": " << r->body;
    EXPECT_EQ(r->header("Allow"), "POST") << method;
  }
  auto r = c.post("/queues/stop", "{}");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, "stop");
  r = c.request("OPTIONS", "/queues/q1");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->header("Allow"), "GET");
  r = c.get("/queues/q1");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, "q1|-|-|-");
}

TEST(HttpServer, WebSocketPathRefusesOtherMethodsWith405) {
  Server s;
  s.websocket("/ws/events", [](std::shared_ptr<WsSession>) {});
  ASSERT_TRUE(s.start().ok());
  Client c(s.base_url());
  for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS"}) {
    auto r = c.request(method, "/ws/events");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 405) << method << ": " << r->body;
    EXPECT_EQ(r->header("Allow"), "GET") << method;
  }
  auto r = c.get("/ws/events");  // a GET that is not an upgrade
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 426);
  EXPECT_EQ(r->header("Upgrade"), "websocket");
}

TEST(HttpServer, Http11RequestNeedsExactlyOneHost) {
  Server s;
  s.route("GET", "/x", [](const Request&) { return Response::text(200, "x"); });
  ASSERT_TRUE(s.start().ok());

  std::string raw = raw_exchange(s.port(), "GET /x HTTP/1.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(raw.rfind("HTTP/1.1 400 ", 0), 0u) << raw;
  EXPECT_NE(raw.find(R"({"error":"missing Host header","field":"Host"})"), std::string::npos)
      << raw;
  raw =
      raw_exchange(s.port(), "GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(raw.rfind("HTTP/1.1 400 ", 0), 0u) << raw;
  // HTTP/1.0 has no Host requirement; HTTP/1.1 with one Host is served.
  raw = raw_exchange(s.port(), "GET /x HTTP/1.0\r\n\r\n");
  EXPECT_EQ(raw.rfind("HTTP/1.0 200 ", 0), 0u) << raw;
  raw = raw_exchange(s.port(), "GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(raw.rfind("HTTP/1.1 200 ", 0), 0u) << raw;
}

TEST(HttpServer, BodyLimit) {
  Server s;  // max_body_bytes defaults to 1 MiB
  s.route("POST", "/echo-size", [](const Request& r) {
    return Response::json(200, "{\"size\":" + std::to_string(r.body.size()) + "}");
  });
  ASSERT_TRUE(s.start().ok());
  Client c(s.base_url());

  auto r = c.post("/echo-size", std::string((1 << 20) + 1, 'x'), "text/plain");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(r->body, R"({"error":"request body exceeds 1048576 bytes","field":"body"})");
  EXPECT_EQ(r->header("Connection"), "close");

  r = c.post("/echo-size", std::string(1 << 20, 'x'), "text/plain");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, R"({"size":1048576})");

  // Chunked bodies are limited while reading.
  std::string chunked = "POST /echo-size HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::string chunk(64 * 1024, 'y');
  char size_line[32];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", chunk.size());
  for (int i = 0; i < 17; ++i) chunked += size_line + chunk + "\r\n";
  chunked += "0\r\n\r\n";
  std::string raw = raw_exchange(s.port(), chunked);
  EXPECT_EQ(raw.rfind("HTTP/1.1 413 ", 0), 0u) << raw.substr(0, 200);
}

TEST(HttpServer, ExpectContinueAndMalformedRequests) {
  Server s;
  s.route("POST", "/echo", [](const Request& r) { return Response::text(200, r.body); });
  ASSERT_TRUE(s.start().ok());

  std::string raw = raw_exchange(s.port(),
                                 "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                                 "Expect: 100-continue\r\nConnection: close\r\n\r\n",
                                 "hello");
  EXPECT_EQ(raw.rfind("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", 0), 0u) << raw;
  EXPECT_NE(raw.find("\r\n\r\nhello"), std::string::npos) << raw;

  // Too large with Expect: refused before the body is sent, no 100.
  raw = raw_exchange(s.port(),
                     "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n"
                     "Expect: 100-continue\r\n\r\n");
  EXPECT_EQ(raw.rfind("HTTP/1.1 413 ", 0), 0u) << raw;

  raw = raw_exchange(s.port(), "GARBAGE\r\n\r\n");
  EXPECT_EQ(raw.rfind("HTTP/1.1 400 ", 0), 0u) << raw;
  EXPECT_NE(raw.find(R"("error":"malformed HTTP request)"), std::string::npos) << raw;

  raw = raw_exchange(s.port(),
                     "GET http://other/abs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(raw.rfind("HTTP/1.1 400 ", 0), 0u) << raw;
}

TEST(HttpServer, BearerAuth) {
  Server::Options o;
  o.bearer_token = "s3cret-token";
  Server s(o);
  s.route("GET", "/queues/list", [](const Request&) { return Response::json(200, "[]"); });
  s.websocket("/ws/events", [](std::shared_ptr<WsSession> ws) { ws->send("hi"); });
  ASSERT_TRUE(s.start().ok());

  auto r = Client(s.base_url()).get("/queues/list");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(r->body, R"({"error":"missing or invalid bearer token","field":"Authorization"})");
  EXPECT_EQ(r->header("WWW-Authenticate"), "Bearer");

  for (const char* wrong : {"s3cret-toke", "s3cret-tokem", "s3cret-token2", ""}) {
    r = Client(s.base_url(), wrong).get("/queues/list");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 401) << wrong;
  }
  // Unknown paths are not revealed to unauthenticated clients.
  r = Client(s.base_url()).get("/nope");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 401);

  r = Client(s.base_url(), "s3cret-token").get("/queues/list");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "[]");

  r = Client(s.base_url()).get("/health");  // open, and answered by default
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, R"({"status":"ok"})");
  r = Client(s.base_url()).post("/health", "{}");  // only GET /health is open
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 401);

  WsClient ws;
  Status st = ws.connect(s.base_url(), "/ws/events?queue_id=a");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("HTTP 401"), std::string::npos) << st.error().message;
  st = ws.connect(s.base_url(), "/ws/events?queue_id=a", "wrong");
  ASSERT_FALSE(st.ok());
  st = ws.connect(s.base_url(), "/ws/events?queue_id=a", "s3cret-token");
  ASSERT_TRUE(st.ok()) << st.error().message;
  auto m = ws.read(5s);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(*m, "hi");
}

// The web UI's files need no token; a browser's WebSocket carries it as a subprotocol.
TEST(HttpServer, PublicGetsAndTheBrowsersWebSocketToken) {
  Server::Options o;
  o.bearer_token = "s3cret-token";
  Server s(o);
  s.public_get("/", [](const Request&) { return Response::text(200, "page"); });
  s.public_get("/ui/app.js", [](const Request&) { return Response::text(200, "js"); });
  EXPECT_THROW(s.public_get("/ui/{file}", [](const Request&) { return Response::text(200, ""); }),
               std::invalid_argument);
  s.route("GET", "/queues/list", [](const Request&) { return Response::json(200, "[]"); });
  s.websocket("/ws/events", [](std::shared_ptr<WsSession> ws) { ws->send("hi"); });
  ASSERT_TRUE(s.start().ok());

  Client c(s.base_url());
  for (const char* path : {"/", "/ui/app.js"}) {
    auto r = c.get(path);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 200) << path;
  }
  auto r = c.get("/queues/list");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 401);
  r = c.post("/", "{}");  // only the GET is public
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 401);

  auto upgrade = [&](const std::string& protocols) {
    std::string req =
        "GET /ws/events HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    if (!protocols.empty()) req += "Sec-WebSocket-Protocol: " + protocols + "\r\n";
    // After the answer, a masked close frame: the server closes and the read ends.
    return raw_exchange(s.port(), req + "\r\n", std::string("\x88\x80\0\0\0\0", 6));
  };
  std::string ok = upgrade("streamforge, bearer." + base64url_encode("s3cret-token"));
  EXPECT_EQ(ok.rfind("HTTP/1.1 101 ", 0), 0u) << ok;
  EXPECT_NE(ok.find("Sec-WebSocket-Protocol: streamforge\r\n"), std::string::npos) << ok;
  EXPECT_NE(ok.find("hi"), std::string::npos) << ok;
  for (const std::string& bad :
       {"streamforge, bearer." + base64url_encode("s3cret-toke"), std::string("streamforge"),
        std::string("streamforge, bearer.s3cret-token"), std::string()}) {
    std::string refused = upgrade(bad);
    EXPECT_EQ(refused.rfind("HTTP/1.1 401 ", 0), 0u) << bad << ": " << refused;
  }
}

TEST(HttpServer, KeepAliveReusesTheConnection) {
  Server s;
  s.route("GET", "/who", [](const Request& r) { return Response::text(200, r.remote_endpoint); });
  ASSERT_TRUE(s.start().ok());
  Client c(s.base_url());
  auto a = c.get("/who");
  auto b = c.get("/who");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->header("Connection"), "");  // HTTP/1.1 keep-alive is implicit
  EXPECT_EQ(a->body, b->body);
  EXPECT_EQ(a->body.rfind("127.0.0.1:", 0), 0u);

  auto other = Client(s.base_url()).get("/who");
  ASSERT_TRUE(other.ok());
  EXPECT_NE(other->body, a->body);

  c.disconnect();
  auto d = c.get("/who");
  ASSERT_TRUE(d.ok());
  EXPECT_NE(d->body, a->body);
}

TEST(HttpServer, IdleKeepAliveConnectionClosedByServerIsReopened) {
  Server::Options o;
  o.idle_timeout = 100ms;
  Server s(o);
  // The answer names the client's end of the connection, so the test sees which
  // connection each request came on.
  s.route("POST", "/n",
          [](const Request& r) { return Response::text(200, r.body + " " + r.remote_endpoint); });
  ASSERT_TRUE(s.start().ok());
  Client c(s.base_url());
  auto first = c.post("/n", "1");
  ASSERT_TRUE(first.ok()) << first.error().message;
  std::this_thread::sleep_for(300ms);  // the server closes the idle connection
  auto second = c.post("/n", "2");
  ASSERT_TRUE(second.ok()) << second.error().message;
  auto third = c.post("/n", "3");  // at once: the connection is kept
  ASSERT_TRUE(third.ok()) << third.error().message;
  const auto from = [](const std::string& body) { return body.substr(body.find(' ') + 1); };
  EXPECT_EQ(second->body.substr(0, 2), "2 ");
  EXPECT_NE(from(second->body), from(first->body)) << "the idle connection was not closed";
  EXPECT_EQ(from(third->body), from(second->body)) << "the client does not keep connections";
}

TEST(HttpServer, HandlerExceptionIs500AndServerKeepsRunning) {
  Server s;
  s.route("GET", "/boom", [](const Request&) -> Response { throw std::runtime_error("bug"); });
  s.route("GET", "/ok", [](const Request&) { return Response::text(200, "ok"); });
  ASSERT_TRUE(s.start().ok());
  Client c(s.base_url());
  auto r = c.get("/boom");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(r->body, R"({"error":"internal server error","field":""})");
  r = c.get("/ok");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, "ok");
}

TEST(HttpServer, FallbackHandlesUnroutedRequests) {
  Server s;
  s.route("GET", "/known", [](const Request&) { return Response::text(200, "route"); });
  s.fallback([](const Request& r) {
    if (r.path == "/boom") throw std::runtime_error("bug");
    return Response::text(299, r.method + " " + r.target);
  });
  EXPECT_THROW(s.fallback([](const Request&) { return Response{}; }), std::invalid_argument);
  ASSERT_TRUE(s.start().ok());
  EXPECT_THROW(s.fallback([](const Request&) { return Response{}; }), std::logic_error);
  Client c(s.base_url());
  auto r = c.get("/known");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, "route");
  r = c.request("PATCH", "/known");  // a known path with another method: the fallback's
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 299);
  EXPECT_EQ(r->body, "PATCH /known");
  r = c.get("/a/b/c?x=1");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, "GET /a/b/c?x=1");
  r = c.get("/health");  // no built-in answer once the app routes itself
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, "GET /health");
  r = c.get("/boom");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 500);
}

TEST(HttpServer, ErrorResponseHookFormatsTheServersOwnErrors) {
  ServerOptions o;
  o.max_body_bytes = 16;
  o.error_response = [](int status, std::string_view message) {
    return Response::json(
        status, "{\"mine\":" + std::to_string(status) + ",\"m\":\"" + std::string(message) + "\"}");
  };
  Server s(o);
  s.route("POST", "/x", [](const Request&) { return Response::text(200, "ok"); });
  s.route("GET", "/boom", [](const Request&) -> Response { throw std::runtime_error("bug"); });
  ASSERT_TRUE(s.start().ok());
  Client c(s.base_url());
  auto r = c.get("/nope");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->body, R"({"mine":404,"m":"not found"})");
  r = c.get("/x");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->header("Allow"), "POST");
  EXPECT_EQ(r->body, R"({"mine":405,"m":"method GET not allowed"})");
  r = c.get("/boom");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, R"({"mine":500,"m":"internal server error"})");
  r = c.post("/x", std::string(17, 'x'), "text/plain");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(r->body, R"({"mine":413,"m":"request body exceeds 16 bytes"})");
  EXPECT_EQ(r->header("Connection"), "close");
}

TEST(HttpServer, DropConnectionClosesWithoutAnswer) {
  Server s;
  s.route("GET", "/drop", [](const Request&) {
    Response r;
    r.drop_connection = true;
    return r;
  });
  s.route("GET", "/ok", [](const Request&) { return Response::text(200, "ok"); });
  ASSERT_TRUE(s.start().ok());
  EXPECT_EQ(raw_exchange(s.port(), "GET /drop HTTP/1.1\r\nHost: x\r\n\r\n"), "");
  Client c(s.base_url(), {}, 2s);
  auto r = c.get("/drop");
  EXPECT_FALSE(r.ok());
  r = c.get("/ok");  // the server keeps serving
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->body, "ok");
}

TEST(HttpServer, ErrorMapping) {
  EXPECT_EQ(http_status(Errc::invalid_argument), 422);
  EXPECT_EQ(http_status(Errc::parse_error), 400);
  EXPECT_EQ(http_status(Errc::not_found), 404);
  EXPECT_EQ(http_status(Errc::already_exists), 409);
  EXPECT_EQ(http_status(Errc::too_large), 413);
  EXPECT_EQ(http_status(Errc::unavailable), 503);
  EXPECT_EQ(http_status(Errc::internal), 500);
  Response r = Response::from_error(Error(Errc::invalid_argument, "bad \"x\"", "targets"));
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.body, R"({"error":"bad \"x\"","field":"targets"})");
}

TEST(HttpServer, RegistrationErrors) {
  Server s;
  auto h = [](const Request&) { return Response{}; };
  s.route("GET", "/a/{id}", h);
  EXPECT_THROW(s.route("GET", "/a/{id}", h), std::invalid_argument);
  EXPECT_THROW(s.route("POST", "/a/{other}", h), std::invalid_argument);
  EXPECT_NO_THROW(s.route("POST", "/a/{id}", h));
  EXPECT_THROW(s.route("GET", "no-slash", h), std::invalid_argument);
  EXPECT_THROW(s.route("GET", "/x/{}", h), std::invalid_argument);
  EXPECT_THROW(s.route("GET", "/x/{a}/{a}", h), std::invalid_argument);
  ASSERT_TRUE(s.start().ok());
  EXPECT_THROW(s.route("GET", "/late", h), std::logic_error);
}

TEST(HttpServer, ListenErrors) {
  Server a;
  ASSERT_TRUE(a.start().ok());
  Server::Options o;
  o.port = a.port();
  Server b(o);
  Status st = b.start();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::io_error);
  EXPECT_EQ(st.error().message,
            "cannot listen on 127.0.0.1:" + std::to_string(a.port()) + ": Address already in use");
}

TEST(HttpClient, Errors) {
  uint16_t closed_port;
  {
    Server s;
    ASSERT_TRUE(s.start().ok());
    closed_port = s.port();
  }
  std::string url = "http://127.0.0.1:" + std::to_string(closed_port);
  auto r = Client(url).get("/x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::unavailable);
  EXPECT_EQ(r.error().message, "cannot connect to " + url + ": Connection refused");

  r = Client("not a url").get("/x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  // https is supported: a closed port is refused like plain http.
  r = Client("https://127.0.0.1:1").get("/x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::unavailable);
  r = Client("ftp://127.0.0.1:1").get("/x");
  ASSERT_FALSE(r.ok());

  Server s;
  s.route("GET", "/slow", [](const Request&) {
    std::this_thread::sleep_for(400ms);
    return Response::text(200, "late");
  });
  s.route("GET", "/api/x", [](const Request&) { return Response::text(200, "prefixed"); });
  ASSERT_TRUE(s.start().ok());
  auto t = Client(s.base_url(), "", 100ms).get("/slow");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().code, Errc::timeout);
  EXPECT_EQ(t.error().message, "GET " + s.base_url() + "/slow: timed out after 100 ms");

  auto p = Client(s.base_url() + "/api/").get("/x");  // base URL with a path prefix
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->body, "prefixed");
}

TEST(HttpWebSocket, ServerSendsMessagesInOrder) {
  Server s;
  std::promise<std::string> queue_id;
  std::promise<void> closed;
  s.websocket("/ws/events", [&](std::shared_ptr<WsSession> ws) {
    queue_id.set_value(ws->query_param("queue_id").value_or(""));
    ws->on_close([&] { closed.set_value(); });
    for (const char* m : {"m1", "m2", "m3"}) EXPECT_TRUE(ws->send(m));
  });
  ASSERT_TRUE(s.start().ok());

  WsClient c;
  Status st = c.connect(s.base_url(), "/ws/events?queue_id=a");
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(queue_id.get_future().get(), "a");
  for (const char* want : {"m1", "m2", "m3"}) {
    auto m = c.read(5s);
    ASSERT_TRUE(m.ok()) << m.error().message;
    EXPECT_EQ(*m, want);
  }
  auto none = c.read(50ms);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, Errc::timeout);
  EXPECT_TRUE(c.is_open());
  c.close();
  EXPECT_EQ(closed.get_future().wait_for(5s), std::future_status::ready);
}

TEST(HttpWebSocket, EchoCloseAndRefusal) {
  Server s;
  s.websocket(
      "/ws/echo/{name}",
      [](std::shared_ptr<WsSession> ws) {
        std::string name(ws->request().path_param("name"));
        std::weak_ptr<WsSession> weak = ws;
        ws->on_message([weak, name](const std::string& text) {
          auto self = weak.lock();
          if (!self) return;
          if (text == "bye") {
            self->send("bye " + name);
            self->close();
          } else {
            self->send(name + ":" + text);
          }
        });
      },
      [](const Request& r) -> std::optional<Response> {
        if (r.path_param("name") == "nobody") return Response::error(404, "unknown name", "name");
        return std::nullopt;
      });
  ASSERT_TRUE(s.start().ok());

  WsClient c;
  ASSERT_TRUE(c.connect(s.base_url(), "/ws/echo/bob").ok());
  ASSERT_TRUE(c.send("hello").ok());
  auto m = c.read(5s);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(*m, "bob:hello");
  ASSERT_TRUE(c.send("bye").ok());
  m = c.read(5s);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(*m, "bye bob");
  m = c.read(5s);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code, Errc::closed);
  EXPECT_FALSE(c.is_open());

  WsClient refused;
  Status st = refused.connect(s.base_url(), "/ws/echo/nobody");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::not_found);
  EXPECT_NE(st.error().message.find("HTTP 404"), std::string::npos) << st.error().message;

  st = refused.connect(s.base_url(), "/ws/elsewhere");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::not_found);

  auto plain = Client(s.base_url()).get("/ws/echo/bob");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->status, 426);
}

TEST(HttpWebSocket, SlowClientIsDropped) {
  Server::Options o;
  o.ws_max_queued_messages = 50;
  Server s(o);
  std::promise<std::shared_ptr<WsSession>> session;
  std::promise<void> closed;
  s.websocket("/ws", [&](std::shared_ptr<WsSession> ws) {
    ws->on_close([&] { closed.set_value(); });
    session.set_value(ws);
  });
  ASSERT_TRUE(s.start().ok());
  WsClient c;  // never reads
  ASSERT_TRUE(c.connect(s.base_url(), "/ws").ok());
  auto ws = session.get_future().get();
  std::string big(64 * 1024, 'z');
  int sent = 0;
  while (sent < 20000 && ws->send(big)) ++sent;
  EXPECT_LT(sent, 20000);  // socket buffers fill, then the queue bound trips
  EXPECT_EQ(closed.get_future().wait_for(5s), std::future_status::ready);
  EXPECT_FALSE(ws->is_open());
  EXPECT_FALSE(ws->send("more"));
}

TEST(HttpServer, ManyConcurrentClients) {
  Server::Options o;
  o.threads = 4;
  Server s(o);
  std::atomic<int> handled{0};
  s.route("POST", "/echo/{n}", [&](const Request& r) {
    ++handled;
    return Response::text(200, std::string(r.path_param("n")) + ":" + r.body);
  });
  std::atomic<int> ws_opened{0};
  s.websocket("/ws", [&](std::shared_ptr<WsSession> ws) {
    ++ws_opened;
    ws->send(ws->query_param("id").value_or(""));
  });
  ASSERT_TRUE(s.start().ok());

  constexpr int kClients = 20, kRequests = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      Client c(s.base_url());
      for (int j = 0; j < kRequests; ++j) {
        std::string body = std::to_string(i) + "-" + std::to_string(j);
        auto r = c.post("/echo/" + std::to_string(i), body, "text/plain");
        if (!r.ok() || r->body != std::to_string(i) + ":" + body) ++failures;
      }
      WsClient w;
      if (!w.connect(s.base_url(), "/ws?id=" + std::to_string(i)).ok()) {
        ++failures;
        return;
      }
      auto m = w.read(5s);
      if (!m.ok() || *m != std::to_string(i)) ++failures;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(handled.load(), kClients * kRequests);
  EXPECT_EQ(ws_opened.load(), kClients);
}

TEST(HttpServer, StopWithConnectedClientsDoesNotHang) {
  auto s = std::make_unique<Server>();
  std::promise<std::shared_ptr<WsSession>> session;
  std::promise<void> closed;
  s->route("GET", "/x", [](const Request&) { return Response::text(200, "x"); });
  s->websocket("/ws", [&](std::shared_ptr<WsSession> ws) {
    ws->on_close([&] { closed.set_value(); });
    session.set_value(ws);
  });
  ASSERT_TRUE(s->start().ok());
  Client idle(s->base_url());
  ASSERT_TRUE(idle.get("/x").ok());  // leaves a kept-alive connection open
  WsClient w;
  ASSERT_TRUE(w.connect(s->base_url(), "/ws").ok());
  auto ws = session.get_future().get();
  // A connection that sent half a request.
  std::thread half([port = s->port()] { raw_exchange(port, "GET /x HTTP/1.1\r\nHo"); });
  std::this_thread::sleep_for(100ms);

  auto t0 = std::chrono::steady_clock::now();
  s->stop();
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, 2s);
  EXPECT_EQ(closed.get_future().wait_for(1s), std::future_status::ready);
  EXPECT_FALSE(ws->send("after stop"));
  auto m = w.read(2s);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().code, Errc::timeout);
  half.join();

  s.reset();  // the app may keep its session past the server
  EXPECT_FALSE(ws->send("after destruction"));
  ws->close();
}

}  // namespace
}  // namespace sf::http

namespace sf::http {
namespace {

// Client::stream (Kubernetes watches): the body in pieces as it comes, a stop from the
// caller, an error answer read whole, and a cancel while the server sends nothing.
TEST(HttpClientStream, HandsOnTheBodyInPiecesAndStopsWhenAsked) {
  const std::string big(300 * 1024, 'x');
  Server s;
  s.route("GET", "/big", [&](const Request&) { return Response::text(200, big); });
  s.route("GET", "/gone", [](const Request&) { return Response::json(410, R"({"code":410})"); });
  s.route("GET", "/slow", [](const Request&) {
    std::this_thread::sleep_for(3s);
    return Response::text(200, "late");
  });
  ASSERT_TRUE(s.start().ok());
  Client c(s.base_url());

  std::string got;
  size_t pieces = 0;
  auto r = c.stream(
      "GET", "/big", {},
      [&](std::string_view p) {
        got.append(p);
        ++pieces;
        return true;
      },
      5s);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(got, big);
  EXPECT_GT(pieces, 1u) << "a 300 KiB body comes in more than one piece";
  EXPECT_EQ(r->body, "") << "a streamed body is not kept";

  size_t seen = 0;
  r = c.stream(
      "GET", "/big", {},
      [&](std::string_view p) {
        seen += p.size();
        return false;
      },
      5s);
  ASSERT_TRUE(r.ok());
  EXPECT_LT(seen, big.size()) << "on_body's false stops reading";

  r = c.stream(
      "GET", "/gone", {},
      [](std::string_view) {
        ADD_FAILURE() << "an error's body is not streamed";
        return true;
      },
      5s);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 410);
  EXPECT_EQ(r->body, R"({"code":410})");

  std::atomic<bool> cancel{false};
  std::thread canceller([&] {
    std::this_thread::sleep_for(300ms);
    cancel = true;
  });
  const auto t0 = std::chrono::steady_clock::now();
  r = c.stream(
      "GET", "/slow", {}, [](std::string_view) { return true; }, 10s, &cancel);
  canceller.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::closed);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s) << "cancel ends the wait promptly";
}

}  // namespace
}  // namespace sf::http
