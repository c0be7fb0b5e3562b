// Opening a bus from configuration: the one place a bus URL becomes an implementation.
// apps/ (the manager service and `streamforge worker`) call it; libraries take a Bus&.
//
// URLs:
//   memory                         the in-process MemoryBus (one process only)
//   kafka://HOST:PORT[,HOST:PORT]  Apache Kafka through librdkafka (bus/kafka)
// BusConfig::kafka_properties are librdkafka properties passed through unchanged (SASL,
// TLS, tuning); they are never logged unredacted (see redact_kafka_properties()).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "base/result.h"
#include "bus/bus.h"

namespace sf::bus {

struct BusConfig {
  std::string url = "memory";
  // librdkafka properties applied to every Kafka client (producer, consumer, admin).
  std::map<std::string, std::string> kafka_properties;
  // Kafka producer compression.codec. none: the data topics' binary pages are compact
  // already, and lz4 was a quarter of a loader's CPU for 43% fewer bytes (docs/benchmarks.md,
  // issue 11); set compression.codec=lz4 in the Kafka properties where bandwidth is short.
  std::string compression = "none";
  int32_t default_partitions = 1;  // partitions of topics created on demand
  int16_t replication = 1;         // replication factor of topics created on demand
  std::string client_id = "streamforge";
};

// Errc::invalid_argument naming the problem for an unknown scheme or a malformed URL;
// Errc::unavailable when the Kafka cluster cannot be reached at start-up.
Result<std::unique_ptr<Bus>> open_bus(const BusConfig& cfg);

// Parses a librdkafka properties file: `key=value` lines, `#` comments, blank lines.
// Errc::invalid_argument with the line number for anything else.
Result<std::map<std::string, std::string>> parse_kafka_properties(const std::string& text);

// A printable form of the properties with the values of secret keys (password, secret,
// token, key material, sasl.jaas.config, ...) replaced by "***".
std::string redact_kafka_properties(const std::map<std::string, std::string>& props);

}  // namespace sf::bus
