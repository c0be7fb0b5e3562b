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

  std::unique_ptr<KafkaBus> open(std::map<std::string, std::string> props = {}) {
    KafkaBus::Options opts;
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
  static std::unique_ptr<Bus> make() { return shared_cluster().open(); }
};
INSTANTIATE_TYPED_TEST_SUITE_P(KafkaMock, BusContract, ::testing::Types<KafkaMockBusFactory>);

}  // namespace sf::bus::contract
