// open_bus(), parse_kafka_properties() and redact_kafka_properties() (label unit).
#include "bus/open.h"

#include <gtest/gtest.h>

#include "bus/kafka/kafka_bus.h"

namespace sf::bus {
namespace {

TEST(ParseKafkaProperties, KeyValueLinesCommentsAndBlankLines) {
  auto props = parse_kafka_properties(
      "# TLS to the cluster\n"
      "security.protocol = SASL_SSL\n"
      "\n"
      "  sasl.mechanisms=PLAIN  \r\n"
      "sasl.password=a=b#c\n"
      "linger.ms=10");
  ASSERT_TRUE(props.ok()) << props.error().message;
  std::map<std::string, std::string> want = {{"security.protocol", "SASL_SSL"},
                                             {"sasl.mechanisms", "PLAIN"},
                                             {"sasl.password", "a=b#c"},
                                             {"linger.ms", "10"}};
  EXPECT_EQ(*props, want);
  EXPECT_TRUE(parse_kafka_properties("").ok());
}

TEST(ParseKafkaProperties, RejectsMalformedLinesWithTheLineNumber) {
  for (const auto& [text, line] :
       std::vector<std::pair<std::string, std::string>>{{"a=1\nno equals sign\n", "line 2"},
                                                        {"=value\n", "line 1"},
                                                        {"a=1\n# c\na=2\n", "line 3"},
                                                        {"bad key=1\n", "line 1"}}) {
    auto props = parse_kafka_properties(text);
    ASSERT_FALSE(props.ok()) << text;
    EXPECT_EQ(props.error().code, Errc::invalid_argument);
    EXPECT_NE(props.error().message.find(line), std::string::npos) << props.error().message;
  }
  auto dup = parse_kafka_properties("sasl.password=s3cret\nsasl.password=other\n");
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().message.find("s3cret"), std::string::npos) << "value in the error";
}

TEST(RedactKafkaProperties, HidesSecretValuesOnly) {
  std::map<std::string, std::string> props = {
      {"sasl.username", "alice"},
      {"sasl.password", "pw1"},
      {"ssl.key.password", "pw2"},
      {"ssl.key.pem", "-----BEGIN PRIVATE KEY-----"},
      {"sasl.jaas.config", "org.apache...PlainLoginModule password=\"pw3\";"},
      {"sasl.oauthbearer.client.secret", "pw4"},
      {"sasl.oauthbearer.config", "principal=x token=pw5"},
      {"linger.ms", "10"},
  };
  std::string s = redact_kafka_properties(props);
  for (const char* secret : {"pw1", "pw2", "PRIVATE KEY", "pw3", "pw4", "pw5"})
    EXPECT_EQ(s.find(secret), std::string::npos) << secret << " in " << s;
  EXPECT_NE(s.find("sasl.username=alice"), std::string::npos) << s;
  EXPECT_NE(s.find("linger.ms=10"), std::string::npos) << s;
  EXPECT_NE(s.find("sasl.password=***"), std::string::npos) << s;
}

TEST(OpenBus, MemoryUsesDefaultPartitions) {
  BusConfig cfg;
  cfg.default_partitions = 3;
  auto bus = open_bus(cfg);
  ASSERT_TRUE(bus.ok()) << bus.error().message;
  EXPECT_EQ((*bus)->name(), "memory");
  auto p = (*bus)->producer();
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE((*p)->produce("t", "k", "v").ok());
  EXPECT_TRUE((*bus)->end_offset("t", 2).ok()) << "topic created with 3 partitions";
  EXPECT_FALSE((*bus)->end_offset("t", 3).ok());
}

TEST(OpenBus, RejectsUnknownSchemesAndMalformedKafkaUrls) {
  for (const char* url :
       {"", "memory://", "redis://x:1", "kafka://", "kafka://host", "kafka://host:0",
        "kafka://host:99999", "kafka://a:1,", "kafka://a:1/x", "kafka://user:pw@host:9092"}) {
    BusConfig cfg;
    cfg.url = url;
    auto bus = open_bus(cfg);
    ASSERT_FALSE(bus.ok()) << url;
    EXPECT_EQ(bus.error().code, Errc::invalid_argument) << url << ": " << bus.error().message;
    EXPECT_EQ(bus.error().message.find(":pw@"), std::string::npos) << bus.error().message;
  }
  auto ok = kafka_bootstrap_from_url("kafka://a.example:9092,127.0.0.1:1,[::1]:9093");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(*ok, "a.example:9092,127.0.0.1:1,[::1]:9093");
}

TEST(OpenBus, BadKafkaPropertiesNameThePropertyAndHideSecrets) {
  BusConfig cfg;
  cfg.url = "kafka://127.0.0.1:1";  // never contacted: configuration fails first
  cfg.kafka_properties = {{"no.such.property", "1"}};
  auto bus = open_bus(cfg);
  ASSERT_FALSE(bus.ok());
  EXPECT_EQ(bus.error().code, Errc::invalid_argument);
  EXPECT_NE(bus.error().message.find("no.such.property"), std::string::npos);

  cfg.kafka_properties = {{"linger.ms", "soon"}};
  bus = open_bus(cfg);
  ASSERT_FALSE(bus.ok());
  EXPECT_NE(bus.error().message.find("linger.ms"), std::string::npos) << bus.error().message;

  cfg.kafka_properties = {{"ssl.key.password", "hunter2"}, {"ssl.keystore.location", "/nope"}};
  bus = open_bus(cfg);
  ASSERT_FALSE(bus.ok());
  EXPECT_EQ(bus.error().message.find("hunter2"), std::string::npos) << bus.error().message;

  // Valid alone, but the idempotent producer needs max.in.flight <= 5.
  cfg.kafka_properties = {{"max.in.flight", "50"}};
  bus = open_bus(cfg);
  ASSERT_FALSE(bus.ok());
  EXPECT_EQ(bus.error().code, Errc::invalid_argument);
  EXPECT_NE(bus.error().message.find("max.in.flight"), std::string::npos) << bus.error().message;

  cfg.kafka_properties = {{"enable.auto.commit", "true"}};
  bus = open_bus(cfg);
  ASSERT_FALSE(bus.ok());
  EXPECT_NE(bus.error().message.find("enable.auto.commit"), std::string::npos);
}

TEST(OpenBus, UnreachableKafkaIsUnavailable) {
  BusConfig cfg;
  cfg.url = "kafka://127.0.0.1:1";  // nothing listens on port 1
  auto bus = open_bus(cfg);
  ASSERT_FALSE(bus.ok());
  EXPECT_EQ(bus.error().code, Errc::unavailable) << bus.error().message;
}

}  // namespace
}  // namespace sf::bus
