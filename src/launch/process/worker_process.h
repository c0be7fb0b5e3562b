// The child side of the process launcher: `streamforge worker <target>` runs one worker
// role as its own process, configured only by its environment (docs/workers.md), as the
// ProcessLauncher starts it and as a Kubernetes Job would.
//
// Process-wide variables (besides the worker's own, WorkerConfig):
//   SF_BUS             bus URL, kafka://HOST:PORT[,HOST:PORT] (memory is refused: a memory
//                      bus cannot be shared between processes)
//   SF_KAFKA_CONFIG    librdkafka properties file (SASL, TLS, tuning), optional
//   SF_BUS_PARTITIONS  partitions of topics created on demand (default 1)
//   SF_BUS_REPLICATION replication factor of the topics it creates (default 1)
//   SF_STORE           data store: empty or "sqlite" (SQLite under SF_DATA_DIR), or a
//                      postgresql:// URL (the manager passes its --store)
//   SF_DATA_DIR        SQLite's directory (<dir>/streamforge.db); unset with SQLite: no store
//   SF_LOG_LEVEL       debug, info (default), warn, error
//   METRICS_PORT       port of the Prometheus /metrics listener (default 0: a free port,
//                      logged at start-up)
//   METRICS_LISTEN     its address (default 127.0.0.1)
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "base/env.h"
#include "base/result.h"
#include "bus/open.h"
#include "store/data_store.h"
#include "workers/worker.h"

namespace sf::launch {

// The process-wide variables it reads are workers::env_names::kBus ... kMetricsListen.

// A BusConfig from a URL, an optional librdkafka properties file (read and parsed here;
// errors name the file and line) and the partitions of topics created on demand.
// Shared by the manager service and the worker process so both open the bus alike.
Result<bus::BusConfig> load_bus_config(const std::string& url, const std::string& kafka_config_file,
                                       int32_t default_partitions, const std::string& client_id);

// The data store the environment names (SF_STORE, SF_DATA_DIR); null for SQLite when
// SF_DATA_DIR is not set.
Result<std::unique_ptr<store::DataStore>> open_data_store(const Env& env);

// Runs `target` from `registry` in this process with the configuration in `env`, until it
// ends or `cancel` becomes true (the caller sets it on SIGTERM/SIGINT; the worker then
// sends `interrupted`). Returns the process exit code: the worker's (0 finished, 1 error,
// 2 interrupted), 3 for bad configuration (unknown target, memory bus, malformed
// variable), 1 when the bus or store cannot be opened. Problems are logged (JSON lines on
// stderr) before returning.
int run_worker_process(const std::string& target, const Env& env,
                       const workers::WorkerRegistry& registry,
                       std::shared_ptr<std::atomic<bool>> cancel);

}  // namespace sf::launch
