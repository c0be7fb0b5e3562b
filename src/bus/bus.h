// The message bus interface (docs/architecture.md): keyed records on named topics,
// consumer groups with committed offsets. Implementations: memory (bus/memory), Kafka
// (bus/kafka). bus/open.h turns a configured URL into one. Every implementation passes
// tests/contract/bus_contract.h.
//
// Semantics every implementation guarantees:
// - Records with the same key on a topic are delivered in the order produced.
// - A consumer in a group receives records from the group's committed offset onward; a
//   record is "done" for the group only once commit() covers it. When a consumer closes
//   (or its object is destroyed) without committing, a later consumer of the same group
//   receives the uncommitted records again (at-least-once).
// - When a group rebalances (a member joins or leaves), records a consumer received but did
//   not commit on a partition it loses go to the partition's new owner; committing them
//   afterwards fails (Kafka) and the caller drops that work.
// - Offsets are per topic partition and increase by one per record.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"

namespace sf::bus {

struct Record {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string value;
  int64_t timestamp_ms = 0;  // when it was produced
};

// Where a consumer starts when its group has no committed offset for a partition.
enum class StartFrom { earliest, latest };

struct SubscribeOptions {
  std::string group;  // required: consumer group id
  std::vector<std::string> topics;
  StartFrom start_from = StartFrom::earliest;
};

// Thread-safe: produce() and flush() may be called from any thread.
//
// A record counts as written only once a flush() after its produce() returned ok. So a
// caller that must not lose records produces a batch, flushes, and only then treats the
// batch as written (e.g. commits the input it came from); on a flush error it produces the
// batch again (at-least-once: records of a failed batch may already be stored).
class Producer {
 public:
  virtual ~Producer() = default;
  // Appends a record. Memory: the record is stored and visible on return, and the offset is
  // returned. Kafka: the record is only enqueued and -1 is returned (the offset is known
  // after delivery); an error here means it was not enqueued (e.g. the local queue stayed
  // full for a bounded wait). Either way the record is durable only after flush() is ok.
  virtual Result<int64_t> produce(const std::string& topic, const std::string& key,
                                  const std::string& value) = 0;
  // Waits until every record produced since the previous flush() (by any thread) is
  // acknowledged. Ok only if all of them were; otherwise Errc::unavailable when some
  // deliveries failed, Errc::timeout when some were not acknowledged within `timeout`, the
  // message saying how many ("N of M records failed"). Records still unacknowledged after a
  // timeout are reported by a later flush if they then fail.
  // Both produce() and flush() return Errc::closed once the producer has failed for good
  // (Kafka: a fatal idempotent-producer error): records it had not had acknowledged may be
  // lost, and a new producer must publish again from what the topic holds.
  virtual Status flush(std::chrono::milliseconds timeout) = 0;
};

// Not thread-safe: one thread polls, commits and closes a consumer.
class Consumer {
 public:
  virtual ~Consumer() = default;
  // Returns up to `max_records` records, waiting at most `timeout` for the first one.
  // An empty vector means nothing arrived in time. Errc::closed after close().
  virtual Result<std::vector<Record>> poll(size_t max_records,
                                           std::chrono::milliseconds timeout) = 0;
  // Marks every record up to and including `r` (same topic/partition) as done for the
  // group. Call only after the record's effect is durable. Once it returns ok the commit is
  // durable (Kafka: acknowledged by the group coordinator). Errc::unavailable when the
  // consumer no longer owns r's partition (rebalanced away) or the group is rebalancing.
  virtual Status commit(const Record& r) = 0;
  // Whether commit() waits for a server round trip (Kafka: milliseconds) rather than
  // updating memory (the memory bus, whose producers wait for commits when a topic's
  // backlog is full): callers batch commits only when it does.
  virtual bool commit_is_round_trip() const { return false; }
  // Leaves the group; uncommitted records go to the next consumer of the group.
  virtual void close() = 0;
};

// Reads one topic partition from a given offset without a group: used by workers to read
// `queue-control` from the offset of their start command. Not thread-safe.
class Reader {
 public:
  virtual ~Reader() = default;
  virtual Result<std::vector<Record>> poll(size_t max_records,
                                           std::chrono::milliseconds timeout) = 0;
  virtual void close() = 0;
};

struct TopicSpec {
  std::string name;
  int32_t partitions = 1;
  // 0: the bus's configured default (BusConfig::replication), so callers that create
  // workflow topics need not know the cluster's size. The memory bus ignores it.
  int16_t replication = 0;
};

// Thread-safe factory for producers and consumers on one bus.
class Bus {
 public:
  virtual ~Bus() = default;
  // Creates the topic if it does not exist (idempotent).
  virtual Status ensure_topic(const TopicSpec& spec) = 0;
  virtual Result<std::unique_ptr<Producer>> producer() = 0;
  virtual Result<std::unique_ptr<Consumer>> subscribe(const SubscribeOptions& opts) = 0;
  // Reads partition `partition` of `topic` from `offset` on (offset -1: from the end).
  virtual Result<std::unique_ptr<Reader>> read_from(const std::string& topic, int32_t partition,
                                                    int64_t offset) = 0;
  // The offset the next record produced to topic/partition will get.
  virtual Result<int64_t> end_offset(const std::string& topic, int32_t partition) = 0;
  // A short name for logs and metrics ("memory", "kafka").
  virtual std::string name() const = 0;
};

// Topic names shared by every deployment.
inline constexpr const char* kControlTopic = "queue-control";
inline constexpr const char* kEventsTopic = "queue-events";

}  // namespace sf::bus
