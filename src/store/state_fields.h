// The stored fields of a queue and of a target (state_store.h), listed once for every state
// store: StateFields<R>::for_each(f) calls f(name, member) for each field of R in column
// order, `member` a pointer to a std::string, double or int64_t member of R. The SQL stores
// read and bind their rows by it, ArangoDB reads and writes its documents by it, and the
// contract suite compares by it. A queue's targets and a target's queue_id and ordinal are
// not fields here: every store keeps those its own way.
#pragma once

#include "store/state_store.h"

namespace sf::store {

template <class R>
struct StateFields;

template <>
struct StateFields<QueueState> {
  template <class F>
  static void for_each(F&& f) {
    f("queue_id", &QueueState::queue_id);
    f("symbol", &QueueState::symbol);
    f("type", &QueueState::type);
    f("time_range", &QueueState::time_range);
    f("status", &QueueState::status);
    f("message", &QueueState::message);
    f("created_at", &QueueState::created_at);
    f("updated_at", &QueueState::updated_at);
    f("request_json", &QueueState::request_json);
  }
};

template <>
struct StateFields<TargetState> {
  template <class F>
  static void for_each(F&& f) {
    f("telemetry_id", &TargetState::telemetry_id);
    f("target", &TargetState::target);
    f("status", &TargetState::status);
    f("message", &TargetState::message);
    f("records_written", &TargetState::records_written);
    f("updated_at", &TargetState::updated_at);
    f("config_json", &TargetState::config_json);
  }
};

// The SQL stores' column lists in for_each's order (string literals, for building
// statements): a queue row, and a target row, which starts with its queue's id.
#define SF_QUEUE_COLUMNS \
  "queue_id, symbol, type, time_range, status, message, created_at, updated_at, request_json"
#define SF_TARGET_COLUMNS \
  "queue_id, telemetry_id, target, status, message, records_written, updated_at, config_json"

}  // namespace sf::store
