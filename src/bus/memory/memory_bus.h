// MemoryBus: the in-process implementation of sf::bus::Bus (docs/architecture.md), used by
// the single-process deployment and by tests. Passes tests/contract/bus_contract.h.
//
// Semantics beyond bus.h:
// - Topics: ensure_topic() creates a topic with spec.partitions; for an existing topic it
//   is a no-op (the partition count never changes). produce() and subscribe() create a
//   missing topic with Options::default_partitions, so call ensure_topic() first when a
//   topic needs more. read_from() and end_offset() on a missing topic: Errc::not_found;
//   a partition out of range, or read_from() beyond end_offset(): Errc::invalid_argument.
// - Partitioning: partition = FNV-1a(key) % partitions, for every key including the empty
//   one (so all empty-key records go to one partition, in order).
// - produce() returns the record's offset; the record is visible to pollers on return.
//   poll() with max_records == 0: Errc::invalid_argument.
// - Groups: the partitions of a topic are assigned among the group's live consumers that
//   subscribe to it: partition p goes to the (p % n)-th of them in join order. Every
//   subscribe/close/destroy recomputes the assignment; a consumer keeps its position on
//   partitions it still owns and starts newly-owned ones at the group's committed offset
//   (else at start_from), so uncommitted records are redelivered (at-least-once). A
//   consumer never receives records of a partition it no longer owns.
// - commit(r) sets the group's committed offset to max(current, r.offset + 1); r.topic
//   must be one the consumer subscribes to.
// - Bounded memory: a partition drops the records that every group that ever subscribed
//   to its topic has committed (a group with no commit pins the records from where it
//   started). Topics no group ever subscribed to keep the newest
//   Options::max_records_per_partition records. Offsets stay stable; a Reader or a new
//   group positioned before the oldest retained record starts at that record.
// - Forgotten groups: a group whose last consumer closed is forgotten after
//   Options::empty_group_retention without a new member, as a Kafka broker forgets an
//   empty group's offsets (offsets.retention.minutes): it stops pinning records, a topic
//   left with no group keeps only the retention cap, and a later subscriber of that name
//   starts as a new group. Until then a returning member resumes at the committed offsets.
// - Backpressure: produce() waits while the partition it goes to holds
//   Options::max_backlog_bytes or more (keys, values and per-record overhead) and every
//   group of the topic has a live consumer subscribed to it; it goes on as soon as commits
//   drop records below the bound, a group loses its last live member, or the bus is
//   destroyed (then Errc::closed). So a producer that outruns its consumers is held to their
//   pace instead of buffering its whole output in memory, while records for a group nobody
//   consumes for are buffered as before. A thread must not produce more than the bound to a
//   topic that only it consumes without polling in between: it would wait for itself.
//
// Thread-safety: everything is guarded by one mutex shared by the bus and every object it
// made, so producers, consumers and readers may live on different threads (each consumer
// and reader used by one thread at a time, per bus.h). Objects may outlive the bus:
// destroying the bus makes their poll()/produce() return Errc::closed and wakes any poll()
// waiting in another thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "base/clock.h"
#include "bus/bus.h"

namespace sf::bus {

class MemoryBus final : public Bus {
 public:
  struct Options {
    // Retention for topics no group subscribes to (the oldest records are dropped).
    size_t max_records_per_partition = 1'000'000;
    // Backpressure bound per partition of a consumed topic (see above); 0 turns it off.
    // 16 MiB is about 45,000 encoded candles: several connector batches (5,000 each), so a
    // consumer never waits for the producer, and a fraction of the 200 MB a one-year 1m
    // load buffered before the bound (docs/operations.md "Memory").
    size_t max_backlog_bytes = size_t{16} << 20;
    // How long a group with no consumer keeps its offsets and pins its records (see above);
    // 0 keeps them for ever. Ten minutes covers a worker restarted for the same queue.
    std::chrono::milliseconds empty_group_retention{10 * 60 * 1000};
    // Partitions of topics created implicitly by produce() or subscribe().
    int32_t default_partitions = 1;
    // Source of Record::timestamp_ms and of the group retention's time; nullptr means
    // SystemClock. Must outlive the bus.
    const Clock* clock = nullptr;
  };

  MemoryBus();
  explicit MemoryBus(Options options);
  ~MemoryBus() override;
  MemoryBus(const MemoryBus&) = delete;
  MemoryBus& operator=(const MemoryBus&) = delete;

  Status ensure_topic(const TopicSpec& spec) override;
  Result<std::unique_ptr<Producer>> producer() override;
  Result<std::unique_ptr<Consumer>> subscribe(const SubscribeOptions& opts) override;
  Result<std::unique_ptr<Reader>> read_from(const std::string& topic, int32_t partition,
                                            int64_t offset) override;
  Result<int64_t> end_offset(const std::string& topic, int32_t partition) override;
  std::string name() const override { return "memory"; }

  // Records currently held in memory over all topics and partitions (for tests/metrics).
  size_t retained_records() const;
  // The same for one topic (0 for a topic that does not exist).
  size_t retained_records(const std::string& topic) const;

  struct Core;  // shared state; defined in memory_bus.cc

 private:
  std::shared_ptr<Core> core_;
};

}  // namespace sf::bus
