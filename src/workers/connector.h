// store-connector (docs/workers.md; also called arango-connector, both target names run
// this code and the configured DataStore decides where the data goes): consumes a
// workflow's data topic, batches records, upserts them into the collection named by
// COLLECTION_NAME and commits bus offsets only once the batch is durable in the store.
//
// Configuration (docs/workers.md): KAFKA_TOPIC (data topic), COLLECTION_NAME, TYPE (record
// kind via market::kind_for_type: api_candles_<interval>, api_agg_trades, api_trades), and
// in TARGET_PARAMS:
//   batch_size      records per store write (default 5000, 1..1,000,000; a batch may pass
//                   it by less than one binary page)
//   batch_ms        longest wait before writing a partial batch (1..60,000; default 20,
//                   2 for a live type: ws_trades, ws_klines_1m, ...)
//   commit_ms       longest wait before committing written batches' offsets (0..60,000;
//                   0 commits after every batch; default 500 where a commit is a server
//                   round trip (Kafka), else 0: bus::Consumer::commit_is_round_trip())
//   consumer_group  bus consumer group (default "connector-<queue_id>")
//   end_markers     end-of-data markers to see before finishing (default 1: one loader)
//   record_kind     the topic's record kind where the type produces several (ws_orderbook:
//                   book_snapshot or book_diff); default the type's (market::kind_for_type)
//   expected_first_id, expected_last_id
//                   trades: the range's first and last id on the exchange, against which
//                   the final check finds ids missing at the range's edges (a repair passes
//                   the first run's); the end markers' first_id/last_id widen them

// The DataStore comes from WorkerContext::data_store; without one the worker ends in
// `error` at once.
//
// Guarantees:
// - At-least-once from the bus, exactly-once in the store: offsets are committed only after
//   the upsert that covers them succeeded (and the DLQ records of the batch are flushed);
//   a redelivered record upserts the same row again. Offsets of written batches are
//   committed together at most every commit_ms, and always before `finished`,
//   `interrupted` or `error`: a crash redelivers at most about commit_ms of records.
// - Messages are read in either form of market/binary.h (a JSON record, or a binary page of
//   records, whose records count toward batch_size together). A message that does not
//   decode (market::decode_message(): not JSON, a malformed page, a record failing its
//   rules; a page goes whole, its reason naming the record) goes to `<KAFKA_TOPIC>-dlq`
//   (market::encode_dlq_entry()) keyed like the original, is counted (records_dlq in the
//   telemetry events, the message, and streamforge_connector_dlq_records_total), and the
//   pipeline goes on. A record may reach the DLQ twice if the connector dies between the
//   DLQ write and the commit.
// - Store failures are never a record's fault: a failed upsert is retried with capped
//   exponential backoff (100 ms .. 5 s) until it succeeds or the worker is stopped; nothing
//   is committed and nothing goes to the DLQ meanwhile. Exceptions: a store that refuses
//   the collection (invalid_argument, e.g. it holds another kind) ends the worker in `error`.
// - Telemetry: `started`; `loading` with records_written (records upserted, duplicates
//   included) at least every second; `finished` once the end marker(s) arrived and
//   everything before them is written and the topic is drained (a poll comes back empty),
//   with records_stored and missing_ranges from the store (candles: time ranges by open
//   time; trades: id ranges "id:FROM-TO", DataStore::missing_ids against the expected ids);
//   `interrupted` within about 100 ms of a stop plus the time of its last writes: the
//   batches in hand are written and committed first if the store takes them at the first
//   try (see Pipeline); `error` for bad configuration or a refused collection.
//
// Pipeline: while the store writes one batch, the worker's thread polls and decodes the
// next. A writer thread of the connector's own makes the store calls of a batch (one batch
// in flight at a time; the store is never called from two threads at once); the worker's
// thread polls, produces DLQ records and telemetry, and commits offsets. A batch is handed
// to the writer only after the batch before it is written; that batch's offsets are then
// committed (when commit_ms has passed) while the new one is written, so offsets are
// committed in order and never ahead of the writes, and memory is bounded by
// two batches (the one in flight and the one being decoded). A stop writes the batch in
// flight and then the one being decoded, each only if the store takes it at the first try.
//
// Threading: run_connector() runs on the worker's thread (and starts the writer thread,
// ended before it returns); the functions below are pure and thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "bus/bus.h"
#include "market/records.h"
#include "workers/worker.h"

namespace sf::workers {

// ---- the role ------------------------------------------------------------------------------

struct ConnectorSettings {
  // p99 produce-to-stored under 50 ms at 10,000 records/s (kafka_bench).
  static constexpr int64_t kBatchMs = 20;
  // Live data: a row is stored a few ms after it arrives (p99 event-to-stored about 11 ms at
  // 5,000 messages/s embedded, live_bench); the writer pipeline keeps the throughput, only
  // more transactions are made.
  static constexpr int64_t kLiveBatchMs = 2;
  // batch_ms as given, else the default for the workflow type.
  int64_t batch_ms_for(std::string_view type) const;

  int64_t batch_size = 5000;
  // unset: kBatchMs, or kLiveBatchMs for a live type (batch_ms_for()).
  std::optional<int64_t> batch_ms;
  std::optional<int64_t> commit_ms;  // unset: 500 or 0 by the bus (see above)
  std::optional<std::string> consumer_group;
  int64_t end_markers = 1;
  std::optional<int64_t> expected_first_id;
  std::optional<int64_t> expected_last_id;
  // The topic's record kind when the workflow's type produces several (ws_orderbook's
  // snapshots and diffs, each on a topic and in a collection of their own).
  std::optional<market::Kind> record_kind;

  // Strict: unknown members (other than `interval`, which generic target entries carry) and
  // out-of-range values are invalid_argument naming the field.
  static Result<ConnectorSettings> from_params(const boost::json::object& params);
  // What from_params() accepts, as a JSON object of JSON Schemas by setting name.
  static std::string json_schema();
};

// The default consumer group of a queue's connector; with a run id, of that run of the queue
// (docs/workers.md: a rerun or a repair consumes with a group of its own).
inline std::string connector_group(const std::string& queue_id,
                                   const std::optional<std::string>& run_id = std::nullopt) {
  return "connector-" + queue_id + (run_id ? "-" + *run_id : std::string());
}

// The worker entry point (registered as "store-connector" and "arango-connector").
int run_connector(WorkerContext& ctx);

// How many candles of a fixed-length interval open in [start_ms, min(end_ms, now_ms + 1)):
// the grid points missing_candle_ranges() checks.
int64_t candle_slots(int64_t start_ms, int64_t end_ms, int64_t interval_ms, int64_t now_ms);

// The ranges of [start_ms, min(end_ms, now_ms)) where candles of a fixed-length interval
// should open but `open_times` (ascending) has none, as time_range strings; at most
// `max_ranges` (the last one then runs to the end).
std::vector<std::string> missing_candle_ranges(const std::vector<int64_t>& open_times,
                                               int64_t start_ms, int64_t end_ms,
                                               int64_t interval_ms, int64_t now_ms,
                                               size_t max_ranges = 100);

}  // namespace sf::workers
