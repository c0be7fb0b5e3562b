// What the manager gives one target of a run (docs/architecture.md, "The control path"): the
// `start` command it publishes to queue-control and the worker environment it launches the
// target with. One builder makes both from the same fields, so they cannot disagree: the
// environment's QUEUE_ID, TARGET, TELEMETRY_ID, SYMBOL, TYPE, TIME_RANGE, KAFKA_TOPIC,
// COLLECTION_NAME, IMAGE and TARGET_PARAMS are the command's queue_id, target,
// telemetry_id, symbol, type, time_range, kafka_topic, collection_name, image and params.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "base/env.h"
#include "bus/bus.h"
#include "protocol/messages.h"
#include "workers/worker.h"

namespace sf::manager {

// What every target of one run (a start, or a repair) shares.
struct RunSpec {
  std::string queue_id;
  std::string symbol, type;
  std::string time_range;  // the queue's; a target's own time_range wins
  std::string run_id;      // RUN_ID
  // The data topics' end offsets (partition 0) when the run began (DATA_OFFSET of the
  // targets with that kafka_topic); -1 or absent: unknown.
  std::map<std::string, int64_t> data_offsets;
  std::string control_topic = bus::kControlTopic;
  std::string events_topic = bus::kEventsTopic;
  // Added to every worker's environment (ManagerOptions::worker_env); the target's own
  // variables win.
  std::map<std::string, std::string> extra_env;
  double timestamp = 0;  // of the start commands
};

struct TargetStart {
  protocol::Command command;     // the `start` command for queue-control
  workers::WorkerConfig config;  // the worker's configuration, but for control_offset
  std::map<std::string, std::string> extra_env;

  // The worker's environment, reading queue-control from `control_offset` (where the
  // command was published).
  Env env(int64_t control_offset) const;
};

// `target` must have its telemetry_id (the manager fills it in before).
TargetStart build_target_start(const RunSpec& run, const protocol::TargetSpec& target);

}  // namespace sf::manager
