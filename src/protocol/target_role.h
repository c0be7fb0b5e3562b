// What a worker kind (a start request's `target`, e.g. "loader-producer") does in a workflow,
// as far as the manager needs to know it: the one place the roles are defined. Each worker
// kind declares its role where it is registered (workers::WorkerRegistry, src/workers/
// builtin.cc); the manager learns it from its Launcher (Launcher::role()), never from the
// kind's name. The role is not on the wire (docs/protocol.md, "Target roles").
#pragma once

namespace sf::protocol {

enum class TargetRole {
  // Neither of the below (dummy-service): its queue is judged by its status and
  // records_written only.
  other,
  // Produces a queue's data topic: pages through its time_range (its own, else the queue's)
  // on the exchange, publishes one record each and an end-of-data marker; reports
  // records_expected (when the range tells it) and records_written (what it published). The
  // manager estimates a start's load from the loaders' ranges, and a repair runs one loader
  // per missing range.
  loader,
  // Consumes the data topic and writes the records into the store's collection_name;
  // reports records_written (what it upserted), records_dlq, records_stored and
  // missing_ranges. The manager judges completeness and checks the store (repair) through
  // the connectors' collections; a repair runs them again with the `end_markers` setting.
  connector,
};

}  // namespace sf::protocol
