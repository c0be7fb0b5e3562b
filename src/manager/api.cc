#include "manager/api.h"

#include "base/log.h"
#include "json/json.h"
#include "metrics/metrics.h"
#include "protocol/validate.h"

namespace sf::manager {

using http::Request;
using http::Response;

namespace {

Response created_or_error(const Result<std::string>& r) {
  if (!r) return Response::from_error(r.error());
  return Response::json(201, *r);
}

}  // namespace

void register_api(http::Server& server, Manager& manager, metrics::Registry* metrics,
                  ApiInfo info) {
  server.route("POST", "/queues/start", [&manager](const Request& req) {
    auto body = protocol::decode_start_request(std::string_view(req.body));
    if (!body) return Response::from_error(body.error());
    return created_or_error(manager.start_queue(std::move(*body)));
  });

  server.route("POST", "/queues/start-test-flow", [&manager](const Request& req) {
    auto body = protocol::decode_test_flow_request(req.body);
    if (!body) return Response::from_error(body.error());
    return created_or_error(manager.start_test_flow(*body));
  });

  server.route("GET", "/queues/list", [&manager](const Request& req) {
    std::string status = req.query_param("status").value_or("");
    auto st = protocol::status_from_string(status);
    if (!status.empty() && (!st || *st == protocol::RunStatus::pong))
      return Response::error(422, "unknown status '" + status + "'", "status");
    return Response::json(200, manager.list_json(status));
  });

  server.route("GET", "/queues/{queue_id}", [&manager](const Request& req) {
    auto r = manager.queue_json(std::string(req.path_param("queue_id")));
    if (!r) return Response::from_error(r.error());
    return Response::json(200, *r);
  });

  server.route("POST", "/queues/stop", [&manager](const Request& req) {
    auto obj = json::parse_object(req.body, protocol::kMaxMessageBytes);
    if (!obj) return Response::from_error(obj.error());
    json::Fields f(*obj);
    if (auto s = f.only({"queue_id"}); !s) return Response::from_error(s.error());
    auto id = f.str("queue_id");
    if (!id) return Response::from_error(id.error());
    auto r = manager.stop_queue(*id);
    if (!r) return Response::from_error(r.error());
    return Response::json(200, *r);
  });

  server.route("GET", "/flows", [&manager](const Request&) {
    std::string out;
    json::Writer w(out);
    w.begin_object().kv("origin", manager.flows().origin()).key("flows").begin_array();
    for (const auto& [name, flow] : manager.flows().all()) {
      w.begin_object().kv("name", name).kv("description", flow.description);
      w.key("defaults").value(flow.defaults);
      w.end_object();
    }
    w.end_array().end_object();
    return Response::json(200, out);
  });

  server.route("GET", "/health", [&manager, info](const Request&) {
    std::string out;
    json::Writer(out)
        .begin_object()
        .kv("status", "ok")
        .kv("version", info.version)
        .kv("bus", info.bus)
        .kv("store", info.store)
        .kv("launcher", info.launcher)
        .kv_int("queues", static_cast<int64_t>(manager.queue_count()))
        .end_object();
    return Response::json(200, out);
  });

  server.route("GET", "/metrics", [metrics](const Request&) {
    std::string body = metrics ? metrics->expose() : std::string();
    return Response::text(200, std::move(body), "text/plain; version=0.0.4; charset=utf-8");
  });

  server.route("GET", "/openapi.json",
               [](const Request&) { return Response::json(200, openapi_json()); });

  server.websocket(
      "/ws/events",
      [&manager](std::shared_ptr<http::WsSession> session) {
        std::string filter = session->query_param("queue_id").value_or("");
        std::weak_ptr<http::WsSession> weak = session;
        // Subscribe before taking the snapshot so no change falls between the two.
        uint64_t id =
            manager.subscribe([weak, filter](const std::string& queue_id, const std::string& msg) {
              if (!filter.empty() && queue_id != filter) return;
              if (auto s = weak.lock()) s->send(msg);
            });
        // Tells the client it is subscribed: every change from here on reaches it.
        {
          std::string hello;
          json::Writer w(hello);
          w.begin_object().kv("type", "subscribed");
          if (filter.empty())
            w.key("queue_id").null();
          else
            w.kv("queue_id", filter);
          w.end_object();
          session->send(std::move(hello));
        }
        if (!filter.empty()) {
          // A snapshot first, so a late watcher knows where the queue stands.
          auto snap = manager.queue_json(filter);
          if (snap) session->send("{\"type\":\"snapshot\",\"queue\":" + *snap + "}");
        }
        session->on_close([&manager, id] { manager.unsubscribe(id); });
      },
      [&manager](const Request& req) -> std::optional<Response> {
        auto q = req.query_param("queue_id");
        if (q && !q->empty() && !manager.queue_json(*q))
          return Response::error(404, "no queue '" + *q + "'", "queue_id");
        return std::nullopt;
      });
}

}  // namespace sf::manager
