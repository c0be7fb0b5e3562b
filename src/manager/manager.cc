#include "manager/manager.h"

#include <algorithm>
#include <random>
#include <set>

#include "base/log.h"
#include "json/json.h"
#include "manager/queue_json.h"
#include "manager/target_start.h"
#include "market/records.h"
#include "metrics/metrics.h"
#include "protocol/validate.h"
#include "workers/connector.h"
#include "workers/loader.h"

namespace sf::manager {

using protocol::RunStatus;
using protocol::TargetRole;

namespace {

std::string random_hex(size_t n) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* kHex = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) s += kHex[rng() % 16];
  return s;
}

// A repair's targets are the queue's targets with this suffix and the repair's number, so
// which run a stored target belongs to survives a manager restart.
constexpr std::string_view kRepairSuffix = ".repair-";
int run_of(const std::string& telemetry_id) {
  const auto pos = telemetry_id.rfind(kRepairSuffix);
  if (pos == std::string::npos) return 0;
  int n = 0;
  for (size_t i = pos + kRepairSuffix.size(); i < telemetry_id.size(); ++i) {
    const char c = telemetry_id[i];
    if (c < '0' || c > '9' || n > 100000) return 0;
    n = n * 10 + (c - '0');
  }
  return n;
}

// The loaders' part of a workflow: the sum over its loader targets, each over its own range
// (`ranges`). Unknown (empty) when any part is, e.g. for trades.
workers::LoadEstimate estimate_loaders(const std::string& type,
                                       const std::vector<std::string>& ranges, int64_t now_ms) {
  workers::LoadEstimate sum;
  for (const auto& r : ranges) {
    auto range = protocol::parse_time_range(r);
    if (!range) return {};
    auto e = workers::estimate_load(type, range->start_ms, range->end_ms, now_ms);
    if (!e.records) return {};
    sum.records = sum.records.value_or(0) + *e.records;
    sum.requests = sum.requests.value_or(0) + *e.requests;
    sum.weight = sum.weight.value_or(0) + *e.weight;
  }
  return sum;
}

// A stored target's range: its own time_range (in its config), else the queue's.
std::string stored_range(const store::QueueState& q, const store::TargetState& t) {
  if (auto cfg = json::parse_object(t.config_json, protocol::kMaxMessageBytes)) {
    if (auto it = cfg->find("time_range"); it != cfg->end() && it->value().is_string())
      return std::string(it->value().as_string());
  }
  return q.time_range;
}

}  // namespace

Manager::Manager(ManagerOptions opts, bus::Bus& bus, store::StateStore& store,
                 launch::Launcher& launcher, Flows flows, metrics::Registry* metrics,
                 const Clock& clock)
    : opts_(std::move(opts)),
      bus_(bus),
      store_(store),
      launcher_(launcher),
      flows_(std::move(flows)),
      metrics_(metrics),
      clock_(clock) {
  if (metrics_) {
    m_events_ = &metrics_->counter("streamforge_manager_events_total",
                                   "queue-events records applied by the manager");
    m_events_invalid_ = &metrics_->counter("streamforge_manager_events_invalid_total",
                                           "queue-events records that failed to decode");
    m_events_ignored_ = &metrics_->counter(
        "streamforge_manager_events_ignored_total",
        "queue-events records for unknown queues or targets, or late for a final status");
    m_queues_started_ = &metrics_->counter("streamforge_manager_queues_started_total",
                                           "Queues accepted by the manager");
    m_queues_active_ = &metrics_->gauge("streamforge_manager_queues_active",
                                        "Queues not yet finished, failed or interrupted");
    m_queues_ended_ = &metrics_->counter_family(
        "streamforge_manager_queues_ended_total",
        "Queues that reached a final status, by status (finished, error, interrupted)", {"status"});
  }
}

Manager::~Manager() { shutdown(); }

Status Manager::start() {
  for (const auto& t : {opts_.control_topic, opts_.events_topic}) {
    SF_TRY(bus_.ensure_topic(bus::TopicSpec{t, 1}));
  }
  auto producer = bus_.producer();
  if (!producer) return producer.error();
  producer_ = std::move(*producer);

  auto stored = store_.list_queues();
  if (!stored) return stored.error();
  store::StateBatch batch;
  const double now = now_seconds(clock_);
  const int64_t steady = clock_.steady_ms();
  size_t interrupted = 0, resumed = 0;
  std::set<std::pair<std::string, std::string>> adopted;
  for (auto& k : launcher_.adopted()) adopted.insert(std::move(k));
  {
    std::lock_guard lk(mu_);
    for (auto& q : *stored) {
      QueueEntry e;
      std::vector<std::string> loader_ranges;
      for (auto& ts : q.targets) {
        TargetEntry t;
        t.state = std::move(ts);
        t.role = launcher_.role(t.state.target);
        t.symbol = TargetEntry::symbol_of(t.state.config_json);
        if (t.role == TargetRole::loader) loader_ranges.push_back(stored_range(q, t.state));
        t.last_heard_ms = steady;
        t.run = run_of(t.state.telemetry_id);
        e.run = std::max(e.run, t.run);
        e.targets.push_back(std::move(t));
      }
      e.estimate = estimate_loaders(q.type, loader_ranges, clock_.now_ms());
      q.targets.clear();
      e.q = std::move(q);
      bool alive = false;  // a target the launcher still runs (a Kubernetes Job)
      for (const auto& t : e.targets)
        alive = alive || (!protocol::is_terminal(parse_status(t.state.status)) &&
                          adopted.contains({e.q.queue_id, t.state.telemetry_id}));
      if (!protocol::is_terminal(parse_status(e.q.status))) {
        if (alive) ++resumed;
        // Workers of the embedded and process launchers died with the previous manager
        // process; Jobs the launcher adopted go on, and their events and ends come as usual.
        const std::string reason =
            "interrupted: the manager restarted while this queue was running (status was " +
            e.q.status + ")";
        for (auto& t : e.targets) {
          if (protocol::is_terminal(parse_status(t.state.status))) continue;
          if (adopted.contains({e.q.queue_id, t.state.telemetry_id})) continue;
          t.state.status = "interrupted";
          t.state.message = reason;
          t.state.updated_at = now;
          batch.target_updates.emplace_back(e.q.queue_id, t.state);
        }
        if (!alive) {
          e.q.status = "interrupted";
          e.q.message = reason;
          e.q.updated_at = now;
          batch.queue_updates.push_back(e.q);
          ++interrupted;
        }
      }
      order_.push_back(e.q.queue_id);
      queues_.emplace(e.q.queue_id, std::move(e));
    }
  }
  if (!batch.queue_updates.empty()) SF_TRY(store_.apply(batch));
  log::info("loaded " + std::to_string(stored->size()) + " queues from " + store_.describe() +
            "; " + std::to_string(interrupted) + " that were running marked interrupted" +
            (resumed ? "; " + std::to_string(resumed) + " followed on (their workers still run)"
                     : std::string()));
  if (m_queues_active_) m_queues_active_->set(static_cast<double>(resumed));

  // Subscribed before start() returns, so no event published after it can be missed.
  bus::SubscribeOptions so;
  so.group = opts_.consumer_group;
  so.topics = {opts_.events_topic};
  so.start_from = bus::StartFrom::earliest;
  auto consumer = bus_.subscribe(so);
  if (!consumer) return consumer.error();

  launcher_.set_exit_callback([this](const launch::ExitInfo& info) { on_worker_exit(info); });
  running_ = true;
  events_thread_ =
      std::thread([this, c = std::shared_ptr<bus::Consumer>(std::move(*consumer))]() mutable {
        event_loop(std::move(c));
      });
  return {};
}

void Manager::shutdown() {
  if (!running_.exchange(false)) return;
  if (events_thread_.joinable()) events_thread_.join();
  launcher_.set_exit_callback(nullptr);
  if (producer_) (void)producer_->flush(std::chrono::seconds(5));
}

size_t Manager::queue_count() const {
  std::lock_guard lk(mu_);
  return queues_.size();
}

std::string Manager::generate_queue_id(const protocol::StartRequest& req) {
  std::string sym = req.symbol;
  for (auto& c : sym) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string date =
      req.time_range.substr(0, 4) + req.time_range.substr(5, 2) + req.time_range.substr(8, 2);
  // Bounded so the id stays a safe name (200 characters) whatever the type's length.
  return "wf-" + sym + "-" + req.type.substr(0, 120) + "-" + date + "-" + random_hex(6);
}

Result<std::string> Manager::start_queue(protocol::StartRequest req) {
  // Every target must be runnable before anything is stored or launched.
  for (size_t i = 0; i < req.targets.size(); ++i) {
    if (!launcher_.knows(req.targets[i].target)) {
      std::string known;
      for (const auto& t : launcher_.targets()) known += (known.empty() ? "" : ", ") + t;
      return Error(
          Errc::invalid_argument,
          "unknown target '" + req.targets[i].target + "' (this manager runs: " + known + ")",
          "targets[" + std::to_string(i) + "].target");
    }
    if (auto s = launcher_.validate(req.targets[i].target, req.targets[i].extra); !s) {
      const std::string prefix = "targets[" + std::to_string(i) + "].";
      return Error(Errc::invalid_argument, prefix + s.error().field + ": " + s.error().message,
                   prefix + s.error().field);
    }
  }
  // What the loaders will fetch, told in the answer, and refused over the configured limit.
  std::vector<std::string> ranges;
  for (const auto& t : req.targets)
    if (launcher_.role(t.target) == TargetRole::loader)
      ranges.push_back(t.time_range.value_or(req.time_range));
  const workers::LoadEstimate estimate = estimate_loaders(req.type, ranges, clock_.now_ms());
  if (opts_.max_records > 0 && estimate.records && *estimate.records > opts_.max_records)
    return Error(Errc::invalid_argument,
                 "time_range holds " + std::to_string(*estimate.records) + " records of " +
                     req.type + ", over this manager's limit of " +
                     std::to_string(opts_.max_records) +
                     " records a request (--max-records); split the range into smaller requests",
                 "time_range");
  const std::string short_id = random_hex(6);
  if (!req.queue_id) req.queue_id = generate_queue_id(req);
  if (protocol::is_reserved_queue_id(*req.queue_id))
    return Error(Errc::invalid_argument, "queue_id '" + *req.queue_id + "' is reserved by the API",
                 "queue_id");
  std::set<std::string> ids;
  for (auto& t : req.targets) {
    if (t.telemetry_id) ids.insert(*t.telemetry_id);
  }
  for (auto& t : req.targets) {
    if (!t.telemetry_id) {
      std::string id = t.target + "__" + short_id;
      for (int n = 2; ids.count(id); ++n) id = t.target + "__" + short_id + "-" + std::to_string(n);
      ids.insert(id);
      t.telemetry_id = id;
    }
  }
  const double now = now_seconds(clock_);
  if (!req.timestamp) req.timestamp = now;
  req.command = "start";

  store::QueueState q;
  q.queue_id = *req.queue_id;
  q.symbol = req.symbol;
  q.type = req.type;
  q.time_range = req.time_range;
  q.status = "pending";
  q.created_at = now;
  q.updated_at = now;
  q.request_json = protocol::encode(req);
  for (const auto& t : req.targets) {
    store::TargetState ts;
    ts.telemetry_id = *t.telemetry_id;
    ts.target = t.target;
    ts.status = "pending";
    ts.updated_at = now;
    ts.config_json = protocol::encode(t);
    q.targets.push_back(std::move(ts));
  }

  {
    std::lock_guard lk(mu_);
    if (queues_.count(q.queue_id))
      return Error(Errc::already_exists, "queue '" + q.queue_id + "' already exists", "queue_id");
    // Stored while holding the lock so two requests for one id cannot both pass.
    SF_TRY(store_.create_queue(q));
    QueueEntry e;
    e.events_loaded = true;
    e.estimate = estimate;
    e.q = q;
    e.q.targets.clear();
    const int64_t steady = clock_.steady_ms();
    for (const auto& ts : q.targets) {
      TargetEntry t;
      t.state = ts;
      t.role = launcher_.role(ts.target);
      t.symbol = TargetEntry::symbol_of(ts.config_json);
      t.last_heard_ms = steady;
      e.targets.push_back(std::move(t));
    }
    order_.push_back(q.queue_id);
    queues_.emplace(q.queue_id, std::move(e));
    // Emitted in the same critical section as the insertion, so no status change of this
    // queue can reach a listener before its `pending`.
    emit(q.queue_id, queue_status_message(q, 0));
  }
  dispatch();
  if (m_queues_started_) m_queues_started_->inc();
  if (m_queues_active_) m_queues_active_->inc();
  log::info("queue accepted with " + std::to_string(req.targets.size()) + " targets", q.queue_id);

  // The answer is the queue as accepted (`pending`): rendered before the launch, so an
  // in-process target that starts at once cannot change it under the caller.
  auto answer = queue_json(q.queue_id);
  launch_run(req, q.queue_id, now);
  return answer;
}

std::map<std::string, int64_t> Manager::run_start_offsets(
    const std::vector<protocol::TargetSpec>& targets) {
  std::map<std::string, int64_t> out;
  for (const auto& t : targets) {
    if (!t.kafka_topic || out.count(*t.kafka_topic)) continue;
    auto end = bus_.end_offset(*t.kafka_topic, 0);
    if (end) {
      out[*t.kafka_topic] = *end;
    } else if (end.error().code == Errc::not_found) {
      out[*t.kafka_topic] = 0;  // the loader creates it
    } else {
      // Unknown: the connector then reads the whole topic (earlier runs' records are
      // upserted again, harmless; an earlier run's end marker may end it early).
      log::warn("cannot read the end of " + *t.kafka_topic + ": " + end.error().message);
      out[*t.kafka_topic] = -1;
    }
  }
  return out;
}

void Manager::launch_run(const protocol::StartRequest& req, const std::string& queue_id, double now,
                         size_t first_target) {
  RunSpec run;
  run.queue_id = queue_id;
  run.symbol = req.symbol;
  run.type = req.type;
  run.time_range = req.time_range;
  // Every target of this run shares its id and starts at the data topic's current end, read
  // before any loader of the run can publish (docs/workers.md, "Runs").
  run.run_id = random_hex(8);
  run.data_offsets = run_start_offsets(req.targets);
  run.control_topic = opts_.control_topic;
  run.events_topic = opts_.events_topic;
  run.extra_env = opts_.worker_env;
  run.timestamp = now;
  // Publish each start command, then launch. When a launch fails, that target fails, the
  // targets not launched yet are not launched at all, and the launched ones are stopped.
  for (size_t ti = 0; ti < req.targets.size(); ++ti) {
    const auto& t = req.targets[ti];
    const TargetStart ts = build_target_start(run, t);
    auto end = bus_.end_offset(opts_.control_topic, 0);
    auto offset = producer_->produce(opts_.control_topic, queue_id, protocol::encode(ts.command));
    Status launched;
    if (!offset) {
      launched = offset.error();
    } else {
      const int64_t control_offset = *offset >= 0 ? *offset : (end ? *end : 0);
      launched = launcher_.launch(
          launch::LaunchSpec{queue_id, t.target, *t.telemetry_id, ts.env(control_offset)});
    }
    if (!launched) {
      log::error("cannot launch " + *t.telemetry_id + ": " + launched.error().message, queue_id);
      {
        std::lock_guard lk(mu_);
        QueueEntry& e = queues_.at(queue_id);
        for (size_t k = first_target + ti; k < e.targets.size(); ++k) {
          if (k == first_target + ti)
            set_target(e, e.targets[k], RunStatus::error,
                       "launch failed: " + launched.error().message, std::nullopt, deferred_);
          else
            set_target(e, e.targets[k], RunStatus::interrupted,
                       "not launched: " + *t.telemetry_id + " failed to launch", std::nullopt,
                       deferred_);
        }
        refresh_queue(e, deferred_);  // persisted by the event loop
      }
      dispatch();
      break;
    }
  }
}

std::optional<std::vector<std::string>> Manager::missing_in_store(const QueueEntry& e) {
  if (!data_store_) return std::nullopt;
  // The store now, not the report of the last run: rows may have gone since.
  std::vector<std::string> out;
  auto kind = market::kind_for_type(e.q.type);
  auto interval = market::interval_for_type(e.q.type);
  auto range = protocol::parse_time_range(e.q.time_range);
  auto req = protocol::decode_start_request(e.q.request_json);
  if (!kind || !range || !req) return std::nullopt;
  // The collections the queue's connectors write.
  std::vector<std::string> collections;
  for (const auto& spec : req->targets)
    if (launcher_.role(spec.target) == TargetRole::connector && spec.collection_name &&
        std::find(collections.begin(), collections.end(), *spec.collection_name) ==
            collections.end())
      collections.push_back(*spec.collection_name);
  if (*kind != market::Kind::candle && !market::has_ids(*kind)) return std::nullopt;  // books
  if (market::has_ids(*kind)) {
    // Trades by id: the gaps between stored ids, and the edges against the first run's ids.
    const ExpectedIds ids = e.expected_ids();
    store::IdGapQuery q;
    q.symbol = e.q.symbol;
    q.from_ms = range->start_ms;
    q.to_ms = range->end_ms;
    q.expected_first = ids.first;
    q.expected_last = ids.last;
    for (const auto& name : collections) {
      auto gaps = data_store_->missing_ids(name, q);
      if (!gaps && gaps.error().code == Errc::not_found)  // nothing stored at all
        gaps = store::assemble_missing_ids(q, {}, {}, std::nullopt);
      if (!gaps) {
        log::warn("repair: cannot check the ids of " + name + ": " + gaps.error().message,
                  e.q.queue_id);
        return std::nullopt;
      }
      for (const auto& g : *gaps) {
        std::string m = protocol::format_id_range(g.first, g.last);
        if (std::find(out.begin(), out.end(), m) == out.end()) out.push_back(std::move(m));
      }
    }
    return out;
  }
  const int64_t step = interval ? market::interval_ms(*interval) : 0;
  if (step <= 0) return std::nullopt;  // calendar months
  for (const auto& collection : collections) {
    store::Query q;
    q.symbol = e.q.symbol;
    q.interval = *interval;
    q.from_ms = range->start_ms;
    q.to_ms = range->end_ms;
    auto opens = data_store_->times(collection, q);
    std::vector<int64_t> none;
    if (!opens && opens.error().code != Errc::not_found) return std::nullopt;
    for (auto& m : workers::missing_candle_ranges(opens ? *opens : none, range->start_ms,
                                                  range->end_ms, step, clock_.now_ms()))
      if (std::find(out.begin(), out.end(), m) == out.end()) out.push_back(std::move(m));
  }
  return out;
}

Result<Manager::RepairAnswer> Manager::repair_queue(const std::string& queue_id) {
  protocol::StartRequest run;
  size_t first_target = 0;
  RepairAnswer answer;
  std::vector<std::string> missing;
  const double now = now_seconds(clock_);
  {
    std::lock_guard lk(mu_);
    auto it = queues_.find(queue_id);
    if (it == queues_.end())
      return Error(Errc::not_found, "no queue '" + queue_id + "'", "queue_id");
    QueueEntry& e = it->second;
    if (market::is_live_type(e.q.type)) {
      const auto kind = market::kind_for_type(e.q.type);
      const std::string_view historical = kind ? market::kind_info(*kind).workflow_type : "";
      return Error(
          Errc::invalid_argument,
          "queue '" + queue_id + "' streams live data (" + e.q.type +
              "): a repair cannot stream the past; " +
              (historical.empty() ? std::string("a book's past is not served by the exchange")
                                  : "load the missing range with a historical flow of type " +
                                        std::string(historical)),
          "queue_id");
    }
    if (!protocol::is_terminal(parse_status(e.q.status)) || e.any_live())
      return Error(
          Errc::already_exists,
          "queue '" + queue_id + "' is still " + e.q.status + ": repair it once it has ended",
          "queue_id");
    if (!e.completeness().known)
      return Error(Errc::invalid_argument,
                   "queue '" + queue_id + "' has no loaders and connectors: nothing to repair",
                   "queue_id");
    load_events(e);  // a trades loader's first and last id, after a restart
    const Completeness c = e.completeness();
    const auto kind = market::kind_for_type(e.q.type);
    const bool trades = kind && market::has_ids(*kind);
    const ExpectedIds ids = e.expected_ids();
    // The store now, not the report of the last run (rows may have gone since); where the
    // store cannot be checked (no data store here), the report as it stands. Trades whose
    // range's first and last id are unknown: only gaps between stored ids can be seen, so an
    // empty answer proves nothing.
    const auto in_store = missing_in_store(e);
    missing = in_store ? *in_store : c.missing;
    const bool store_is_sure = in_store && (!trades || ids.known);
    if (missing.empty() && (store_is_sure || c.complete())) {
      json::Writer(answer.json)
          .begin_object()
          .kv("queue_id", queue_id)
          .key("missing_ranges")
          .begin_array()
          .end_array()
          .kv("message", "nothing is missing: the store holds the whole range " + e.q.time_range)
          .end_object();
      return answer;
    }
    if (missing.empty())
      return Error(
          Errc::invalid_argument,
          "queue '" + queue_id + "' is incomplete but " +
              (trades ? std::string("the store shows no gap between the trade ids it holds, and "
                                    "the first run's loaders did not finish (so the range's "
                                    "first and last id are unknown) and no missing range can be "
                                    "named")
                      : std::string("its report names no missing range")) +
              ": start it again instead",
          "queue_id");
    // The new run: one loader per missing range (each a copy of the queue's first loader),
    // and the connectors again, waiting for as many end markers.
    const int next_run = e.run + 1;
    const std::string suffix = std::string(kRepairSuffix) + std::to_string(next_run);
    auto req = protocol::decode_start_request(e.q.request_json);
    if (!req) return Error(Errc::internal, "stored start request: " + req.error().message);
    std::optional<protocol::TargetSpec> loader;
    std::vector<protocol::TargetSpec> connectors;
    for (auto& spec : req->targets) {
      const TargetRole role = launcher_.role(spec.target);
      if (role == TargetRole::loader && !loader) loader = spec;
      if (role == TargetRole::connector) connectors.push_back(spec);
    }
    if (!loader || connectors.empty())
      return Error(Errc::invalid_argument,
                   "queue '" + queue_id + "' has no loader or no connector to repair with",
                   "queue_id");
    run.symbol = e.q.symbol;
    run.type = e.q.type;
    run.time_range = e.q.time_range;
    run.queue_id = queue_id;
    run.timestamp = now;
    for (size_t i = 0; i < missing.size(); ++i) {
      protocol::TargetSpec l = *loader;
      if (protocol::is_id_range_text(missing[i])) {
        // Trades: the ids, within the loader's own range.
        auto r = protocol::parse_id_range(missing[i], "missing_ranges");
        if (!r) return Error(Errc::internal, "repair of " + queue_id + ": " + r.error().message);
        l.extra["from_id"] = r->first;
        l.extra["to_id"] = r->last;
      } else {
        l.time_range = missing[i];
      }
      l.telemetry_id = *loader->telemetry_id + "-" + std::to_string(i + 1) + suffix;
      run.targets.push_back(std::move(l));
    }
    for (auto& c : connectors) {
      c.telemetry_id = *c.telemetry_id + suffix;
      c.extra["end_markers"] = static_cast<int64_t>(missing.size());
      // Trades: the range's first and last id, so the connectors' check sees its edges.
      if (trades && ids.first && ids.last) {
        c.extra["expected_first_id"] = *ids.first;
        c.extra["expected_last_id"] = *ids.last;
      }
      run.targets.push_back(std::move(c));
    }
    // The queue starts over as this run (a repair is the one way back from a final status).
    first_target = e.targets.size();
    e.run = next_run;
    for (const auto& spec : run.targets) {
      TargetEntry t;
      t.state.telemetry_id = *spec.telemetry_id;
      t.state.target = spec.target;
      t.state.status = "pending";
      t.state.updated_at = now;
      t.state.config_json = protocol::encode(spec);
      t.role = launcher_.role(spec.target);
      t.symbol = spec.symbol.value_or("");
      t.last_heard_ms = clock_.steady_ms();
      t.run = next_run;
      deferred_.target_updates.emplace_back(queue_id, t.state);
      e.targets.push_back(std::move(t));
    }
    e.stop_requested = e.user_stop = false;
    e.q.status = "pending";
    e.q.message = "repairing " + std::to_string(missing.size()) + " missing range" +
                  (missing.size() == 1 ? "" : "s");
    e.q.updated_at = now;
    e.summary_dirty = true;
    deferred_.queue_updates.push_back(e.q);
    if (m_queues_active_) m_queues_active_->inc();
    emit(queue_id, queue_status_message(e.q, 0));
    json::Writer w(answer.json);
    w.begin_object().kv("queue_id", queue_id).kv_int("run", next_run);
    w.key("missing_ranges").begin_array();
    for (const auto& m : missing) w.str(m);
    w.end_array().kv("message", e.q.message).end_object();
    answer.started = true;
  }
  dispatch();
  log::info("repair: loading " + std::to_string(missing.size()) + " missing ranges", queue_id);
  launch_run(run, queue_id, now, first_target);
  return answer;
}

Result<std::string> Manager::start_test_flow(const protocol::TestFlowRequest& req) {
  auto body = flows_.render(req, random_hex(6));
  if (!body) return body.error();
  return start_queue(std::move(*body));
}

Result<std::string> Manager::stop_queue(const std::string& queue_id) {
  {
    std::lock_guard lk(mu_);
    auto it = queues_.find(queue_id);
    if (it == queues_.end())
      return Error(Errc::not_found, "no queue '" + queue_id + "'", "queue_id");
    QueueEntry& e = it->second;
    // Also for a queue already in error whose other targets are still winding down.
    if (!e.user_stop && e.any_live()) {
      e.user_stop = true;
      if (!e.stop_requested) {
        e.stop_requested = true;
        e.stop_requested_ms = clock_.steady_ms();
      }
      send_stop(e, std::nullopt);
      log::info("stop requested", queue_id);
    }
  }
  return queue_json(queue_id);
}

void Manager::send_stop(const QueueEntry& e, const std::optional<std::string>& telemetry_id) {
  protocol::Command cmd;
  cmd.command = protocol::CommandType::stop;
  cmd.queue_id = e.q.queue_id;
  cmd.telemetry_id = telemetry_id;
  cmd.timestamp = now_seconds(clock_);
  auto r = producer_->produce(opts_.control_topic, e.q.queue_id, protocol::encode(cmd));
  if (!r) log::error("cannot publish stop: " + r.error().message, e.q.queue_id);
}

void Manager::set_target(QueueEntry& e, TargetEntry& t, RunStatus st, const std::string& message,
                         std::optional<int64_t> records, store::StateBatch& batch) {
  t.state.status = protocol::to_string(st);
  t.state.message = message;
  if (records) t.state.records_written = std::max(t.state.records_written, *records);
  t.state.updated_at = now_seconds(clock_);
  batch.target_updates.emplace_back(e.q.queue_id, t.state);
  e.summary_dirty = true;
  emit(e.q.queue_id, target_status_message(e.q.queue_id, t.state));
}

void Manager::refresh_queue(QueueEntry& e, store::StateBatch& batch) {
  RunStatus cur = parse_status(e.q.status);
  if (protocol::is_terminal(cur)) return;  // final
  bool all_terminal = true, any_error = false, any_interrupted = false;
  int max_rank = 0;
  std::string error_msg;
  for (const auto& t : e.targets) {
    if (t.run != e.run) continue;  // an earlier run's targets are history
    RunStatus s = parse_status(t.state.status);
    all_terminal = all_terminal && protocol::is_terminal(s);
    if (s == RunStatus::error && !any_error) {
      any_error = true;
      error_msg = t.state.telemetry_id + ": " + t.state.message;
    }
    any_interrupted = any_interrupted || s == RunStatus::interrupted;
    if (!protocol::is_terminal(s)) max_rank = std::max(max_rank, protocol::status_rank(s));
  }
  RunStatus next = cur;
  std::string message = e.q.message;
  if (e.user_stop) {
    // After a stop the queue ends interrupted, whatever the targets reported on the way.
    if (all_terminal) {
      next = RunStatus::interrupted;
      message = any_error ? "stopped by request (" + error_msg + ")" : "stopped by request";
    }
  } else if (any_error) {
    next = RunStatus::error;
    message = error_msg;
  } else if (all_terminal) {
    if (e.stop_requested || any_interrupted) {
      next = RunStatus::interrupted;
      message = e.stop_requested ? "stopped by request" : "a target was interrupted";
    } else {
      next = RunStatus::finished;
      message = "";
      // Finished is not success when the store holds less than was expected: say so.
      if (auto c = e.completeness(); c.known && !c.complete()) {
        message = "incomplete: " + std::to_string(c.stored >= 0 ? c.stored : c.written) +
                  " records written of " +
                  std::to_string(c.expected >= 0 ? c.expected : c.published) + " expected";
        if (c.dlq > 0) message += ", " + std::to_string(c.dlq) + " sent to the DLQ";
        if (!c.missing.empty()) {
          message += "; missing";
          for (size_t i = 0; i < c.missing.size() && i < 10; ++i) message += " " + c.missing[i];
          if (c.missing.size() > 10) message += " ...";
        }
      }
    }
  } else if (max_rank >= protocol::status_rank(RunStatus::loading)) {
    next = RunStatus::loading;
  } else if (max_rank >= protocol::status_rank(RunStatus::started)) {
    next = RunStatus::started;
  }
  if (protocol::status_rank(next) < protocol::status_rank(cur)) return;
  if (next == cur && message == e.q.message) return;
  e.q.status = protocol::to_string(next);
  e.q.message = message;
  e.q.updated_at = now_seconds(clock_);
  e.summary_dirty = true;
  batch.queue_updates.push_back(e.q);
  if (protocol::is_terminal(next)) {
    if (m_queues_active_) m_queues_active_->dec();
    if (m_queues_ended_) m_queues_ended_->with({{"status", e.q.status}}).inc();
    log::info("queue " + e.q.status + (message.empty() ? "" : ": " + message), e.q.queue_id);
    if (next == RunStatus::error && e.any_live()) {
      // The workflow cannot complete: stop the remaining targets (killed after the grace).
      e.stop_requested = true;
      e.stop_requested_ms = clock_.steady_ms();
      send_stop(e, std::nullopt);
    }
  }
  emit(e.q.queue_id, queue_status_message(e.q, e.records_written()));
}

void Manager::handle_event(const bus::Record& rec, store::StateBatch& batch) {
  auto ev = protocol::decode_event(rec.value);
  if (!ev) {
    if (m_events_invalid_) m_events_invalid_->inc();
    log::warn("ignoring malformed queue-events record at offset " + std::to_string(rec.offset) +
              ": " + ev.error().message);
    return;
  }
  auto it = queues_.find(ev->queue_id);
  TargetEntry* t = nullptr;
  if (it != queues_.end()) {
    for (auto& tg : it->second.targets)
      if (tg.state.telemetry_id == ev->producer) t = &tg;
  }
  if (!t) {
    if (m_events_ignored_) m_events_ignored_->inc();
    return;
  }
  if (m_events_) m_events_->inc();
  QueueEntry& e = it->second;
  t->last_heard_ms = clock_.steady_ms();

  // Keep the event for GET /queues/{id}, the store and the WebSocket feed.
  std::string ev_json = protocol::encode(*ev);
  e.recent.push_back(ev_json);
  while (e.recent.size() > opts_.recent_events) e.recent.pop_front();
  // The store keeps every event except repeated `loading` progress, of which it keeps one
  // a second per target: writing (and later trimming) each of thousands a second would
  // cost more than everything else the manager does.
  const int64_t now_ms = clock_.steady_ms();
  if (ev->status != RunStatus::loading || ev->status != parse_status(t->state.status) ||
      now_ms - t->last_stored_event_ms >= 1000) {
    t->last_stored_event_ms = now_ms;
    batch.events.push_back(store::StoredEvent{ev->queue_id, ev->timestamp, ev_json});
    // A long-running queue's stored events are trimmed now and then, not only at its end.
    if (++e.events_since_trim > 10 * opts_.events_kept_per_queue) {
      e.events_since_trim = 0;
      trim_due_.push_back(e.q.queue_id);
    }
  }
  emit(ev->queue_id, event_message(ev->queue_id, ev_json));
  if (ev->status == RunStatus::pong) return;

  RunStatus cur = parse_status(t->state.status);
  if (protocol::is_terminal(cur)) {
    if (m_events_ignored_) m_events_ignored_->inc();
    return;  // late or duplicate: a final status is final
  }
  if (protocol::status_rank(ev->status) < protocol::status_rank(cur)) {
    // Late event: keep the newer status, but a larger count is still news.
    if (ev->records_written && *ev->records_written > t->state.records_written) {
      t->state.records_written = *ev->records_written;
      batch.target_updates.emplace_back(e.q.queue_id, t->state);
      e.summary_dirty = true;
    }
    return;
  }
  t->take_completeness(*ev);
  set_target(e, *t, ev->status, ev->message.value_or(""), ev->records_written, batch);
  refresh_queue(e, batch);
}

void Manager::on_worker_exit(const launch::ExitInfo& info) {
  std::lock_guard lk(mu_);
  auto it = queues_.find(info.queue_id);
  if (it == queues_.end()) return;
  for (auto& t : it->second.targets) {
    if (t.state.telemetry_id != info.telemetry_id) continue;
    if (protocol::is_terminal(parse_status(t.state.status))) return;
    // The final event may still be on its way through the bus: decide in check_timers.
    t.exited_at_ms = clock_.steady_ms();
    // Its final event, if any, was produced before it exited: wait until the event loop has
    // handled everything up to here before deciding it sent none.
    auto end = bus_.end_offset(opts_.events_topic, 0);
    t.exit_events_end = end ? *end : 0;
    t.exit_reason =
        info.reason.empty() ? "exit status " + std::to_string(info.exit_code) : info.reason;
  }
}

void Manager::check_timers(store::StateBatch& batch) {
  const int64_t now = clock_.steady_ms();
  const auto hb_ms = static_cast<int64_t>(opts_.heartbeat_timeout_s * 1000);
  const auto grace_ms = static_cast<int64_t>(opts_.stop_grace_s * 1000);
  const auto exit_ms = static_cast<int64_t>(opts_.exit_grace_s * 1000);
  for (auto& [id, e] : queues_) {
    // An errored queue may still have targets winding down; the stop grace applies.
    if (!e.any_live()) continue;
    bool changed = false;
    for (auto& t : e.targets) {
      RunStatus s = parse_status(t.state.status);
      if (protocol::is_terminal(s)) continue;
      if (t.exited_at_ms >= 0 && now - t.exited_at_ms >= exit_ms &&
          processed_offset_ + 1 >= t.exit_events_end) {
        set_target(e, t, RunStatus::error,
                   "worker exited without a final event (" + t.exit_reason + ")", std::nullopt,
                   batch);
        changed = true;
      } else if (e.stop_requested && now - e.stop_requested_ms >= grace_ms) {
        if (!t.killed) launcher_.kill(id, t.state.telemetry_id);
        t.killed = true;
        set_target(e, t, RunStatus::interrupted,
                   "stopped; the worker did not confirm within " + std::to_string(grace_ms / 1000) +
                       " s and was killed",
                   std::nullopt, batch);
        changed = true;
      } else if (now - t.last_heard_ms >= hb_ms) {
        launcher_.kill(id, t.state.telemetry_id);
        t.killed = true;
        set_target(e, t, RunStatus::error,
                   "lost: no event for " + std::to_string(hb_ms / 1000) + " s", std::nullopt,
                   batch);
        changed = true;
      }
    }
    if (changed) refresh_queue(e, batch);
  }
}

Status Manager::persist(store::StateBatch& batch) {
  // Many events of one target in a batch need only its last state written.
  {
    std::set<std::pair<std::string, std::string>> seen;
    std::vector<std::pair<std::string, store::TargetState>> kept;
    for (auto it = batch.target_updates.rbegin(); it != batch.target_updates.rend(); ++it)
      if (seen.emplace(it->first, it->second.telemetry_id).second) kept.push_back(std::move(*it));
    batch.target_updates.assign(std::make_move_iterator(kept.rbegin()),
                                std::make_move_iterator(kept.rend()));
  }
  {
    std::set<std::string> seen;
    std::vector<store::QueueState> kept;
    for (auto it = batch.queue_updates.rbegin(); it != batch.queue_updates.rend(); ++it)
      if (seen.insert(it->queue_id).second) kept.push_back(std::move(*it));
    batch.queue_updates.assign(std::make_move_iterator(kept.rbegin()),
                               std::make_move_iterator(kept.rend()));
  }
  auto s = store_.apply(batch);
  if (!s) log::error("cannot persist queue state: " + s.error().message);
  return s;
}

void Manager::event_loop(std::shared_ptr<bus::Consumer> consumer) {
  bus::SubscribeOptions so;
  so.group = opts_.consumer_group;
  so.topics = {opts_.events_topic};
  so.start_from = bus::StartFrom::earliest;
  int64_t last_timer = 0;
  std::vector<std::string> to_trim;
  while (running_) {
    if (!consumer) {
      auto c = bus_.subscribe(so);
      if (!c) {
        log::error("cannot consume queue-events: " + c.error().message);
        std::this_thread::sleep_for(std::chrono::seconds(1));
        continue;
      }
      consumer = std::shared_ptr<bus::Consumer>(std::move(*c));
    }
    auto recs = consumer->poll(2000, std::chrono::milliseconds(100));
    if (!recs) {
      log::error("queue-events poll failed: " + recs.error().message);
      consumer.reset();
      continue;
    }
    store::StateBatch batch;
    {
      std::lock_guard lk(mu_);
      batch = std::move(deferred_);
      deferred_ = {};
      for (const auto& r : *recs) {
        handle_event(r, batch);
        processed_offset_ = r.offset;
      }
      const int64_t now = clock_.steady_ms();
      if (now - last_timer >= 200) {
        last_timer = now;
        check_timers(batch);
      }
      for (const auto& q : batch.queue_updates)
        if (protocol::is_terminal(parse_status(q.status))) to_trim.push_back(q.queue_id);
      to_trim.insert(to_trim.end(), trim_due_.begin(), trim_due_.end());
      trim_due_.clear();
    }
    dispatch();
    if (!batch.events.empty() || !batch.queue_updates.empty() || !batch.target_updates.empty()) {
      // Offsets are committed only once the state is durable. The in-memory state already
      // holds these changes, so the same batch is retried until the store takes it.
      while (!persist(batch) && running_)
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    if (!recs->empty()) (void)consumer->commit(recs->back());
    for (const auto& id : to_trim) (void)store_.trim_events(id, opts_.events_kept_per_queue);
    to_trim.clear();
  }
  if (consumer) consumer->close();
}

uint64_t Manager::subscribe(Listener l) {
  std::lock_guard lk(listeners_mu_);
  listeners_[next_listener_] = std::move(l);
  return next_listener_++;
}

void Manager::unsubscribe(uint64_t id) {
  std::lock_guard lk(listeners_mu_);
  listeners_.erase(id);
}

void Manager::emit(const std::string& queue_id, std::string msg) {
  outbox_.emplace_back(queue_id, std::move(msg));
}

void Manager::dispatch() {
  // One deliverer at a time, in the order the changes were made (emit() runs under mu_),
  // and without mu_ held so listeners may call back into the manager.
  std::lock_guard dl(dispatch_mu_);
  for (;;) {
    std::deque<std::pair<std::string, std::string>> out;
    {
      std::lock_guard lk(mu_);
      out.swap(outbox_);
    }
    if (out.empty()) return;
    std::vector<Listener> ls;
    {
      std::lock_guard lk(listeners_mu_);
      for (const auto& [id, l] : listeners_) ls.push_back(l);
    }
    if (ls.empty()) continue;
    for (const auto& [qid, msg] : out)
      for (const auto& l : ls) l(qid, msg);
  }
}

const std::string& Manager::summary(QueueEntry& e) {
  if (e.summary_dirty) {
    e.summary = queue_summary_json(e);
    e.summary_dirty = false;
  }
  return e.summary;
}

Result<std::string> Manager::queue_json(const std::string& queue_id) {
  std::lock_guard lk(mu_);
  auto it = queues_.find(queue_id);
  if (it == queues_.end()) return Error(Errc::not_found, "no queue '" + queue_id + "'", "queue_id");
  QueueEntry& e = it->second;
  load_events(e);
  return manager::queue_json(e, opts_.exchange_weight_per_minute);
}

void Manager::load_events(QueueEntry& e) {
  if (e.events_loaded) return;
  // Queues loaded at start-up get their stored events on first look.
  e.events_loaded = true;
  auto stored = store_.recent_events(e.q.queue_id, opts_.recent_events);
  if (!stored) return;
  std::deque<std::string> recent;
  for (auto& ev : *stored) {
    // Completeness fields of the stored final events (lost with the old process).
    if (auto decoded = protocol::decode_event(ev.json))
      for (auto& t : e.targets)
        if (t.state.telemetry_id == decoded->producer) t.take_completeness(*decoded);
    recent.push_back(std::move(ev.json));
  }
  for (auto& ev : e.recent) recent.push_back(std::move(ev));
  while (recent.size() > opts_.recent_events) recent.pop_front();
  e.recent = std::move(recent);
}

std::string Manager::list_json(const std::string& status_filter) {
  std::lock_guard lk(mu_);
  std::vector<std::string_view> summaries;
  summaries.reserve(order_.size());
  for (const auto& id : order_) {
    QueueEntry& e = queues_.at(id);
    if (status_filter.empty() || e.q.status == status_filter) summaries.push_back(summary(e));
  }
  return queue_list_json(summaries);
}

}  // namespace sf::manager
