// dummy-service (docs/workers.md): simulates any worker for testing the control plane. Its knobs
// are fields of its target in the start request (they reach it in TARGET_PARAMS):
//   duration_s            run time in seconds (default 5)
//   records               records "written" by the end (default 1000)
//   progress_interval_ms  time between `loading` events (default 1000)
//   fail_at               fraction of the run (0..1) at which it fails (default: never)
//   fail_message          the error message (default "simulated failure")
// It answers `ping` with a `pong` event (the ControlChannel does) and counts its work in
// Prometheus metrics when given a registry.
#pragma once

#include "workers/worker.h"

namespace sf::workers {

struct DummySettings {
  double duration_s = 5;
  int64_t records = 1000;
  int64_t progress_interval_ms = 1000;
  std::optional<double> fail_at;
  std::string fail_message = "simulated failure";

  static Result<DummySettings> from_params(const boost::json::object& params);
  // What from_params() accepts, as a JSON object of JSON Schemas by setting name.
  static std::string json_schema();
};

int run_dummy(WorkerContext& ctx);

}  // namespace sf::workers
