// KafkaBus across a restart of the test broker (label integration, runs alone: it stops the
// shared fixture broker). Records produced while the broker is down are delivered once it is
// back, exactly once, and a group's commit made before the restart still holds after it.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <string>

#include "bus/kafka/kafka_bus.h"
#include "tests/contract/bus_contract.h"
#include "tests/support/kafka.h"

// Only the contract suite's helpers are used here; the suite itself runs in
// kafka_bus_contract_test.
namespace sf::bus::contract {
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(BusContract);
}

namespace sf::bus {
namespace {

using contract::drain;
using contract::must;
using contract::numbered;
using contract::poll_quiet;
using contract::unique_name;
using contract::values;
using std::chrono::milliseconds;

int run_script(const std::string& command, const std::string& dir) {
  std::string cmd = std::string(SF_KAFKA_SCRIPT) + " " + command + " --dir '" + dir + "' >&2";
  return std::system(cmd.c_str());
}

TEST(KafkaBusRestart, ProducedRecordsAndCommitsSurviveABrokerRestart) {
  auto dir = sf::testing::kafka_fixture_dir();
  if (!dir) GTEST_SKIP() << "broker from SF_TEST_KAFKA_BOOTSTRAP: this test restarts the fixture's";
  auto bootstrap = sf::testing::kafka_bootstrap();
  ASSERT_TRUE(bootstrap);
  BusConfig cfg;
  cfg.url = "kafka://" + *bootstrap;
  cfg.kafka_properties = {{"reconnect.backoff.max.ms", "1000"}};  // reconnect soon after
  auto bus = must(KafkaBus::open(cfg), "open");
  std::string topic = unique_name("t"), group = unique_name("g");
  must(bus->ensure_topic({topic, 1, 1}), "ensure_topic");
  auto p = must(bus->producer(), "producer");
  for (const std::string& v : numbered("a", 0, 100)) must(p->produce(topic, "k", v), "produce");
  must(p->flush(milliseconds(20'000)), "flush");
  {
    auto c =
        must(bus->subscribe({.group = group, .topics = {topic}, .start_from = StartFrom::earliest}),
             "subscribe");
    auto got = drain(*c, 100);
    ASSERT_EQ(values(got), numbered("a", 0, 100));
    must(c->commit(got.back()), "commit");
  }

  ASSERT_EQ(run_script("stop", *dir), 0);
  for (const std::string& v : numbered("b", 0, 100)) must(p->produce(topic, "k", v), "produce");
  Status down = p->flush(milliseconds(1000));
  ASSERT_FALSE(down.ok()) << "nothing can be acknowledged while the broker is down";
  EXPECT_EQ(down.error().code, Errc::timeout) << down.error().message;
  ASSERT_EQ(run_script("start", *dir), 0);

  Status up = p->flush(milliseconds(60'000));
  ASSERT_TRUE(up.ok()) << up.error().message;
  auto c =
      must(bus->subscribe({.group = group, .topics = {topic}, .start_from = StartFrom::earliest}),
           "subscribe");
  EXPECT_EQ(values(drain(*c, 100)), numbered("b", 0, 100)) << "after the commit, each once";
  EXPECT_TRUE(poll_quiet(*c).empty());
}

}  // namespace
}  // namespace sf::bus
