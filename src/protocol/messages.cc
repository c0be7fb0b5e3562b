#include "protocol/messages.h"

#include <set>

#include "base/enum_names.h"
#include "json/json.h"
#include "protocol/validate.h"

namespace sf::protocol {

namespace bj = boost::json;
using json::Fields;
using json::Writer;

namespace {
constexpr const char* kCommandNames[] = {"start", "stop", "ping"};
constexpr const char* kStatusNames[] = {"pending", "started",     "loading", "finished",
                                        "error",   "interrupted", "pong"};
}  // namespace

const char* to_string(CommandType c) { return enum_name(c, kCommandNames, "start"); }

std::optional<CommandType> command_from_string(std::string_view s) {
  return enum_from_name<CommandType>(s, kCommandNames);
}

const char* to_string(RunStatus s) { return enum_name(s, kStatusNames, "pending"); }

std::optional<RunStatus> status_from_string(std::string_view s) {
  return enum_from_name<RunStatus>(s, kStatusNames);
}

bool is_terminal(RunStatus s) {
  return s == RunStatus::finished || s == RunStatus::error || s == RunStatus::interrupted;
}

int status_rank(RunStatus s) {
  switch (s) {
    case RunStatus::pending:
      return 0;
    case RunStatus::started:
      return 1;
    case RunStatus::loading:
      return 2;
    case RunStatus::finished:
    case RunStatus::error:
    case RunStatus::interrupted:
      return 3;
    case RunStatus::pong:
      return -1;
  }
  return -1;
}

namespace {

Status check_opt_name(const std::optional<std::string>& v, const Fields& f, std::string_view key) {
  if (!v) return {};
  return check_safe_name(*v, f.path(key));
}

Status check_range(const std::string& v, const std::string& field) {
  auto r = parse_time_range(v, field);
  if (!r) return r.error();
  return {};
}

std::string intervals_text() {
  std::string out;
  for (auto i : kKlineIntervals) out += (out.empty() ? "" : " ") + std::string(i);
  return out;
}

void opt_kv(Writer& w, std::string_view k, const std::optional<std::string>& v) {
  if (v) w.kv(k, *v);
}

// What an optional text field's value must be.
enum class TextRule { any, name, symbol, range, collection, interval };

// An optional text field of the control messages: its key, its member in a command and in
// a start request's target (nullptr where the message has no such field), and its rule.
// Decoding (with each field's check), encoding and the known-key test walk this one table, in
// its order, so adding such a field is one line.
struct OptText {
  std::string_view key;
  std::optional<std::string> Command::*in_command;
  std::optional<std::string> TargetSpec::*in_target;
  TextRule rule;
};

constexpr OptText kOptTexts[] = {
    {"target", &Command::target, nullptr, TextRule::name},
    {"symbol", &Command::symbol, &TargetSpec::symbol, TextRule::symbol},
    {"type", &Command::type, nullptr, TextRule::name},
    {"time_range", &Command::time_range, &TargetSpec::time_range, TextRule::range},
    {"kafka_topic", &Command::kafka_topic, &TargetSpec::kafka_topic, TextRule::name},
    {"collection_name", &Command::collection_name, &TargetSpec::collection_name,
     TextRule::collection},
    {"telemetry_id", &Command::telemetry_id, &TargetSpec::telemetry_id, TextRule::name},
    {"image", &Command::image, &TargetSpec::image, TextRule::any},
    {"interval", nullptr, &TargetSpec::interval, TextRule::interval},
};

constexpr auto member_of(const OptText& t, const Command*) { return t.in_command; }
constexpr auto member_of(const OptText& t, const TargetSpec*) { return t.in_target; }

Status check_text(const std::string& v, TextRule rule, const std::string& field) {
  switch (rule) {
    case TextRule::any:
      return {};
    case TextRule::name:
      return check_safe_name(v, field);
    case TextRule::symbol:
      return check_symbol(v, field);
    case TextRule::range:
      return check_range(v, field);
    case TextRule::collection:
      return check_collection(v, field);
    case TextRule::interval:
      if (is_kline_interval(v)) return {};
      return Error(Errc::invalid_argument,
                   "field '" + field + "': unknown interval '" + v + "' (expected one of " +
                       intervals_text() + ")",
                   field);
  }
  return {};
}

// Reads and checks m's optional text fields from f.
template <class M>
Status decode_texts(const Fields& f, M& m) {
  for (const auto& t : kOptTexts) {
    auto member = member_of(t, &m);
    if (!member) continue;
    SF_TRY_ASSIGN(m.*member, f.opt_str(t.key));
    if (m.*member) SF_TRY(check_text(*(m.*member), t.rule, f.path(t.key)));
  }
  return {};
}

template <class M>
void encode_texts(Writer& w, const M& m) {
  for (const auto& t : kOptTexts)
    if (auto member = member_of(t, &m)) opt_kv(w, t.key, m.*member);
}

bool is_target_text_key(std::string_view key) {
  for (const auto& t : kOptTexts)
    if (t.in_target && t.key == key) return true;
  return false;
}

}  // namespace

Result<Command> decode_command(std::string_view text) {
  auto obj = json::parse_object(text, kMaxMessageBytes);
  if (!obj) return obj.error();
  Fields f(*obj);
  SF_TRY(f.only({"command", "queue_id", "target", "symbol", "type", "time_range", "kafka_topic",
                 "collection_name", "telemetry_id", "image", "timestamp", "params"}));
  Command c;
  std::string cmd;
  SF_TRY_ASSIGN(cmd, f.str("command"));
  auto ct = command_from_string(cmd);
  if (!ct)
    return Error(Errc::invalid_argument,
                 "unknown command '" + cmd + "' (expected start, stop or ping)", "command");
  c.command = *ct;
  SF_TRY_ASSIGN(c.queue_id, f.str("queue_id"));
  SF_TRY(check_safe_name(c.queue_id, "queue_id"));
  SF_TRY(decode_texts(f, c));
  SF_TRY_ASSIGN(c.timestamp, f.number("timestamp"));
  if (auto* p = obj->if_contains("params")) {
    if (!p->is_object())
      return Error(Errc::invalid_argument,
                   std::string("field 'params' must be an object, got ") + json::kind_name(*p),
                   "params");
    c.params = p->get_object();
  }
  if (c.command == CommandType::start && (!c.target || !c.telemetry_id))
    return Error(Errc::invalid_argument, "a start command needs 'target' and 'telemetry_id'",
                 c.target ? "telemetry_id" : "target");
  return c;
}

std::string encode(const Command& c) {
  std::string out;
  out.reserve(512);
  Writer w(out);
  w.begin_object().kv("command", to_string(c.command)).kv("queue_id", c.queue_id);
  encode_texts(w, c);
  w.kv_num("timestamp", c.timestamp);
  if (c.params) w.key("params").value(*c.params);
  w.end_object();
  return out;
}

Result<Event> decode_event(std::string_view text) {
  auto obj = json::parse_object(text, kMaxMessageBytes);
  if (!obj) return obj.error();
  Fields f(*obj);
  SF_TRY(f.only({"queue_id", "producer", "symbol", "type", "status", "message", "records_written",
                 "finished", "timestamp", "records_expected", "records_dlq", "missing_ranges",
                 "records_stored", "first_id", "last_id"}));
  Event e;
  SF_TRY_ASSIGN(e.queue_id, f.str("queue_id"));
  SF_TRY(check_safe_name(e.queue_id, "queue_id"));
  SF_TRY_ASSIGN(e.producer, f.str("producer"));
  SF_TRY(check_safe_name(e.producer, "producer"));
  SF_TRY_ASSIGN(e.symbol, f.opt_str("symbol"));
  if (e.symbol) SF_TRY(check_symbol(*e.symbol, "symbol"));
  SF_TRY_ASSIGN(e.type, f.opt_str("type"));
  SF_TRY(check_opt_name(e.type, f, "type"));
  std::string st;
  SF_TRY_ASSIGN(st, f.str("status"));
  auto status = status_from_string(st);
  if (!status || *status == RunStatus::pending)
    return Error(Errc::invalid_argument,
                 "unknown status '" + st +
                     "' (expected started, loading, finished, error, interrupted or pong)",
                 "status");
  e.status = *status;
  SF_TRY_ASSIGN(e.message, f.opt_str("message"));
  SF_TRY_ASSIGN(e.records_written, f.opt_int64("records_written"));
  if (e.records_written && *e.records_written < 0)
    return Error(Errc::invalid_argument, "field 'records_written' must not be negative",
                 "records_written");
  SF_TRY_ASSIGN(e.finished, f.opt_bool("finished"));
  SF_TRY_ASSIGN(e.records_expected, f.opt_int64("records_expected"));
  SF_TRY_ASSIGN(e.records_dlq, f.opt_int64("records_dlq"));
  SF_TRY_ASSIGN(e.records_stored, f.opt_int64("records_stored"));
  for (auto* v : {&e.records_expected, &e.records_dlq, &e.records_stored})
    if (*v && **v < 0)
      return Error(Errc::invalid_argument, "record counts must not be negative",
                   v == &e.records_dlq      ? "records_dlq"
                   : v == &e.records_stored ? "records_stored"
                                            : "records_expected");
  if (auto* m = obj->if_contains("missing_ranges")) {
    if (!m->is_array())
      return Error(
          Errc::invalid_argument,
          std::string("field 'missing_ranges' must be an array, got ") + json::kind_name(*m),
          "missing_ranges");
    if (m->get_array().size() > 1000)
      return Error(Errc::invalid_argument, "field 'missing_ranges' lists more than 1000 ranges",
                   "missing_ranges");
    std::vector<std::string> ranges;
    for (const auto& r : m->get_array()) {
      if (!r.is_string())
        return Error(Errc::invalid_argument, "field 'missing_ranges' must hold strings",
                     "missing_ranges");
      std::string text(r.get_string());
      // Time ranges (candles) or id ranges (trades), one form per event.
      const bool ids = is_id_range_text(text);
      if (!ranges.empty() && ids != is_id_range_text(ranges.front()))
        return Error(Errc::invalid_argument,
                     "field 'missing_ranges' mixes time ranges and id ranges", "missing_ranges");
      if (ids) {
        SF_TRY(parse_id_range(text, "missing_ranges"));
      } else {
        SF_TRY(check_range(text, "missing_ranges"));
      }
      ranges.push_back(std::move(text));
    }
    e.missing_ranges = std::move(ranges);
  }
  SF_TRY_ASSIGN(e.first_id, f.opt_int64("first_id"));
  SF_TRY_ASSIGN(e.last_id, f.opt_int64("last_id"));
  if (e.first_id.has_value() != e.last_id.has_value())
    return Error(Errc::invalid_argument, "fields 'first_id' and 'last_id' go together",
                 e.first_id ? "last_id" : "first_id");
  if (e.first_id && (*e.first_id < 0 || *e.first_id > *e.last_id))
    return Error(Errc::invalid_argument,
                 "'first_id' must be a non-negative id not after 'last_id' (got " +
                     std::to_string(*e.first_id) + " and " + std::to_string(*e.last_id) + ")",
                 "first_id");
  SF_TRY_ASSIGN(e.timestamp, f.number("timestamp"));
  return e;
}

std::string encode(const Event& e) {
  std::string out;
  out.reserve(256);
  Writer w(out);
  w.begin_object().kv("queue_id", e.queue_id).kv("producer", e.producer);
  opt_kv(w, "symbol", e.symbol);
  opt_kv(w, "type", e.type);
  w.kv("status", to_string(e.status));
  opt_kv(w, "message", e.message);
  if (e.records_written) w.kv_int("records_written", *e.records_written);
  if (e.finished) w.kv_bool("finished", *e.finished);
  if (e.records_expected) w.kv_int("records_expected", *e.records_expected);
  if (e.records_dlq) w.kv_int("records_dlq", *e.records_dlq);
  if (e.records_stored) w.kv_int("records_stored", *e.records_stored);
  if (e.missing_ranges) {
    w.key("missing_ranges").begin_array();
    for (const auto& r : *e.missing_ranges) w.str(r);
    w.end_array();
  }
  if (e.first_id) w.kv_int("first_id", *e.first_id);
  if (e.last_id) w.kv_int("last_id", *e.last_id);
  w.kv_num("timestamp", e.timestamp);
  w.end_object();
  return out;
}

namespace {

Result<TargetSpec> decode_target(const bj::value& v, size_t index) {
  std::string prefix = "targets[" + std::to_string(index) + "].";
  if (!v.is_object())
    return Error(Errc::invalid_argument,
                 "field 'targets[" + std::to_string(index) + "]' must be an object, got " +
                     json::kind_name(v),
                 "targets[" + std::to_string(index) + "]");
  const auto& obj = v.get_object();
  Fields f(obj, prefix);
  TargetSpec t;
  SF_TRY_ASSIGN(t.target, f.str("target"));
  SF_TRY(check_safe_name(t.target, f.path("target")));
  SF_TRY(decode_texts(f, t));
  for (const auto& kv : obj) {
    std::string_view k(kv.key().data(), kv.key().size());
    if (k == "target" || is_target_text_key(k)) continue;
    t.extra.emplace(kv.key(), kv.value());
  }
  return t;
}

}  // namespace

Result<StartRequest> decode_start_request(const bj::object& obj) {
  Fields f(obj);
  SF_TRY(f.only({"command", "queue_id", "symbol", "type", "time_range", "timestamp", "targets"}));
  StartRequest r;
  SF_TRY_ASSIGN(r.command, f.opt_str("command"));
  if (r.command && *r.command != "start")
    return Error(Errc::invalid_argument,
                 "field 'command' must be \"start\" in a start request, got '" + *r.command + "'",
                 "command");
  SF_TRY_ASSIGN(r.queue_id, f.opt_str("queue_id"));
  SF_TRY(check_opt_name(r.queue_id, f, "queue_id"));
  SF_TRY_ASSIGN(r.symbol, f.str("symbol"));
  SF_TRY(check_symbol(r.symbol, "symbol"));
  SF_TRY_ASSIGN(r.type, f.str("type"));
  SF_TRY(check_safe_name(r.type, "type"));
  SF_TRY_ASSIGN(r.time_range, f.str("time_range"));
  SF_TRY(check_range(r.time_range, "time_range"));
  SF_TRY_ASSIGN(r.timestamp, f.opt_number("timestamp"));
  const bj::value* targets = obj.if_contains("targets");
  if (!targets) return Error(Errc::invalid_argument, "missing required field 'targets'", "targets");
  if (!targets->is_array())
    return Error(Errc::invalid_argument,
                 std::string("field 'targets' must be an array, got ") + json::kind_name(*targets),
                 "targets");
  if (targets->get_array().empty())
    return Error(Errc::invalid_argument, "field 'targets' must name at least one target",
                 "targets");
  if (targets->get_array().size() > 64)
    return Error(Errc::invalid_argument, "field 'targets' has more than 64 targets", "targets");
  std::set<std::string> telemetry_ids;
  size_t i = 0;
  for (const auto& tv : targets->get_array()) {
    auto t = decode_target(tv, i);
    if (!t) return t.error();
    if (t->telemetry_id && !telemetry_ids.insert(*t->telemetry_id).second)
      return Error(Errc::invalid_argument,
                   "field 'targets[" + std::to_string(i) + "].telemetry_id': '" + *t->telemetry_id +
                       "' is used by another target",
                   "targets[" + std::to_string(i) + "].telemetry_id");
    r.targets.push_back(std::move(*t));
    ++i;
  }
  return r;
}

Result<StartRequest> decode_start_request(std::string_view text) {
  auto obj = json::parse_object(text, kMaxMessageBytes);
  if (!obj) return obj.error();
  return decode_start_request(*obj);
}

std::string encode(const TargetSpec& t) {
  std::string out;
  Writer w(out);
  w.begin_object().kv("target", t.target);
  encode_texts(w, t);
  for (const auto& kv : t.extra) {
    w.key(std::string_view(kv.key().data(), kv.key().size())).value(kv.value());
  }
  w.end_object();
  return out;
}

std::string encode(const StartRequest& r) {
  std::string out;
  Writer w(out);
  w.begin_object();
  opt_kv(w, "command", r.command);
  opt_kv(w, "queue_id", r.queue_id);
  w.kv("symbol", r.symbol).kv("type", r.type).kv("time_range", r.time_range);
  if (r.timestamp) w.kv_num("timestamp", *r.timestamp);
  w.key("targets").begin_array();
  for (const auto& t : r.targets) {
    std::string one = encode(t);
    w.value(bj::parse(one));
  }
  w.end_array().end_object();
  return out;
}

Result<TestFlowRequest> decode_test_flow_request(std::string_view text) {
  auto obj = json::parse_object(text, kMaxMessageBytes);
  if (!obj) return obj.error();
  Fields f(*obj);
  SF_TRY(f.only({"flow_name", "symbol", "time_range", "extra_params"}));
  TestFlowRequest r;
  SF_TRY_ASSIGN(r.flow_name, f.str("flow_name"));
  SF_TRY(check_safe_name(r.flow_name, "flow_name"));
  SF_TRY_ASSIGN(r.symbol, f.str("symbol"));
  SF_TRY(check_symbol(r.symbol, "symbol"));
  SF_TRY_ASSIGN(r.time_range, f.str("time_range"));
  SF_TRY(check_range(r.time_range, "time_range"));
  if (auto* e = obj->if_contains("extra_params")) {
    if (!e->is_object())
      return Error(
          Errc::invalid_argument,
          std::string("field 'extra_params' must be an object, got ") + json::kind_name(*e),
          "extra_params");
    for (const auto& kv : e->get_object()) {
      if (kv.value().is_object() || kv.value().is_array())
        return Error(Errc::invalid_argument,
                     "field 'extra_params." + std::string(kv.key()) +
                         "' must be a string, number or boolean",
                     "extra_params." + std::string(kv.key()));
    }
    r.extra_params = e->get_object();
    r.has_extra_params = true;
  }
  return r;
}

std::string encode(const TestFlowRequest& r) {
  std::string out;
  Writer w(out);
  w.begin_object()
      .kv("flow_name", r.flow_name)
      .kv("symbol", r.symbol)
      .kv("time_range", r.time_range);
  if (r.has_extra_params) w.key("extra_params").value(r.extra_params);
  w.end_object();
  return out;
}

}  // namespace sf::protocol
