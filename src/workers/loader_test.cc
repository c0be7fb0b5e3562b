#include "workers/loader.h"

#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <functional>
#include <future>
#include <set>

#include "bus/memory/memory_bus.h"
#include "exchange/binance/rate_limiter.h"
#include "exchange/sim/market.h"
#include "exchange/sim/server.h"
#include "market/binary.h"
#include "market/data_topic.h"
#include "market/records.h"
#include "tests/support/forwarding_bus.h"
#include "tests/support/worker.h"

namespace sw = sf::workers;
namespace sp = sf::protocol;
namespace sm = sf::market;
using namespace std::chrono_literals;

namespace {

constexpr int64_t kDay = 1722470400000;  // 2024-08-01T00:00:00Z

class LoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sf::exchange::sim::SimOptions o;
    o.seed = 3;
    o.limits = false;
    sim_ = std::make_unique<sf::exchange::sim::SimServer>(o);
    ASSERT_TRUE(sim_->start().ok());
  }
  void TearDown() override { sim_->stop(); }

  sw::WorkerConfig config(const std::string& type, const std::string& range) {
    auto c = sf::testing::worker_config("wf-load", "loader-producer", "loader__1", "BTCUSDT", type,
                                        "wf-load-data");
    c.time_range = range;
    c.start_timeout_s = 5;
    return c;
  }
  std::future<int> run(const sw::WorkerConfig& cfg) {
    ctx_.env = cfg.to_env();
    ctx_.env.set(sw::env_names::kExchangeUrl, sim_->base_url());
    ctx_.bus = &bus_;
    EXPECT_TRUE(sf::testing::publish_command(bus_, cfg).ok());
    return std::async(std::launch::async, [this] { return sw::run_loader_producer(ctx_); });
  }
  // Runs the loader on `cfg` to its end (within 30 s) and returns its exit code; -1 and a test
  // failure when it did not end.
  int run_to_end(const sw::WorkerConfig& cfg) {
    auto done = run(cfg);
    if (done.wait_for(30s) != std::future_status::ready) {
      ADD_FAILURE() << "the loader did not end within 30 s";
      return -1;
    }
    return done.get();
  }
  void stop() {
    sp::Command c;
    c.command = sp::CommandType::stop;
    c.queue_id = "wf-load";
    c.timestamp = 2;
    auto p = bus_.producer();
    ASSERT_TRUE((*p)->produce(sf::bus::kControlTopic, "wf-load", sp::encode(c)).ok());
  }
  // The data topic's messages as they are: records or pages of them, and end markers.
  std::vector<sf::bus::Record> messages() {
    std::vector<sf::bus::Record> out;
    auto end = bus_.end_offset("wf-load-data", 0);
    if (!end) return out;
    auto r = bus_.read_from("wf-load-data", 0, 0);
    while (static_cast<int64_t>(out.size()) < *end) {
      auto recs = (*r)->poll(10000, 100ms);
      if (!recs || recs->empty()) break;
      out.insert(out.end(), recs->begin(), recs->end());
    }
    return out;
  }
  // The data topic one entry a record, in order: a binary page's records each as its JSON
  // (same key and offset, so sm::decode reads it), then end markers as they are.
  std::vector<sf::bus::Record> topic() {
    std::vector<sf::bus::Record> out;
    std::vector<sm::Record> rows;
    for (auto& m : messages()) {
      if (!sm::is_binary_page(m.value)) {
        out.push_back(std::move(m));
        continue;
      }
      const auto kind = static_cast<sm::Kind>(m.value[1]);
      auto n = sm::decode_message(kind, m.value, rows, 0);
      EXPECT_TRUE(n.ok()) << n.error().message;
      for (size_t i = 0; n && i < *n; ++i) {
        out.push_back(m);
        out.back().value = sm::encode(rows[i]);
      }
    }
    return out;
  }
  std::vector<sp::Event> events() { return sf::testing::read_events(bus_); }

  // Runs a repair's loader of `type` on the ids [from, to] of the first hour of kDay and checks
  // that it publishes exactly those records (of `kind`, each equal to the simulator's:
  // `lookup`), then an end marker, and ends finished, naming the first and last id.
  template <class R>
  void expect_loads_id_range(const std::string& type, sm::Kind kind, int64_t from, int64_t to,
                             std::optional<R> (sf::exchange::sim::Market::*lookup)(std::string_view,
                                                                                   int64_t) const) {
    auto cfg = config(type, "2024-08-01T00:00:2024-08-01T01:00");
    cfg.params["from_id"] = from;
    cfg.params["to_id"] = to;
    ASSERT_EQ(run_to_end(cfg), sw::kExitFinished);
    const sf::exchange::sim::Market market(3);  // the simulator's seed
    const int64_t n = to - from + 1;
    auto recs = topic();
    ASSERT_EQ(static_cast<int64_t>(recs.size()), n + 1);
    for (int64_t i = 0; i < n; ++i) {
      auto got = std::get<R>(*sm::decode(kind, recs[i].value));
      ASSERT_EQ(got, *(market.*lookup)("BTCUSDT", from + i)) << i;
    }
    auto marker = sm::decode_end_marker(recs.back().value);
    ASSERT_TRUE(marker.ok()) << recs.back().value;
    EXPECT_EQ(*marker, (sm::EndMarker{n, from, to}));
    auto done = events().back();
    EXPECT_EQ(done.status, sp::RunStatus::finished);
    EXPECT_EQ(*done.records_written, n);
    EXPECT_EQ(*done.first_id, from);
    EXPECT_EQ(*done.last_id, to);
  }

  std::unique_ptr<sf::exchange::sim::SimServer> sim_;
  sf::bus::MemoryBus bus_;
  sw::WorkerContext ctx_;
};

}  // namespace

TEST(ExpectedCandles, CountsOpensInTheRangeUpToNow) {
  const int64_t far = 4'000'000'000'000;
  EXPECT_EQ(sw::expected_candles(kDay, kDay + 86'400'000, "1m", far), 1440);
  EXPECT_EQ(sw::expected_candles(kDay + 1, kDay + 86'400'000, "1m", far), 1439)
      << "unaligned start";
  EXPECT_EQ(sw::expected_candles(kDay, kDay + 86'400'000, "1h", kDay + 3'600'000 * 5 + 10), 6)
      << "only candles that have opened by now";
  EXPECT_EQ(sw::expected_candles(kDay, kDay, "1m", far), 0);
  // 2024-01-01 .. 2024-04-01: three month candles.
  EXPECT_EQ(sw::expected_candles(1704067200000, 1711929600000, "1M", far), 3);
}

TEST_F(LoaderTest, PublishesEveryCandleOfTheRangeThenTheEndMarker) {
  ASSERT_EQ(run_to_end(config("api_candles_1m", "2024-08-01:2024-08-02")), sw::kExitFinished);
  auto recs = topic();
  ASSERT_EQ(recs.size(), 1441u);
  EXPECT_EQ(recs.back().key, sf::market::kEndMarkerKey);
  EXPECT_EQ(sf::market::decode_end_marker(recs.back().value)->published, 1440);
  sf::exchange::sim::Market market(3);
  for (size_t i = 0; i < 1440; ++i) {
    EXPECT_EQ(recs[i].key, "BTCUSDT");
    auto c = std::get<sm::Candle>(*sm::decode(sm::Kind::candle, recs[i].value));
    ASSERT_EQ(c.open_time, kDay + static_cast<int64_t>(i) * 60'000);
    ASSERT_EQ(c, *market.candle("BTCUSDT", "1m", c.open_time)) << i;
  }
  auto evs = events();
  ASSERT_FALSE(evs.empty());
  EXPECT_EQ(evs.front().status, sp::RunStatus::started);
  EXPECT_EQ(evs.back().status, sp::RunStatus::finished);
  EXPECT_EQ(*evs.back().records_written, 1440);
  EXPECT_EQ(*evs.back().records_expected, 1440);
}

TEST_F(LoaderTest, RestartedLoaderResumesAfterWhatItPublished) {
  // An earlier run of this queue published the first 500 candles, then died.
  sf::exchange::sim::Market market(3);
  auto p = bus_.producer();
  for (int i = 0; i < 500; ++i)
    ASSERT_TRUE((*p)->produce("wf-load-data", "BTCUSDT",
                              sm::encode(*market.candle("BTCUSDT", "1m", kDay + i * 60'000)))
                    .ok());
  ASSERT_EQ(run_to_end(config("api_candles_1m", "2024-08-01:2024-08-02")), sw::kExitFinished);
  auto recs = topic();
  std::set<int64_t> opens;
  size_t candles = 0;
  for (const auto& r : recs) {
    if (r.key != "BTCUSDT") continue;
    ++candles;
    opens.insert(std::get<sm::Candle>(*sm::decode(sm::Kind::candle, r.value)).open_time);
  }
  EXPECT_EQ(candles, 1440u) << "the first 500 are not published again";
  EXPECT_EQ(opens.size(), 1440u);
  EXPECT_EQ(sf::market::decode_end_marker(recs.back().value)->published, 1440);
}

TEST_F(LoaderTest, StopIsObeyedBetweenPages) {
  sf::exchange::sim::Faults f;
  f.latency_ms = 100;
  ASSERT_TRUE(sim_->set_faults(f).ok());
  auto done = run(config("api_candles_1m", "2024-08-01:2024-08-15"));  // 21 pages
  std::this_thread::sleep_for(350ms);
  auto t0 = std::chrono::steady_clock::now();
  stop();
  ASSERT_EQ(done.wait_for(5s), std::future_status::ready);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  EXPECT_EQ(done.get(), sw::kExitInterrupted);
  EXPECT_EQ(events().back().status, sp::RunStatus::interrupted);
  for (const auto& r : topic())
    EXPECT_NE(r.key, sf::market::kEndMarkerKey) << "no end marker after a stop";
}

// Issue: a loader asleep in the rate limiter (its minute's weight budget spent) missed the
// stop window, was killed, and left a stale count. It must obey stop within a second while it
// waits, keep reporting meanwhile, and its last event must count what the topic holds.
TEST_F(LoaderTest, StopIsObeyedWhileWaitingForTheWeightBudget) {
  sf::exchange::binance::RateLimiterOptions lo;
  lo.weight_limit_per_minute = 10;  // 5 kline pages a minute, then a wait for the next one
  lo.fraction = 1.0;
  sf::exchange::binance::RateLimiter limiter(lo);
  ctx_.rate_limiter = &limiter;
  auto done = run(config("api_candles_1s", "2024-08-01:2024-08-02"));  // 87 pages
  // Waiting, and saying so (a silent worker would be declared lost by the manager).
  bool waiting_reported = false;
  for (int i = 0; i < 50 && !waiting_reported; ++i) {
    std::this_thread::sleep_for(100ms);
    for (const auto& e : events())
      waiting_reported =
          waiting_reported || (e.status == sp::RunStatus::loading && e.message &&
                               e.message->find("waiting on the exchange") != std::string::npos);
  }
  // No ASSERT before the stop: the loader would go on for 17 minutes of budget windows.
  EXPECT_TRUE(waiting_reported) << "no progress event while the budget is spent";
  auto t0 = std::chrono::steady_clock::now();
  stop();
  ASSERT_EQ(done.wait_for(5s), std::future_status::ready);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s) << "stop obeyed within a second";
  EXPECT_EQ(done.get(), sw::kExitInterrupted);
  auto evs = events();
  ASSERT_EQ(evs.back().status, sp::RunStatus::interrupted);
  const auto recs = topic();
  EXPECT_EQ(*evs.back().records_written, static_cast<int64_t>(recs.size()))
      << "the final count is what the topic really holds";
  // The budget covers 5 pages. The loader pages on two connections, so the fifth may be
  // spent on a window whose predecessor then waits for the next minute: 4 or 5 published.
  EXPECT_GE(recs.size(), 4000u);
  EXPECT_EQ(evs.front().status, sp::RunStatus::started);
  ASSERT_TRUE(evs.front().records_expected.has_value()) << "candles know what the range holds";
  EXPECT_EQ(*evs.front().records_expected, 86400);
}

TEST_F(LoaderTest, AggregateTradesOfAnHour) {
  ASSERT_EQ(run_to_end(config("api_agg_trades", "2024-08-01T00:00:2024-08-01T01:00")),
            sw::kExitFinished);
  auto recs = topic();
  ASSERT_GT(recs.size(), 1u);
  int64_t prev = -1;
  for (size_t i = 0; i + 1 < recs.size(); ++i) {
    auto t = std::get<sm::AggTrade>(*sm::decode(sm::Kind::agg_trade, recs[i].value));
    EXPECT_GE(t.time, kDay);
    EXPECT_LT(t.time, kDay + 3'600'000);
    EXPECT_EQ(t.agg_id, prev < 0 ? t.agg_id : prev + 1) << "ids are contiguous";
    prev = t.agg_id;
  }
  // The final event names the first and last id published: the range's on the exchange.
  auto first = std::get<sm::AggTrade>(*sm::decode(sm::Kind::agg_trade, recs[0].value));
  auto done = events().back();
  ASSERT_EQ(done.status, sp::RunStatus::finished);
  EXPECT_EQ(*done.first_id, first.agg_id);
  EXPECT_EQ(*done.last_id, prev);
  EXPECT_EQ(*done.last_id - *done.first_id + 1, *done.records_written);
}

TEST_F(LoaderTest, TradesOfTenMinutesEqualTheExchanges) {
  ASSERT_EQ(run_to_end(config("api_trades", "2024-08-01T00:00:2024-08-01T00:10")),
            sw::kExitFinished);
  auto recs = topic();
  ASSERT_GT(recs.size(), 1000u) << "more than one page";
  sf::exchange::sim::Market market(3);
  int64_t prev = -1;
  for (size_t i = 0; i + 1 < recs.size(); ++i) {
    auto t = std::get<sm::Trade>(*sm::decode(sm::Kind::trade, recs[i].value));
    EXPECT_GE(t.time, kDay);
    EXPECT_LT(t.time, kDay + 600'000);
    if (prev >= 0) {
      EXPECT_EQ(t.trade_id, prev + 1) << "ids are contiguous";
    }
    prev = t.trade_id;
    ASSERT_EQ(t, *market.trade("BTCUSDT", t.trade_id)) << i;
  }
  // The first trade of the range is the first at/after its start.
  auto first = std::get<sm::Trade>(*sm::decode(sm::Kind::trade, recs[0].value));
  EXPECT_LT(market.trade("BTCUSDT", first.trade_id - 1)->time, kDay);
  EXPECT_EQ(recs.back().key, sf::market::kEndMarkerKey);
}

// What a repair's loader does: only the ids [from_id, to_id] of the range, by fromId, each
// equal to the exchange's; its end marker and final event name the first and last id.
TEST_F(LoaderTest, AnIdRangeOfAggregateTradesLoadsExactlyThoseIds) {
  sf::exchange::sim::Market market(3);
  const auto* spec = market.find("BTCUSDT");
  const int64_t first = sf::exchange::sim::Market::first_agg_id_at(*spec, kDay);
  // 2500 ids: three pages.
  expect_loads_id_range("api_agg_trades", sm::Kind::agg_trade, first + 100, first + 2599,
                        &sf::exchange::sim::Market::agg_trade);
}

TEST_F(LoaderTest, AnIdRangeOfTradesLoadsExactlyThoseIds) {
  sf::exchange::sim::Market market(3);
  const auto* spec = market.find("BTCUSDT");
  const int64_t first =
      sf::exchange::sim::Market::first_agg_id_at(*spec, kDay) * spec->trades_per_agg;
  // 1200 ids: two pages.
  expect_loads_id_range("api_trades", sm::Kind::trade, first + 10, first + 1209,
                        &sf::exchange::sim::Market::trade);
}

// A repair runs one loader per missing range on one topic, all from the run's DATA_OFFSET:
// what another loader of the run published is not this one's to resume after or count.
TEST_F(LoaderTest, LoadersOfOneRunIgnoreEachOthersRecords) {
  sf::exchange::sim::Market market(3);
  const int64_t first = sf::exchange::sim::Market::first_agg_id_at(*market.find("BTCUSDT"), kDay);
  auto loader = [&](const std::string& telemetry_id, int64_t from, int64_t to) {
    auto cfg = config("api_agg_trades", "2024-08-01T00:00:2024-08-01T01:00");
    cfg.telemetry_id = telemetry_id;
    cfg.data_offset = 0;  // the run's start: both loaders read from there
    cfg.params["from_id"] = from;
    cfg.params["to_id"] = to;
    return cfg;
  };
  // The later ids first, then the earlier ones (which must not resume after the later).
  ASSERT_EQ(run_to_end(loader("loader__a", first + 200, first + 299)), sw::kExitFinished);
  ASSERT_EQ(run_to_end(loader("loader__b", first, first + 99)), sw::kExitFinished);
  std::vector<int64_t> ids;
  for (const auto& r : topic())
    if (r.key != sf::market::kEndMarkerKey)
      ids.push_back(std::get<sm::AggTrade>(*sm::decode(sm::Kind::agg_trade, r.value)).agg_id);
  ASSERT_EQ(ids.size(), 200u);
  EXPECT_EQ(ids[100], first) << "the second loader loaded its own ids";
  sp::Event b;
  for (const auto& e : events())
    if (e.producer == "loader__b" && e.status == sp::RunStatus::finished) b = e;
  EXPECT_EQ(b.records_written, 100) << "its own records only";
  EXPECT_EQ(b.first_id, first);
  EXPECT_EQ(b.last_id, first + 99);
}

TEST_F(LoaderTest, IdSettingsAreCheckedAndRefusedForCandles) {
  auto bad = sw::LoaderSettings::from_params(boost::json::object{{"from_id", 9}, {"to_id", 3}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().field, "from_id");
  EXPECT_NE(bad.error().message.find("comes after"), std::string::npos) << bad.error().message;
  EXPECT_EQ(sw::LoaderSettings::from_params(boost::json::object{{"to_id", -1}}).error().field,
            "to_id");
  EXPECT_EQ(sw::LoaderSettings::from_params(boost::json::object{{"from", 1}}).error().field,
            "from");
  EXPECT_TRUE(sw::LoaderSettings::from_params(boost::json::object{{"interval", "1m"}}).ok());

  auto cfg = config("api_candles_1m", "2024-08-01:2024-08-02");
  cfg.params["from_id"] = 1;
  EXPECT_EQ(run_to_end(cfg), sw::kExitBadConfig);
  auto last = events().back();
  EXPECT_EQ(last.status, sp::RunStatus::error);
  EXPECT_NE(last.message->find("from_id and to_id are for trades"), std::string::npos)
      << *last.message;
}

TEST_F(LoaderTest, UnknownTypeIsABadConfiguration) {
  auto done = run(config("dummy", "2024-08-01:2024-08-02"));
  EXPECT_EQ(done.get(), sw::kExitBadConfig);
  EXPECT_EQ(events().back().status, sp::RunStatus::error);
}

namespace {

// A Bus decorator whose first producer to write `topic` holds the last `unacked` records it
// accepted (not acknowledged yet) and, at its `fail_at`-th record, fails for good as
// Kafka's idempotent producer does after a fatal error: Errc::closed from then on, the held
// records lost. Later producers write through.
class FatalProducerBus final : public sf::testing::ForwardingBus {
 public:
  FatalProducerBus(sf::bus::Bus& inner, std::string topic, int fail_at, size_t unacked)
      : ForwardingBus(inner), topic_(std::move(topic)), fail_at_(fail_at), unacked_(unacked) {}
  sf::Result<std::unique_ptr<sf::bus::Producer>> producer() override {
    auto p = inner_.producer();
    if (!p) return p.error();
    return std::unique_ptr<sf::bus::Producer>(new Failing(std::move(*p), *this));
  }

  std::atomic<bool> armed{false};   // a producer of the topic was chosen to fail
  std::atomic<bool> failed{false};  // and it did

 private:
  class Failing final : public sf::bus::Producer {
   public:
    Failing(std::unique_ptr<sf::bus::Producer> inner, FatalProducerBus& bus)
        : inner_(std::move(inner)), bus_(bus) {}
    sf::Result<int64_t> produce(const std::string& topic, const std::string& key,
                                const std::string& value) override {
      if (dead_) return sf::Error(sf::Errc::closed, "injected fatal error");
      // The first producer to write the topic is the one that fails; the others write through.
      if (topic != bus_.topic_) return inner_->produce(topic, key, value);
      if (!armed_ && bus_.armed.exchange(true)) return inner_->produce(topic, key, value);
      armed_ = true;
      if (++count_ == bus_.fail_at_) {
        dead_ = true;
        bus_.failed = true;
        held_.clear();  // never acknowledged: lost
        return sf::Error(sf::Errc::closed, "injected fatal error");
      }
      held_.emplace_back(key, value);
      if (held_.size() > bus_.unacked_) {
        auto [k, v] = held_.front();
        held_.pop_front();
        return inner_->produce(topic, k, v);
      }
      return int64_t{-1};
    }
    sf::Status flush(std::chrono::milliseconds timeout) override {
      if (dead_) return sf::Error(sf::Errc::closed, "injected fatal error");
      for (auto& [k, v] : held_)
        if (auto r = inner_->produce(bus_.topic_, k, v); !r) return r.error();
      held_.clear();
      return inner_->flush(timeout);
    }

   private:
    std::unique_ptr<sf::bus::Producer> inner_;
    FatalProducerBus& bus_;
    std::deque<std::pair<std::string, std::string>> held_;
    int count_ = 0;
    bool armed_ = false, dead_ = false;
  };

  const std::string topic_;
  const int fail_at_;
  const size_t unacked_;
};

}  // namespace

// Records a message: the default binary form publishes a page of the exchange's a message,
// the JSON form one record a message.
TEST_F(LoaderTest, BinaryPagesByDefaultJsonRecordsOnRequest) {
  ASSERT_EQ(run_to_end(config("api_candles_1m", "2024-08-01:2024-08-02")), sw::kExitFinished);
  auto pages = messages();
  ASSERT_EQ(pages.size(), 3u) << "1000 + 440 candles, then the end marker";
  EXPECT_TRUE(sm::is_binary_page(pages[0].value));
  std::vector<sm::Record> rows;
  EXPECT_EQ(*sm::decode_message(sm::Kind::candle, pages[0].value, rows, 0), 1000u);
  EXPECT_EQ(*sm::decode_message(sm::Kind::candle, pages[1].value, rows, 0), 440u);

  auto cfg = config("api_candles_1m", "2024-08-02:2024-08-03");
  cfg.params["record_format"] = "json";
  ASSERT_EQ(run_to_end(cfg), sw::kExitFinished);
  auto all = messages();
  ASSERT_EQ(all.size(), 3u + 1441u);
  EXPECT_EQ(all[3].value.front(), '{');
  auto c = sm::decode(sm::Kind::candle, all[3].value);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(std::get<sm::Candle>(*c).open_time, kDay + 86'400'000);

  cfg.params["record_format"] = "avro";
  ASSERT_EQ(run_to_end(cfg), sw::kExitBadConfig);
  const std::string said = events().back().message.value_or("");
  EXPECT_NE(said.find("record format 'avro'"), std::string::npos) << said;
}

namespace {

// Runs the loader over `range` (`days` of 1m candles) through a FatalProducerBus failing at
// its `fail_at`-th message with `unacked` held, and checks that every candle is on the topic
// once, in order, then the marker.
void expect_survives_fatal_producer(sf::bus::Bus& bus, sw::WorkerContext& ctx, sw::WorkerConfig cfg,
                                    int64_t days, int fail_at, size_t unacked,
                                    const std::function<std::vector<sf::bus::Record>()>& topic,
                                    const std::string& sim_url) {
  FatalProducerBus fatal(bus, "wf-load-data", fail_at, unacked);
  ctx.env = cfg.to_env();
  ctx.env.set(sw::env_names::kExchangeUrl, sim_url);
  ctx.bus = &fatal;
  ASSERT_TRUE(sf::testing::publish_command(bus, cfg).ok());
  auto done = std::async(std::launch::async, [&ctx] { return sw::run_loader_producer(ctx); });
  ASSERT_EQ(done.wait_for(30s), std::future_status::ready);
  EXPECT_EQ(done.get(), sw::kExitFinished);
  EXPECT_TRUE(fatal.failed.load()) << "the fault was injected";
  const auto n = static_cast<size_t>(days * 1440);
  auto recs = topic();
  ASSERT_EQ(recs.size(), n + 1) << "every candle once, then the marker";
  for (size_t i = 0; i < n; ++i) {
    auto c = sm::decode(sm::Kind::candle, recs[i].value);
    ASSERT_TRUE(c.ok()) << i;
    EXPECT_EQ(std::get<sm::Candle>(*c).open_time, kDay + static_cast<int64_t>(i) * 60'000) << i;
  }
  EXPECT_EQ(sf::market::decode_end_marker(recs.back().value)->published, static_cast<int64_t>(n));
}

}  // namespace

// The default form: pages 1 and 2 of five acknowledged, page 3 held unacknowledged and
// lost when page 4 fails for good; the new producer resumes after page 2.
TEST_F(LoaderTest, AProducerThatFailsForGoodIsReplacedAndNoPageIsLostOrDoubled) {
  expect_survives_fatal_producer(
      bus_, ctx_, config("api_candles_1m", "2024-08-01:2024-08-04"), 3, 4, 1,
      [this] { return topic(); }, sim_->base_url());
}

// The same in the JSON form, a record a message: record 700 fails, the 150 before it lost.
TEST_F(LoaderTest, AProducerThatFailsForGoodIsReplacedAndNothingIsLostOrDoubled) {
  auto cfg = config("api_candles_1m", "2024-08-01:2024-08-02");
  cfg.params["record_format"] = "json";
  expect_survives_fatal_producer(
      bus_, ctx_, cfg, 1, 700, 150, [this] { return topic(); }, sim_->base_url());
}
