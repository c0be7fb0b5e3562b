// The bus contract suite against the real test broker (label integration). The broker comes
// from tests/support/kafka.h: SF_TEST_KAFKA_BOOTSTRAP, or the CTest fixture's broker.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <string>

#include "bus/kafka/kafka_bus.h"
#include "tests/contract/bus_contract.h"
#include "tests/support/kafka.h"

namespace sf::bus {
namespace {

BusConfig broker_config() {
  std::optional<std::string> bootstrap = sf::testing::kafka_bootstrap();
  if (!bootstrap) {
    ADD_FAILURE() << "no test broker: set SF_TEST_KAFKA_BOOTSTRAP or run under `make test`";
    return {};
  }
  BusConfig cfg;
  cfg.url = "kafka://" + *bootstrap;
  cfg.client_id = "sf-kafka-contract-test";
  return cfg;
}

}  // namespace
}  // namespace sf::bus

namespace sf::bus::contract {

struct KafkaBusFactory {
  static std::unique_ptr<Bus> make() {
    BusConfig cfg = broker_config();
    if (cfg.url == "memory") return nullptr;
    auto bus = KafkaBus::open(cfg);
    if (!bus.ok()) {
      ADD_FAILURE() << "KafkaBus::open: " << describe(bus.error());
      return nullptr;
    }
    return std::move(bus).value();
  }
};
INSTANTIATE_TYPED_TEST_SUITE_P(Kafka, BusContract, ::testing::Types<KafkaBusFactory>);

}  // namespace sf::bus::contract

namespace sf::bus {
namespace {

using contract::must;
using std::chrono::milliseconds;

// Throughput of one producer with 200-byte values (printed; asserts only that every record
// was acknowledged and arrived).
TEST(KafkaBusBroker, ProducerThroughput) {
  BusConfig cfg = broker_config();
  ASSERT_NE(cfg.url, "memory");
  auto bus = must(KafkaBus::open(cfg), "open");
  std::string topic = contract::unique_name("tput");
  must(bus->ensure_topic({topic, 3, 1}), "ensure_topic");
  auto p = must(bus->producer(), "producer");
  const std::string value(200, 'x');
  constexpr int kRecords = 200'000;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kRecords; ++i)
    must(p->produce(topic, contract::cat("k", i % 64), value), "produce");
  must(p->flush(milliseconds(60'000)), "flush");
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("produced %d records of 200 bytes in %.2f s: %.0f records/s\n", kRecords, secs,
              kRecords / secs);
  int64_t total = 0;
  for (int32_t part = 0; part < 3; ++part)
    total += must(bus->end_offset(topic, part), "end_offset");
  EXPECT_EQ(total, kRecords);
}

TEST(KafkaBusBroker, TopicErrorsAreClassified) {
  BusConfig cfg = broker_config();
  ASSERT_NE(cfg.url, "memory");
  auto bus = must(KafkaBus::open(cfg), "open");
  std::string missing = contract::unique_name("missing");
  auto end = bus->end_offset(missing, 0);
  ASSERT_FALSE(end.ok());
  EXPECT_EQ(end.error().code, Errc::not_found) << end.error().message;
  auto reader = bus->read_from(missing, 0, 0);
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.error().code, Errc::not_found) << reader.error().message;
  EXPECT_FALSE(bus->end_offset(missing, 0).ok()) << "a lookup must not create the topic";

  std::string topic = contract::unique_name("t");
  must(bus->ensure_topic({topic, 2, 1}), "ensure_topic");
  auto beyond = bus->read_from(topic, 0, 5);
  ASSERT_FALSE(beyond.ok());
  EXPECT_EQ(beyond.error().code, Errc::invalid_argument) << beyond.error().message;
  auto partition = bus->end_offset(topic, 2);
  ASSERT_FALSE(partition.ok());
  EXPECT_EQ(partition.error().code, Errc::invalid_argument) << partition.error().message;

  // The test broker has one node: three replicas cannot be placed.
  Status st = bus->ensure_topic({contract::unique_name("rf3"), 1, 3});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::invalid_argument) << st.error().message;
}

}  // namespace
}  // namespace sf::bus
