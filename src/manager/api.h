// The queue-manager's REST API and WebSocket feed on an http::Server (routes listed in
// docs/api.md and served as OpenAPI 3 at GET /openapi.json). Errors are translated to
// HTTP status codes here and only here (via http::http_status).
#pragma once

#include <functional>
#include <string>

#include "http/server.h"
#include "manager/manager.h"

namespace sf::metrics {
class Registry;
}

namespace sf::manager {

struct ApiInfo {
  std::string version;
  std::string bus;       // "memory", "kafka"
  std::string store;     // describe() of the store
  std::string launcher;  // "inproc", ...
};

// Registers every route on `server` (call before server.start()). `manager` and
// `metrics` must outlive the server.
void register_api(http::Server& server, Manager& manager, metrics::Registry* metrics, ApiInfo info);

// The OpenAPI 3 document served at /openapi.json.
const std::string& openapi_json();

}  // namespace sf::manager
