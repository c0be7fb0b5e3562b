#include "workers/dummy.h"

#include <algorithm>

#include "json/json.h"
#include "metrics/metrics.h"

namespace sf::workers {

using protocol::RunStatus;

Result<DummySettings> DummySettings::from_params(const boost::json::object& params) {
  DummySettings s;
  json::Fields f(params);
  // `interval` may come along from a generic target entry; it means nothing to a dummy.
  SF_TRY(f.only(
      {"duration_s", "records", "progress_interval_ms", "fail_at", "fail_message", "interval"}));
  std::optional<double> d;
  SF_TRY_ASSIGN(d, f.opt_number("duration_s"));
  if (d) s.duration_s = *d;
  std::optional<int64_t> n;
  SF_TRY_ASSIGN(n, f.opt_int64("records"));
  if (n) s.records = *n;
  SF_TRY_ASSIGN(n, f.opt_int64("progress_interval_ms"));
  if (n) s.progress_interval_ms = *n;
  SF_TRY_ASSIGN(s.fail_at, f.opt_number("fail_at"));
  std::optional<std::string> m;
  SF_TRY_ASSIGN(m, f.opt_str("fail_message"));
  if (m) s.fail_message = *m;
  if (s.duration_s < 0 || s.duration_s > 86400 * 7)
    return Error(Errc::invalid_argument, "duration_s must be between 0 and 604800", "duration_s");
  if (s.records < 0) return Error(Errc::invalid_argument, "records must be >= 0", "records");
  // Capped well below the manager's heartbeat timeout so a healthy dummy is never "lost".
  if (s.progress_interval_ms < 1 || s.progress_interval_ms > 30'000)
    return Error(Errc::invalid_argument, "progress_interval_ms must be between 1 and 30000",
                 "progress_interval_ms");
  if (s.fail_at && (*s.fail_at < 0 || *s.fail_at > 1))
    return Error(Errc::invalid_argument, "fail_at must be a fraction between 0 and 1", "fail_at");
  return s;
}

std::string DummySettings::json_schema() {
  // The bounds of from_params() above; `interval` is a typed target field, described there.
  return R"json({
    "duration_s": {"type": "number", "minimum": 0, "maximum": 604800,
                   "description": "run time in seconds (default 5)"},
    "records": {"type": "integer", "minimum": 0, "maximum": 9223372036854775807,
                "description": "records 'written' by the end (default 1000)"},
    "progress_interval_ms": {"type": "integer", "minimum": 1, "maximum": 30000,
                             "description": "time between loading events (default 1000)"},
    "fail_at": {"type": "number", "minimum": 0, "maximum": 1,
                "description": "fraction of the run at which it fails (default: never)"},
    "fail_message": {"type": "string", "description": "the error message"}
  })json";
}

namespace {

int dummy_work(WorkerContext& ctx, const WorkerConfig& cfg, ControlChannel& control,
               Telemetry& tel) {
  auto settings = DummySettings::from_params(cfg.params);
  if (!settings) {
    (void)tel.send(RunStatus::error, "bad dummy settings: " + settings.error().message);
    return kExitBadConfig;
  }
  const DummySettings& s = *settings;
  metrics::Counter* events = nullptr;
  if (ctx.metrics) {
    events = &ctx.metrics->counter("streamforge_dummy_events_sent_total",
                                   "Telemetry events sent by dummy-service workers");
  }
  auto send = [&](RunStatus st, std::string msg, int64_t written) {
    if (events) events->inc();
    return tel.send(st, std::move(msg), written);
  };

  const int64_t total_ms = static_cast<int64_t>(s.duration_s * 1000);
  const int64_t t0 = ctx.clock->steady_ms();
  (void)send(RunStatus::started, "dummy-service started", 0);
  for (;;) {
    int64_t elapsed = ctx.clock->steady_ms() - t0;
    double frac = total_ms <= 0 ? 1.0 : std::min(1.0, static_cast<double>(elapsed) / total_ms);
    auto written = static_cast<int64_t>(static_cast<double>(s.records) * frac);
    if (s.fail_at && frac >= *s.fail_at) {
      (void)send(RunStatus::error, s.fail_message, written);
      return kExitError;
    }
    if (frac >= 1.0) {
      (void)send(RunStatus::finished, "Saved " + std::to_string(s.records) + " records", s.records);
      return kExitFinished;
    }
    if (control.stop_requested()) {
      (void)send(RunStatus::interrupted, "stopped after " + std::to_string(written) + " records",
                 written);
      return kExitInterrupted;
    }
    (void)send(RunStatus::loading, "Saved " + std::to_string(written) + " records", written);
    // Wake at the next progress tick, the failure point or the end, whichever is first.
    int64_t next = elapsed + s.progress_interval_ms;
    if (s.fail_at) {
      auto fail_ms = static_cast<int64_t>(*s.fail_at * total_ms);
      if (fail_ms > elapsed) next = std::min(next, fail_ms);
    }
    next = std::min(next, total_ms);
    control.wait_stop_for(std::chrono::milliseconds(std::max<int64_t>(0, next - elapsed)));
  }
}

}  // namespace

int run_dummy(WorkerContext& ctx) { return run_worker(ctx, "dummy-service", dummy_work); }

}  // namespace sf::workers
