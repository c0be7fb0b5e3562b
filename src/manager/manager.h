// The queue-manager's core (docs/architecture.md): the workflow life cycle, independent of HTTP.
//
// start_queue(): validate, store the queue as `pending`, publish a `start` command per
// target to queue-control, launch each target through the Launcher.
// A background thread consumes queue-events (consumer group `queue-manager`), updates each
// target's and the queue's status, persists the changes in one store transaction per
// batch, commits the bus offsets only after that, and tells listeners (the WebSocket feed).
//
// Status rules: pending < started < loading < finished|error|interrupted. A status never
// moves backwards and a terminal status is final, so duplicate or late events change
// nothing. A queue is `finished` when every target finished, `error` as soon as one target
// fails (the others are sent `stop`), `interrupted` after stop_queue() once its targets
// ended. A target silent for longer than the heartbeat timeout is marked `error` ("lost").
// A worker that exits without a final event is marked `error` with its exit status.
//
// A target's role (loader, connector, other) comes from the launcher (Launcher::role(), the
// worker registry), never from its name: loaders make the load estimate, loaders and
// connectors the completeness report (queue_entry.h), and a repair reruns them.
//
// On start-up, queues that were running when the manager died are marked `interrupted`
// with the reason (workers of the embedded launcher do not survive their manager).
//
// Thread-safety: every public method may be called from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "bus/bus.h"
#include "launch/launcher.h"
#include "manager/flows.h"
#include "manager/queue_entry.h"
#include "protocol/messages.h"
#include "protocol/target_role.h"
#include "store/data_store.h"
#include "store/state_store.h"

namespace sf::metrics {
class Registry;
class Counter;
class Gauge;
template <typename M>
class Family;
using CounterFamily = Family<Counter>;
}  // namespace sf::metrics

namespace sf::manager {

struct ManagerOptions {
  double heartbeat_timeout_s = 60;     // a running target silent this long is lost
  double stop_grace_s = 5;             // after stop, targets still running are killed
  double exit_grace_s = 2;             // wait for a final event after a worker exits
  size_t events_kept_per_queue = 200;  // persisted events per queue
  size_t recent_events = 20;           // events shown by GET /queues/{id}
  std::string consumer_group = "queue-manager";
  std::string control_topic = bus::kControlTopic;
  std::string events_topic = bus::kEventsTopic;
  // Added to every worker's environment (e.g. EXCHANGE_URL); the target's own wins.
  std::map<std::string, std::string> worker_env;
  // The request weight loaders may spend a minute (the exchange's limit times the weight
  // fraction): turns a request's estimate into a duration.
  double exchange_weight_per_minute = 6000 * 0.8;
  // A start whose loaders would fetch more records than this (as far as it is known before
  // they run: candles) is refused with 422. 0: no limit.
  int64_t max_records = 0;
};

class Manager {
 public:
  Manager(ManagerOptions opts, bus::Bus& bus, store::StateStore& store, launch::Launcher& launcher,
          Flows flows, metrics::Registry* metrics = nullptr,
          const Clock& clock = SystemClock::instance());
  ~Manager();

  // Loads stored queues (marking the ones that were running interrupted), creates the
  // control topics and starts consuming events. Call once.
  Status start();
  // Stops consuming; does not stop workers (the launcher's shutdown does).
  void shutdown();

  // Errc::invalid_argument (422) for unknown targets or bad settings, already_exists (409)
  // for a queue_id in use. Returns the queue's JSON (as GET /queues/{id}).
  Result<std::string> start_queue(protocol::StartRequest req);
  // Errc::not_found for an unknown flow, invalid_argument for a template it cannot fill.
  Result<std::string> start_test_flow(const protocol::TestFlowRequest& req);
  // Sends `stop` to every target of the queue. Errc::not_found for an unknown queue.
  Result<std::string> stop_queue(const std::string& queue_id);
  // Loads what the store lacks of a finished queue's range (docs/api.md "repair"): checks
  // the store (candles by open time, trades by id; without a data store, the completeness
  // report's ranges) and, when ranges are missing, starts a new run of the queue with one
  // loader per range (trades: with from_id/to_id) and its connectors. Errc::not_found for an
  // unknown queue, already_exists (409) for a queue still running, invalid_argument for a queue
  // without loaders and connectors. `started` tells whether a run was started (false: nothing is
  // missing).
  struct RepairAnswer {
    bool started = false;
    std::string json;  // {"queue_id", "missing_ranges", "message"[, "run"]}
  };
  Result<RepairAnswer> repair_queue(const std::string& queue_id);
  // The data store connectors write to, which repair_queue() checks; null: none (the
  // completeness report is then taken as it stands). Call before start().
  void set_data_store(store::DataStore* data_store) { data_store_ = data_store; }
  // {"queue_id":..., "status":..., "targets":[...], "events":[...], ...}
  Result<std::string> queue_json(const std::string& queue_id);
  // {"queues":[summary, ...]} oldest first; `status` filters when not empty.
  std::string list_json(const std::string& status_filter = {});
  const Flows& flows() const { return flows_; }
  const launch::Launcher& launcher() const { return launcher_; }
  size_t queue_count() const;

  // Listeners get (queue_id, message JSON) for every event and status change, on the
  // manager's threads; they must not block (the WebSocket session queues the message).
  using Listener = std::function<void(const std::string& queue_id, const std::string& json)>;
  uint64_t subscribe(Listener l);
  void unsubscribe(uint64_t id);

 private:
  void event_loop(std::shared_ptr<bus::Consumer> consumer);
  // The methods below taking a batch run with mu_ held.
  void handle_event(const bus::Record& rec, store::StateBatch& batch);
  void check_timers(store::StateBatch& batch);
  void on_worker_exit(const launch::ExitInfo& info);
  // Recomputes the queue status after target changes; records the change.
  void refresh_queue(QueueEntry& e, store::StateBatch& batch);
  void set_target(QueueEntry& e, TargetEntry& t, protocol::RunStatus st, const std::string& message,
                  std::optional<int64_t> records, store::StateBatch& batch);
  void send_stop(const QueueEntry& e, const std::optional<std::string>& telemetry_id);
  // Queues a listener message (mu_ held); dispatch() delivers the queue in order.
  void emit(const std::string& queue_id, std::string msg);
  void dispatch();
  // The queue's list entry, rendered again only after a change.
  const std::string& summary(QueueEntry& e);
  std::string generate_queue_id(const protocol::StartRequest& req);
  Status persist(store::StateBatch& batch);
  // The data topics' end offsets (partition 0) now: where a run about to launch begins.
  std::map<std::string, int64_t> run_start_offsets(
      const std::vector<protocol::TargetSpec>& targets);
  // Publishes the start commands of `req`'s targets and launches them as one run; the
  // targets are the queue's entries from `first_target` on.
  void launch_run(const protocol::StartRequest& req, const std::string& queue_id, double now,
                  size_t first_target = 0);
  // The ranges of the queue's range its connectors' collections lack now: candles of a fixed
  // interval by open time (time ranges), trades by id (id ranges; at the range's edges only
  // when the first run's loaders reported its first and last id: QueueEntry::expected_ids).
  // nullopt when the store cannot tell (calendar months, no data store, a store error).
  std::optional<std::vector<std::string>> missing_in_store(const QueueEntry& e);
  // Reads a queue's stored events once (queues loaded at start-up): its recent events and the
  // completeness fields of its targets' final events. mu_ held.
  void load_events(QueueEntry& e);

  ManagerOptions opts_;
  bus::Bus& bus_;
  store::StateStore& store_;
  launch::Launcher& launcher_;
  Flows flows_;
  metrics::Registry* metrics_;
  const Clock& clock_;
  store::DataStore* data_store_ = nullptr;

  mutable std::mutex mu_;
  std::map<std::string, QueueEntry> queues_;
  std::vector<std::string> order_;                          // queue ids, oldest first
  std::deque<std::pair<std::string, std::string>> outbox_;  // listener messages, in order
  store::StateBatch deferred_;         // changes made outside the event loop, persisted by it
  int64_t processed_offset_ = -1;      // last queue-events offset handled
  std::vector<std::string> trim_due_;  // queues whose stored events need trimming
  std::mutex dispatch_mu_;
  std::unique_ptr<bus::Producer> producer_;
  std::thread events_thread_;
  std::atomic<bool> running_{false};

  std::mutex listeners_mu_;
  std::map<uint64_t, Listener> listeners_;
  uint64_t next_listener_ = 1;

  metrics::Counter* m_events_ = nullptr;
  metrics::Counter* m_events_invalid_ = nullptr;
  metrics::Counter* m_events_ignored_ = nullptr;
  metrics::Counter* m_queues_started_ = nullptr;
  metrics::Gauge* m_queues_active_ = nullptr;
  metrics::CounterFamily* m_queues_ended_ = nullptr;
};

}  // namespace sf::manager
