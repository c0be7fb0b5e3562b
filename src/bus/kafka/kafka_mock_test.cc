// KafkaBus against librdkafka's mock cluster (label unit: no broker): the contract suite, and
// faults a real broker cannot be told to produce on cue (injected produce errors, leader
// changes, brokers down).
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/log.h"
#include "bus/kafka/kafka_bus.h"
#include "tests/contract/bus_contract.h"

namespace sf::bus {
namespace {

using contract::cat;
using contract::must;
using contract::unique_name;
using std::chrono::milliseconds;

// A mock cluster of `brokers` brokers inside a dummy client that hosts it.
class MockCluster {
 public:
  explicit MockCluster(int brokers) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char errstr[256];
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
    host_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!host_) throw std::runtime_error(errstr);
    mc_ = rd_kafka_mock_cluster_new(host_, brokers);
    if (!mc_) throw std::runtime_error("rd_kafka_mock_cluster_new failed");
  }
  ~MockCluster() {
    rd_kafka_mock_cluster_destroy(mc_);
    rd_kafka_destroy(host_);
  }
  rd_kafka_mock_cluster_t* get() { return mc_; }
  std::string url() const {
    return std::string("kafka://") + rd_kafka_mock_cluster_bootstraps(mc_);
  }

  BusConfig config(std::map<std::string, std::string> props = {}) const {
    BusConfig cfg;
    cfg.url = url();
    cfg.kafka_properties = std::move(props);
    return cfg;
  }

  std::unique_ptr<KafkaBus> open(std::map<std::string, std::string> props = {},
                                 int64_t fatal_error_after_records = 0) {
    KafkaBus::Options opts;
    opts.fatal_error_after_records = fatal_error_after_records;
    rd_kafka_mock_cluster_t* mc = mc_;
    opts.create_topic = [mc](const TopicSpec& spec) -> Status {
      rd_kafka_resp_err_t err =
          rd_kafka_mock_topic_create(mc, spec.name.c_str(), spec.partitions, spec.replication);
      if (err && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        return Error(Errc::unavailable, rd_kafka_err2str(err));
      return ok_status();
    };
    return must(KafkaBus::open(config(std::move(props)), std::move(opts)), "open");
  }

 private:
  rd_kafka_t* host_ = nullptr;
  rd_kafka_mock_cluster_t* mc_ = nullptr;
};

MockCluster& shared_cluster() {
  static MockCluster* c = new MockCluster(3);  // lives for the whole test binary
  return *c;
}

}  // namespace
}  // namespace sf::bus

namespace sf::bus::contract {

struct KafkaMockBusFactory {
  // The mock coordinator waits up to a member's session timeout before completing a
  // rebalance after a member left; a short one keeps each group test within seconds.
  static std::unique_ptr<Bus> make() {
    return shared_cluster().open(
        {{"session.timeout.ms", "3000"}, {"heartbeat.interval.ms", "300"}});
  }
};
INSTANTIATE_TYPED_TEST_SUITE_P(KafkaMock, BusContract, ::testing::Types<KafkaMockBusFactory>);

}  // namespace sf::bus::contract

namespace sf::bus {
namespace {

using contract::drain;
using contract::numbered;
using contract::poll_quiet;
using contract::values;

constexpr milliseconds kFlush{20'000};
constexpr int16_t kApiKeyProduce = 0;  // Kafka protocol ApiKey (librdkafka keeps its enum private)

// "N of M records failed" in a flush error: N, or -1 if the message does not say.
int failed_count(const Status& st) {
  if (st.ok()) return 0;
  int failed = -1, total = -1;
  size_t at = st.error().message.find("kafka flush: ");
  if (at == std::string::npos ||
      std::sscanf(st.error().message.c_str() + at, "kafka flush: %d of %d", &failed, &total) != 2)
    return -1;
  return failed;
}

// Everything in partition 0 of `topic`, read from offset 0 until nothing more arrives.
std::vector<std::string> read_all(Bus& bus, const std::string& topic, size_t expected) {
  auto r = must(bus.read_from(topic, 0, 0), "read_from");
  std::vector<Record> got = drain(*r, expected);
  for (Record& extra : poll_quiet(*r)) got.push_back(std::move(extra));
  return values(got);
}

// What KafkaMockFaults::open() sets up.
struct FaultSetup {
  std::map<std::string, std::string> props;  // the bus's librdkafka properties
  int partitions = 1;
  int leader = 0;  // a broker id: partition 0's leader before the producer starts
};

// Each fault test: a fresh cluster of three brokers, a bus on it, a topic replicated on all
// three and a producer, set up by open().
class KafkaMockFaults : public ::testing::Test {
 protected:
  void open(FaultSetup setup = {}) {
    bus = mc.open(std::move(setup.props));
    must(bus->ensure_topic({topic, setup.partitions, 3}), "ensure_topic");
    if (setup.leader != 0) set_leader(setup.leader);
    p = must(bus->producer(), "producer");
  }

  void set_leader(int32_t broker) {
    rd_kafka_mock_partition_set_leader(mc.get(), topic.c_str(), 0, broker);
  }

  void produce_range(const std::string& prefix, int from, int to) {
    for (int i = from; i < to; ++i) must(p->produce(topic, "k", cat(prefix, i)), "produce");
  }

  // A flush that succeeds, after which partition 0 holds exactly `want`.
  void expect_delivered_once(const std::vector<std::string>& want) {
    Status st = p->flush(kFlush);
    ASSERT_TRUE(st.ok()) << st.error().message;
    EXPECT_EQ(read_all(*bus, topic, want.size()), want) << "each once, in order";
  }

  MockCluster mc{3};
  std::unique_ptr<KafkaBus> bus;
  const std::string topic = unique_name("t");
  std::unique_ptr<Producer> p;
};

TEST_F(KafkaMockFaults, RetriableProduceErrorsAreRetriedWithoutLossOrDuplicates) {
  open();
  rd_kafka_mock_push_request_errors(
      mc.get(), kApiKeyProduce, 6, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
      RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
      RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE);
  produce_range("v", 0, 1000);
  expect_delivered_once(numbered("v", 0, 1000));
}

TEST_F(KafkaMockFaults, NonRetriableProduceErrorIsReportedByFlushForExactlyThoseRecords) {
  open();
  must(p->produce(topic, "k", "before"), "produce");
  ASSERT_TRUE(p->flush(kFlush).ok());

  // A permanent error for this request only (an authorization error would also make the
  // client refuse the topic until its next metadata refresh).
  rd_kafka_mock_push_request_errors(mc.get(), kApiKeyProduce, 1,
                                    RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
  must(p->produce(topic, "k", "rejected"), "produce");  // enqueued: produce() cannot know yet
  Status st = p->flush(kFlush);
  ASSERT_FALSE(st.ok()) << "a rejected record must not count as written";
  EXPECT_EQ(st.error().code, Errc::unavailable);
  EXPECT_EQ(failed_count(st), 1) << st.error().message;
  EXPECT_NE(st.error().message.find("MSG_SIZE_TOO_LARGE"), std::string::npos) << st.error().message;

  // The producer keeps working; the next flush covers only the records since this one.
  produce_range("v", 0, 10);
  std::vector<std::string> want = {"before"};
  for (const std::string& v : numbered("v", 0, 10)) want.push_back(v);
  expect_delivered_once(want);
}

// A fatal idempotent-producer error (the broker fenced the producer's epoch) ends the
// producer for good: Errc::closed from produce() and flush(), which tells the caller to make
// a new producer and publish again from what the topic holds (bus.h).
TEST_F(KafkaMockFaults, AFatalProducerErrorIsErrcClosedAndANewProducerWorks) {
  bus = mc.open({}, /*fatal_error_after_records=*/3);
  must(bus->ensure_topic({topic, 1, 3}), "ensure_topic");
  p = must(bus->producer(), "producer");
  produce_range("v", 0, 3);
  Status st = p->flush(kFlush);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::closed) << st.error().message;
  EXPECT_NE(st.error().message.find("new producer"), std::string::npos) << st.error().message;
  auto again = p->produce(topic, "k", "refused");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, Errc::closed) << again.error().message;

  p = must(bus->producer(), "a new producer");
  produce_range("w", 0, 10);
  ASSERT_TRUE(p->flush(kFlush).ok());
  auto got = read_all(*bus, topic, 10);
  // What the failed producer had sent before its error may or may not be there; the new
  // producer's records all are, once each and in order, after it.
  ASSERT_GE(got.size(), 10u);
  EXPECT_EQ(std::vector<std::string>(got.end() - 10, got.end()), numbered("w", 0, 10));
}

TEST_F(KafkaMockFaults, LeaderChangesMidStreamLoseAndDuplicateNothing) {
  open({.leader = 1});
  produce_range("v", 0, 300);
  set_leader(2);
  produce_range("v", 300, 600);
  std::this_thread::sleep_for(milliseconds(100));
  set_leader(3);
  produce_range("v", 600, 900);
  expect_delivered_once(numbered("v", 0, 900));
}

TEST_F(KafkaMockFaults, BrokerDownForAWhileThenEverythingIsDeliveredOnce) {
  open({.leader = 1});
  produce_range("v", 0, 100);
  ASSERT_TRUE(p->flush(kFlush).ok());

  rd_kafka_mock_broker_set_down(mc.get(), 1);
  produce_range("v", 100, 200);
  Status st = p->flush(milliseconds(1500));
  ASSERT_FALSE(st.ok()) << "the leader is down: nothing can be acknowledged";
  EXPECT_EQ(st.error().code, Errc::timeout) << st.error().message;
  EXPECT_EQ(failed_count(st), 0) << st.error().message;
  rd_kafka_mock_broker_set_up(mc.get(), 1);
  expect_delivered_once(numbered("v", 0, 200));
}

TEST_F(KafkaMockFaults, BrokerDownPastTheDeliveryTimeoutReportsEveryFailure) {
  // Reconnect soon after the broker is back (the default backoff grows to 10 s, longer than
  // this test's short delivery timeout).
  open({.props = {{"message.timeout.ms", "2000"}, {"reconnect.backoff.max.ms", "200"}},
        .leader = 1});
  produce_range("acked", 0, 50);
  ASSERT_TRUE(p->flush(kFlush).ok());

  rd_kafka_mock_broker_set_down(mc.get(), 1);
  produce_range("lost", 0, 100);
  Status st = p->flush(kFlush);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::unavailable) << st.error().message;
  EXPECT_EQ(failed_count(st), 100) << st.error().message;
  rd_kafka_mock_broker_set_up(mc.get(), 1);

  // What flush reported written, once.
  produce_range("after", 0, 20);
  std::vector<std::string> want = numbered("acked", 0, 50);
  for (const std::string& v : numbered("after", 0, 20)) want.push_back(v);
  expect_delivered_once(want);
}

TEST_F(KafkaMockFaults, ConsumerRidesOutAnOutageAndResumesAfterItsCommit) {
  open();
  produce_range("v", 0, 10);
  ASSERT_TRUE(p->flush(kFlush).ok());
  auto c =
      must(bus->subscribe(
               {.group = unique_name("g"), .topics = {topic}, .start_from = StartFrom::earliest}),
           "subscribe");
  std::vector<Record> got = drain(*c, 10);
  ASSERT_EQ(values(got), numbered("v", 0, 10));
  must(c->commit(got.back()), "commit");

  for (int b = 1; b <= 3; ++b) rd_kafka_mock_broker_set_down(mc.get(), b);
  auto until = std::chrono::steady_clock::now() + milliseconds(2000);
  while (std::chrono::steady_clock::now() < until) {
    auto r = c->poll(10, milliseconds(200));
    ASSERT_TRUE(r.ok()) << "an outage is transient: " << r.error().message;
    EXPECT_TRUE(r->empty());
  }
  for (int b = 1; b <= 3; ++b) rd_kafka_mock_broker_set_up(mc.get(), b);
  produce_range("v", 10, 20);
  Status st = p->flush(kFlush);
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(values(drain(*c, 10)), numbered("v", 10, 20));
  EXPECT_TRUE(poll_quiet(*c).empty());
}

TEST_F(KafkaMockFaults, CommitOfARevokedPartitionFailsAndItsRecordsGoToTheNewOwner) {
  open({.partitions = 2});
  std::string group = unique_name("g");
  // One record per partition (keys chosen by where they land).
  std::map<int32_t, Record> first;
  auto c1 =
      must(bus->subscribe({.group = group, .topics = {topic}, .start_from = StartFrom::earliest}),
           "subscribe");
  for (int i = 0; first.size() < 2 && i < 50; ++i) {
    must(p->produce(topic, cat("k", i), cat("v", i)), "produce");
    ASSERT_TRUE(p->flush(kFlush).ok());
    for (Record& r : drain(*c1, 1)) first.emplace(r.partition, r);
  }
  ASSERT_EQ(first.size(), 2u) << "c1 owns both partitions at first";

  auto c2 =
      must(bus->subscribe({.group = group, .topics = {topic}, .start_from = StartFrom::earliest}),
           "subscribe");
  // c2 receives the uncommitted records of the partition it takes over.
  std::vector<Record> got2;
  auto until = std::chrono::steady_clock::now() + contract::kDeadline;
  while (got2.empty() && std::chrono::steady_clock::now() < until) {
    must(c1->poll(10, milliseconds(100)), "poll");
    got2 = must(c2->poll(10, milliseconds(100)), "poll");
  }
  ASSERT_FALSE(got2.empty()) << "c2 got no partition";
  int32_t moved = got2.front().partition;
  EXPECT_EQ(got2.front().offset, first[moved].offset) << "redelivered from the group's offset";
  Status lost = c1->commit(first[moved]);
  ASSERT_FALSE(lost.ok()) << "commit of a partition c1 no longer owns";
  EXPECT_EQ(lost.error().code, Errc::unavailable) << lost.error().message;
  Status kept = c1->commit(first[1 - moved]);
  EXPECT_TRUE(kept.ok()) << kept.error().message;
}

TEST(KafkaMockLogging, LibrdkafkaLogLinesNeverShowSecretValues) {
  MockCluster mc(1);
  char* buf = nullptr;
  size_t len = 0;
  std::FILE* mem = open_memstream(&buf, &len);
  log::set_sink(mem);
  log::set_level(log::Level::debug);
  {
    // debug=conf makes librdkafka log every configured property of every client.
    auto bus = mc.open({{"debug", "conf"},
                        {"sasl.username", "alice"},
                        {"sasl.password", "S3cr3t-Value-42"},
                        {"ssl.key.password", "An0ther-Secret-7"}});
    auto p = must(bus->producer(), "producer");
    std::string topic = unique_name("t");
    must(p->produce(topic, "k", "v"), "produce");
    EXPECT_TRUE(p->flush(kFlush).ok());
  }
  log::set_level(log::Level::info);
  log::set_sink(stderr);
  std::fclose(mem);
  std::string logs(buf, len);
  std::free(buf);
  EXPECT_NE(logs.find("sasl.username"), std::string::npos) << "the configuration was not logged";
  EXPECT_EQ(logs.find("S3cr3t-Value-42"), std::string::npos);
  EXPECT_EQ(logs.find("An0ther-Secret-7"), std::string::npos);
}

}  // namespace
}  // namespace sf::bus
