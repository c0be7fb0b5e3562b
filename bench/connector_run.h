// Shared by data_bench and pg_bench: an in-process worker's start command, and the real
// store-connector worker draining a pre-filled in-process bus into a DataStore,
// timed. Header-only; the benchmark links sf_workers and sf_bus_memory. Throws
// std::runtime_error on any failure (a benchmark has no one to retry).
#pragma once

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "bus/memory/memory_bus.h"
#include "market/data_topic.h"
#include "protocol/messages.h"
#include "store/data_store.h"
#include "tests/support/worker.h"
#include "workers/connector.h"
#include "workers/worker.h"

namespace sf::bench {

inline void check(const Status& s, const std::string& what) {
  if (!s) throw std::runtime_error(what + ": " + s.error().message);
}

inline double secs_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Publishes the worker's start command on the control topic, as the manager would.
inline void publish_start(bus::Bus& bus, const workers::WorkerConfig& cfg) {
  check(testing::publish_command(bus, cfg), "publish the start command");
}

struct ConnectorRun {
  double per_s = 0;  // records stored per second
  double cpu = 0;    // the process's CPU time during the run, s
};

// `values` (encoded 1m candles of `symbol`) and an end marker on a fresh memory bus, then
// run_connector() into `collection` of `store` until it finishes; checks the row count.
inline ConnectorRun run_connector_on(store::DataStore& store, const std::string& queue,
                                     const std::string& symbol, const std::string& collection,
                                     const std::vector<std::string>& values) {
  bus::MemoryBus bus;
  const std::string topic = queue + "-data";
  check(bus.ensure_topic({topic, 1, 1}), "ensure topic");
  {
    auto p = bus.producer();
    if (!p) throw std::runtime_error("producer: " + p.error().message);
    for (const auto& v : values)
      if (auto r = (*p)->produce(topic, symbol, v); !r)
        throw std::runtime_error("prefill: " + r.error().message);
    auto r = (*p)->produce(topic, market::kEndMarkerKey,
                           market::encode_end_marker({static_cast<int64_t>(values.size())}));
    if (!r) throw std::runtime_error("prefill marker: " + r.error().message);
  }
  workers::WorkerConfig cfg =
      testing::worker_config(queue, "store-connector", "conn__1", symbol, "api_candles_1m", topic);
  cfg.collection_name = collection;
  workers::WorkerContext ctx;
  ctx.env = cfg.to_env();
  ctx.bus = &bus;
  ctx.data_store = &store;
  const auto t0 = std::chrono::steady_clock::now();
  const double cpu0 = cpu_seconds();
  publish_start(bus, cfg);
  const int code = workers::run_connector(ctx);
  const double secs = secs_since(t0);
  const double cpu = cpu_seconds() - cpu0;
  if (code != workers::kExitFinished)
    throw std::runtime_error("the connector exited with code " + std::to_string(code));
  auto rows = store.count(collection);
  if (!rows || *rows != static_cast<int64_t>(values.size()))
    throw std::runtime_error("the collection holds " + (rows ? std::to_string(*rows) : "?") +
                             " rows, expected " + std::to_string(values.size()));
  return {static_cast<double>(*rows) / secs, cpu};
}

}  // namespace sf::bench
