// Test flows (POST /queues/start-test-flow): named templates of start requests,
// loaded from a YAML file (config/test_flows.yaml ships with the project; a user can point
// to their own). A template's string values may contain {{name}} placeholders, filled from
// the request: symbol, symbol_lower, time_range, date (the range's start as YYYYMMDD),
// short_id (6 random hex digits, one per request), then the flow's `defaults`, overridden
// by the request's extra_params; every text variable X is also there as X_lower, in lower
// case. A value that is exactly "{{name}}" takes the variable's JSON type (so
// "{{duration_s}}" can become the number 2.5).
//
// File shape:
//   flows:
//     <name>:
//       description: text
//       type: api_candles_1m            # may use placeholders
//       queue_id: "wf-{{symbol_lower}}-..."   # optional
//       defaults: {duration_s: 5}       # optional
//       targets:
//         - {target: dummy-service, telemetry_id: "dummy-a__{{short_id}}", ...}
#pragma once

#include <boost/json.hpp>
#include <map>
#include <string>

#include "base/result.h"
#include "protocol/messages.h"

namespace sf::manager {

struct Flow {
  std::string name;
  std::string description;
  boost::json::object start_template;  // type, queue_id?, targets
  boost::json::object defaults;
};

class Flows {
 public:
  Flows() = default;
  // Errors name the file and what is wrong (bad YAML, a flow without targets, ...).
  static Result<Flows> load_file(const std::string& path);
  static Result<Flows> load_string(const std::string& yaml, const std::string& origin);

  const Flow* find(const std::string& name) const;
  const std::map<std::string, Flow>& all() const { return flows_; }
  const std::string& origin() const { return origin_; }

  // Fills the flow's template. not_found for an unknown flow; invalid_argument for a
  // placeholder without a value or an extra_param the flow does not use. The result is
  // validated like a POST /queues/start body.
  Result<protocol::StartRequest> render(const protocol::TestFlowRequest& req,
                                        const std::string& short_id) const;

 private:
  static Result<Flows> load_string_unchecked(const std::string& yaml, const std::string& origin);
  std::map<std::string, Flow> flows_;
  std::string origin_;
};

}  // namespace sf::manager
