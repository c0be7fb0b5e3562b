// store-connector end to end in one process: MemoryBus + SqliteDataStore in a temporary
// directory, the worker run through its real life cycle (start command on queue-control,
// telemetry on queue-events).
#include "workers/connector.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "base/text.h"
#include "bus/memory/memory_bus.h"
#include "market/binary.h"
#include "market/data_topic.h"
#include "market/records.h"
#include "metrics/metrics.h"
#include "store/sqlite/sqlite_data_store.h"
#include "tests/support/forwarding_bus.h"
#include "tests/support/forwarding_store.h"
#include "tests/support/sqlite_worker_test.h"
#include "tests/support/worker.h"

namespace sw = sf::workers;
namespace sp = sf::protocol;
using namespace std::chrono_literals;
using sf::market::Kind;

namespace {

constexpr const char* kQueue = "wf-conn";
constexpr const char* kTopic = "wf-conn-data";
constexpr const char* kDlq = "wf-conn-data-dlq";
constexpr const char* kCollection = "btc_1m";
constexpr int64_t kT0 = 1'722'470'400'000;

sf::market::Candle candle(int64_t i, const std::string& symbol = "BTCUSDT") {
  sf::market::Candle c;
  c.symbol = symbol;
  c.interval = "1m";
  c.open_time = kT0 + i * 60'000;
  c.close_time = c.open_time + 59'999;
  c.open = std::to_string(60000 + i) + ".01000000";
  c.high = std::to_string(60010 + i) + ".00000000";
  c.low = std::to_string(59990 + i) + ".99000000";
  c.close = std::to_string(60001 + i) + ".50000000";
  c.volume = "0.00000001";
  c.quote_volume = "-1.5";  // odd but valid decimal text, kept as is
  c.trades = i;
  c.taker_buy_base_volume = "0.10000000";
  c.taker_buy_quote_volume = "12345678901234567890.123456789";
  return c;
}

// A DataStore decorator whose upsert() fails with Errc::unavailable a given number of times
// (-1: always) before passing calls through: a database outage as the connector sees it.
class FailingStore final : public sf::testing::ForwardingDataStore {
 public:
  using ForwardingDataStore::ForwardingDataStore;
  std::atomic<int> failures_left{0};
  std::atomic<int> upsert_calls{0};

  sf::Status upsert(const std::string& n, Kind k, std::span<const sf::market::Record> r) override {
    ++upsert_calls;
    int left = failures_left.load();
    if (left != 0) {
      if (left > 0) --failures_left;
      return sf::Error(sf::Errc::unavailable, "simulated outage");
    }
    return inner_.upsert(n, k, r);
  }
  std::string describe() const override { return "failing:" + inner_.describe(); }
};

// What the pipeline tests watch, in the order it happened: store writes (the open_time
// range of the batch, as candle indexes) and the data consumer's polls and commits.
class CallLog {
 public:
  enum class Kind { write_begin, write_ok, write_failed, poll, commit };
  struct Entry {
    Kind kind;
    int64_t a = 0, b = 0;  // write: first and last candle index; poll: records; commit: offset
  };
  void add(Kind k, int64_t a = 0, int64_t b = 0) {
    std::lock_guard lock(mu_);
    entries_.push_back({k, a, b});
  }
  std::vector<Entry> entries() {
    std::lock_guard lock(mu_);
    return entries_;
  }

 private:
  std::mutex mu_;
  std::vector<Entry> entries_;
};

int64_t candle_index(const sf::market::Record& r) {
  return (std::get<sf::market::Candle>(r).open_time - kT0) / 60'000;
}

// A DataStore decorator that logs every write, makes it take `delay`, fails the calls
// listed in `fail` (1-based call number -> error) and counts the calls in progress at once
// (any method), so tests see that the store is used by one thread at a time.
class RecordingStore final : public sf::store::DataStore {
 public:
  RecordingStore(sf::store::DataStore& inner, CallLog& log) : inner_(inner), log_(log) {}
  std::chrono::milliseconds delay{0};
  std::map<int, sf::Errc> fail;
  std::atomic<int> max_concurrent{0};

  sf::Status ensure_collection(const std::string& n, Kind k) override {
    Guard g(*this);
    return inner_.ensure_collection(n, k);
  }
  sf::Status upsert(const std::string& n, Kind k, std::span<const sf::market::Record> r) override {
    Guard g(*this);
    const int call = ++calls_;
    const int64_t first = r.empty() ? -1 : candle_index(r.front());
    const int64_t last = r.empty() ? -1 : candle_index(r.back());
    log_.add(CallLog::Kind::write_begin, first, last);
    std::this_thread::sleep_for(delay);
    sf::Status s = fail.count(call) ? sf::Status(sf::Error(fail.at(call), "simulated failure"))
                                    : inner_.upsert(n, k, r);
    log_.add(s.ok() ? CallLog::Kind::write_ok : CallLog::Kind::write_failed, first, last);
    return s;
  }
  sf::Result<std::vector<sf::store::CollectionInfo>> collections() override {
    Guard g(*this);
    return inner_.collections();
  }
  sf::Result<Kind> collection_kind(const std::string& n) override {
    Guard g(*this);
    return inner_.collection_kind(n);
  }
  sf::Result<int64_t> count(const std::string& n, const sf::store::Query& q) override {
    Guard g(*this);
    return inner_.count(n, q);
  }
  sf::Result<std::vector<sf::market::Record>> scan(const std::string& n,
                                                   const sf::store::Query& q) override {
    Guard g(*this);
    return inner_.scan(n, q);
  }
  sf::Result<std::vector<int64_t>> times(const std::string& n, const sf::store::Query& q) override {
    Guard g(*this);
    return inner_.times(n, q);
  }
  sf::Result<std::vector<sf::store::IdRange>> missing_ids(const std::string& n,
                                                          const sf::store::IdGapQuery& q) override {
    Guard g(*this);
    return inner_.missing_ids(n, q);
  }
  std::string describe() const override { return "recording:" + inner_.describe(); }

 private:
  struct Guard {
    explicit Guard(RecordingStore& s) : s_(s) {
      const int now = ++s_.in_calls_;
      int seen = s_.max_concurrent.load();
      while (now > seen && !s_.max_concurrent.compare_exchange_weak(seen, now)) {
      }
    }
    ~Guard() { --s_.in_calls_; }
    RecordingStore& s_;
  };
  sf::store::DataStore& inner_;
  CallLog& log_;
  std::atomic<int> calls_{0}, in_calls_{0};
};

// A Bus decorator whose consumers log their polls and commits.
class RecordingBus final : public sf::testing::ForwardingBus {
 public:
  RecordingBus(sf::bus::Bus& inner, CallLog& log) : ForwardingBus(inner), log_(log) {}
  sf::Result<std::unique_ptr<sf::bus::Consumer>> subscribe(
      const sf::bus::SubscribeOptions& opts) override {
    auto c = inner_.subscribe(opts);
    if (!c) return c.error();
    return std::unique_ptr<sf::bus::Consumer>(new Consumer(std::move(*c), log_));
  }

 private:
  class Consumer final : public sf::bus::Consumer {
   public:
    Consumer(std::unique_ptr<sf::bus::Consumer> inner, CallLog& log)
        : inner_(std::move(inner)), log_(log) {}
    sf::Result<std::vector<sf::bus::Record>> poll(size_t max,
                                                  std::chrono::milliseconds timeout) override {
      auto r = inner_->poll(max, timeout);
      if (r && !r->empty()) log_.add(CallLog::Kind::poll, static_cast<int64_t>(r->size()));
      return r;
    }
    sf::Status commit(const sf::bus::Record& r) override {
      auto s = inner_->commit(r);
      if (s) log_.add(CallLog::Kind::commit, r.offset);
      return s;
    }
    void close() override { inner_->close(); }

   private:
    std::unique_ptr<sf::bus::Consumer> inner_;
    CallLog& log_;
  };
  CallLog& log_;
};

// The pipeline's invariants over a log of a topic holding candles 0..n-1 at offsets
// 0..n-1 (and possibly an end marker after them): writes never overlap and are of
// consecutive ranges, a range is written again only after its write failed, offsets are
// committed in increasing order and only once every candle up to them is written. Returns
// the highest committed offset (-1: none).
int64_t check_pipeline_log(const std::vector<CallLog::Entry>& log, int64_t n) {
  using K = CallLog::Kind;
  int64_t written_to = -1;  // every candle up to here is written
  int64_t committed = -1;   // the highest committed offset
  int64_t next_first = 0;   // the first candle of the next new batch
  bool writing = false, last_failed = false;
  int64_t cur_first = -1, cur_last = -1;
  for (const auto& e : log) {
    switch (e.kind) {
      case K::write_begin:
        EXPECT_FALSE(writing) << "two writes at once";
        writing = true;
        if (last_failed) {
          EXPECT_EQ(e.a, cur_first) << "a failed batch is written again before anything else";
          EXPECT_EQ(e.b, cur_last);
        } else {
          EXPECT_EQ(e.a, next_first) << "batches are written in order, none skipped";
        }
        cur_first = e.a;
        cur_last = e.b;
        break;
      case K::write_ok:
      case K::write_failed:
        EXPECT_TRUE(writing);
        writing = false;
        last_failed = e.kind == K::write_failed;
        if (!last_failed) {
          written_to = e.b;
          next_first = e.b + 1;
        }
        break;
      case K::commit:
        EXPECT_GT(e.a, committed) << "commits go forward";
        committed = e.a;
        // The end marker (offset n) is no row: it may be committed once every candle is.
        EXPECT_LE(std::min(e.a, n - 1), written_to)
            << "offset " << e.a << " committed with only candles up to " << written_to
            << " written";
        break;
      case K::poll:
        break;
    }
  }
  return committed;
}

// Polls (with records) that came while a write was in progress: the pipeline at work.
int polls_during_writes(const std::vector<CallLog::Entry>& log) {
  int n = 0;
  bool writing = false;
  for (const auto& e : log) {
    if (e.kind == CallLog::Kind::write_begin) writing = true;
    if (e.kind == CallLog::Kind::write_ok || e.kind == CallLog::Kind::write_failed) writing = false;
    if (e.kind == CallLog::Kind::poll && writing) ++n;
  }
  return n;
}

class ConnectorTest : public sf::testing::SqliteWorkerTest {
 protected:
  ConnectorTest() : SqliteWorkerTest("sf-connector-test") {}
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(SqliteWorkerTest::SetUp());
    auto p = bus_.producer();
    ASSERT_TRUE(p.ok());
    producer_ = std::move(*p);
  }
  void TearDown() override {
    if (running_.valid()) {
      command(sp::CommandType::stop);
      running_.wait();
    }
  }

  sw::WorkerConfig config(const std::string& params_json = "{}") {
    auto c = sf::testing::worker_config(kQueue, "store-connector", "conn__1", "BTCUSDT",
                                        "api_candles_1m", kTopic);
    c.collection_name = kCollection;
    c.start_timeout_s = 5;
    c.params = boost::json::parse(params_json).as_object();
    return c;
  }
  void command(sp::CommandType type) {
    ASSERT_TRUE(sf::testing::publish_command(bus_, config(), type).ok());
  }
  // Starts the worker with `store` (default: the SQLite store; nullptr: none).
  void start(const sw::WorkerConfig& cfg, sf::store::DataStore* store) {
    ctx_.env = cfg.to_env();
    ctx_.bus = worker_bus_ != nullptr ? worker_bus_ : &bus_;
    ctx_.metrics = &metrics_;
    ctx_.data_store = store;
    command(sp::CommandType::start);
    running_ = std::async(std::launch::async, [this] { return sw::run_connector(ctx_); });
  }
  void start(const sw::WorkerConfig& cfg) { start(cfg, store_.get()); }
  int exit_code(std::chrono::milliseconds timeout = 20s) {
    if (running_.wait_for(timeout) != std::future_status::ready) {
      ADD_FAILURE() << "connector did not end within " << timeout.count() << " ms";
      command(sp::CommandType::stop);
    }
    return running_.get();
  }
  void publish(const std::string& key, const std::string& value) {
    ASSERT_TRUE(producer_->produce(kTopic, key, value).ok());
  }
  void publish(const sf::market::Candle& c) { publish(c.symbol, sf::market::encode(c)); }
  void publish_end(int64_t published) {
    publish(sf::market::kEndMarkerKey, sf::market::encode_end_marker({published}));
  }

  // Every record of `topic` from the start, for a fresh group.
  std::vector<sf::bus::Record> read_all(const std::string& topic, const std::string& group,
                                        std::chrono::milliseconds quiet = 200ms) {
    auto c = bus_.subscribe(
        {.group = group, .topics = {topic}, .start_from = sf::bus::StartFrom::earliest});
    EXPECT_TRUE(c.ok());
    std::vector<sf::bus::Record> out;
    for (;;) {
      auto recs = (*c)->poll(10'000, quiet);
      EXPECT_TRUE(recs.ok());
      if (!recs.ok() || recs->empty()) break;
      out.insert(out.end(), recs->begin(), recs->end());
    }
    (*c)->close();
    return out;
  }
  // What the connector's own group would still receive: its uncommitted records.
  std::vector<sf::bus::Record> uncommitted() {
    return read_all(kTopic, sw::connector_group(kQueue));
  }
  std::vector<sp::Event> events() {
    std::vector<sp::Event> out;
    for (const auto& r : read_all(sf::bus::kEventsTopic, "events-" + std::to_string(++readers_))) {
      auto ev = sp::decode_event(r.value);
      EXPECT_TRUE(ev.ok()) << r.value;
      if (ev && ev->producer == "conn__1") out.push_back(*ev);
    }
    return out;
  }
  // The connector's last telemetry event has `status` (and `records_written`, if given).
  void expect_last_event(sp::RunStatus status,
                         std::optional<int64_t> records_written = std::nullopt) {
    auto evs = events();
    ASSERT_FALSE(evs.empty());
    EXPECT_EQ(evs.back().status, status);
    if (records_written) {
      EXPECT_EQ(evs.back().records_written, *records_written);
    }
  }
  int64_t rows() {
    auto n = store_->count(kCollection);
    return n.ok() ? *n : -1;
  }
  // The pipeline tests' set-up: the worker gets a store and a bus that log into one CallLog,
  // each write taking `delay`, and kPipelineCandles candles wait on the data topic (with the
  // end marker when `end`). start_pipeline() starts it with batches of 100.
  static constexpr int64_t kPipelineCandles = 1000;
  struct Pipeline {
    Pipeline(sf::store::DataStore& s, sf::bus::Bus& b) : store(s, log), bus(b, log) {}
    CallLog log;
    RecordingStore store;
    RecordingBus bus;
  };
  Pipeline& pipeline(std::chrono::milliseconds delay, bool end = true) {
    pipeline_ = std::make_unique<Pipeline>(*store_, bus_);
    pipeline_->store.delay = delay;
    worker_bus_ = &pipeline_->bus;
    for (int64_t i = 0; i < kPipelineCandles; ++i) publish(candle(i));
    if (end) publish_end(kPipelineCandles);
    return *pipeline_;
  }
  void start_pipeline(const std::string& params = R"({"batch_size":100})") {
    start(config(params), &pipeline_->store);
  }

  // Waits until the collection has at least `n` rows.
  bool wait_rows(int64_t n, std::chrono::milliseconds timeout = 10s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (rows() >= n) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  sf::bus::Bus* worker_bus_ = nullptr;  // what the worker gets instead of bus_ (a decorator)
  sf::metrics::Registry metrics_;
  std::unique_ptr<sf::bus::Producer> producer_;
  sw::WorkerContext ctx_;
  std::unique_ptr<Pipeline> pipeline_;  // outlives the worker (running_ goes first)
  std::future<int> running_;
  int readers_ = 0;
};

}  // namespace

// ---- codecs and settings -------------------------------------------------------------------

TEST(ConnectorSettings, DefaultsAndValidation) {
  auto d = sw::ConnectorSettings::from_params({});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->batch_size, 5000);
  EXPECT_FALSE(d->batch_ms);
  EXPECT_EQ(d->batch_ms_for("api_candles_1m"), 20);
  EXPECT_EQ(d->batch_ms_for("ws_trades"), 2) << "live data is stored within ms";
  EXPECT_EQ(d->batch_ms_for("ws_klines_1m"), 2);
  EXPECT_EQ(d->end_markers, 1);
  EXPECT_FALSE(d->commit_ms) << "chosen by the bus";
  EXPECT_FALSE(d->consumer_group);
  EXPECT_FALSE(
      sw::ConnectorSettings::from_params(boost::json::parse(R"({"commit_ms":-1})").as_object()));
  EXPECT_FALSE(
      sw::ConnectorSettings::from_params(boost::json::parse(R"({"commit_ms":60001})").as_object()));
  auto s = sw::ConnectorSettings::from_params(
      boost::json::parse(
          R"({"batch_size":10,"batch_ms":5,"consumer_group":"g-1","end_markers":3,"interval":"1m"})")
          .as_object());
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->batch_size, 10);
  EXPECT_EQ(s->batch_ms_for("ws_trades"), 5) << "given, whatever the type";
  EXPECT_EQ(*s->consumer_group, "g-1");
  auto ids = sw::ConnectorSettings::from_params(
      boost::json::parse(R"({"expected_first_id":5,"expected_last_id":9})").as_object());
  ASSERT_TRUE(ids.ok()) << ids.error().message;
  EXPECT_EQ(*ids->expected_first_id, 5);
  EXPECT_EQ(*ids->expected_last_id, 9);
  for (const char* bad :
       {R"({"batch_size":0})", R"({"batch_ms":0})", R"({"batch_ms":"5"})",
        R"({"consumer_group":"a b"})", R"({"end_markers":0})", R"({"x":1})",
        R"({"expected_first_id":9,"expected_last_id":5})", R"({"expected_last_id":-1})"}) {
    auto r = sw::ConnectorSettings::from_params(boost::json::parse(bad).as_object());
    EXPECT_FALSE(r.ok()) << bad;
  }
}

TEST(Registry, HasBothConnectorNames) {
  auto r = sw::WorkerRegistry::builtin();
  EXPECT_NE(r.find("store-connector"), nullptr);
  EXPECT_NE(r.find("arango-connector"), nullptr);
  EXPECT_FALSE(
      r.validate("arango-connector", boost::json::parse(R"({"batch_size":-1})").as_object()).ok());
  EXPECT_TRUE(r.validate("store-connector", {}).ok());
}

// ---- end to end ----------------------------------------------------------------------------

TEST_F(ConnectorTest, ValidRecordsLandOnceAndTheEndMarkerFinishes) {
  constexpr int64_t kN = 3000;
  for (int64_t i = 0; i < kN; ++i) publish(candle(i));
  for (int64_t i = 0; i < 500; ++i) publish(candle(i));  // redelivered duplicates
  publish_end(kN + 500);
  start(config(R"({"batch_size":700})"));
  EXPECT_EQ(exit_code(), sw::kExitFinished);

  EXPECT_EQ(rows(), kN);
  std::vector<sf::market::Record> want;
  for (int64_t i = 0; i < kN; ++i) want.emplace_back(candle(i));
  EXPECT_EQ(*store_->scan(kCollection), want);
  // Issue 10: a finished connector leaves nothing of its topic in the manager's memory.
  EXPECT_EQ(bus_.retained_records(kTopic), 0u);
  EXPECT_TRUE(uncommitted().empty()) << "every record, the marker included, is committed";
  EXPECT_TRUE(read_all(kDlq, "dlq").empty());

  auto evs = events();
  ASSERT_GE(evs.size(), 2u);
  EXPECT_EQ(evs.front().status, sp::RunStatus::started);
  EXPECT_EQ(evs.back().status, sp::RunStatus::finished);
  EXPECT_EQ(evs.back().records_written, kN + 500);
  EXPECT_EQ(evs.back().records_dlq, 0);
  EXPECT_NE(evs.back().message->find("loader published 3500"), std::string::npos)
      << *evs.back().message;
}

// Trades: the final event's missing_ranges are id ranges: the gaps between stored ids, and
// at the range's edges what the expected ids (the end marker's, or the settings') say.
TEST_F(ConnectorTest, TradesReportTheMissingIdsInsideAndAtTheEdgesOfTheRange) {
  auto agg = [](int64_t id) {
    sf::market::AggTrade t;
    t.symbol = "BTCUSDT";
    t.agg_id = id;
    t.price = "60000.00000000";
    t.qty = "0.10000000";
    t.first_trade_id = t.last_trade_id = id;
    t.time = kT0 + id * 10;
    return t;
  };
  auto run = [&](const std::string& params, std::optional<std::pair<int64_t, int64_t>> ids) {
    auto cfg = config(params);
    cfg.type = "api_agg_trades";
    cfg.collection_name = "btc_agg";
    cfg.time_range = "2024-08-01T00:00:2024-08-01T01:00";
    // Each run reads only what it published (an earlier run's marker must not end it).
    auto end = bus_.end_offset(kTopic, 0);
    cfg.data_offset = end ? *end : 0;
    int64_t n = 0;
    for (int64_t id = 102; id <= 197; ++id) {
      if (id >= 150 && id <= 154) continue;
      const auto t = agg(id);
      publish(t.symbol, sf::market::encode(t));
      ++n;
    }
    sf::market::EndMarker m{n};
    if (ids) {
      m.first_id = ids->first;
      m.last_id = ids->second;
    }
    publish(sf::market::kEndMarkerKey, sf::market::encode_end_marker(m));
    start(cfg);
    EXPECT_EQ(exit_code(), sw::kExitFinished);
    auto evs = events();
    running_ = {};
    return evs.back();
  };
  // The loader's marker says the range is 100..199: 100-101 and 198-199 are missing too.
  auto done = run("{}", std::pair<int64_t, int64_t>{100, 199});
  EXPECT_EQ(done.status, sp::RunStatus::finished);
  EXPECT_EQ(*done.records_stored, 91);
  EXPECT_EQ(*done.missing_ranges,
            (std::vector<std::string>{"id:100-101", "id:150-154", "id:198-199"}));
  // A repair's connector gets the first run's ids as settings (its loaders' markers name
  // only what they loaded).
  done = run(R"({"expected_first_id":100,"expected_last_id":199,"end_markers":1,
                 "consumer_group":"g2"})",
             std::pair<int64_t, int64_t>{150, 154});
  EXPECT_EQ(*done.missing_ranges,
            (std::vector<std::string>{"id:100-101", "id:150-154", "id:198-199"}));
  // Nothing known of the edges: only the gap between stored ids.
  done = run(R"({"consumer_group":"g3"})", std::nullopt);
  EXPECT_EQ(*done.missing_ranges, (std::vector<std::string>{"id:150-154"}));
}

TEST_F(ConnectorTest, WaitsForTheMarkerAndWritesPartialBatchesOnTime) {
  start(config(R"({"batch_size":100000,"batch_ms":50})"));
  for (int64_t i = 0; i < 10; ++i) publish(candle(i));
  ASSERT_TRUE(wait_rows(10, 3s)) << "a partial batch is written after batch_ms";
  EXPECT_EQ(running_.wait_for(300ms), std::future_status::timeout) << "no marker yet";
  for (int64_t i = 10; i < 20; ++i) publish(candle(i));
  publish_end(20);
  EXPECT_EQ(exit_code(), sw::kExitFinished);
  EXPECT_EQ(rows(), 20);
}

TEST_F(ConnectorTest, MalformedRecordsGoToTheDlqAndEveryValidRecordIsStored) {
  constexpr int64_t kValid = 2000;
  constexpr int kBad = 1000;
  const std::string good = sf::market::encode(candle(0));
  const std::vector<std::string> bad_kinds = {
      "not json at all",
      good.substr(0, good.size() / 2),         // truncated
      R"([1,2,3])",                            // not an object
      std::string("\xff\xfe\x00garbage", 10),  // not UTF-8
      "",                                      // empty
      R"({"symbol":"BTCUSDT"})",               // missing fields
      [&] {                                    // wrong type
        auto v = boost::json::parse(good).as_object();
        v["open_time"] = "yesterday";
        return boost::json::serialize(v);
      }(),
      [&] {  // bad decimal
        auto v = boost::json::parse(good).as_object();
        v["close"] = "1e5";
        return boost::json::serialize(v);
      }(),
      R"({"end_of_data":true,"published":1})",  // marker value without the marker key
  };
  std::map<int64_t, std::string> bad_at;  // source offset -> original bytes
  int64_t offset = 0;
  int b = 0;
  for (int64_t i = 0; i < kValid; ++i) {
    publish(candle(i));
    ++offset;
    if (i % 2 == 0 && b < kBad) {
      const std::string& v = bad_kinds[static_cast<size_t>(b) % bad_kinds.size()];
      publish("BTCUSDT", v);
      bad_at[offset++] = v;
      ++b;
    }
  }
  ASSERT_EQ(b, kBad);
  publish(sf::market::kEndMarkerKey,
          "{\"end_of_data\":tru");  // a broken marker is a bad record too
  bad_at[offset++] = "{\"end_of_data\":tru";
  publish_end(kValid + kBad);
  start(config(R"({"batch_size":333})"));
  EXPECT_EQ(exit_code(), sw::kExitFinished);

  EXPECT_EQ(rows(), kValid);
  auto dlq = read_all(kDlq, "dlq");
  ASSERT_EQ(dlq.size(), bad_at.size());
  std::set<int64_t> seen;
  for (const auto& r : dlq) {
    auto v = boost::json::parse(r.value).as_object();
    const int64_t src = v.at("source_offset").as_int64();
    EXPECT_TRUE(seen.insert(src).second) << "offset " << src << " twice";
    ASSERT_TRUE(bad_at.count(src)) << "offset " << src << " was not a bad record";
    EXPECT_EQ(v.at("source_topic").as_string(), kTopic);
    EXPECT_EQ(v.at("source_partition").as_int64(), 0);
    EXPECT_FALSE(v.at("reason").as_string().empty());
    const std::string original(v.at("original").as_string());
    if (v.at("original_base64").as_bool()) {
      EXPECT_EQ(original, sf::base64_encode(bad_at[src]));
    } else {
      EXPECT_EQ(original, bad_at[src]);
    }
  }
  auto evs = events();
  ASSERT_FALSE(evs.empty());
  EXPECT_EQ(evs.back().status, sp::RunStatus::finished);
  EXPECT_EQ(evs.back().records_written, kValid);
  EXPECT_EQ(evs.back().records_dlq, kBad + 1);
  EXPECT_NE(evs.back().message->find(std::to_string(kBad + 1) + " to " + kDlq), std::string::npos)
      << *evs.back().message;
  EXPECT_EQ(metrics_
                .counter("streamforge_connector_dlq_records_total",
                         "Records connectors sent to a dead-letter topic")
                .value(),
            kBad + 1);
  EXPECT_TRUE(uncommitted().empty());
}

// The loaders' default form: pages of records a message (market/binary.h), mixed here with
// JSON records. Every record of a good page is stored; a page with one bad record goes to
// the DLQ whole, its reason naming the record; pages count toward batch_size by records.
TEST_F(ConnectorTest, BinaryPagesLandWholeAndABadPageGoesToTheDlqWhole) {
  auto page = [](int64_t from, int64_t n, std::optional<int64_t> bad = std::nullopt) {
    std::vector<sf::market::Candle> cs;
    for (int64_t i = from; i < from + n; ++i) cs.push_back(candle(i));
    if (bad) cs[static_cast<size_t>(*bad - from)].high = "1e5";
    std::string out;
    sf::market::encode_page_to(out, std::span<const sf::market::Candle>(cs));
    return out;
  };
  publish("BTCUSDT", page(0, 1000));
  publish(candle(1000));  // a JSON record between pages
  const std::string bad = page(1001, 500, 1234);
  publish("BTCUSDT", bad);
  publish("BTCUSDT", page(1501, 999));
  publish("BTCUSDT", page(2500, 1000).substr(0, 5000));  // truncated
  publish_end(3500);
  start(config(R"({"batch_size":700})"));
  EXPECT_EQ(exit_code(), sw::kExitFinished);

  std::vector<sf::market::Record> want;
  for (int64_t i = 0; i < 2500; ++i)
    if (i < 1001 || i >= 1501) want.emplace_back(candle(i));
  EXPECT_EQ(*store_->scan(kCollection), want);
  auto dlq = read_all(kDlq, "dlq");
  ASSERT_EQ(dlq.size(), 2u);
  auto first = boost::json::parse(dlq[0].value).as_object();
  EXPECT_EQ(first.at("source_offset").as_int64(), 2);
  EXPECT_TRUE(first.at("original_base64").as_bool());
  EXPECT_EQ(std::string(first.at("original").as_string()), sf::base64_encode(bad));
  const std::string reason(first.at("reason").as_string());
  EXPECT_NE(reason.find("record 233: field 'high'"), std::string::npos) << reason;
  const std::string truncated(boost::json::parse(dlq[1].value).at("reason").as_string());
  EXPECT_NE(truncated.find("truncated"), std::string::npos) << truncated;
  auto evs = events();
  ASSERT_FALSE(evs.empty());
  EXPECT_EQ(evs.back().records_written, 2000);
  EXPECT_EQ(evs.back().records_dlq, 2);
  EXPECT_TRUE(uncommitted().empty());
}

TEST_F(ConnectorTest, StopInterruptsWithinASecondAndCommitsWhatIsWritten) {
  for (int64_t i = 0; i < 1000; ++i) publish(candle(i));
  start(config());
  ASSERT_TRUE(wait_rows(1000));
  std::this_thread::sleep_for(100ms);  // let the commit after the write happen
  auto t0 = std::chrono::steady_clock::now();
  command(sp::CommandType::stop);
  EXPECT_EQ(exit_code(), sw::kExitInterrupted);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  EXPECT_TRUE(uncommitted().empty());
  expect_last_event(sp::RunStatus::interrupted, 1000);
}

TEST_F(ConnectorTest, StoreOutageIsRetriedWithoutCommitOrDlqUntilItSucceeds) {
  FailingStore failing(*store_);
  failing.failures_left = 4;
  for (int64_t i = 0; i < 100; ++i) publish(candle(i));
  publish_end(100);
  start(config(), &failing);
  EXPECT_EQ(exit_code(), sw::kExitFinished);
  EXPECT_GE(failing.upsert_calls.load(), 5);
  EXPECT_EQ(rows(), 100);
  EXPECT_TRUE(read_all(kDlq, "dlq").empty()) << "an outage is not the records' fault";
  EXPECT_TRUE(uncommitted().empty());
  bool saw_retry = false;
  for (const auto& ev : events())
    if (ev.message && ev.message->find("simulated outage") != std::string::npos) saw_retry = true;
  EXPECT_TRUE(saw_retry) << "loading events report the outage";
  EXPECT_GE(metrics_
                .counter("streamforge_connector_store_retries_total",
                         "Store writes connectors retried after a failure")
                .value(),
            4);
}

TEST_F(ConnectorTest, StoreThatNeverRecoversCommitsNothingAndStopStillWorks) {
  FailingStore failing(*store_);
  failing.failures_left = -1;
  for (int64_t i = 0; i < 50; ++i) publish(candle(i));
  publish("BTCUSDT", "junk");
  publish_end(50);
  start(config(R"({"batch_ms":10})"), &failing);
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (failing.upsert_calls.load() < 3 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  ASSERT_GE(failing.upsert_calls.load(), 3);
  auto t0 = std::chrono::steady_clock::now();
  command(sp::CommandType::stop);
  EXPECT_EQ(exit_code(), sw::kExitInterrupted);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  EXPECT_EQ(rows(), 0);
  // Nothing was committed: the group gets every record again, from offset 0.
  auto again = uncommitted();
  ASSERT_EQ(again.size(), 52u);
  EXPECT_EQ(again.front().offset, 0);
  expect_last_event(sp::RunStatus::interrupted, 0);
}

// ---- the pipeline: the next batch is decoded while the store writes this one -------------

TEST_F(ConnectorTest, PipelineCommitsEachBatchOnlyAfterItsWriteInOrder) {
  constexpr int64_t kN = kPipelineCandles;
  auto& p = pipeline(30ms);
  start_pipeline();
  EXPECT_EQ(exit_code(), sw::kExitFinished);

  const auto entries = p.log.entries();
  EXPECT_EQ(check_pipeline_log(entries, kN), kN) << "the end marker is committed last";
  EXPECT_GE(polls_during_writes(entries), 1) << "the next batch is polled during a write";
  EXPECT_EQ(p.store.max_concurrent.load(), 1) << "one store call at a time";
  int writes = 0;
  for (const auto& e : entries) writes += e.kind == CallLog::Kind::write_begin;
  EXPECT_EQ(writes, 10);
  EXPECT_EQ(rows(), kN);
  EXPECT_TRUE(uncommitted().empty());
  expect_last_event(sp::RunStatus::finished, kN);
}

int commits(const std::vector<CallLog::Entry>& entries) {
  int n = 0;
  for (const auto& e : entries) n += e.kind == CallLog::Kind::commit;
  return n;
}

TEST_F(ConnectorTest, OffsetsAreCommittedAtMostEveryCommitMsAndAllBeforeFinishing) {
  auto& p = pipeline(5ms);
  start_pipeline(R"({"batch_size":100,"commit_ms":60000})");
  EXPECT_EQ(exit_code(), sw::kExitFinished);
  const auto entries = p.log.entries();
  EXPECT_EQ(check_pipeline_log(entries, kPipelineCandles), kPipelineCandles);
  EXPECT_EQ(commits(entries), 1) << "ten batches written within a minute: one commit, at the end";
  EXPECT_TRUE(uncommitted().empty());
}

TEST_F(ConnectorTest, CommitMsZeroCommitsAfterEveryBatch) {
  auto& p = pipeline(5ms);
  start_pipeline(R"({"batch_size":100,"commit_ms":0})");
  EXPECT_EQ(exit_code(), sw::kExitFinished);
  EXPECT_GE(commits(p.log.entries()), 10);
  EXPECT_TRUE(uncommitted().empty());
}

TEST_F(ConnectorTest, AWriteRefusedInTheMiddleLeavesEverythingAfterItUncommitted) {
  constexpr int64_t kN = kPipelineCandles;
  auto& p = pipeline(20ms);
  p.store.fail[4] = sf::Errc::invalid_argument;  // the 4th batch: candles 300..399
  start_pipeline();
  EXPECT_EQ(exit_code(), sw::kExitError);

  const auto entries = p.log.entries();
  EXPECT_EQ(check_pipeline_log(entries, kN), 299) << "batches 1-3 committed, nothing after";
  int writes = 0;
  for (const auto& e : entries) writes += e.kind == CallLog::Kind::write_begin;
  EXPECT_EQ(writes, 4) << "the batch decoded meanwhile is never written";
  EXPECT_EQ(rows(), 300);
  auto again = uncommitted();
  ASSERT_EQ(again.size(), static_cast<size_t>(kN - 300 + 1));
  EXPECT_EQ(again.front().offset, 300);
  expect_last_event(sp::RunStatus::error, 300);
}

TEST_F(ConnectorTest, AFailedWriteInTheMiddleIsRetriedBeforeAnyLaterBatch) {
  constexpr int64_t kN = kPipelineCandles;
  auto& p = pipeline(10ms);
  for (int call : {4, 5, 6}) p.store.fail[call] = sf::Errc::unavailable;  // batch 4, 3 times
  start_pipeline();
  EXPECT_EQ(exit_code(), sw::kExitFinished);

  const auto entries = p.log.entries();
  EXPECT_EQ(check_pipeline_log(entries, kN), kN);
  // While batch 4 fails nothing is committed past batch 3.
  int64_t committed = -1;
  int failures = 0;
  for (const auto& e : entries) {
    if (e.kind == CallLog::Kind::commit) committed = e.a;
    if (e.kind == CallLog::Kind::write_failed) {
      ++failures;
      EXPECT_EQ(e.a, 300);
      EXPECT_LE(committed, 299);
    }
  }
  EXPECT_EQ(failures, 3);
  EXPECT_EQ(rows(), kN);
  EXPECT_TRUE(uncommitted().empty());
  EXPECT_TRUE(read_all(kDlq, "dlq").empty());
}

TEST_F(ConnectorTest, StopDuringAWriteCommitsTheBatchInFlightAndTheOneDecoded) {
  constexpr int64_t kN = kPipelineCandles;
  auto& p = pipeline(150ms, /*end=*/false);
  start_pipeline();
  // Wait for the first write to begin, then stop while it is in progress.
  auto deadline = std::chrono::steady_clock::now() + 5s;
  auto begun = [&] {
    for (const auto& e : p.log.entries())
      if (e.kind == CallLog::Kind::write_begin) return true;
    return false;
  };
  while (!begun() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  ASSERT_TRUE(begun());
  auto t0 = std::chrono::steady_clock::now();
  command(sp::CommandType::stop);
  EXPECT_EQ(exit_code(), sw::kExitInterrupted);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);

  const auto entries = p.log.entries();
  const int64_t committed = check_pipeline_log(entries, kN);
  EXPECT_GE(committed, 99) << "the batch in flight is written and committed";
  EXPECT_EQ(rows(), committed + 1) << "what is committed is exactly what is written";
  auto again = uncommitted();
  ASSERT_FALSE(again.empty());
  EXPECT_EQ(again.front().offset, committed + 1);
  expect_last_event(sp::RunStatus::interrupted, committed + 1);
}

TEST_F(ConnectorTest, WithoutADataStoreItEndsInError) {
  start(config(), nullptr);
  EXPECT_EQ(exit_code(), sw::kExitError);
  auto evs = events();
  ASSERT_FALSE(evs.empty());
  EXPECT_EQ(evs.back().status, sp::RunStatus::error);
  EXPECT_NE(evs.back().message->find("no data store"), std::string::npos);
}

TEST_F(ConnectorTest, BadConfigurationEndsInError) {
  auto cfg = config();
  cfg.type = "api_candles_7m";
  start(cfg);
  EXPECT_EQ(exit_code(), sw::kExitBadConfig);
  expect_last_event(sp::RunStatus::error);
}

TEST_F(ConnectorTest, ACollectionOfAnotherKindEndsInError) {
  ASSERT_TRUE(store_->ensure_collection(kCollection, Kind::trade).ok());
  publish(candle(0));
  publish_end(1);
  start(config());
  EXPECT_EQ(exit_code(), sw::kExitError);
  EXPECT_EQ(uncommitted().size(), 2u);
  expect_last_event(sp::RunStatus::error);
}

TEST(MissingCandleRanges, FindsGapsInTheRangeUpToNow) {
  const int64_t d = 1722470400000, m = 60'000;
  std::vector<int64_t> all;
  for (int i = 0; i < 60; ++i) all.push_back(d + i * m);
  EXPECT_TRUE(sf::workers::missing_candle_ranges(all, d, d + 60 * m, m, d + 1'000 * m).empty());
  std::vector<int64_t> holes;
  for (int i = 0; i < 60; ++i)
    if (i < 10 || (i >= 20 && i < 55)) holes.push_back(d + i * m);
  auto r = sf::workers::missing_candle_ranges(holes, d, d + 60 * m, m, d + 1'000 * m);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0], "2024-08-01T00:10:00:2024-08-01T00:20:00");
  EXPECT_EQ(r[1], "2024-08-01T00:55:00:2024-08-01T01:00:00");
  // Candles that have not opened yet are not missing.
  EXPECT_TRUE(sf::workers::missing_candle_ranges(all, d, d + 600 * m, m, d + 59 * m + 5).empty());
}

// The connector skips reading open times back when the store holds candle_slots() rows:
// that count must be exactly the grid missing_candle_ranges() checks.
TEST(MissingCandleRanges, CandleSlotsCountTheGridTheCheckWalks) {
  const int64_t d = 1722470400000, m = 60'000;
  struct Case {
    int64_t start, end, now;
  };
  for (const Case& c : {Case{d, d + 60 * m, d + 1'000 * m}, Case{d + 1, d + 60 * m, d + 1'000 * m},
                        Case{d, d + 60 * m + 1, d + 1'000 * m},
                        Case{d, d + 600 * m, d + 59 * m + 5}, Case{d, d + 600 * m, d + 59 * m},
                        Case{d, d + 600 * m, d - 1}, Case{d + 5, d + 10, d + 1'000 * m}}) {
    std::vector<int64_t> grid;
    for (int64_t t = (c.start + m - 1) / m * m; t < std::min(c.end, c.now + 1); t += m)
      grid.push_back(t);
    EXPECT_EQ(sf::workers::candle_slots(c.start, c.end, m, c.now),
              static_cast<int64_t>(grid.size()))
        << c.start - d << " " << c.end - d << " " << c.now - d;
    EXPECT_TRUE(sf::workers::missing_candle_ranges(grid, c.start, c.end, m, c.now).empty());
    if (!grid.empty()) {
      grid.pop_back();
      EXPECT_FALSE(sf::workers::missing_candle_ranges(grid, c.start, c.end, m, c.now).empty());
    }
  }
}
