#include "manager/target_start.h"

namespace sf::manager {

TargetStart build_target_start(const RunSpec& run, const protocol::TargetSpec& target) {
  TargetStart out;
  protocol::Command& cmd = out.command;
  cmd.command = protocol::CommandType::start;
  cmd.queue_id = run.queue_id;
  cmd.target = target.target;
  cmd.symbol = target.symbol.value_or(run.symbol);
  cmd.type = run.type;
  cmd.time_range = target.time_range.value_or(run.time_range);
  cmd.kafka_topic = target.kafka_topic;
  cmd.collection_name = target.collection_name;
  cmd.telemetry_id = target.telemetry_id;
  cmd.image = target.image;
  cmd.timestamp = run.timestamp;
  if (!target.extra.empty() || target.interval) {
    boost::json::object params = target.extra;
    if (target.interval) params["interval"] = *target.interval;
    cmd.params = std::move(params);
  }

  // The environment, from the command's fields.
  workers::WorkerConfig& wc = out.config;
  wc.queue_id = cmd.queue_id;
  wc.target = *cmd.target;
  wc.telemetry_id = cmd.telemetry_id.value_or("");
  wc.symbol = cmd.symbol;
  wc.type = cmd.type;
  wc.time_range = cmd.time_range;
  wc.kafka_topic = cmd.kafka_topic;
  wc.collection_name = cmd.collection_name;
  wc.image = cmd.image;
  if (cmd.params) wc.params = *cmd.params;
  wc.control_topic = run.control_topic;
  wc.events_topic = run.events_topic;
  wc.run_id = run.run_id;
  if (cmd.kafka_topic) {
    if (auto it = run.data_offsets.find(*cmd.kafka_topic); it != run.data_offsets.end())
      wc.data_offset = it->second;
  }
  out.extra_env = run.extra_env;
  return out;
}

Env TargetStart::env(int64_t control_offset) const {
  workers::WorkerConfig wc = config;
  wc.control_offset = control_offset;
  Env env = wc.to_env();
  for (const auto& [k, v] : extra_env)
    if (!env.get(k)) env.set(k, v);
  return env;
}

}  // namespace sf::manager
