// KafkaBus: sf::bus::Bus on Apache Kafka through librdkafka (docs/architecture.md). Passes
// tests/contract/bus_contract.h against a real broker and against librdkafka's mock cluster.
//
// Semantics beyond bus.h (see src/bus/README.md "KafkaBus" for the reasoning):
// - URL `kafka://HOST:PORT[,HOST:PORT]` (bootstrap servers). open() checks that the cluster
//   answers (Errc::unavailable if not, within 10 s) and that every property in
//   BusConfig::kafka_properties is known to librdkafka and valid (Errc::invalid_argument
//   naming the property; the value is shown only when the property is not secret).
//   Properties the bus relies on (bootstrap.servers, group.id, enable.idempotence,
//   enable.auto.commit, enable.auto.offset.store, auto.offset.reset) cannot be overridden.
// - Topics: ensure_topic() creates the topic with the Admin API (spec partitions and
//   replication, max.message.bytes 8 MiB); an existing topic is success and left unchanged.
//   It returns once the topic's metadata shows a leader for every partition. produce() and
//   subscribe() create missing topics with BusConfig::default_partitions/replication; topics
//   known to exist are cached per bus. read_from()/end_offset() on a missing topic:
//   Errc::not_found; a partition out of range or read_from() beyond the end:
//   Errc::invalid_argument.
// - Partitioning: librdkafka's `murmur2` partitioner (the Java client's hash; the empty key
//   hashes like any other, so its records stay in order on one partition).
// - Producer: idempotent (enable.idempotence, acks=all), compression BusConfig::compression,
//   linger.ms 1 (kKafkaDefaultLingerMs). produce() only enqueues and returns -1; flush() returns ok only when every
//   record produced since the previous flush was acknowledged by the broker, else
//   Errc::unavailable (some deliveries failed) or Errc::timeout (some not acknowledged yet),
//   with the counts in the message. When the local queue is full produce() waits up to 10 s
//   for room, then fails with Errc::unavailable. A background thread serves delivery
//   reports. The destructor flushes (30 s at most) and logs what was not delivered.
// - Consumer: classic consumer group, `range` assignment (eager rebalance), no auto-commit.
//   commit(r) synchronously commits r.offset+1 for r's partition; once it returns ok the
//   offset is durable in the group. A record already covered by a commit of this consumer is
//   a no-op. On a rebalance every partition is revoked first: records poll() returned but
//   that were not committed go to the partition's next owner (which starts at the committed
//   offset); poll() never returns records of a partition revoked during that poll, and
//   commit() of a partition this consumer does not own returns Errc::unavailable. A commit
//   refused because the group is rebalancing waits the rebalance out (serving it; records
//   arriving meanwhile are kept for the next poll) and is retried while the partition stays
//   assigned, for up to 30 s. Broker outages are transient: poll() keeps retrying and
//   returns empty; only a fatal client error is returned (Errc::unavailable). close() leaves
//   the group.
// - Reader: a group-less consumer of one partition (librdkafka's simple consumer API); -1
//   means the end offset when read_from() is called, an offset below the oldest retained
//   record starts at the oldest.
//
// Threading: the bus, its producers and end_offset()/ensure_topic() are thread-safe; each
// Consumer and Reader is used by one thread at a time (bus.h). librdkafka runs its own
// threads; its log lines go to sf::log (secret property values scrubbed). Producers,
// consumers and readers may outlive the KafkaBus that made them. Nothing throws out of a
// librdkafka callback.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"
#include "bus/bus.h"
#include "bus/open.h"

namespace sf::bus {

// The producer's linger.ms unless BusConfig::kafka_properties sets it (benchmarks compare
// with Kafka's own tools at the same setting). 1, not 5: produce() keeps less than one batch
// outstanding, so the batch librdkafka is filling when produce() waits for room is never
// full and is sent only once linger.ms has passed; at 5 ms the loader's 151 KB pages went
// out at 6 every 5 ms (the bus producer alone 0.78 of ProducerPerformance, 1.2-1.9 at 1 ms;
// produce -> stored p50 16 -> 12 ms; docs/benchmarks.md).
inline constexpr const char* kKafkaDefaultLingerMs = "1";

class KafkaBus final : public Bus {
 public:
  struct Options {
    // Replaces the Admin API CreateTopics call (tests only: librdkafka's mock cluster has no
    // CreateTopics; the mock test creates topics with rd_kafka_mock_topic_create()).
    std::function<Status(const TopicSpec&)> create_topic;
    // Tests only: the first producer of this bus fails fatally, as an idempotent producer
    // whose state the broker lost does, after this many records (0: never). No broker
    // answer makes librdkafka's idempotent producer fail fatally on cue, so the test uses
    // librdkafka's own rd_kafka_test_fatal_error().
    int64_t fatal_error_after_records = 0;
  };

  static Result<std::unique_ptr<KafkaBus>> open(const BusConfig& cfg);
  static Result<std::unique_ptr<KafkaBus>> open(const BusConfig& cfg, Options options);
  ~KafkaBus() override;
  KafkaBus(const KafkaBus&) = delete;
  KafkaBus& operator=(const KafkaBus&) = delete;

  Status ensure_topic(const TopicSpec& spec) override;
  Result<std::unique_ptr<Producer>> producer() override;
  Result<std::unique_ptr<Consumer>> subscribe(const SubscribeOptions& opts) override;
  Result<std::unique_ptr<Reader>> read_from(const std::string& topic, int32_t partition,
                                            int64_t offset) override;
  Result<int64_t> end_offset(const std::string& topic, int32_t partition) override;
  std::string name() const override { return "kafka"; }

  struct Core;  // shared by the bus and everything it made; defined in kafka_bus.cc

 private:
  explicit KafkaBus(std::shared_ptr<Core> core);
  std::shared_ptr<Core> core_;
};

// The bootstrap servers of a `kafka://HOST:PORT[,HOST:PORT]` URL ("HOST:PORT,HOST:PORT"), or
// Errc::invalid_argument naming what is wrong. IPv6 hosts are written in brackets.
Result<std::string> kafka_bootstrap_from_url(const std::string& url);

// True for librdkafka properties whose values are secrets (passwords, tokens, keys, JAAS and
// OAUTHBEARER configs); their values are never logged or put in error messages.
bool is_secret_kafka_property(std::string_view key);

}  // namespace sf::bus
