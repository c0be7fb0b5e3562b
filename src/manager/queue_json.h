// The JSON the manager renders from its queues (docs/api.md): the answers of
// GET /queues/{queue_id} and GET /queues/list, and the messages of the /ws/events feed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "manager/queue_entry.h"
#include "store/state_store.h"

namespace sf::manager {

// {"queue_id", ..., "status", "completeness"?, "estimate"?, "targets":[...], "events":[...]}:
// one queue with its targets and recent events. `weight_per_minute` is the exchange weight
// its loaders may spend a minute (the estimate's time at budget).
std::string queue_json(const QueueEntry& e, double weight_per_minute);
// One queue's entry of the list: its fields, `targets` and `targets_done`.
std::string queue_summary_json(const QueueEntry& e);
// {"queues":[...]}: the summaries (queue_summary_json()) in the order given.
std::string queue_list_json(const std::vector<std::string_view>& summaries);

// /ws/events messages: a queue's status change, a target's status change, and an event of
// queue-events (`event_json`, encoded) as it arrived.
std::string queue_status_message(const store::QueueState& q, int64_t records_written);
std::string target_status_message(const std::string& queue_id, const store::TargetState& t);
std::string event_message(const std::string& queue_id, const std::string& event_json);

}  // namespace sf::manager
