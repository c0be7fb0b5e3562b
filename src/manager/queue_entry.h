// The manager's in-memory view of a queue and its targets (what the store keeps, plus what
// the manager follows between events), and the figures derived from it: completeness and
// the queue's records_written. Rendered as JSON by queue_json.h.
//
// Not thread-safe: the Manager holds its mutex while it uses them.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "protocol/messages.h"
#include "protocol/target_role.h"
#include "store/state_store.h"
#include "workers/loader.h"

namespace sf::manager {

// A stored status string as a RunStatus (`pending` for anything unknown).
protocol::RunStatus parse_status(const std::string& s);

struct TargetEntry {
  store::TargetState state;
  // What it does (loader, connector, other), as the launcher's worker registry says.
  protocol::TargetRole role = protocol::TargetRole::other;
  // Its own symbol (a target entry's `symbol`: a flow over several symbols); empty: the
  // queue's. Connectors of different symbols hold different rows.
  std::string symbol;
  int64_t exit_events_end = -1;             // events topic end offset when the worker exited
  int64_t last_heard_ms = 0;                // steady clock; launch time until the first event
  int64_t last_stored_event_ms = -1000000;  // steady clock of the last event stored
  int64_t exited_at_ms = -1;  // steady clock when the worker exited without final event
  std::string exit_reason;
  bool killed = false;
  // Completeness reported by loaders and connectors (event extension fields).
  std::optional<int64_t> expected, dlq, stored;
  int run = 0;  // which run of the queue launched it: 0 the start, N the N-th repair
  std::vector<std::string> missing;
  // A trades loader's first and last id published (its `finished` event).
  std::optional<int64_t> first_id, last_id;

  // The `symbol` of a target's start-request entry (state.config_json), or empty.
  static std::string symbol_of(const std::string& config_json);
  // Keeps the completeness fields an event of this target carries.
  void take_completeness(const protocol::Event& ev);
};

// What a data workflow's loaders and connectors reported. complete() holds only when the
// store holds everything: the expected count when it is known (candles know it from the
// start), otherwise (trades) what loaders that finished their whole range published.
// A stopped or killed queue is thus never complete unless the store holds the range.
struct Completeness {
  bool known = false;  // the queue has loaders or connectors in its newest run
  int64_t expected = -1, published = 0, written = 0, dlq = 0;
  int64_t stored = -1;  // what the store holds of the range (connectors' check), -1 unknown
  bool loaders_finished = true;  // every loader ended `finished` (paged its whole range)
  std::vector<std::string> missing;
  bool complete() const;
};

// The first and last id of a trades queue's range on the exchange, as its first run's
// loaders reported them. `known` when every one of them finished: each then named its first
// and last id, or published nothing (first and last stay empty when none did). Not known
// otherwise (a loader stopped part-way never saw the range's end).
struct ExpectedIds {
  bool known = false;
  std::optional<int64_t> first, last;
};

struct QueueEntry {
  store::QueueState q;  // q.targets unused; see `targets`
  std::vector<TargetEntry> targets;
  bool stop_requested = false;  // stop sent (by the user, or after an error)
  bool user_stop = false;       // stop_queue() was called: the queue ends interrupted
  int64_t stop_requested_ms = 0;
  bool events_loaded = false;  // recent events read from the store (after a restart)
  size_t events_since_trim = 0;
  std::deque<std::string> recent;  // event JSON, newest last
  std::string summary;             // cached list entry
  bool summary_dirty = true;
  workers::LoadEstimate estimate;  // what its loaders fetch, as known before they run
  int run = 0;                     // the newest run; only its targets make the status

  // Totals over the loaders and connectors of the newest run (the expected count: the
  // first run's loaders, which cover the queue's range).
  Completeness completeness() const;
  // A data workflow's records are those its connectors wrote (not loader + connector);
  // otherwise the sum over its targets.
  int64_t records_written() const;
  // Some target has not ended yet.
  bool any_live() const;
  // Trades: the range's first and last id (see ExpectedIds).
  ExpectedIds expected_ids() const;
};

}  // namespace sf::manager
