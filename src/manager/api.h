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

// The OpenAPI 3 document template (openapi.json, compiled in): its "{{name}}" strings stand
// for the validation constants, the targets and the test flows.
const std::string& openapi_json();
// The document served at /openapi.json: the template filled from protocol/validate.h, the
// launcher's targets with their settings schemas and the flows, so that it states what
// this manager accepts. Throws std::logic_error for a template or settings schema that is
// not valid JSON, or an unknown placeholder (bugs).
std::string build_openapi(const launch::Launcher& launcher, const Flows& flows);

}  // namespace sf::manager
