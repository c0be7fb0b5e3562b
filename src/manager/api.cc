#include "manager/api.h"

#include <boost/json.hpp>
#include <set>
#include <stdexcept>

#include "base/log.h"
#include "json/json.h"
#include "metrics/metrics.h"
#include "protocol/validate.h"

namespace sf::manager {

using http::Request;
using http::Response;

namespace {

// `status` with the JSON answer, or the error's status.
Response json_or_error(int status, const Result<std::string>& r) {
  if (!r) return Response::from_error(r.error());
  return Response::json(status, *r);
}

namespace bj = boost::json;

bj::object string_schema(std::string_view pattern) {
  return bj::object{{"type", "string"}, {"pattern", pattern}};
}

template <typename List>
bj::array to_array(const List& list) {
  bj::array out;
  for (const auto& v : list) out.emplace_back(bj::string_view(v.data(), v.size()));
  return out;
}

bj::object ref(std::string_view name) {
  return bj::object{{"$ref", "#/components/schemas/" + std::string(name)}};
}

// Exactly one of `alternatives`; none when there are none (nothing is valid).
bj::object one_of(bj::array alternatives, std::string_view description) {
  if (alternatives.empty()) return bj::object{{"not", bj::object{}}};
  return bj::object{{"description", description}, {"oneOf", std::move(alternatives)}};
}

bj::value parse_or_throw(const std::string& text, const std::string& what) {
  boost::system::error_code ec;
  bj::value v = bj::parse(text, ec);
  if (ec) throw std::logic_error(what + " is not valid JSON: " + ec.message());
  return v;
}

// A start-request target entry's typed fields (protocol::TargetSpec), as decode_target()
// checks them.
bj::object common_target_properties() {
  return bj::object{
      {"image", bj::object{{"type", "string"}}},
      {"telemetry_id", ref("SafeName")},
      {"symbol", ref("Symbol")},
      {"kafka_topic", ref("SafeName")},
      {"collection_name", ref("CollectionName")},
      {"time_range", ref("TimeRange")},
      {"interval", ref("Interval")},
  };
}

// One alternative per target the launcher runs, each with exactly the settings that
// target's validator accepts (any, when the launcher does not describe them).
bj::object target_schema(const launch::Launcher& launcher) {
  bj::array alternatives;
  for (const auto& name : launcher.targets()) {
    bj::object props = common_target_properties();
    props["target"] = bj::object{{"type", "string"}, {"enum", bj::array{bj::string(name)}}};
    bj::object alt{{"type", "object"}, {"title", name}, {"required", bj::array{"target"}}};
    if (auto settings = launcher.settings_schema(name)) {
      bj::value s = parse_or_throw(*settings, "the settings schema of " + name);
      if (!s.is_object())
        throw std::logic_error("the settings schema of " + name + " is no object");
      for (const auto& kv : s.get_object()) {
        // Extensions describe the alternative, not a setting: x-required names the
        // settings it must have, x-checks-beyond-schema stays as it is.
        if (kv.key() == "x-required" && kv.value().is_array()) {
          for (const auto& r : kv.value().get_array()) alt["required"].as_array().push_back(r);
        } else if (kv.key().starts_with("x-")) {
          alt[kv.key()] = kv.value();
        } else {
          props[kv.key()] = kv.value();
        }
      }
      alt["additionalProperties"] = false;
    } else {
      alt["additionalProperties"] = true;
    }
    alt["properties"] = std::move(props);
    alternatives.push_back(std::move(alt));
  }
  return one_of(std::move(alternatives),
                "One worker of the workflow: `target` picks the alternative. Fields beyond the "
                "typed ones (image, telemetry_id, kafka_topic, collection_name, time_range, "
                "interval) are that worker's settings, passed to it as they are.");
}

// What a flow's placeholder may be, from where the template uses it.
struct FlowVar {
  std::optional<bj::value> exact;  // schema of the field the placeholder fills entirely
  bool safe_chars = false;         // embedded in a safe name
  bool collection_chars = false;   // embedded in a collection name
  bool starts_collection = false;  // at the start of a collection name
};

// A symbol that can start a collection name: it starts with a letter.
bj::object letter_first_symbol(std::string_view description) {
  return bj::object{
      {"type", "string"}, {"pattern", "^[A-Z][A-Z0-9]{1,19}$"}, {"description", description}};
}

void scan_placeholders(const std::string& text, const std::string& key,
                       const bj::object* settings_props, std::map<std::string, FlowVar>& vars,
                       bool& symbol_starts_collection) {
  static const std::set<std::string> kBuiltin = {"symbol", "symbol_lower", "time_range", "date",
                                                 "short_id"};
  // A collection name starts with a letter: so must a symbol that starts one.
  if (key == "collection_name" &&
      (text.rfind("{{symbol}}", 0) == 0 || text.rfind("{{symbol_lower}}", 0) == 0))
    symbol_starts_collection = true;
  const bool whole = text.size() > 4 && text.rfind("{{", 0) == 0 &&
                     text.find("}}") == text.size() - 2 && text.find("{{", 2) == std::string::npos;
  for (size_t pos = 0;;) {
    size_t open = text.find("{{", pos);
    if (open == std::string::npos) return;
    size_t close = text.find("}}", open);
    if (close == std::string::npos) return;
    std::string name = text.substr(open + 2, close - open - 2);
    pos = close + 2;
    if (kBuiltin.count(name)) continue;
    // X_lower is X in lower case (flows.h): a parameter X, used where X_lower is.
    bool lowered = false;
    if (name.size() > 6 && name.ends_with("_lower")) {
      name.resize(name.size() - 6);
      lowered = true;
      if (kBuiltin.count(name)) continue;
    }
    FlowVar& v = vars[name];
    if (key == "collection_name" && open == 0) v.starts_collection = true;
    if (lowered && whole) continue;  // typed by where X itself appears
    if (whole) {
      if (v.exact) continue;
      if (settings_props && settings_props->contains(key))
        v.exact = settings_props->at(key);
      else if (auto common = common_target_properties(); common.contains(key))
        v.exact = common.at(key);
      continue;
    }
    if (key == "collection_name") v.collection_chars = true;
    if (key == "type" || key == "queue_id" || key == "telemetry_id" || key == "kafka_topic")
      v.safe_chars = true;
  }
}

// One alternative per flow: its name, and as extra_params exactly the placeholders its
// template uses, typed like the fields they fill.
bj::object test_flow_schema(const launch::Launcher& launcher, const Flows& flows) {
  bj::array alternatives;
  for (const auto& [name, flow] : flows.all()) {
    std::map<std::string, FlowVar> vars;
    bool letter_first = false;
    for (const auto& kv : flow.start_template) {
      if (kv.value().is_string())
        scan_placeholders(std::string(kv.value().get_string()), std::string(kv.key()), nullptr,
                          vars, letter_first);
    }
    if (const auto* targets = flow.start_template.if_contains("targets");
        targets && targets->is_array()) {
      for (const auto& t : targets->get_array()) {
        if (!t.is_object()) continue;
        std::optional<bj::value> settings;
        if (const auto* tn = t.get_object().if_contains("target"); tn && tn->is_string())
          if (auto s = launcher.settings_schema(std::string(tn->get_string())))
            settings =
                parse_or_throw(*s, "the settings schema of " + std::string(tn->get_string()));
        const bj::object* props =
            settings && settings->is_object() ? &settings->get_object() : nullptr;
        for (const auto& kv : t.get_object())
          if (kv.value().is_string())
            scan_placeholders(std::string(kv.value().get_string()), std::string(kv.key()), props,
                              vars, letter_first);
      }
    }
    bj::object params;
    bj::array required;
    for (auto& [var, use] : vars) {
      const bj::value* def = flow.defaults.if_contains(var);
      bj::object s;
      if (use.exact) {
        s = use.exact->as_object();
        if (use.starts_collection && bj::value(s) == bj::value(ref("Symbol")))
          s = letter_first_symbol(
              "A symbol starting with a letter: a collection name starts "
              "with it");
      } else if (def && def->is_number()) {
        s = bj::object{{"type", "number"}};
      } else if (def && def->is_bool()) {
        s = bj::object{{"type", "boolean"}};
      } else if (use.safe_chars || use.collection_chars) {
        // Kept short and within the characters every name it is part of allows.
        s = string_schema(use.starts_collection  ? "^[A-Za-z][A-Za-z0-9_]{0,31}$"
                          : use.collection_chars ? "^[A-Za-z0-9][A-Za-z0-9_]{0,31}$"
                                                 : "^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$");
      } else if (def) {
        s = bj::object{{"type", "string"}};
      } else {
        s = bj::object{
            {"oneOf", bj::array{bj::object{{"type", "string"}}, bj::object{{"type", "number"}},
                                bj::object{{"type", "boolean"}}}}};
      }
      if (def)
        s["default"] = *def;
      else
        required.emplace_back(bj::string(var));
      params[var] = std::move(s);
    }
    bj::object extra{{"type", "object"}, {"additionalProperties", false}, {"properties", params}};
    bj::array req{"flow_name", "symbol", "time_range"};
    if (!required.empty()) {
      extra["required"] = required;
      req.emplace_back("extra_params");
    }
    alternatives.push_back(bj::object{
        {"type", "object"},
        {"title", name},
        {"description", flow.description},
        {"required", std::move(req)},
        {"additionalProperties", false},
        {"properties",
         bj::object{
             {"flow_name", bj::object{{"type", "string"}, {"enum", bj::array{bj::string(name)}}}},
             {"symbol", letter_first ? letter_first_symbol("A symbol starting with a letter: "
                                                           "this flow's collection name starts "
                                                           "with it")
                                     : ref("Symbol")},
             {"time_range", ref("TimeRange")},
             {"extra_params", std::move(extra)}}}});
  }
  return one_of(std::move(alternatives),
                "`flow_name` picks the alternative; extra_params fill the flow's template "
                "(overriding its defaults) and are exactly the parameters it uses. The filled-in "
                "request is then checked as a POST /queues/start body.");
}

void fill(bj::value& v, const std::map<std::string, bj::value>& values) {
  if (v.is_object()) {
    for (auto& kv : v.get_object()) fill(kv.value(), values);
  } else if (v.is_array()) {
    for (auto& e : v.get_array()) fill(e, values);
  } else if (v.is_string()) {
    std::string_view s = v.get_string();
    if (s.size() > 4 && s.substr(0, 2) == "{{" && s.substr(s.size() - 2) == "}}") {
      auto it = values.find(std::string(s.substr(2, s.size() - 4)));
      if (it == values.end())
        throw std::logic_error("openapi.json: unknown placeholder " + std::string(s));
      v = it->second;
    }
  }
}

}  // namespace

std::string build_openapi(const launch::Launcher& launcher, const Flows& flows) {
  bj::value doc = parse_or_throw(openapi_json(), "openapi.json");
  bj::array statuses;
  for (auto st : {protocol::RunStatus::pending, protocol::RunStatus::started,
                  protocol::RunStatus::loading, protocol::RunStatus::finished,
                  protocol::RunStatus::error, protocol::RunStatus::interrupted})
    statuses.emplace_back(protocol::to_string(st));
  const std::map<std::string, bj::value> values = {
      {"symbol_pattern", bj::string(protocol::kSymbolPattern)},
      {"safe_name_pattern", bj::string(protocol::kSafeNamePattern)},
      {"collection_pattern", bj::string(protocol::kCollectionPattern)},
      {"time_range_pattern", bj::string(protocol::time_range_pattern())},
      {"reserved_queue_ids", to_array(protocol::kReservedQueueIds)},
      {"kline_intervals", to_array(protocol::kKlineIntervals)},
      {"queue_statuses", std::move(statuses)},
      {"target_schema", target_schema(launcher)},
      {"test_flow_request_schema", test_flow_schema(launcher, flows)},
  };
  fill(doc, values);
  return bj::serialize(doc);
}

void register_api(http::Server& server, Manager& manager, metrics::Registry* metrics,
                  ApiInfo info) {
  server.route("POST", "/queues/start", [&manager](const Request& req) {
    auto body = protocol::decode_start_request(std::string_view(req.body));
    if (!body) return Response::from_error(body.error());
    return json_or_error(201, manager.start_queue(std::move(*body)));
  });

  server.route("POST", "/queues/start-test-flow", [&manager](const Request& req) {
    auto body = protocol::decode_test_flow_request(req.body);
    if (!body) return Response::from_error(body.error());
    return json_or_error(201, manager.start_test_flow(*body));
  });

  server.route("GET", "/queues/list", [&manager](const Request& req) {
    // Present means a filter: an empty value is refused like any unknown status.
    auto status = req.query_param("status");
    if (status) {
      auto st = protocol::status_from_string(*status);
      if (!st || *st == protocol::RunStatus::pong)
        return Response::error(422,
                               "unknown status '" + *status +
                                   "' (expected pending, started, loading, finished, error or "
                                   "interrupted)",
                               "status");
    }
    return Response::json(200, manager.list_json(status.value_or("")));
  });

  server.route("GET", "/queues/{queue_id}", [&manager](const Request& req) {
    return json_or_error(200, manager.queue_json(std::string(req.path_param("queue_id"))));
  });

  server.route("POST", "/queues/stop", [&manager](const Request& req) {
    auto obj = json::parse_object(req.body, protocol::kMaxMessageBytes);
    if (!obj) return Response::from_error(obj.error());
    json::Fields f(*obj);
    if (auto s = f.only({"queue_id"}); !s) return Response::from_error(s.error());
    auto id = f.str("queue_id");
    if (!id) return Response::from_error(id.error());
    return json_or_error(200, manager.stop_queue(*id));
  });

  server.route("POST", "/queues/{queue_id}/repair", [&manager](const Request& req) {
    // No settings yet: an empty body or an empty JSON object.
    if (!req.body.empty()) {
      auto obj = json::parse_object(req.body, protocol::kMaxMessageBytes);
      if (!obj) return Response::from_error(obj.error());
      if (auto s = json::Fields(*obj).only({}); !s) return Response::from_error(s.error());
    }
    auto r = manager.repair_queue(std::string(req.path_param("queue_id")));
    if (!r) return Response::from_error(r.error());
    return Response::json(r->started ? 202 : 200, r->json);
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

  // Built once: the targets and flows do not change while the manager runs.
  server.route("GET", "/openapi.json",
               [doc = build_openapi(manager.launcher(), manager.flows())](const Request&) {
                 return Response::json(200, doc);
               });

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
