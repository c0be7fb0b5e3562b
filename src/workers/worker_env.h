// The names of every environment variable a worker reads: the one place they are spelled.
// The manager builds a target's environment from them, the launchers pass it on, the
// workers read it; docs/workers.md lists them with examples.
#pragma once

namespace sf::workers::env_names {

// A target's own configuration (the manager sets these per target).
inline constexpr const char* kQueueId = "QUEUE_ID";
inline constexpr const char* kTarget = "TARGET";
inline constexpr const char* kTelemetryId = "TELEMETRY_ID";
inline constexpr const char* kSymbol = "SYMBOL";
inline constexpr const char* kType = "TYPE";
inline constexpr const char* kTimeRange = "TIME_RANGE";
inline constexpr const char* kKafkaTopic = "KAFKA_TOPIC";
inline constexpr const char* kCollectionName = "COLLECTION_NAME";
inline constexpr const char* kImage = "IMAGE";
inline constexpr const char* kControlTopic = "QUEUE_CONTROL_TOPIC";
inline constexpr const char* kEventsTopic = "QUEUE_EVENTS_TOPIC";
inline constexpr const char* kControlOffset = "CONTROL_OFFSET";
inline constexpr const char* kRunId = "RUN_ID";  // one start or repair of the queue
inline constexpr const char* kDataOffset =
    "DATA_OFFSET";  // the data topic's end at the run's start
inline constexpr const char* kTargetParams = "TARGET_PARAMS";  // JSON object
inline constexpr const char* kStartTimeoutS = "START_TIMEOUT_S";

// Loaders: the exchange.
inline constexpr const char* kExchangeUrl = "EXCHANGE_URL";
// Live loaders: the WebSocket stream server (default: derived from EXCHANGE_URL).
inline constexpr const char* kExchangeWsUrl = "EXCHANGE_WS_URL";
inline constexpr const char* kExchangeTimeoutMs = "EXCHANGE_TIMEOUT_MS";
inline constexpr const char* kExchangeWeightFraction = "EXCHANGE_WEIGHT_FRACTION";
// A file every loader process of the host spends its exchange weight from (set by the
// process launcher: <data-dir>/run/exchange-weight); unset: the process's own budget.
inline constexpr const char* kExchangeWeightFile = "EXCHANGE_WEIGHT_FILE";

// Process-wide settings of a worker process (`streamforge worker`), the same for every
// target the process launcher starts.
inline constexpr const char* kBus = "SF_BUS";
inline constexpr const char* kKafkaConfig = "SF_KAFKA_CONFIG";
inline constexpr const char* kBusPartitions = "SF_BUS_PARTITIONS";
inline constexpr const char* kBusReplication = "SF_BUS_REPLICATION";
inline constexpr const char* kDataDir = "SF_DATA_DIR";
inline constexpr const char* kStore = "SF_STORE";          // empty/sqlite, or a store URL
inline constexpr const char* kArtifacts = "SF_ARTIFACTS";  // artifacts/open.h: empty, file:, s3://
inline constexpr const char* kLogLevel = "SF_LOG_LEVEL";
inline constexpr const char* kMetricsPort = "METRICS_PORT";
inline constexpr const char* kMetricsListen = "METRICS_LISTEN";
// Set by the process launcher: wall-clock microseconds at the fork (workers/profile.h).
inline constexpr const char* kLaunchedAtUs = "SF_LAUNCHED_AT_US";

}  // namespace sf::workers::env_names
