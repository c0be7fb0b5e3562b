#include "workers/connector.h"

#include "protocol/validate.h"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <span>
#include <thread>
#include <utility>
#include <vector>

#include "base/log.h"
#include "json/json.h"
#include "market/binary.h"
#include "market/data_topic.h"
#include "market/records.h"
#include "metrics/metrics.h"
#include "protocol/validate.h"
#include "store/data_store.h"
#include "workers/profile.h"

namespace sf::workers {

using market::decode_end_marker;
using market::dlq_topic;
using market::encode_dlq_entry;
using market::EndMarker;
using market::kEndMarkerKey;
using protocol::RunStatus;

// ---- settings ---------------------------------------------------------------------------------

Result<ConnectorSettings> ConnectorSettings::from_params(const boost::json::object& params) {
  ConnectorSettings s;
  json::Fields f(params);
  SF_TRY(f.only({"batch_size", "batch_ms", "commit_ms", "consumer_group", "end_markers",
                 "expected_first_id", "expected_last_id", "record_kind", "interval"}));
  std::optional<int64_t> n;
  SF_TRY_ASSIGN(n, f.opt_int64("batch_size"));
  if (n) s.batch_size = *n;
  SF_TRY_ASSIGN(n, f.opt_int64("batch_ms"));
  if (n) s.batch_ms = *n;
  SF_TRY_ASSIGN(n, f.opt_int64("commit_ms"));
  if (n) s.commit_ms = *n;
  SF_TRY_ASSIGN(n, f.opt_int64("end_markers"));
  if (n) s.end_markers = *n;
  SF_TRY_ASSIGN(s.consumer_group, f.opt_str("consumer_group"));
  std::optional<std::string> kind;
  SF_TRY_ASSIGN(kind, f.opt_str("record_kind"));
  if (kind) {
    s.record_kind = market::kind_from_string(*kind);
    if (!s.record_kind)
      return Error(Errc::invalid_argument, "record_kind '" + *kind + "' is not a record kind",
                   "record_kind");
  }
  if (s.batch_size < 1 || s.batch_size > 1'000'000)
    return Error(Errc::invalid_argument, "batch_size must be between 1 and 1000000", "batch_size");
  if (s.batch_ms && (*s.batch_ms < 1 || *s.batch_ms > 60'000))
    return Error(Errc::invalid_argument, "batch_ms must be between 1 and 60000", "batch_ms");
  if (s.commit_ms && (*s.commit_ms < 0 || *s.commit_ms > 60'000))
    return Error(Errc::invalid_argument, "commit_ms must be between 0 and 60000", "commit_ms");
  if (s.end_markers < 1 || s.end_markers > 10'000)
    return Error(Errc::invalid_argument, "end_markers must be between 1 and 10000", "end_markers");
  if (s.consumer_group) SF_TRY(protocol::check_safe_name(*s.consumer_group, "consumer_group"));
  SF_TRY_ASSIGN(s.expected_first_id, f.opt_int64("expected_first_id"));
  SF_TRY_ASSIGN(s.expected_last_id, f.opt_int64("expected_last_id"));
  SF_TRY(protocol::check_id_bounds(s.expected_first_id, s.expected_last_id, "expected_first_id",
                                   "expected_last_id"));
  return s;
}

namespace {
// "candle", "agg_trade", ... as JSON strings.
std::string kind_names() {
  std::string out;
  for (market::Kind k : market::kAllKinds)
    out += (out.empty() ? "\"" : ",\"") + std::string(market::to_string(k)) + "\"";
  return out;
}
}  // namespace

int64_t ConnectorSettings::batch_ms_for(std::string_view type) const {
  if (batch_ms) return *batch_ms;
  return market::is_live_type(type) ? kLiveBatchMs : kBatchMs;
}

std::string ConnectorSettings::json_schema() {
  // The bounds of from_params() above; `interval` is a typed target field, described there.
  return std::string(R"json({
    "batch_size": {"type": "integer", "minimum": 1, "maximum": 1000000},
    "batch_ms": {"type": "integer", "minimum": 1, "maximum": 60000},
    "commit_ms": {"type": "integer", "minimum": 0, "maximum": 60000},
    "end_markers": {"type": "integer", "minimum": 1, "maximum": 10000},
    "expected_first_id": {"type": "integer", "minimum": 0, "maximum": 9223372036854775807, "description": "trades and aggregate trades: the range's first id on the exchange (not after expected_last_id)"},
    "expected_last_id": {"type": "integer", "minimum": 0, "maximum": 9223372036854775807, "description": "trades and aggregate trades: the range's last id on the exchange"},
    "record_kind": {"type": "string", "enum": [)json") +
         kind_names() +
         R"json(], "description": "the kind of record the topic holds, when the workflow's type produces several (ws_orderbook: book_snapshot or book_diff); default: the type's"},
    "consumer_group": {"type": "string", "pattern": ")json" +
         std::string(protocol::kSafeNamePattern) + R"json("}
  })json";
}

// ---- the worker -------------------------------------------------------------------------------

namespace {

constexpr int64_t kPollSliceMs = 100;       // bounds the reaction time to stop
constexpr int64_t kInFlightPollMs = 2;      // poll slice while a store write is in flight
constexpr int64_t kProgressEveryMs = 1000;  // `loading` events while work goes on
constexpr int64_t kRetryInitialMs = 100;
constexpr int64_t kRetryMaxMs = 5000;

// Runs the connector's store writes on a thread of its own, one at a time, so that the
// connector's thread polls and decodes the next batch while the store writes this one (the
// client's decoding and the database's work overlap instead of taking turns). While a write
// is in flight only this thread uses the store; the connector touches the store itself only
// when no write is in flight. An exception thrown by the store (a bug) is rethrown by wait().
class StoreWriter {
 public:
  StoreWriter(store::DataStore& store, const std::string& collection, market::Kind kind)
      : store_(store), collection_(collection), kind_(kind) {}
  ~StoreWriter() {
    {
      std::lock_guard lock(mu_);
      quit_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();  // after the write in flight, if any
  }
  StoreWriter(const StoreWriter&) = delete;
  StoreWriter& operator=(const StoreWriter&) = delete;

  // Starts upsert_decoded(rows). Only while idle (!busy()); `rows` must stay valid and
  // unchanged until wait() returned.
  void start(std::span<const market::Record> rows) {
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
    {
      std::lock_guard lock(mu_);
      rows_ = rows;
      job_ = true;
      busy_ = true;
      done_.reset();
    }
    cv_.notify_all();
  }
  // A write started and wait() not called yet.
  bool busy() {
    std::lock_guard lock(mu_);
    return busy_;
  }
  // A write started and finished, its result not taken yet.
  bool done() {
    std::lock_guard lock(mu_);
    return busy_ && done_.has_value();
  }
  // Waits for the write started last and returns its result (ok when none is busy).
  Status wait() {
    std::unique_lock lock(mu_);
    if (!busy_) return {};
    cv_.wait(lock, [&] { return done_.has_value(); });
    busy_ = false;
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
    return *std::exchange(done_, std::nullopt);
  }

 private:
  void run() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return job_ || quit_; });
      if (!job_) return;
      job_ = false;
      const auto rows = rows_;
      lock.unlock();
      Status s;
      try {
        // Every row came from market::decode_into(), which checked its decimals: the store
        // may skip checking them again (DataStore::upsert_decoded).
        profile::Timer timer("connector.store_write");
        s = store_.upsert_decoded(collection_, kind_, rows);
      } catch (...) {
        lock.lock();
        error_ = std::current_exception();
        done_ = Status(Error(Errc::internal, "store write threw"));
        cv_.notify_all();
        continue;
      }
      lock.lock();
      done_ = std::move(s);
      cv_.notify_all();
    }
  }

  store::DataStore& store_;
  const std::string collection_;
  const market::Kind kind_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::span<const market::Record> rows_;
  bool job_ = false;   // a write to pick up
  bool busy_ = false;  // started and not waited for
  bool quit_ = false;
  std::optional<Status> done_;  // the result of the write started last
  std::exception_ptr error_;
  std::thread thread_;
};

// What the connector polled for one store write: every polled record counts toward
// batch_size (rows, end markers and DLQ entries alike).
struct Batch {
  // rows[0, n) are this batch's; the rest are spare rows kept from earlier batches, which
  // decode_into() reuses.
  std::vector<market::Record> rows;
  size_t n = 0;
  std::vector<std::pair<std::string, bus::Record>> dlq;  // reason, source
  size_t dlq_sent = 0;  // DLQ entries already produced (retries resume here)
  std::map<std::pair<std::string, int32_t>, bus::Record> last;  // newest record per partition
  int64_t records = 0;

  std::span<const market::Record> written() const { return {rows.data(), n}; }
  void clear() {
    n = 0;  // the rows stay allocated
    dlq.clear();
    dlq_sent = 0;
    last.clear();
    records = 0;
  }
};

class Connector {
 public:
  Connector(WorkerContext& ctx, const WorkerConfig& cfg, ControlChannel& control,
            const ConnectorSettings& settings, market::Kind kind, bus::Producer& producer)
      : ctx_(ctx),
        cfg_(cfg),
        control_(control),
        settings_(settings),
        batch_ms_(settings.batch_ms_for(cfg.type.value_or(""))),
        kind_(kind),
        producer_(producer),
        topic_(*cfg.kafka_topic),
        dlq_(dlq_topic(*cfg.kafka_topic)),
        collection_(*cfg.collection_name),
        writer_(*ctx.data_store, collection_, kind) {
    if (ctx.metrics) {
      m_written_ = &ctx.metrics->counter("streamforge_connector_records_written_total",
                                         "Records upserted into the store by connectors");
      m_dlq_ = &ctx.metrics->counter("streamforge_connector_dlq_records_total",
                                     "Records connectors sent to a dead-letter topic");
      m_retries_ = &ctx.metrics->counter("streamforge_connector_store_retries_total",
                                         "Store writes connectors retried after a failure");
    }
  }

  int run() {
    (void)send(RunStatus::started, "store-connector started: " + topic_ + " -> " + collection_ +
                                       " in " + ctx_.data_store->describe());
    if (int code = ensure_collection(); code >= 0) return code;
    // No static membership (Kafka group.instance.id): with librdkafka 2.0.2 a static
    // member was fenced for good ("Static consumer fenced by other consumer with same
    // group.instance.id") when the broker restarted under it. A restarted connector waits
    // for the dead member's session (10 s) instead.
    bus::SubscribeOptions so;
    so.group = settings_.consumer_group.value_or(connector_group(cfg_.queue_id, cfg_.run_id));
    so.topics = {topic_};
    so.start_from = bus::StartFrom::earliest;
    auto consumer = ctx_.bus->subscribe(so);
    if (!consumer) {
      (void)send(RunStatus::error,
                 "cannot subscribe to " + topic_ + ": " + consumer.error().message);
      return kExitError;
    }
    consumer_ = std::move(*consumer);
    profile::mark("connector.subscribed");
    commit_ms_ = settings_.commit_ms.value_or(consumer_->commit_is_round_trip() ? 500 : 0);
    last_commit_ms_ = ctx_.clock->steady_ms();
    const int code = loop();
    settle();  // every path out of loop() did already; no write outlives the consumer
    consumer_->close();
    return code;
  }

 private:
  // -1 when the collection is ready, else the exit code.
  int ensure_collection() {
    int64_t backoff = kRetryInitialMs;
    for (;;) {
      auto s = ctx_.data_store->ensure_collection(collection_, kind_);
      if (s) return -1;
      if (s.error().code == Errc::invalid_argument) {
        (void)send(RunStatus::error,
                   "store refused collection " + collection_ + ": " + s.error().message);
        return kExitError;
      }
      if (wait_retry("ensure collection " + collection_, s.error(), backoff)) {
        (void)send(RunStatus::interrupted, "stopped before the collection was ready");
        return kExitInterrupted;
      }
    }
  }

  // The pipeline: while the writer upserts the batch in flight, this thread polls and
  // decodes the next one. A batch is handed over once the one in flight is written; that
  // one's offsets are committed right after the handover (overlapping the next write), so
  // commits follow the writes in order and at most two batches are held: the one in flight
  // and the one being decoded.
  int loop() {
    for (;;) {
      if (control_.stop_requested()) return interrupted();
      const int64_t now = ctx_.clock->steady_ms();
      int64_t wait = kPollSliceMs;
      if (cur_.records > 0) wait = std::clamp<int64_t>(batch_deadline_ - now, 0, kPollSliceMs);
      // While a write is in flight, poll in short slices: its offsets are then committed as
      // soon as it ends, while the next batch fills, rather than when that batch is due (the
      // synchronous commit would sit in front of the next write, adding its round trip to
      // every record's latency).
      if (in_flight_) wait = std::min(wait, kInFlightPollMs);
      // Messages to poll: a binary message is a page of records, so ask for as many as fill
      // the batch at the largest page seen (a batch exceeds batch_size by less than a page).
      const auto max = static_cast<size_t>(
          std::max<int64_t>(1, (settings_.batch_size - cur_.records) / largest_page_));
      const auto poll_start = std::chrono::steady_clock::now();
      auto recs = consumer_->poll(max, std::chrono::milliseconds(wait));
      // Polls that returned records (fetching, copying) apart from those that waited.
      profile::add(recs && !recs->empty() ? "connector.poll" : "connector.poll_empty",
                   profile::us_since(poll_start));
      if (!recs) {
        if (recs.error().code == Errc::closed) {
          settle();
          (void)send(RunStatus::error, "data topic consumer closed: " + recs.error().message);
          return kExitError;
        }
        log::warn("connector: poll " + topic_ + " failed: " + recs.error().message, cfg_.queue_id);
        control_.wait_stop_for(std::chrono::milliseconds(kPollSliceMs));
        continue;
      }
      if (!recs->empty() && log::enabled(log::Level::debug)) {
        // What this run received: after a crash, the next run's first offsets show which
        // records the bus delivered again (from the group's committed offset).
        log::debug("connector: polled " + topic_ + "[" + std::to_string(recs->front().partition) +
                       "] offsets " + std::to_string(recs->front().offset) + ".." +
                       std::to_string(recs->back().offset),
                   cfg_.queue_id);
      }
      if (!recs->empty()) profile::mark("connector.first_record");
      const auto decode_start = std::chrono::steady_clock::now();
      for (size_t i = 0; i < recs->size(); ++i) {
        const bus::Record& r = (*recs)[i];
        // Before this run's start: an earlier run's records and end marker. Not this run's
        // to write or count (the store, not the topic, says what is there); still committed.
        if (r.partition != 0 || r.offset >= cfg_.data_offset) take(r);
        // Only the newest record of each partition is committed: note it once per poll.
        const bool last_of_partition = i + 1 == recs->size() ||
                                       (*recs)[i + 1].partition != r.partition ||
                                       (*recs)[i + 1].topic != r.topic;
        if (last_of_partition) note_last(r);
      }
      if (!recs->empty()) profile::add("connector.decode", profile::us_since(decode_start));
      // A write that finished meanwhile: commit it now rather than when the next batch is
      // ready (a slow stream would otherwise hold its commit back).
      if (in_flight_ && writer_.done()) {
        if (int code = complete_in_flight(/*retry=*/true); code >= 0) return code;
      }
      commit_offsets(/*force=*/false);

      const bool full = cur_.records >= settings_.batch_size;
      const bool due = cur_.records > 0 && ctx_.clock->steady_ms() >= batch_deadline_;
      const bool ending = markers_seen_ >= settings_.end_markers;
      if (full || due || (ending && cur_.records > 0)) {
        if (int code = flush(/*retry=*/true); code >= 0) return code;
      }
      if (ending && recs->empty() && cur_.records == 0) {
        if (int code = complete_in_flight(/*retry=*/true); code >= 0) return code;
        commit_offsets(/*force=*/true);
        profile::mark("connector.drained");
        check_store();
        profile::mark("connector.gaps_checked");
        (void)send(RunStatus::finished, "Saved " + std::to_string(written_) + " records to " +
                                            collection_ + ", " + std::to_string(dlq_count_) +
                                            " to " + dlq_ + " (loader published " +
                                            std::to_string(published_) + ")");
        return kExitFinished;
      }
      progress("");
    }
  }

  // Sorts one bus record into the batch being decoded: a data record, an end marker, or a
  // DLQ entry.
  void take(const bus::Record& r) {
    if (cur_.records == 0) batch_deadline_ = ctx_.clock->steady_ms() + batch_ms_;
    ++cur_.records;
    if (r.key == kEndMarkerKey) {
      auto m = decode_end_marker(r.value);
      if (m) {
        ++markers_seen_;
        published_ += m->published;
        note_marker_ids(*m);
        return;
      }
      cur_.dlq.push_back({"malformed end marker: " + m.error().message, r});
      return;
    }
    // Decoded into the batch's next slots, reusing the rows a previous batch left there. A
    // binary message is a page of records: all of them count toward batch_size, and a page
    // with one bad record goes to the DLQ whole (the entry names the record).
    if (auto n = market::decode_message(kind_, r.value, cur_.rows, cur_.n); n) {
      cur_.n += *n;
      cur_.records += static_cast<int64_t>(*n) - 1;
      largest_page_ = std::max(largest_page_, static_cast<int64_t>(*n));
    } else {
      cur_.dlq.push_back({std::string(errc_name(n.error().code)) + ": " + n.error().message, r});
    }
  }

  // The newest record of a partition in the batch (what its commit covers).
  void note_last(const bus::Record& r) {
    auto it = cur_.last.find({r.topic, r.partition});
    if (it == cur_.last.end()) {
      cur_.last.emplace(std::make_pair(r.topic, r.partition), r);
    } else {
      it->second = r;
    }
  }

  // Hands the batch being decoded to the writer: its DLQ records first (durable before any
  // commit covering them; produced while the previous batch is still being written), then
  // the batch in flight must be written and committed, then its upsert starts. Returns -1
  // on success, else the exit code (the batch stays uncommitted). Without `retry`, one
  // attempt of each step.
  int flush(bool retry) {
    int64_t backoff = kRetryInitialMs;
    while (cur_.dlq_sent < cur_.dlq.size()) {
      const auto& [reason, src] = cur_.dlq[cur_.dlq_sent];
      auto p = producer_.produce(dlq_, src.key, encode_dlq_entry(reason, src));
      if (p) {
        ++cur_.dlq_sent;
        continue;
      }
      if (!retry || wait_retry("write to " + dlq_, p.error(), backoff))
        return interrupted_nowrite();
    }
    while (!cur_.dlq.empty()) {
      auto s = producer_.flush(std::chrono::seconds(5));
      if (s) break;
      if (!retry || wait_retry("flush " + dlq_, s.error(), backoff)) return interrupted_nowrite();
    }
    // The batch in flight must be written first, but its offsets are committed once the next
    // write has started: the commit's round trip then overlaps that write instead of sitting
    // in front of it (docs/benchmarks.md, issue 11). Offsets still follow their writes.
    const bool written_batch = in_flight_;
    if (int code = complete_in_flight(retry, /*commit_now=*/false); code >= 0) return code;
    std::swap(cur_, in_flight_batch_);  // cur_: the batch just written (if any)
    in_flight_ = true;
    if (in_flight_batch_.n > 0) writer_.start(in_flight_batch_.written());
    if (written_batch) {
      account(cur_);
      commit_offsets(/*force=*/false);
    }
    cur_.clear();
    // Nothing to write (DLQ entries or markers only): committed at once.
    if (in_flight_batch_.n == 0) return complete_in_flight(retry);
    return -1;
  }

  // Waits for the batch in flight to be written (retrying a failed write with backoff, the
  // records never at fault), then commits its offsets and counts it. -1 on success (or when
  // nothing is in flight), else the exit code: then nothing of it is committed.
  // With !commit_now the written batch stays in flight, uncommitted, for the caller.
  int complete_in_flight(bool retry, bool commit_now = true) {
    if (!in_flight_) return -1;
    int64_t backoff = kRetryInitialMs;
    for (;;) {
      const auto wait_start = std::chrono::steady_clock::now();
      Status s = writer_.wait();  // ok at once for a batch without rows
      profile::add("connector.write_wait", profile::us_since(wait_start));
      if (s) break;
      if (s.error().code == Errc::invalid_argument) {
        // The store refuses what decode() accepted (e.g. the collection holds another kind):
        // retrying cannot help, and the records are not at fault for the DLQ either.
        (void)send(RunStatus::error,
                   "store refused a batch for " + collection_ + ": " + s.error().message);
        return kExitError;
      }
      if (!retry || wait_retry("upsert into " + collection_, s.error(), backoff))
        return interrupted_nowrite();
      writer_.start(in_flight_batch_.written());
    }
    if (!commit_now) return -1;
    account(in_flight_batch_);
    commit_offsets(/*force=*/false);
    in_flight_batch_.clear();
    in_flight_ = false;
    return -1;
  }

  // Counts a written batch and notes its offsets for the next commit.
  void account(const Batch& b) {
    for (const auto& [tp, rec] : b.last) to_commit_.insert_or_assign(tp, rec);
    written_ += static_cast<int64_t>(b.n);
    dlq_count_ += static_cast<int64_t>(b.dlq.size());
    if (m_written_) m_written_->inc(static_cast<double>(b.n));
    if (m_dlq_) m_dlq_->inc(static_cast<double>(b.dlq.size()));
    if (!b.dlq.empty()) {
      log::warn("connector: " + std::to_string(b.dlq.size()) + " records to " + dlq_ +
                    " (first: " + b.dlq.front().first.substr(0, 200) + ")",
                cfg_.queue_id);
    }
  }

  // Commits the offsets of the batches written so far, at most every commit_ms unless
  // `force`: a synchronous commit is a broker round trip (about 11 ms, once per 5,000-record
  // batch it was a fifth of the connector's time; docs/benchmarks.md), and offsets committed
  // later only mean more records delivered again, and upserted the same, after a crash.
  void commit_offsets(bool force) {
    if (to_commit_.empty()) return;
    const int64_t now = ctx_.clock->steady_ms();
    if (!force && now - last_commit_ms_ < commit_ms_) return;
    profile::mark("connector.first_commit");
    profile::Timer timer("connector.commit");
    for (const auto& [tp, rec] : to_commit_) {
      if (auto s = consumer_->commit(rec); !s) {
        // The rows are durable; the records come again after a restart and upsert the same.
        log::warn("connector: commit " + tp.first + "/" + std::to_string(tp.second) + "@" +
                      std::to_string(rec.offset) + " failed: " + s.error().message,
                  cfg_.queue_id);
      }
    }
    to_commit_.clear();
    last_commit_ms_ = now;
  }

  // On the way out: the write in flight is waited for (no retry) and, if it succeeded,
  // counted; a failed one stays uncommitted (in_flight_ stays set). Then every written
  // batch's offsets are committed.
  void settle() {
    if (in_flight_ && writer_.busy() && writer_.wait()) {
      account(in_flight_batch_);
      in_flight_batch_.clear();
      in_flight_ = false;
    }
    commit_offsets(/*force=*/true);
  }

  // Logs, reports progress and sleeps `backoff` (doubled for next time, capped). Returns
  // true if a stop arrived meanwhile.
  bool wait_retry(const std::string& what, const Error& e, int64_t& backoff) {
    if (m_retries_) m_retries_->inc();
    const std::string msg = what + " failed (" + errc_name(e.code) + ": " + e.message +
                            "); retrying in " + std::to_string(backoff) + " ms";
    log::warn("connector: " + msg, cfg_.queue_id);
    // Sliced so `loading` events keep coming during a long outage.
    for (int64_t left = backoff; left > 0;) {
      const int64_t d = std::min<int64_t>(left, kProgressEveryMs);
      if (control_.wait_stop_for(std::chrono::milliseconds(d))) return true;
      left -= d;
      progress(msg);
    }
    backoff = std::min(backoff * 2, kRetryMaxMs);
    return false;
  }

  // Stop: write and commit the batches in hand (the one in flight, then the one being
  // decoded) if the store takes them at the first try, then report.
  int interrupted() {
    if (int code = complete_in_flight(/*retry=*/false); code >= 0) return code;
    if (cur_.records > 0) {
      if (int code = flush(/*retry=*/false); code >= 0) return code;
      if (int code = complete_in_flight(/*retry=*/false); code >= 0) return code;
    }
    return interrupted_nowrite();
  }

  int interrupted_nowrite() {
    settle();
    const int64_t uncommitted = cur_.records + (in_flight_ ? in_flight_batch_.records : 0);
    (void)send(RunStatus::interrupted,
               "stopped after " + std::to_string(written_) + " records written to " + collection_ +
                   ", " + std::to_string(dlq_count_) + " to " + dlq_ +
                   (uncommitted > 0 ? "; " + std::to_string(uncommitted) +
                                          " records not committed (delivered again on restart)"
                                    : ""));
    return kExitInterrupted;
  }

  void progress(const std::string& note) {
    const int64_t now = ctx_.clock->steady_ms();
    if (now - last_progress_ms_ < kProgressEveryMs) return;
    std::string msg =
        "Saved " + std::to_string(written_) + " records, " + std::to_string(dlq_count_) + " to DLQ";
    if (!note.empty()) msg += "; " + note;
    (void)send(RunStatus::loading, std::move(msg));
  }

  // The ids an end marker names widen what the range's first and last id are known to be.
  void note_marker_ids(const EndMarker& m) {
    if (!m.first_id || !m.last_id) return;
    if (!marker_first_id_ || *m.first_id < *marker_first_id_) marker_first_id_ = m.first_id;
    if (!marker_last_id_ || *m.last_id > *marker_last_id_) marker_last_id_ = m.last_id;
  }

  // Trades and aggregate trades: the id ranges the store lacks in [from_ms, to_ms), checked
  // at the edges against the first and last id known: the settings' (a repair passes the
  // first run's) and the end markers' (a loader's first and last id published).
  void check_trade_ids(const protocol::TimeRange& range) {
    store::IdGapQuery q;
    q.symbol = *cfg_.symbol;
    q.from_ms = range.start_ms;
    q.to_ms = range.end_ms;
    auto lower = [](std::optional<int64_t> a, std::optional<int64_t> b) {
      return a && b ? std::min(*a, *b) : a ? a : b;
    };
    auto higher = [](std::optional<int64_t> a, std::optional<int64_t> b) {
      return a && b ? std::max(*a, *b) : a ? a : b;
    };
    q.expected_first = lower(settings_.expected_first_id, marker_first_id_);
    q.expected_last = higher(settings_.expected_last_id, marker_last_id_);
    auto gaps = ctx_.data_store->missing_ids(collection_, q);
    if (!gaps && gaps.error().code == Errc::not_found)  // nothing stored at all
      gaps = store::assemble_missing_ids(q, {}, {}, std::nullopt);
    if (!gaps) {
      log::warn("connector: cannot check the ids of " + collection_ + ": " + gaps.error().message,
                cfg_.queue_id);
      return;
    }
    std::vector<std::string> out;
    for (const auto& g : *gaps) out.push_back(protocol::format_id_range(g.first, g.last));
    missing_ = std::move(out);
  }

  // What the store holds of the workflow's symbol and range (completeness report): the
  // count, and the ranges it lacks: for candles where they are absent by open time, for
  // trades by id.
  void check_store() {
    if (!cfg_.type || !cfg_.symbol || !cfg_.time_range) return;
    // Order books: how many snapshots and diffs a range holds is the market's; nothing to
    // judge the store by.
    if (kind_ != market::Kind::candle && !market::has_ids(kind_)) return;
    auto range = protocol::parse_time_range(*cfg_.time_range);
    if (!range) return;
    auto interval = market::interval_for_type(*cfg_.type);
    store::Query q;
    q.symbol = *cfg_.symbol;
    if (interval) q.interval = *interval;
    q.from_ms = range->start_ms;
    q.to_ms = range->end_ms;
    auto warn = [&](const Error& e) {
      log::warn("connector: cannot check " + collection_ + ": " + e.message, cfg_.queue_id);
    };
    if (auto n = ctx_.data_store->count(collection_, q); n) {
      stored_ = *n;
    } else {
      warn(n.error());
    }
    if (market::has_ids(kind_)) return check_trade_ids(*range);
    if (!interval) return;
    const int64_t step = market::interval_ms(*interval);
    if (step <= 0) return;  // calendar months: not checked
    // Keys are unique and exchange candles open on the interval's grid, so as many rows as
    // grid points means none is missing; reading every open time back (about 0.4 s for a
    // year of 1m candles) is only needed to say which are.
    if (stored_ &&
        *stored_ == candle_slots(range->start_ms, range->end_ms, step, ctx_.clock->now_ms())) {
      missing_.emplace();
      return;
    }
    auto opens = ctx_.data_store->times(collection_, q);
    if (!opens) return warn(opens.error());
    missing_ =
        missing_candle_ranges(*opens, range->start_ms, range->end_ms, step, ctx_.clock->now_ms());
  }

  // Telemetry with the DLQ count (Telemetry::send has no records_dlq).
  Status send(RunStatus status, std::string message) {
    last_progress_ms_ = ctx_.clock->steady_ms();
    protocol::Event ev;
    ev.queue_id = cfg_.queue_id;
    ev.producer = cfg_.telemetry_id;
    ev.symbol = cfg_.symbol;
    ev.type = cfg_.type;
    ev.status = status;
    ev.message = std::move(message);
    ev.records_written = written_;
    ev.records_dlq = dlq_count_;
    if (status == RunStatus::finished) {
      ev.missing_ranges = missing_;
      ev.records_stored = stored_;
    }
    ev.finished = protocol::is_terminal(status);
    ev.timestamp = now_seconds(*ctx_.clock);
    if (status == RunStatus::error) log::error("connector: " + *ev.message, cfg_.queue_id);
    auto r = producer_.produce(cfg_.events_topic, cfg_.queue_id, protocol::encode(ev));
    if (!r) return r.error();
    return {};
  }

  WorkerContext& ctx_;
  const WorkerConfig& cfg_;
  std::optional<std::vector<std::string>> missing_;
  std::optional<int64_t> stored_;
  std::optional<int64_t> marker_first_id_, marker_last_id_;  // trades: what end markers named
  ControlChannel& control_;
  const ConnectorSettings& settings_;
  const int64_t batch_ms_;
  const market::Kind kind_;
  bus::Producer& producer_;  // DLQ records and telemetry
  const std::string topic_, dlq_, collection_;
  std::unique_ptr<bus::Consumer> consumer_;

  // The batch being decoded, and the one in flight (written by writer_ while in_flight_;
  // swapped, so both keep their spare rows).
  Batch cur_, in_flight_batch_;
  int64_t largest_page_ = 1;  // records in the largest message decoded so far
  bool in_flight_ = false;    // in_flight_batch_ is handed over and not committed
  // The newest written record per partition whose offset is not committed yet.
  std::map<std::pair<std::string, int32_t>, bus::Record> to_commit_;
  int64_t last_commit_ms_ = 0;
  int64_t commit_ms_ = 0;
  int64_t batch_deadline_ = 0;

  int64_t written_ = 0, dlq_count_ = 0, published_ = 0, markers_seen_ = 0;
  int64_t last_progress_ms_ = 0;
  metrics::Counter* m_written_ = nullptr;
  metrics::Counter* m_dlq_ = nullptr;
  metrics::Counter* m_retries_ = nullptr;
  StoreWriter writer_;  // the last member: its thread ends before the batches go
};

int connector_work(WorkerContext& ctx, const WorkerConfig& cfg, ControlChannel& control,
                   Telemetry& tel) {
  auto fail = [&](int code, const std::string& msg) {
    log::error("store-connector: " + msg, cfg.queue_id);
    (void)tel.send(RunStatus::error, msg);
    return code;
  };
  auto settings = ConnectorSettings::from_params(cfg.params);
  if (!settings) return fail(kExitBadConfig, "bad connector settings: " + settings.error().message);
  if (!cfg.kafka_topic || cfg.kafka_topic->empty())
    return fail(kExitBadConfig,
                std::string("no data topic: ") + env_names::kKafkaTopic + " is not set");
  if (!cfg.collection_name || cfg.collection_name->empty())
    return fail(kExitBadConfig,
                std::string("no collection: ") + env_names::kCollectionName + " is not set");
  if (auto s = store::check_collection_name(*cfg.collection_name); !s)
    return fail(kExitBadConfig, s.error().message);
  if (!cfg.type)
    return fail(kExitBadConfig, std::string("no record type: ") + env_names::kType + " is not set");
  auto kind = market::kind_for_type(*cfg.type);
  if (!kind) return fail(kExitBadConfig, kind.error().message);
  if (settings->record_kind) {
    const market::KindInfo& k = market::kind_info(*settings->record_kind);
    if (*cfg.type != k.live_type && *cfg.type != k.workflow_type)
      return fail(kExitBadConfig, "record_kind '" + std::string(k.name) +
                                      "' is not a kind the type '" + *cfg.type + "' produces");
    kind = *settings->record_kind;
  }
  if (ctx.data_store == nullptr)
    return fail(kExitError,
                "no data store configured for this worker (the launcher must pass one)");
  auto producer = ctx.bus->producer();
  if (!producer) return fail(kExitError, "cannot create a producer: " + producer.error().message);

  Connector c(ctx, cfg, control, *settings, *kind, **producer);
  const int code = c.run();
  (void)(*producer)->flush(std::chrono::seconds(5));
  return code;
}

}  // namespace

int run_connector(WorkerContext& ctx) { return run_worker(ctx, "store-connector", connector_work); }

int64_t candle_slots(int64_t start_ms, int64_t end_ms, int64_t interval_ms, int64_t now_ms) {
  const int64_t end = std::min(end_ms, now_ms + 1);
  const int64_t first = (start_ms + interval_ms - 1) / interval_ms * interval_ms;
  return first < end ? (end - first + interval_ms - 1) / interval_ms : 0;
}

std::vector<std::string> missing_candle_ranges(const std::vector<int64_t>& open_times,
                                               int64_t start_ms, int64_t end_ms,
                                               int64_t interval_ms, int64_t now_ms,
                                               size_t max_ranges) {
  std::vector<std::string> out;
  const int64_t end = std::min(end_ms, now_ms + 1);
  int64_t expect = (start_ms + interval_ms - 1) / interval_ms * interval_ms;  // first open
  size_t i = 0;
  while (expect < end) {
    while (i < open_times.size() && open_times[i] < expect) ++i;
    if (i < open_times.size() && open_times[i] == expect) {
      expect += interval_ms;
      continue;
    }
    // A gap from `expect` to the next stored open (or the end).
    int64_t gap_end = i < open_times.size() ? std::min(open_times[i], end) : end;
    gap_end = std::max(gap_end, expect + interval_ms);
    if (out.size() + 1 == max_ranges) gap_end = end;
    out.push_back(
        protocol::format_time_range(expect, std::min(gap_end, std::max(end, expect + 1))));
    if (out.size() == max_ranges) break;
    expect = (gap_end + interval_ms - 1) / interval_ms * interval_ms;
  }
  return out;
}

}  // namespace sf::workers
