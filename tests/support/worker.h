// Test support: a worker under test (tests of the workers, the benchmarks that run one in
// process): its configuration and the control commands the manager would publish to it.
// Header-only; needs sf_protocol, sf_bus and sf_workers.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "base/result.h"
#include "bus/bus.h"
#include "protocol/messages.h"
#include "workers/worker.h"

namespace sf::testing {

// The configuration of `target` in queue `queue` with telemetry id `telemetry_id`, on `type`
// records of `symbol` and the data topic `topic` (none when empty). The rest keeps
// WorkerConfig's defaults.
inline workers::WorkerConfig worker_config(const std::string& queue, const std::string& target,
                                           const std::string& telemetry_id,
                                           const std::string& symbol, const std::string& type,
                                           const std::string& topic) {
  workers::WorkerConfig c;
  c.queue_id = queue;
  c.target = target;
  c.telemetry_id = telemetry_id;
  c.symbol = symbol;
  c.type = type;
  if (!topic.empty()) c.kafka_topic = topic;
  return c;
}

// The command `type` for the worker of `cfg`: its queue and telemetry id, its target when
// it is a start, timestamp 1.
inline protocol::Command command_for(const workers::WorkerConfig& cfg,
                                     protocol::CommandType type = protocol::CommandType::start) {
  protocol::Command c;
  c.command = type;
  c.queue_id = cfg.queue_id;
  c.telemetry_id = cfg.telemetry_id;
  if (type == protocol::CommandType::start) c.target = cfg.target;
  c.timestamp = 1;
  return c;
}

// Publishes command_for(cfg, type) on the control topic of `bus`, keyed by the queue.
inline Status publish_command(bus::Bus& bus, const workers::WorkerConfig& cfg,
                              protocol::CommandType type = protocol::CommandType::start) {
  auto p = bus.producer();
  if (!p) return p.error();
  auto r =
      (*p)->produce(bus::kControlTopic, cfg.queue_id, protocol::encode(command_for(cfg, type)));
  if (!r) return r.error();
  return ok_status();
}

// Every event on the events topic of `bus` so far (partition 0, from its start), decoded.
inline std::vector<protocol::Event> read_events(bus::Bus& bus) {
  std::vector<protocol::Event> out;
  auto r = bus.read_from(bus::kEventsTopic, 0, 0);
  if (!r) return out;
  for (;;) {
    auto recs = (*r)->poll(1000, std::chrono::milliseconds(50));
    if (!recs || recs->empty()) break;
    for (const auto& rec : *recs) out.push_back(*protocol::decode_event(rec.value));
  }
  return out;
}

}  // namespace sf::testing
