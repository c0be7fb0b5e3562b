#include "workers/worker.h"

#include "base/log.h"
#include "json/json.h"
#include "protocol/validate.h"
#include "workers/profile.h"

namespace sf::workers {

namespace en = env_names;
using protocol::RunStatus;

Result<WorkerConfig> WorkerConfig::from_env(const Env& env) {
  WorkerConfig c;
  SF_TRY_ASSIGN(c.queue_id, env.require(en::kQueueId));
  SF_TRY(protocol::check_safe_name(c.queue_id, en::kQueueId));
  SF_TRY_ASSIGN(c.target, env.require(en::kTarget));
  SF_TRY_ASSIGN(c.telemetry_id, env.require(en::kTelemetryId));
  SF_TRY(protocol::check_safe_name(c.telemetry_id, en::kTelemetryId));
  c.symbol = env.get(en::kSymbol);
  if (c.symbol) SF_TRY(protocol::check_symbol(*c.symbol, en::kSymbol));
  c.type = env.get(en::kType);
  c.time_range = env.get(en::kTimeRange);
  if (c.time_range) {
    auto tr = protocol::parse_time_range(*c.time_range, en::kTimeRange);
    if (!tr) return tr.error();
  }
  c.kafka_topic = env.get(en::kKafkaTopic);
  if (c.kafka_topic) SF_TRY(protocol::check_safe_name(*c.kafka_topic, en::kKafkaTopic));
  c.collection_name = env.get(en::kCollectionName);
  if (c.collection_name)
    SF_TRY(protocol::check_collection(*c.collection_name, en::kCollectionName));
  c.image = env.get(en::kImage);
  c.control_topic = env.get_or(en::kControlTopic, bus::kControlTopic);
  c.events_topic = env.get_or(en::kEventsTopic, bus::kEventsTopic);
  SF_TRY_ASSIGN(c.control_offset, env.get_int(en::kControlOffset, 0));
  c.run_id = env.get(en::kRunId);
  if (c.run_id) SF_TRY(protocol::check_safe_name(*c.run_id, en::kRunId));
  SF_TRY_ASSIGN(c.data_offset, env.get_int(en::kDataOffset, -1));
  if (c.data_offset < -1)
    return Error(Errc::invalid_argument, std::string(en::kDataOffset) + " must be -1 or more",
                 en::kDataOffset);
  SF_TRY_ASSIGN(c.start_timeout_s, env.get_double(en::kStartTimeoutS, 30));
  if (auto p = env.get(en::kTargetParams); p && !p->empty()) {
    auto obj = json::parse_object(*p, protocol::kMaxMessageBytes);
    if (!obj)
      return Error(
          Errc::invalid_argument,
          std::string(en::kTargetParams) + " must be a JSON object: " + obj.error().message,
          en::kTargetParams);
    c.params = std::move(*obj);
  }
  return c;
}

Env WorkerConfig::to_env() const {
  Env e;
  e.set(en::kQueueId, queue_id);
  e.set(en::kTarget, target);
  e.set(en::kTelemetryId, telemetry_id);
  if (symbol) e.set(en::kSymbol, *symbol);
  if (type) e.set(en::kType, *type);
  if (time_range) e.set(en::kTimeRange, *time_range);
  if (kafka_topic) e.set(en::kKafkaTopic, *kafka_topic);
  if (collection_name) e.set(en::kCollectionName, *collection_name);
  if (image) e.set(en::kImage, *image);
  e.set(en::kControlTopic, control_topic);
  e.set(en::kEventsTopic, events_topic);
  e.set(en::kControlOffset, std::to_string(control_offset));
  if (run_id) e.set(en::kRunId, *run_id);
  if (data_offset >= 0) e.set(en::kDataOffset, std::to_string(data_offset));
  {
    std::string s;
    json::append_number(s, start_timeout_s);
    e.set(en::kStartTimeoutS, s);
  }
  std::string p;
  json::Writer(p).value(params);
  e.set(en::kTargetParams, p);
  return e;
}

Status Telemetry::send(RunStatus status, std::string message,
                       std::optional<int64_t> records_written) {
  protocol::Event ev;
  ev.status = status;
  ev.message = std::move(message);
  ev.records_written = records_written;
  return send(std::move(ev));
}

Status Telemetry::send(protocol::Event ev) {
  ev.queue_id = cfg_.queue_id;
  ev.producer = cfg_.telemetry_id;
  ev.symbol = cfg_.symbol;
  ev.type = cfg_.type;
  ev.finished = protocol::is_terminal(ev.status);
  ev.timestamp = now_seconds(clock_);
  auto r = producer_.produce(cfg_.events_topic, cfg_.queue_id, protocol::encode(ev));
  if (!r) return r.error();
  return {};
}

ControlChannel::ControlChannel(bus::Bus& bus, const WorkerConfig& cfg, Telemetry& telemetry)
    : bus_(bus), cfg_(cfg), telemetry_(telemetry) {}

ControlChannel::~ControlChannel() { close(); }

Status ControlChannel::open() {
  SF_TRY(bus_.ensure_topic(bus::TopicSpec{cfg_.control_topic, 1}));
  auto r = bus_.read_from(cfg_.control_topic, 0, cfg_.control_offset);
  if (!r) return r.error();
  reader_ = std::move(*r);
  thread_ = std::thread([this] { run(); });
  return {};
}

void ControlChannel::close() {
  closing_ = true;
  if (thread_.joinable()) thread_.join();
  if (reader_) reader_->close();
}

bool ControlChannel::addressed_to_me(const protocol::Command& c) const {
  if (c.queue_id != cfg_.queue_id) return false;
  if (c.telemetry_id && *c.telemetry_id != cfg_.telemetry_id) return false;
  if (c.target && *c.target != cfg_.target) return false;
  return true;
}

void ControlChannel::run() {
  while (!closing_) {
    auto recs = reader_->poll(256, std::chrono::milliseconds(50));
    if (!recs) {
      if (recs.error().code == Errc::closed) return;
      log::warn("queue-control read failed: " + recs.error().message, cfg_.queue_id);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    for (const auto& rec : *recs) {
      auto cmd = protocol::decode_command(rec.value);
      if (!cmd) {
        log::warn("ignoring malformed queue-control record at offset " +
                      std::to_string(rec.offset) + ": " + cmd.error().message,
                  cfg_.queue_id);
        continue;
      }
      if (!addressed_to_me(*cmd)) continue;
      switch (cmd->command) {
        case protocol::CommandType::start: {
          std::lock_guard lk(mu_);
          if (!start_) start_ = std::move(*cmd);
          cv_.notify_all();
          break;
        }
        case protocol::CommandType::stop: {
          std::lock_guard lk(mu_);
          stop_ = true;
          cv_.notify_all();
          break;
        }
        case protocol::CommandType::ping:
          (void)telemetry_.send(RunStatus::pong, "pong");
          break;
      }
    }
  }
}

Result<protocol::Command> ControlChannel::wait_for_start(std::chrono::milliseconds timeout,
                                                         const std::atomic<bool>& cancel) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lk(mu_);
  while (!start_ && !stop_ && !cancel) {
    if (cv_.wait_until(lk, std::min(deadline, std::chrono::steady_clock::now() +
                                                  std::chrono::milliseconds(50))) ==
            std::cv_status::timeout &&
        std::chrono::steady_clock::now() >= deadline)
      return Error(Errc::timeout, "no start command for " + cfg_.telemetry_id + " within " +
                                      std::to_string(timeout.count() / 1000) + " s");
  }
  if (stop_ || cancel) return Error(Errc::closed, "stopped before start");
  return *start_;
}

bool ControlChannel::wait_stop_for(std::chrono::milliseconds d) {
  auto deadline = std::chrono::steady_clock::now() + d;
  std::unique_lock lk(mu_);
  // The cancel flag has no notifier: look at it every 50 ms.
  while (!stop_requested() && std::chrono::steady_clock::now() < deadline)
    cv_.wait_until(
        lk, std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(50)));
  return stop_requested();
}

void WorkerRegistry::add(const std::string& target, protocol::TargetRole role, WorkerFn fn,
                         Validator validate, std::string settings_schema) {
  kinds_[target] = Kind{role, std::move(fn), std::move(validate), std::move(settings_schema)};
}

std::optional<std::string> WorkerRegistry::settings_schema(const std::string& target) const {
  auto it = kinds_.find(target);
  if (it == kinds_.end() || it->second.settings_schema.empty()) return std::nullopt;
  return it->second.settings_schema;
}

Status WorkerRegistry::validate(const std::string& target,
                                const boost::json::object& settings) const {
  auto it = kinds_.find(target);
  return it == kinds_.end() || !it->second.validate ? Status() : it->second.validate(settings);
}

protocol::TargetRole WorkerRegistry::role(const std::string& target) const {
  auto it = kinds_.find(target);
  return it == kinds_.end() ? protocol::TargetRole::other : it->second.role;
}

const WorkerFn* WorkerRegistry::find(const std::string& target) const {
  auto it = kinds_.find(target);
  return it == kinds_.end() ? nullptr : &it->second.fn;
}

std::vector<std::string> WorkerRegistry::targets() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : kinds_) out.push_back(k);
  return out;
}

int run_worker(WorkerContext& ctx, const char* role,
               const std::function<int(WorkerContext&, const WorkerConfig&, ControlChannel&,
                                       Telemetry&)>& work) {
  auto cfg = WorkerConfig::from_env(ctx.env);
  if (!cfg) {
    log::error(std::string(role) + ": bad configuration: " + cfg.error().message,
               ctx.env.get_or(env_names::kQueueId, ""));
    return kExitBadConfig;
  }
  auto producer = ctx.bus->producer();
  if (!producer) {
    log::error(std::string(role) + ": cannot create a producer: " + producer.error().message,
               cfg->queue_id);
    return kExitError;
  }
  Telemetry telemetry(**producer, *cfg, *ctx.clock);
  ControlChannel control(*ctx.bus, *cfg, telemetry);
  control.set_cancel(ctx.cancel.get());
  if (auto s = control.open(); !s) {
    (void)telemetry.send(RunStatus::error, "cannot read queue-control: " + s.error().message);
    (void)(*producer)->flush(std::chrono::seconds(5));
    return kExitError;
  }
  profile::mark("control_open");
  auto start = control.wait_for_start(
      std::chrono::milliseconds(static_cast<int64_t>(cfg->start_timeout_s * 1000)), *ctx.cancel);
  int code;
  if (!start) {
    if (start.error().code == Errc::closed) {
      (void)telemetry.send(RunStatus::interrupted, "stopped before start");
      code = kExitInterrupted;
    } else {
      (void)telemetry.send(RunStatus::error, start.error().message);
      code = kExitError;
    }
  } else {
    profile::mark("start_command");
    log::info(std::string(role) + " " + cfg->telemetry_id + " starting", cfg->queue_id);
    code = work(ctx, *cfg, control, telemetry);
  }
  control.close();
  (void)(*producer)->flush(std::chrono::seconds(5));
  return code;
}

}  // namespace sf::workers
