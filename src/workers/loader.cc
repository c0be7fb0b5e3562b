#include "workers/loader.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "base/log.h"
#include "exchange/binance/client.h"
#include "exchange/binance/paging.h"
#include "exchange/binance/rate_limiter.h"
#include "json/json.h"
#include "market/binary.h"
#include "market/data_topic.h"
#include "market/records.h"
#include "market/schema.h"
#include "metrics/metrics.h"
#include "protocol/validate.h"
#include "workers/exchange_access.h"
#include "workers/profile.h"

namespace sf::workers {

namespace bn = exchange::binance;
using protocol::RunStatus;

// Connections a candle loader pages on at once.
constexpr int kKlineLanes = 2;

int64_t expected_candles(int64_t start_ms, int64_t end_ms, std::string_view interval,
                         int64_t now_ms) {
  const int64_t end = std::min(end_ms, now_ms + 1);
  if (end <= start_ms) return 0;
  if (interval == "1M") {
    int64_t n = 0;
    for (int64_t t = start_ms; t < end;) {
      auto next = bn::next_open_time(t, interval);
      if (!next) break;
      ++n;
      t = *next;
    }
    return n;
  }
  const int64_t step = market::interval_ms(interval);
  if (step <= 0) return 0;
  // Candles open at multiples of the interval: count the opens in [start, end).
  const int64_t first = (start_ms + step - 1) / step * step;
  return first >= end ? 0 : (end - 1 - first) / step + 1;
}

LoadEstimate estimate_load(std::string_view type, int64_t start_ms, int64_t end_ms,
                           int64_t now_ms) {
  LoadEstimate e;
  auto interval = market::interval_for_type(type);
  if (!interval) return e;
  const int64_t n = expected_candles(start_ms, end_ms, *interval, now_ms);
  e.records = n;
  e.requests = (n + bn::kMaxLimit - 1) / bn::kMaxLimit;
  e.weight = *e.requests * bn::kWeightKlines;
  return e;
}

Result<LoaderSettings> LoaderSettings::from_params(const boost::json::object& params) {
  LoaderSettings s;
  json::Fields f(params);
  SF_TRY(f.only({"from_id", "to_id", "record_format", "interval"}));
  SF_TRY_ASSIGN(s.from_id, f.opt_int64("from_id"));
  std::optional<std::string> format;
  SF_TRY_ASSIGN(format, f.opt_str("record_format"));
  if (format) SF_TRY_ASSIGN(s.record_format, market::record_format_from_string(*format));
  SF_TRY_ASSIGN(s.to_id, f.opt_int64("to_id"));
  SF_TRY(protocol::check_id_bounds(s.from_id, s.to_id, "from_id", "to_id"));
  return s;
}

std::string LoaderSettings::json_schema() {
  // The bounds of from_params() above; `interval` is a typed target field.
  return R"json({
    "from_id": {"type": "integer", "minimum": 0, "maximum": 9223372036854775807, "description": "trades and aggregate trades: the first id to load (not after to_id)"},
    "to_id": {"type": "integer", "minimum": 0, "maximum": 9223372036854775807, "description": "trades and aggregate trades: the last id to load"},
    "record_format": {"type": "string", "enum": ["binary", "json"], "description": "the data topic's messages: binary (default; a page of records a message, docs/protocol.md) or json (one JSON object a record, readable with any Kafka tool); the connector reads both"}
  })json";
}

namespace {

enum class Family { any, candles, trades };

// The id of a trade or aggregate trade; nullopt for a candle.
std::optional<int64_t> id_of(const market::AggTrade& t) { return t.agg_id; }
std::optional<int64_t> id_of(const market::Trade& t) { return t.trade_id; }
// Candles and order-book records: none.
template <class R>
std::optional<int64_t> id_of(const R&) {
  return std::nullopt;
}

// What this loader, restarted within its run, already published to the topic since the
// run's start offset `from`: the count of this symbol's records and the key of the last one
// (open_time for candles, agg_id for trades). Earlier runs' records are not looked at: the
// store, not the topic, is what a rerun must fill (docs/workers.md). Neither are records
// outside this loader's own part of the run (`mine`): a repair runs several loaders on one
// topic, each over its own time or id range, and another's records are not this one's.
struct Published {
  int64_t count = 0;
  std::optional<int64_t> first_key;
  std::optional<int64_t> last_key;
};

Result<Published> already_published(bus::Bus& bus, const std::string& topic,
                                    const std::string& symbol, market::Kind kind, int64_t from,
                                    const std::function<bool(const market::Record&)>& mine) {
  Published p;
  auto end = bus.end_offset(topic, 0);
  if (!end) return end.error().code == Errc::not_found ? Result<Published>(p) : end.error();
  if (*end <= from) return p;
  auto reader = bus.read_from(topic, 0, from);
  if (!reader) return reader.error();
  int64_t next = from;
  std::vector<market::Record> rows;
  // An empty poll is not the end: a Kafka reader's first fetch can take longer than one
  // poll. Give up only when nothing arrives for a while.
  constexpr auto kStall = std::chrono::seconds(30);
  auto last_progress = std::chrono::steady_clock::now();
  while (next < *end) {
    auto recs = (*reader)->poll(4096, std::chrono::milliseconds(100));
    if (!recs) return recs.error();
    if (recs->empty()) {
      if (std::chrono::steady_clock::now() - last_progress > kStall)
        return Error(Errc::unavailable, "no records for 30 s while reading " + topic +
                                            " up to offset " + std::to_string(*end) +
                                            " (stopped at " + std::to_string(next) + ")");
      continue;
    }
    last_progress = std::chrono::steady_clock::now();
    for (const auto& r : *recs) {
      next = r.offset + 1;
      if (r.key != symbol) continue;  // end markers and other symbols
      // A message holds one record (JSON) or a page of them (binary).
      auto n = market::decode_message(kind, r.value, rows, 0);
      if (!n) continue;  // not ours to judge; the connector sends it to the DLQ
      for (size_t i = 0; i < *n; ++i) {
        const market::Record& rec = rows[i];
        if (!mine(rec)) continue;  // another loader's of this run
        // A candle published while still open is not final: load it again.
        if (kind == market::Kind::candle && !std::get<market::Candle>(rec).closed) continue;
        ++p.count;
        // Trades by id, candles by open time (their time field).
        const int64_t key =
            std::visit([](const auto& r) { return id_of(r); }, rec).value_or(market::time_of(rec));
        p.first_key = std::min(p.first_key.value_or(key), key);
        p.last_key = std::max(p.last_key.value_or(key), key);
      }
    }
  }
  return p;
}

// Publishes pages on a thread of its own while the paging thread fetches and decodes the
// next one, so the exchange round trip and the publishing overlap instead of taking turns.
// One page is in flight at a time (memory stays at two pages) and pages are published in
// order by that one thread, so records keep their order on the topic.
template <typename T>
class PagePublisher {
 public:
  // publish(page) returns false to stop (a produce failed); later pages are then refused.
  explicit PagePublisher(std::function<bool(const std::vector<T>&)> publish)
      : publish_(std::move(publish)), thread_([this] { run(); }) {}
  ~PagePublisher() { finish(); }
  PagePublisher(const PagePublisher&) = delete;
  PagePublisher& operator=(const PagePublisher&) = delete;

  // Waits for the previous page to be published, then takes `page` (left empty). False if
  // publishing has failed: the caller stops paging.
  bool hand_over(std::vector<T>& page) {
    // Since the previous hand-over the paging thread fetched and decoded this page.
    profile::mark("loader.first_page");
    profile::add("loader.fetch", profile::us_since(last_hand_over_));
    const auto wait_start = std::chrono::steady_clock::now();
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !pending_; });
    profile::add("loader.handover_wait", profile::us_since(wait_start));
    last_hand_over_ = std::chrono::steady_clock::now();
    if (failed_) return false;
    slot_.swap(page);
    page.clear();
    pending_ = true;
    cv_.notify_all();
    return true;
  }

  // Waits until every page handed over is published and ends the thread. Idempotent.
  void finish() {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return !pending_; });
      done_ = true;
      cv_.notify_all();
    }
    if (thread_.joinable()) thread_.join();
  }

 private:
  void run() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return pending_ || done_; });
      if (!pending_) return;
      lock.unlock();
      const bool ok = failed_ ? false : publish_(slot_);
      lock.lock();
      if (!ok) failed_ = true;
      pending_ = false;
      cv_.notify_all();
    }
  }

  std::function<bool(const std::vector<T>&)> publish_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<T> slot_;  // the page being published; owned by run() while pending_
  bool pending_ = false, done_ = false, failed_ = false;
  std::chrono::steady_clock::time_point last_hand_over_ = std::chrono::steady_clock::now();
  std::thread thread_;  // last: started once the members above exist
};

int load(WorkerContext& ctx, const WorkerConfig& cfg, ControlChannel& control, Telemetry& tel,
         Family family) {
  auto fail = [&](const std::string& why, int code = kExitError) {
    log::error("loader: " + why, cfg.queue_id);
    (void)tel.send(RunStatus::error, why);
    return code;
  };
  if (!cfg.symbol || !cfg.type || !cfg.time_range || !cfg.kafka_topic)
    return fail("a loader needs SYMBOL, TYPE, TIME_RANGE and KAFKA_TOPIC", kExitBadConfig);
  auto kind = market::kind_for_type(*cfg.type);
  if (!kind) return fail(kind.error().message, kExitBadConfig);
  if (market::is_live_type(*cfg.type))
    return fail(cfg.target + " loads history from REST, not the live type '" + *cfg.type +
                    "' (the loader-ws-* targets stream it)",
                kExitBadConfig);
  if ((family == Family::candles && *kind != market::Kind::candle) ||
      (family == Family::trades && *kind == market::Kind::candle))
    return fail(cfg.target + " does not load type '" + *cfg.type + "'", kExitBadConfig);
  auto range = protocol::parse_time_range(*cfg.time_range);
  if (!range) return fail(range.error().message, kExitBadConfig);
  auto settings = LoaderSettings::from_params(cfg.params);
  if (!settings) return fail("bad loader settings: " + settings.error().message, kExitBadConfig);
  if ((settings->from_id || settings->to_id) && *kind == market::Kind::candle)
    return fail("from_id and to_id are for trades and aggregate trades, not " + *cfg.type,
                kExitBadConfig);

  // While a request waits (for the weight budget, a 429, a retry), this still obeys stop and
  // still reports: a loader asleep in the limiter is neither deaf nor silent. Set below, once
  // what it reports exists.
  std::function<bool()> while_waiting;
  auto access = make_exchange_access(
      ctx, [&while_waiting] { return !while_waiting || while_waiting(); }, *cfg.symbol,
      cfg.queue_id);
  if (!access)
    return fail(access.error().message,
                access.error().code == Errc::invalid_argument ? kExitBadConfig : kExitError);
  const bn::BinanceClientOptions& opts = access->options;
  bn::RateLimiter* limiter = access->limiter;
  bn::BinanceClient& client = *access->client;
  auto producer = ctx.bus->producer();
  if (!producer) return fail("cannot create a producer: " + producer.error().message);
  if (auto s = ctx.bus->ensure_topic({*cfg.kafka_topic, 1}); !s)
    return fail("cannot create topic " + *cfg.kafka_topic + ": " + s.error().message);

  metrics::Counter* published_metric = nullptr;
  if (ctx.metrics)
    published_metric = &ctx.metrics->counter("streamforge_loader_records_published_total",
                                             "Records loaders published to data topics");
  const bn::TimeRange tr{range->start_ms, range->end_ms};
  // Candles: known from the range at the start, so a queue stopped half-way can still say
  // what it lacks. Trades: known only once the loader has paged through the range.
  std::optional<int64_t> expected;
  if (*kind == market::Kind::candle)
    expected = expected_candles(tr.start_ms, tr.end_ms, *market::interval_for_type(*cfg.type),
                                client.now_ms());
  {
    protocol::Event started;
    started.status = RunStatus::started;
    started.message =
        "loading " + *cfg.type + " " + *cfg.symbol + " " + *cfg.time_range +
        (settings->from_id || settings->to_id
             ? " ids " +
                   (settings->from_id ? std::to_string(*settings->from_id)
                                      : std::string("(start)")) +
                   " to " +
                   (settings->to_id ? std::to_string(*settings->to_id) : std::string("(end)"))
             : std::string()) +
        " from " + log::redact_url(opts.base_url);
    started.records_expected = expected;
    (void)tel.send(std::move(started));
  }
  // One attempt publishes from what the run's topic holds to the end of the range. A
  // producer that failed for good (Errc::closed: Kafka's fatal idempotent-producer errors,
  // e.g. after the broker lost the producer's state) may have lost records it had not yet
  // had acknowledged: a new producer publishes again from what the topic holds, as a
  // restarted loader does.
  constexpr int kMaxProducerRebuilds = 3;
  int rebuilds = 0;
  std::optional<int64_t> first_id, last_id;
  int64_t published = 0;
  bool stopped = false;
  Result<bn::PagingStats> paged = Error(Errc::internal, "not run");
  auto rebuild = [&](const Error& e) {
    if (e.code != Errc::closed || rebuilds >= kMaxProducerRebuilds) return false;
    ++rebuilds;
    log::warn("loader: the producer failed for good (" + e.message +
                  "); publishing again with a new producer from what the topic holds",
              cfg.queue_id);
    producer->reset();
    auto fresh = ctx.bus->producer();
    if (!fresh) {
      log::warn("loader: cannot create a new producer: " + fresh.error().message, cfg.queue_id);
      return false;
    }
    *producer = std::move(*fresh);
    return true;
  };
  // What of the run's topic is this loader's own (its time range and ids).
  auto mine = [&](const market::Record& rec) {
    const int64_t t = market::time_of(rec);
    if (t < tr.start_ms || t >= tr.end_ms) return false;
    const auto id = std::visit([](const auto& r) { return id_of(r); }, rec);
    return !id || ((!settings->from_id || *id >= *settings->from_id) &&
                   (!settings->to_id || *id <= *settings->to_id));
  };
  for (;;) {
    // A loader restarted within its run goes on after what the run already published. A run
    // without a start offset (a loader started by hand) reads the whole topic, as before.
    auto before = already_published(*ctx.bus, *cfg.kafka_topic, *cfg.symbol, *kind,
                                    std::max<int64_t>(cfg.data_offset, 0), mine);
    if (!before) return fail("cannot read " + *cfg.kafka_topic + ": " + before.error().message);
    if (before->last_key)
      log::info("loader: resuming after " + std::to_string(*before->last_key) + " (" +
                    std::to_string(before->count) + " records already published)",
                cfg.queue_id);
    // Trades: a loader of ids starts at from_id (or after what its run published, if later).
    std::optional<int64_t> resume_after = before->last_key;
    if (settings->from_id && (!resume_after || *resume_after < *settings->from_id - 1))
      resume_after = *settings->from_id - 1;
    // The first and last id published (trades): written by the page publisher's thread, read
    // once it has finished.
    first_id = before->first_key;
    last_id = before->last_key;
    // Written by the page publisher's thread, read for progress on the paging thread.
    std::atomic<int64_t> published_count{before->count};
    int64_t last_report = ctx.clock->steady_ms();
    std::optional<Error> publish_error;  // read once the publisher has finished
    stopped = false;
    auto publish = [&](const std::string& value, int64_t records) {
      auto r = (*producer)->produce(*cfg.kafka_topic, *cfg.symbol, value);
      if (!r) {
        publish_error = r.error();
        return false;
      }
      published_count += records;
      return true;
    };
    // Records encoded into one reused buffer (produce() copies it): a whole page as one
    // binary message, or one JSON message a record (market/binary.h).
    std::string encoded;
    auto publish_page = [&](const auto& page) {
      profile::mark("loader.first_produce");
      profile::Timer timer("loader.produce");
      if (page.empty()) return true;
      if (settings->record_format == market::RecordFormat::binary) {
        encoded.clear();
        market::encode_page_to(encoded, std::span(page));
        if (!publish(encoded, static_cast<int64_t>(page.size()))) return false;
      } else {
        for (const auto& rec : page) {
          encoded.clear();
          market::encode_to(encoded, rec);
          if (!publish(encoded, 1)) return false;
        }
      }
      for (const auto& rec : page) {
        if (auto id = id_of(rec)) {
          if (!first_id || *id < *first_id) first_id = id;
          if (!last_id || *id > *last_id) last_id = id;
        }
      }
      if (published_metric) published_metric->inc(static_cast<double>(page.size()));
      return true;
    };
    // Called after each page and while a request waits: reports progress (at most once a
    // second) and obeys stop.
    auto report_and_check_stop = [&](const char* doing) {
      const int64_t now = ctx.clock->steady_ms();
      if (now - last_report >= 1000) {
        last_report = now;
        const int64_t n = published_count.load();
        (void)tel.send(RunStatus::loading, "published " + std::to_string(n) + " records" + doing,
                       n);
      }
      if (control.stop_requested()) stopped = true;
      return !stopped;
    };
    auto after_page = [&] { return report_and_check_stop(""); };
    while_waiting = [&] {
      return report_and_check_stop(
          "; waiting on the exchange (weight budget, throttling or a retry)");
    };
    paged = Error(Errc::internal, "not run");
    if (*kind == market::Kind::candle) {
      // Candle windows are fetched on kKlineLanes connections at once and published in
      // order (bn::for_each_kline_window): one request after another left the loader waiting
      // on each round trip. The lanes spend from the same limiter; while one waits there, it
      // gives up once paging is cancelled, and the paging thread reports and obeys stop.
      std::string interval = *market::interval_for_type(*cfg.type);
      std::atomic<bool> cancelled{false};
      std::atomic<int64_t> lane_waited_ms{INT64_MIN / 2};  // steady ms a lane last waited
      std::vector<std::unique_ptr<bn::BinanceClient>> lanes;
      std::vector<bn::KlineFetcher> fetchers;
      for (int i = 0; i < kKlineLanes; ++i) {
        bn::BinanceClientOptions lane_opts = opts;
        lane_opts.keep_waiting = [&] {
          lane_waited_ms = ctx.clock->steady_ms();
          return !cancelled.load();
        };
        auto& lane = lanes.emplace_back(std::make_unique<bn::BinanceClient>(lane_opts, *limiter));
        fetchers.push_back([&c = *lane, &cfg, &interval](const bn::KlineRequest& r) {
          return c.klines(*cfg.symbol, interval, r.start_ms, r.end_ms, r.limit);
        });
      }
      bn::KlineWindowOptions window_opts;
      window_opts.cancelled = &cancelled;
      window_opts.while_waiting = [&] {
        const bool on_exchange = ctx.clock->steady_ms() - lane_waited_ms.load() < 500;
        return report_and_check_stop(
            on_exchange ? "; waiting on the exchange (weight budget, throttling or a retry)" : "");
      };
      PagePublisher<market::Candle> pages(publish_page);
      paged = bn::for_each_kline_window(
          fetchers, interval, tr, before->last_key,
          [&](std::vector<market::Candle>& page) { return pages.hand_over(page) && after_page(); },
          window_opts);
      pages.finish();
    } else if (*kind == market::Kind::trade) {
      PagePublisher<market::Trade> pages(publish_page);
      paged = bn::for_each_trade_page(
          client, *cfg.symbol, tr, resume_after,
          [&](std::vector<market::Trade>& page) { return pages.hand_over(page) && after_page(); },
          settings->to_id);
      pages.finish();
    } else {
      PagePublisher<market::AggTrade> pages(publish_page);
      paged = bn::for_each_agg_trade_page(
          client, *cfg.symbol, tr, resume_after,
          [&](std::vector<market::AggTrade>& page) {
            return pages.hand_over(page) && after_page();
          },
          settings->to_id);
      pages.finish();
    }
    while_waiting = nullptr;             // what it reports goes out of scope from here
    published = published_count.load();  // the publisher has finished
    profile::mark("loader.pages_done");
    // Everything published must be durable before the marker and the final event.
    {
      profile::Timer timer("loader.flush");
      if (auto f = (*producer)->flush(std::chrono::seconds(30)); !f) {
        if (rebuild(f.error())) continue;
        return fail("cannot flush the data topic: " + f.error().message);
      }
    }
    profile::mark("loader.delivered");
    if (publish_error) {
      if (rebuild(*publish_error)) continue;
      return fail("cannot publish to " + *cfg.kafka_topic + ": " + publish_error->message);
    }
    break;
  }
  if (stopped) {
    (void)tel.send(RunStatus::interrupted,
                   "stopped after " + std::to_string(published) + " records", published);
    return kExitInterrupted;
  }
  if (!paged) return fail(paged.error().message);
  // Trades: the ids published, against which the connector checks the store's edges.
  const bool ids = first_id && last_id && *kind != market::Kind::candle;
  auto marker = (*producer)->produce(
      *cfg.kafka_topic, market::kEndMarkerKey,
      market::encode_end_marker(market::EndMarker{published, ids ? first_id : std::nullopt,
                                                  ids ? last_id : std::nullopt}));
  if (!marker) return fail("cannot publish the end-of-data marker: " + marker.error().message);
  (void)(*producer)->flush(std::chrono::seconds(30));
  protocol::Event done;
  done.status = RunStatus::finished;
  done.message = "published " + std::to_string(published) + " records in " +
                 std::to_string(paged->requests) + " requests";
  done.records_written = published;
  done.records_expected = expected;
  if (ids) {
    done.first_id = first_id;
    done.last_id = last_id;
  }
  (void)tel.send(std::move(done));
  return kExitFinished;
}

}  // namespace

int run_loader_producer(WorkerContext& ctx) {
  return run_worker(ctx, "loader-producer",
                    [](WorkerContext& c, const WorkerConfig& cfg, ControlChannel& ch,
                       Telemetry& t) { return load(c, cfg, ch, t, Family::any); });
}

int run_loader_candles(WorkerContext& ctx) {
  return run_worker(ctx, "loader-api-candles",
                    [](WorkerContext& c, const WorkerConfig& cfg, ControlChannel& ch,
                       Telemetry& t) { return load(c, cfg, ch, t, Family::candles); });
}

int run_loader_trades(WorkerContext& ctx) {
  return run_worker(ctx, "loader-api-trades",
                    [](WorkerContext& c, const WorkerConfig& cfg, ControlChannel& ch,
                       Telemetry& t) { return load(c, cfg, ch, t, Family::trades); });
}

}  // namespace sf::workers
