#include "manager/queue_json.h"

#include <algorithm>

#include "json/json.h"

namespace sf::manager {

namespace {

// The fields a queue's summary and its full view share.
void write_queue_fields(json::Writer& w, const store::QueueState& q, int64_t records_written) {
  w.kv("queue_id", q.queue_id)
      .kv("symbol", q.symbol)
      .kv("type", q.type)
      .kv("time_range", q.time_range)
      .kv("status", q.status)
      .kv("message", q.message)
      .kv_num("created_at", q.created_at)
      .kv_num("updated_at", q.updated_at)
      .kv_int("records_written", records_written);
}

void write_ranges(json::Writer& w, const std::vector<std::string>& ranges) {
  w.key("missing_ranges").begin_array();
  for (const auto& m : ranges) w.str(m);
  w.end_array();
}

// The fields a target's view and its target_status messages share.
void write_target_status(json::Writer& w, const store::TargetState& t) {
  w.kv("telemetry_id", t.telemetry_id)
      .kv("target", t.target)
      .kv("status", t.status)
      .kv("message", t.message)
      .kv_int("records_written", t.records_written);
}

void write_target(json::Writer& w, const TargetEntry& t) {
  w.begin_object();
  write_target_status(w, t.state);
  w.kv_num("updated_at", t.state.updated_at);
  if (!t.state.config_json.empty()) {
    auto cfg = json::parse(t.state.config_json);
    if (cfg) w.key("config").value(*cfg);
  }
  // What this target reported for completeness.
  if (t.expected) w.kv_int("records_expected", *t.expected);
  if (t.dlq) w.kv_int("records_dlq", *t.dlq);
  if (!t.missing.empty()) write_ranges(w, t.missing);
  w.end_object();
}

}  // namespace

std::string queue_json(const QueueEntry& e, double weight_per_minute) {
  std::string out;
  json::Writer w(out);
  w.begin_object();
  write_queue_fields(w, e.q, e.records_written());
  w.kv_bool("stop_requested", e.stop_requested);
  if (auto c = e.completeness(); c.known) {
    w.key("completeness").begin_object();
    if (c.expected >= 0) w.kv_int("records_expected", c.expected);
    w.kv_int("records_published", c.published)
        .kv_int("records_written", c.written)
        .kv_int("records_dlq", c.dlq);
    if (c.stored >= 0) w.kv_int("records_stored", c.stored);
    write_ranges(w, c.missing);
    w.kv_bool("complete", c.complete()).end_object();
  }
  if (e.estimate.records) {
    // How long the loaders need at the weight budget, if nothing else spends it meanwhile.
    const double per_minute = std::max(1.0, weight_per_minute);
    w.key("estimate")
        .begin_object()
        .kv_int("records_expected", *e.estimate.records)
        .kv_int("requests", *e.estimate.requests)
        .kv_int("request_weight", *e.estimate.weight)
        .kv_num("weight_per_minute", per_minute)
        .kv_num("seconds_at_budget", static_cast<double>(*e.estimate.weight) / per_minute * 60)
        .end_object();
  }
  w.key("targets").begin_array();
  for (const auto& t : e.targets) write_target(w, t);
  w.end_array();
  w.key("events").begin_array();
  for (const auto& ev : e.recent) {
    auto v = json::parse(ev);
    if (v) w.value(*v);
  }
  w.end_array();
  w.end_object();
  return out;
}

std::string queue_summary_json(const QueueEntry& e) {
  std::string out;
  json::Writer w(out);
  size_t done = 0;
  for (const auto& t : e.targets) done += protocol::is_terminal(parse_status(t.state.status));
  w.begin_object();
  write_queue_fields(w, e.q, e.records_written());
  w.kv_int("targets", static_cast<int64_t>(e.targets.size()))
      .kv_int("targets_done", static_cast<int64_t>(done))
      .end_object();
  return out;
}

std::string queue_list_json(const std::vector<std::string_view>& summaries) {
  size_t size = 16;
  for (const auto s : summaries) size += s.size() + 1;
  std::string out;
  out.reserve(size);
  out += "{\"queues\":[";
  for (size_t i = 0; i < summaries.size(); ++i) {
    if (i > 0) out += ',';
    out += summaries[i];
  }
  out += "]}";
  return out;
}

std::string queue_status_message(const store::QueueState& q, int64_t records_written) {
  std::string msg;
  json::Writer(msg)
      .begin_object()
      .kv("type", "queue_status")
      .kv("queue_id", q.queue_id)
      .kv("status", q.status)
      .kv("message", q.message)
      .kv_int("records_written", records_written)
      .end_object();
  return msg;
}

std::string target_status_message(const std::string& queue_id, const store::TargetState& t) {
  std::string msg;
  json::Writer w(msg);
  w.begin_object().kv("type", "target_status").kv("queue_id", queue_id);
  write_target_status(w, t);
  w.end_object();
  return msg;
}

std::string event_message(const std::string& queue_id, const std::string& event_json) {
  std::string msg;
  msg.reserve(event_json.size() + 64);
  msg += "{\"type\":\"event\",\"queue_id\":";
  json::append_escaped(msg, queue_id);
  msg += ",\"event\":";
  msg += event_json;
  msg += '}';
  return msg;
}

}  // namespace sf::manager
