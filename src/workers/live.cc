#include "workers/live.h"

#include <algorithm>
#include <map>
#include <set>
#include <span>

#include "base/civil.h"
#include "base/log.h"
#include "exchange/binance/book_sync.h"
#include "exchange/binance/decode.h"
#include "exchange/binance/paging.h"
#include "exchange/binance/stream_feed.h"
#include "json/json.h"
#include "market/data_topic.h"
#include "market/order_book.h"
#include "market/records.h"
#include "market/schema.h"
#include "metrics/metrics.h"
#include "protocol/validate.h"
#include "workers/exchange_access.h"
#include "workers/loader.h"

namespace sf::workers {

namespace bn = exchange::binance;
using protocol::RunStatus;

Result<LiveSettings> LiveSettings::from_params(const boost::json::object& params) {
  LiveSettings s;
  json::Fields f(params);
  SF_TRY(f.only({"symbols", "record_format", "stall_ms", "rotate_after_s", "backoff_max_ms",
                 "snapshot_interval_s", "depth_limit", "interval"}));
  if (const auto* v = params.if_contains("symbols")) {
    if (!v->is_array())
      return Error(Errc::invalid_argument, "field 'symbols' must be an array of symbols",
                   "symbols");
    const auto& arr = v->get_array();
    if (arr.empty() || arr.size() > kMaxLiveSymbols)
      return Error(Errc::invalid_argument,
                   "field 'symbols' must name 1 to " + std::to_string(kMaxLiveSymbols) + " symbols",
                   "symbols");
    std::set<std::string> seen;
    for (size_t i = 0; i < arr.size(); ++i) {
      const std::string field = "symbols[" + std::to_string(i) + "]";
      if (!arr[i].is_string())
        return Error(Errc::invalid_argument, "field '" + field + "' must be a string", field);
      std::string sym(arr[i].get_string());
      SF_TRY(protocol::check_symbol(sym, field));
      if (!seen.insert(sym).second)
        return Error(Errc::invalid_argument, "field '" + field + "': " + sym + " is listed twice",
                     field);
      s.symbols.push_back(std::move(sym));
    }
  }
  std::optional<std::string> format;
  SF_TRY_ASSIGN(format, f.opt_str("record_format"));
  if (format) SF_TRY_ASSIGN(s.record_format, market::record_format_from_string(*format));
  struct Bound {
    const char* name;
    int64_t* value;
    int64_t lo, hi;
  };
  for (const Bound& b : {Bound{"stall_ms", &s.stall_ms, 100, 3'600'000},
                         Bound{"rotate_after_s", &s.rotate_after_s, 1, 86'400},
                         Bound{"backoff_max_ms", &s.backoff_max_ms, 100, 600'000},
                         Bound{"snapshot_interval_s", &s.snapshot_interval_s, 1, 86'400},
                         Bound{"depth_limit", &s.depth_limit, 1, 5'000}}) {
    std::optional<int64_t> v;
    SF_TRY_ASSIGN(v, f.opt_int64(b.name));
    if (!v) continue;
    if (*v < b.lo || *v > b.hi)
      return Error(Errc::invalid_argument,
                   std::string("field '") + b.name + "' must be between " + std::to_string(b.lo) +
                       " and " + std::to_string(b.hi),
                   b.name);
    *b.value = *v;
  }
  return s;
}

std::string LiveSettings::json_schema() {
  return std::string(R"json({
    "symbols": {"type": "array", "items": {"type": "string", "pattern": ")json") +
         std::string(protocol::kSymbolPattern) +
         R"json("}, "minItems": 1, "maxItems": 5000, "uniqueItems": true, "description": "live loaders: stream these symbols instead of the workflow's one symbol (one worker, one connection per 1024 streams)"},
    "record_format": {"type": "string", "enum": ["binary", "json"], "description": "the data topic's messages: binary (default) or json"},
    "stall_ms": {"type": "integer", "minimum": 100, "maximum": 3600000, "description": "live loaders: reconnect when no message arrived for this long (default 15000)"},
    "rotate_after_s": {"type": "integer", "minimum": 1, "maximum": 86400, "description": "live loaders: open a successor connection at this age, before the exchange closes it (default 84600; Binance closes at 24 h)"},
    "backoff_max_ms": {"type": "integer", "minimum": 100, "maximum": 600000, "description": "live loaders: the cap of the reconnect backoff (default 5000)"},
    "snapshot_interval_s": {"type": "integer", "minimum": 1, "maximum": 86400, "description": "loader-ws-orderbook: publish the whole book every this many seconds, besides every diff (default 60)"},
    "depth_limit": {"type": "integer", "minimum": 1, "maximum": 5000, "description": "loader-ws-orderbook: levels a side of the REST snapshot that starts the book (default 1000; its weight is the exchange's for that limit)"}
  })json";
}

std::string snapshot_topic(const std::string& data_topic) { return data_topic + "-snapshots"; }

std::string ws_url_for(const std::string& rest_url) {
  std::string_view u(rest_url);
  while (!u.empty() && u.back() == '/') u.remove_suffix(1);
  if (u == "https://api.binance.com" || u == "https://api.binance.com:443")
    return "wss://stream.binance.com:9443";
  if (u.starts_with("http://")) return "ws://" + std::string(u.substr(7));
  if (u.starts_with("https://")) return "wss://" + std::string(u.substr(8));
  return std::string(u);
}

namespace {

// What a live loader reports each second (and keeps in totals).
struct LiveCounters {
  int64_t messages = 0, reconnects = 0, gaps = 0, gap_records = 0, duplicates = 0, malformed = 0,
          shutdowns = 0, stalls = 0, rotations = 0, resyncs = 0;
};

// Prometheus counters, when the runner has a registry.
struct LiveMetrics {
  metrics::Counter *messages = nullptr, *reconnects = nullptr, *gaps = nullptr,
                   *gap_records = nullptr, *duplicates = nullptr, *malformed = nullptr;
  metrics::Histogram* lag = nullptr;
  explicit LiveMetrics(metrics::Registry* r) {
    if (!r) return;
    messages = &r->counter("streamforge_live_messages_total", "Stream messages live loaders read");
    reconnects = &r->counter("streamforge_live_reconnects_total",
                             "Stream connections live loaders opened again after losing one");
    gaps = &r->counter("streamforge_live_gaps_total", "Id gaps live loaders found in a stream");
    gap_records = &r->counter("streamforge_live_gap_records_total",
                              "Records live loaders fetched from REST to fill gaps");
    duplicates = &r->counter("streamforge_live_duplicates_total",
                             "Stream events live loaders dropped as already published");
    malformed = &r->counter("streamforge_live_malformed_total",
                            "Stream messages live loaders could not decode");
    lag = &r->histogram("streamforge_live_lag_seconds",
                        "Exchange event time to publish, per message (host clock)",
                        {0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5});
  }
  static void inc(metrics::Counter* c, double v = 1) {
    if (c) c->inc(v);
  }
};

// The stream of a record kind, its REST fill, and its id.
template <class R>
struct LiveTraits;

template <>
struct LiveTraits<market::Trade> {
  static constexpr const char* kTarget = "loader-ws-trades";
  static std::string stream(const std::string&) { return "trade"; }
  static int64_t id(const market::Trade& t) { return t.trade_id; }
  static const market::Trade& of(const bn::StreamEvent& e) { return e.trade; }
  static constexpr bn::StreamEvent::Kind kEvent = bn::StreamEvent::Kind::trade;
  // The ids (after, upto] from REST, in pages to on_page.
  static Result<bn::PagingStats> fill(bn::BinanceClient& c, const std::string& symbol,
                                      const bn::TimeRange& range, int64_t after,
                                      std::optional<int64_t> upto,
                                      const std::function<bool(std::vector<market::Trade>&)>& f) {
    return bn::for_each_trade_page(c, symbol, range, after, f, upto);
  }
};

template <>
struct LiveTraits<market::AggTrade> {
  static constexpr const char* kTarget = "loader-ws-agg-trades";
  static std::string stream(const std::string&) { return "aggTrade"; }
  static int64_t id(const market::AggTrade& t) { return t.agg_id; }
  static const market::AggTrade& of(const bn::StreamEvent& e) { return e.agg_trade; }
  static constexpr bn::StreamEvent::Kind kEvent = bn::StreamEvent::Kind::agg_trade;
  static Result<bn::PagingStats> fill(
      bn::BinanceClient& c, const std::string& symbol, const bn::TimeRange& range, int64_t after,
      std::optional<int64_t> upto, const std::function<bool(std::vector<market::AggTrade>&)>& f) {
    return bn::for_each_agg_trade_page(c, symbol, range, after, f, upto);
  }
};

template <>
struct LiveTraits<market::Candle> {
  static constexpr const char* kTarget = "loader-ws-klines";
  static std::string stream(const std::string& interval) { return "kline_" + interval; }
  static const market::Candle& of(const bn::StreamEvent& e) { return e.kline; }
  static constexpr bn::StreamEvent::Kind kEvent = bn::StreamEvent::Kind::kline;
};

template <>
struct LiveTraits<market::BookDiff> {
  static constexpr const char* kTarget = "loader-ws-orderbook";
  static std::string stream(const std::string&) { return "depth@100ms"; }
  static constexpr bn::StreamEvent::Kind kEvent = bn::StreamEvent::Kind::depth;
};

template <class R>
constexpr bool kById = std::is_same_v<R, market::Trade> || std::is_same_v<R, market::AggTrade>;
template <class R>
constexpr bool kKline = std::is_same_v<R, market::Candle>;
template <class R>
constexpr bool kBook = std::is_same_v<R, market::BookDiff>;

// One symbol's progress.
template <class R>
struct SymbolState {
  std::string symbol;
  std::vector<R> pending;       // to publish, in order
  std::optional<int64_t> last;  // trades: the last id seen; candles: last closed open time
  std::optional<int64_t> first_published, last_published;  // trades: ids
  // Trades: id ranges (after, upto] a fill could not get yet; retried.
  std::vector<std::pair<int64_t, int64_t>> unfilled;
  // Order books: the local book, the snapshots to publish, when the last one was taken
  // (steady ms), since when the book is out of sync (steady ms; 0 when synced), when a
  // snapshot may be fetched next, and the event time of the last diff applied.
  std::unique_ptr<bn::BookSync> sync;
  std::vector<market::BookSnapshot> snapshots;
  int64_t last_snapshot_ms = 0;
  int64_t unsynced_since_ms = 0;
  int64_t next_fetch_ms = 0;
  int64_t last_event_time = 0;
};

template <class R>
class LiveLoader {
 public:
  LiveLoader(WorkerContext& ctx, const WorkerConfig& cfg, ControlChannel& control, Telemetry& tel)
      : ctx_(ctx), cfg_(cfg), control_(control), tel_(tel), metrics_(ctx.metrics) {}

  int run() {
    using T = LiveTraits<R>;
    if (!cfg_.symbol || !cfg_.type || !cfg_.time_range || !cfg_.kafka_topic)
      return fail("a live loader needs SYMBOL, TYPE, TIME_RANGE and KAFKA_TOPIC", kExitBadConfig);
    auto kind = market::kind_for_type(*cfg_.type);
    if (!kind) return fail(kind.error().message, kExitBadConfig);
    if (!market::is_live_type(*cfg_.type) ||
        (market::kind_info(*kind).name != market::Schema<R>::name &&
         market::Schema<R>::live_type != *cfg_.type))
      return fail(std::string(T::kTarget) + " does not load type '" + *cfg_.type + "'",
                  kExitBadConfig);
    auto range = protocol::parse_time_range(*cfg_.time_range);
    if (!range) return fail(range.error().message, kExitBadConfig);
    range_ = {range->start_ms, range->end_ms};
    auto settings = LiveSettings::from_params(cfg_.params);
    if (!settings) return fail("bad live settings: " + settings.error().message, kExitBadConfig);
    settings_ = *settings;
    if (settings_.symbols.empty()) settings_.symbols.push_back(*cfg_.symbol);
    if constexpr (kKline<R>) {
      interval_ = *market::interval_for_type(*cfg_.type);
    }

    auto access = make_exchange_access(
        ctx_, [this] { return !control_.stop_requested(); }, settings_.symbols.front(),
        cfg_.queue_id);
    if (!access)
      return fail(access.error().message,
                  access.error().code == Errc::invalid_argument ? kExitBadConfig : kExitError);
    access_ = std::move(*access);
    // The exchange's clock decides the range's end on a quiet stream (see loop()).
    if (auto t = access_.client->server_time(); !t)
      log::warn(std::string(T::kTarget) +
                    ": cannot read the exchange's time, using this host's: " + t.error().message,
                cfg_.queue_id);
    auto producer = ctx_.bus->producer();
    if (!producer) return fail("cannot create a producer: " + producer.error().message);
    producer_ = std::move(*producer);
    if (auto s = ctx_.bus->ensure_topic({*cfg_.kafka_topic, 1}); !s)
      return fail("cannot create topic " + *cfg_.kafka_topic + ": " + s.error().message);
    if constexpr (kBook<R>) {
      snapshot_topic_ = snapshot_topic(*cfg_.kafka_topic);
      if (auto s = ctx_.bus->ensure_topic({snapshot_topic_, 1}); !s)
        return fail("cannot create topic " + snapshot_topic_ + ": " + s.error().message);
    }

    bn::StreamFeedOptions fo;
    fo.base_url = ctx_.env.get_or(env_names::kExchangeWsUrl, ws_url_for(access_.options.base_url));
    fo.stall_timeout = std::chrono::milliseconds(settings_.stall_ms);
    fo.rotate_after = std::chrono::seconds(settings_.rotate_after_s);
    fo.backoff_max = std::chrono::milliseconds(settings_.backoff_max_ms);
    for (const auto& s : settings_.symbols) {
      fo.streams.push_back(bn::stream_name(s, T::stream(interval_)));
      SymbolState<R> st;
      st.symbol = s;
      if constexpr (kBook<R>) {
        st.sync = std::make_unique<bn::BookSync>();
        st.unsynced_since_ms = ctx_.clock->steady_ms();
        by_stream_.emplace(fo.streams.back(), s);
      }
      state_.emplace(s, std::move(st));
    }
    const std::string ws_shown = log::redact_url(fo.base_url);
    auto feed = bn::StreamFeed::create(std::move(fo));
    if (!feed) return fail(feed.error().message, kExitBadConfig);
    feed_ = std::move(*feed);

    {
      protocol::Event started;
      started.status = RunStatus::started;
      started.message = "streaming " + *cfg_.type + " for " + symbols_text() + " from " + ws_shown +
                        " until " + *cfg_.time_range + " ends (gap fills from " +
                        log::redact_url(access_.options.base_url) + ")";
      (void)tel_.send(std::move(started));
    }
    feed_->start();
    const int code = loop();
    feed_->stop();
    return code;
  }

 private:
  using T = LiveTraits<R>;

  int fail(const std::string& why, int code = kExitError) {
    log::error(std::string(T::kTarget) + ": " + why, cfg_.queue_id);
    (void)tel_.send(RunStatus::error, why);
    return code;
  }

  std::string symbols_text() const {
    std::string s;
    for (size_t i = 0; i < settings_.symbols.size() && i < 5; ++i)
      s += (i ? "," : "") + settings_.symbols[i];
    if (settings_.symbols.size() > 5)
      s += " and " + std::to_string(settings_.symbols.size() - 5) + " more";
    return s;
  }

  int loop() {
    std::vector<bn::FeedMessage> batch;
    bn::StreamEvent ev;
    bn::Decoder decoder;
    int64_t last_report = ctx_.clock->steady_ms();
    int64_t last_retry = last_report;
    bool any_connected = false;
    for (;;) {
      if (control_.stop_requested()) {
        publish_all();
        (void)producer_->flush(std::chrono::seconds(10));
        if (publish_error_) return fail("cannot publish: " + publish_error_->message);
        (void)tel_.send(
            RunStatus::interrupted,
            "stopped after " + std::to_string(total_published()) + " records; " + stats_text(),
            total_published());
        return kExitInterrupted;
      }
      batch.clear();
      feed_->take(&batch, std::chrono::milliseconds(100));
      for (auto& m : batch) {
        switch (m.type) {
          case bn::FeedMessage::Type::connected:
            if (m.text == "successor") {
              ++totals_.rotations;
            } else if (any_connected) {
              ++totals_.reconnects;
              LiveMetrics::inc(metrics_.reconnects);
            }
            any_connected = true;
            if (m.text != "successor") last_problem_.clear();
            break;
          case bn::FeedMessage::Type::stalled:
            ++totals_.stalls;
            [[fallthrough]];
          case bn::FeedMessage::Type::disconnected:
            last_problem_ = m.text;
            log::info(std::string(T::kTarget) + ": connection " + std::to_string(m.connection) +
                          " " + bn::to_string(m.type) + ": " + m.text,
                      cfg_.queue_id);
            break;
          case bn::FeedMessage::Type::retired:
            break;
          case bn::FeedMessage::Type::message:
            on_message(decoder, ev, m);
            break;
        }
      }
      book_housekeeping();
      publish_all();
      if (publish_error_) return fail("cannot publish: " + publish_error_->message);
      const int64_t now = ctx_.clock->steady_ms();
      if (now - last_retry >= 1000) {
        last_retry = now;
        retry_unfilled();
      }
      if (now - last_report >= 1000) {
        report(now - last_report);
        last_report = now;
      }
      // The range's end: seen in the events, or on the exchange's clock for a quiet stream.
      if (max_event_time_ >= range_.end_ms ||
          access_.client->now_ms() >= range_.end_ms + kQuietEndGraceMs)
        return finish();
    }
  }

  void on_message(bn::Decoder& decoder, bn::StreamEvent& ev, const bn::FeedMessage& m) {
    ++totals_.messages;
    LiveMetrics::inc(metrics_.messages);
    if (auto s = decoder.stream_event(m.text, bn::TimeUnit::millisecond, &ev); !s) {
      ++totals_.malformed;
      LiveMetrics::inc(metrics_.malformed);
      // A dropped event shows up as a gap in the ids and is filled: only the first few are
      // logged.
      if (totals_.malformed <= 5)
        log::warn(
            std::string(T::kTarget) + ": undecodable stream message skipped: " + s.error().message,
            cfg_.queue_id);
      return;
    }
    if (ev.kind == bn::StreamEvent::Kind::server_shutdown) {
      ++totals_.shutdowns;
      feed_->renew(m.connection);
      return;
    }
    if (ev.kind == bn::StreamEvent::Kind::error_reply) {
      log::warn(std::string(T::kTarget) + ": the stream server refused a request: " + ev.error.msg,
                cfg_.queue_id);
      return;
    }
    if (ev.kind != T::kEvent) return;  // replies to SUBSCRIBE
    auto note_lag = [&] {
      const int64_t lag = ctx_.clock->now_ms() - ev.event_time;
      lags_.push_back(lag);
      if (metrics_.lag) metrics_.lag->observe(static_cast<double>(std::max<int64_t>(lag, 0)) / 1e3);
      max_event_time_ = std::max(max_event_time_, ev.event_time);
    };
    if constexpr (kBook<R>) {
      // A depth event names its symbol only in its stream (the combined wrapper).
      auto sym = by_stream_.find(ev.stream);
      if (sym == by_stream_.end()) return;
      note_lag();
      on_depth(state_.at(sym->second), ev);
    } else {
      const R& rec = T::of(ev);
      auto it = state_.find(rec.symbol);
      if (it == state_.end()) return;  // not asked for
      note_lag();
      if constexpr (kById<R>)
        on_trade(it->second, rec);
      else
        on_kline(it->second, rec);
    }
  }

  // ---- order books -------------------------------------------------------------------------

  // Binance's local-book algorithm (bn::BookSync): events buffer until a /depth snapshot
  // joins them; then every diff applied is published; a gap drops the book and fetches a new
  // snapshot at once. Each time the book is (re)built, and every snapshot_interval_s, the whole
  // book goes out as a snapshot record on the snapshot topic.
  void on_depth(SymbolState<R>& s, const bn::StreamEvent& ev) {
    if constexpr (kBook<R>) {
      const bn::DepthDiff& d = ev.depth;
      market::BookDiff rec{s.symbol,
                           d.last_id,
                           d.first_id,
                           d.event_time,
                           market::levels_text(d.bids),
                           market::levels_text(d.asks)};
      switch (s.sync->on_event(d)) {
        case bn::BookSync::Outcome::applied:
          s.last_event_time = d.event_time;
          add(s, rec);
          return;
        case bn::BookSync::Outcome::stale:
          ++totals_.duplicates;
          LiveMetrics::inc(metrics_.duplicates);
          return;
        case bn::BookSync::Outcome::gap:
          ++totals_.gaps;
          LiveMetrics::inc(metrics_.gaps);
          s.unsynced_since_ms = ctx_.clock->steady_ms();
          s.next_fetch_ms = 0;
          [[fallthrough]];
        default:
          s.last_event_time = d.event_time;
          fetch_snapshot(s);
          return;
      }
    }
  }

  // While buffering: the REST snapshot that joins the buffered events (at most one request
  // every 250 ms a symbol, each spending its weight from the budget).
  void fetch_snapshot(SymbolState<R>& s) {
    if constexpr (kBook<R>) {
      const int64_t now = ctx_.clock->steady_ms();
      if (s.sync->state() != bn::BookSync::State::buffering || now < s.next_fetch_ms) return;
      s.next_fetch_ms = now + 250;
      auto snap = access_.client->depth(s.symbol, static_cast<int>(settings_.depth_limit));
      if (!snap) {
        log::warn(std::string(T::kTarget) + ": cannot fetch the " + s.symbol +
                      " book snapshot: " + snap.error().message,
                  cfg_.queue_id);
        s.next_fetch_ms = now + 1000;
        return;
      }
      if (s.sync->on_snapshot(*snap) != bn::BookSync::Outcome::synced) return;  // too old
      const int64_t took = ctx_.clock->steady_ms() - s.unsynced_since_ms;
      max_resync_ms_ = std::max(max_resync_ms_, took);
      ++totals_.resyncs;
      s.unsynced_since_ms = 0;
      take_snapshot(s);
    }
  }

  void take_snapshot(SymbolState<R>& s) {
    if constexpr (kBook<R>) {
      const market::OrderBook& b = s.sync->book();
      s.snapshots.push_back({s.symbol, b.last_update_id(), s.last_event_time,
                             market::levels_text(b.levels(market::BookSide::bid)),
                             market::levels_text(b.levels(market::BookSide::ask))});
      s.last_snapshot_ms = ctx_.clock->steady_ms();
    }
  }

  // Periodic snapshots, and snapshots still owed (a fetch that was too old or failed).
  void book_housekeeping() {
    if constexpr (kBook<R>) {
      const int64_t now = ctx_.clock->steady_ms();
      for (auto& [sym, s] : state_) {
        if (s.sync->state() == bn::BookSync::State::synced) {
          if (now - s.last_snapshot_ms >= settings_.snapshot_interval_s * 1000) take_snapshot(s);
        } else if (s.sync->buffered() > 0) {
          fetch_snapshot(s);
        }
      }
    }
  }

  // ---- trades and aggregate trades -------------------------------------------------------

  void on_trade(SymbolState<R>& s, const R& t) {
    const int64_t id = T::id(t);
    if (s.last && id <= *s.last) {
      ++totals_.duplicates;
      LiveMetrics::inc(metrics_.duplicates);
      return;
    }
    if (s.last && id > *s.last + 1) {
      ++totals_.gaps;
      LiveMetrics::inc(metrics_.gaps);
      fill_ids(s, *s.last, id - 1);
    }
    s.last = id;
    if (in_range(t)) add(s, t);
  }

  // By the record's own time field (no Record variant built: this runs for every event).
  bool in_range(const R& r) const {
    int64_t t = 0;
    if constexpr (kKline<R>)
      t = r.open_time;
    else
      t = r.time;
    return t >= range_.start_ms && t < range_.end_ms;
  }

  // Fetches the ids (after, upto] (upto unset: to the range's end) and queues them; on
  // failure remembers the hole for retry_unfilled(). True if filled.
  bool fill_ids(SymbolState<R>& s, int64_t after, std::optional<int64_t> upto) {
    if constexpr (kById<R>) {
      int64_t got = 0;
      auto paged =
          T::fill(*access_.client, s.symbol, range_, after, upto, [&](std::vector<R>& page) {
            for (auto& r : page) add(s, r);
            got += static_cast<int64_t>(page.size());
            publish(s);  // a long outage's fill goes out page by page
            return !control_.stop_requested();
          });
      totals_.gap_records += got;
      LiveMetrics::inc(metrics_.gap_records, static_cast<double>(got));
      if (!paged || paged->stopped) {
        if (!paged)
          log::warn(std::string(T::kTarget) + ": cannot fill " + s.symbol + " ids after " +
                        std::to_string(after) + " from REST yet: " + paged.error().message,
                    cfg_.queue_id);
        // What arrived is published; the rest is asked again from where it stopped.
        const int64_t resume =
            s.last_published && *s.last_published > after ? *s.last_published : after;
        if (!upto || resume < *upto) s.unfilled.emplace_back(resume, upto.value_or(INT64_MAX));
        return false;
      }
    }
    return true;
  }

  void retry_unfilled() {
    if constexpr (kById<R>) {
      for (auto& [sym, s] : state_) {
        auto holes = std::move(s.unfilled);
        s.unfilled.clear();
        for (const auto& [after, upto] : holes)
          fill_ids(s, after, upto == INT64_MAX ? std::nullopt : std::optional<int64_t>(upto));
      }
    }
  }

  // ---- klines ----------------------------------------------------------------------------

  void on_kline(SymbolState<R>& s, const R& c) {
    if constexpr (kKline<R>) {
      // s.last: the open time of the last closed candle published (or of the one before the
      // first event, so that a first closed event is not taken for a gap).
      if (!s.last) s.last = previous_open(c.open_time);
      if (c.open_time <= *s.last) {
        ++totals_.duplicates;  // a revision of a candle already final
        LiveMetrics::inc(metrics_.duplicates);
        return;
      }
      auto next = bn::next_open_time(*s.last, interval_);
      if (next && *next < c.open_time) {
        // Closed candles missed (a reconnect): from REST, final.
        ++totals_.gaps;
        LiveMetrics::inc(metrics_.gaps);
        fill_klines(s, *next, c.open_time);
      }
      if (c.closed) s.last = c.open_time;
      if (in_range(c)) add(s, c);
    }
  }

  // The open time of the candle before the one opening at open_ms.
  int64_t previous_open(int64_t open_ms) const {
    const int64_t step = market::interval_ms(interval_);
    if (step > 0) return open_ms - step;
    // Calendar months: the first day of the month before.
    const CivilDate d = civil_from_days(open_ms / 86'400'000LL);
    const int64_t y = d.month == 1 ? d.year - 1 : d.year;
    const int64_t m = d.month == 1 ? 12 : d.month - 1;
    return days_from_civil(y, m, 1) * 86'400'000LL;
  }

  void fill_klines(SymbolState<R>& s, int64_t from_ms, int64_t to_ms) {
    if constexpr (kKline<R>) {
      const bn::TimeRange r{std::max(from_ms, range_.start_ms), std::min(to_ms, range_.end_ms)};
      if (r.end_ms <= r.start_ms) return;
      int64_t got = 0;
      auto paged = bn::for_each_kline_page(
          *access_.client, s.symbol, interval_, r, std::nullopt, [&](std::vector<R>& page) {
            for (auto& c : page) {
              // The client judges `closed` by its own
              // clock; the stream's event time is the
              // exchange's.
              c.closed = c.closed || c.close_time < max_event_time_;
              add(s, c);
            }
            got += static_cast<int64_t>(page.size());
            publish(s);
            return !control_.stop_requested();
          });
      totals_.gap_records += got;
      LiveMetrics::inc(metrics_.gap_records, static_cast<double>(got));
      if (!paged)
        log::warn(std::string(T::kTarget) + ": cannot fill " + s.symbol +
                      " candles from REST: " + paged.error().message,
                  cfg_.queue_id);
    }
  }

  // ---- publishing ------------------------------------------------------------------------

  void add(SymbolState<R>& s, const R& r) {
    s.pending.push_back(r);
    if (s.pending.size() >= static_cast<size_t>(bn::kMaxLimit)) publish(s);
  }

  void publish_all() {
    for (auto& [sym, s] : state_) publish(s);
  }

  // Publishes `records` of `s` to `topic` as one binary page or one JSON message each.
  template <class Rec>
  bool publish_to(const std::string& topic, const std::string& key, std::vector<Rec>& records) {
    if (records.empty() || publish_error_) return false;
    auto ok = [&](const std::string& value) {
      auto r = producer_->produce(topic, key, value);
      if (!r) publish_error_ = r.error();
      return r.ok();
    };
    if (settings_.record_format == market::RecordFormat::binary) {
      encoded_.clear();
      market::encode_page_to(encoded_, std::span<const Rec>(records));
      if (!ok(encoded_)) return false;
    } else {
      for (const auto& r : records) {
        encoded_.clear();
        market::encode_to(encoded_, r);
        if (!ok(encoded_)) return false;
      }
    }
    return true;
  }

  void publish(SymbolState<R>& s) {
    if constexpr (kBook<R>) {
      // A snapshot before the diffs that follow it.
      if (publish_to(snapshot_topic_, s.symbol, s.snapshots)) {
        published_snapshots_ += static_cast<int64_t>(s.snapshots.size());
        s.snapshots.clear();
      }
    }
    if (!publish_to(*cfg_.kafka_topic, s.symbol, s.pending)) return;
    published_ += static_cast<int64_t>(s.pending.size());
    if constexpr (kById<R>) {
      for (const auto& r : s.pending) {
        const int64_t id = T::id(r);
        if (!s.first_published || id < *s.first_published) s.first_published = id;
        if (!s.last_published || id > *s.last_published) s.last_published = id;
      }
    }
    s.pending.clear();
  }

  // ---- reporting and the end -------------------------------------------------------------

  // Records published on every topic (an order book's snapshots too).
  int64_t total_published() const { return published_ + published_snapshots_; }

  std::string stats_text() const {
    return std::to_string(totals_.messages) + " messages, " + std::to_string(totals_.reconnects) +
           " reconnects, " + std::to_string(totals_.rotations) + " rotations, " +
           std::to_string(totals_.gaps) + " gaps filled with " +
           std::to_string(totals_.gap_records) + " records from REST, " +
           std::to_string(totals_.duplicates) + " duplicates dropped, " +
           std::to_string(totals_.malformed) + " malformed messages skipped" +
           (kBook<R> ? ", " + std::to_string(totals_.resyncs) + " book syncs (slowest " +
                           std::to_string(max_resync_ms_) + " ms), " +
                           std::to_string(published_snapshots_) + " snapshots"
                     : std::string());
  }

  void report(int64_t elapsed_ms) {
    const int64_t n = totals_.messages - reported_messages_;
    reported_messages_ = totals_.messages;
    std::string lag = "no events";
    if (!lags_.empty()) {
      auto mid = lags_.begin() + static_cast<ptrdiff_t>(lags_.size() / 2);
      std::nth_element(lags_.begin(), mid, lags_.end());
      lag = "lag p50 " + std::to_string(*mid) + " ms, max " +
            std::to_string(*std::max_element(lags_.begin(), lags_.end())) + " ms";
      lags_.clear();
    }
    const int64_t rate = elapsed_ms > 0 ? n * 1000 / elapsed_ms : n;
    // Nothing arrives and the last connection went wrong: say why (a wrong URL, a refused
    // upgrade), not just "0 messages/s".
    if (n == 0 && !last_problem_.empty()) lag += "; not streaming: " + last_problem_;
    (void)tel_.send(RunStatus::loading,
                    "published " + std::to_string(total_published()) + " records; " +
                        std::to_string(rate) + " messages/s, " + lag + "; " + stats_text(),
                    total_published());
  }

  int finish() {
    if constexpr (kBook<R>) {
      // The book as it ends, so the last diffs need no earlier snapshot.
      for (auto& [sym, s] : state_)
        if (s.sync->state() == bn::BookSync::State::synced) take_snapshot(s);
    }
    // Everything up to the range's end: the trades after the last one streamed, from REST.
    if constexpr (kById<R>) {
      retry_unfilled();
      for (auto& [sym, s] : state_)
        if (s.last) fill_ids(s, *s.last, std::nullopt);
    } else {
      for (auto& [sym, s] : state_)
        if (s.last) {
          auto next = bn::next_open_time(*s.last, interval_);
          if (next) fill_klines(s, *next, range_.end_ms);
        }
    }
    publish_all();
    if (auto f = producer_->flush(std::chrono::seconds(30)); !f)
      return fail("cannot flush the data topic: " + f.error().message);
    if (publish_error_) return fail("cannot publish: " + publish_error_->message);
    std::vector<std::string> lacking;
    for (const auto& [sym, s] : state_)
      for (const auto& [after, upto] : s.unfilled)
        lacking.push_back(sym + " ids after " + std::to_string(after) +
                          (upto == INT64_MAX ? "" : " to " + std::to_string(upto)));
    // The ids published, against which the connector checks the store's edges: only for one
    // symbol (the marker names one range).
    market::EndMarker marker{published_, std::nullopt, std::nullopt};
    if (state_.size() == 1) {
      const auto& s = state_.begin()->second;
      if (s.first_published && s.last_published) {
        marker.first_id = s.first_published;
        marker.last_id = s.last_published;
      }
    }
    auto m = producer_->produce(*cfg_.kafka_topic, market::kEndMarkerKey,
                                market::encode_end_marker(marker));
    if (!m) return fail("cannot publish the end-of-data marker: " + m.error().message);
    if constexpr (kBook<R>) {
      auto sm = producer_->produce(snapshot_topic_, market::kEndMarkerKey,
                                   market::encode_end_marker({published_snapshots_, {}, {}}));
      if (!sm) return fail("cannot publish the end-of-data marker: " + sm.error().message);
    }
    (void)producer_->flush(std::chrono::seconds(30));
    protocol::Event done;
    done.status = RunStatus::finished;
    done.message = "published " + std::to_string(total_published()) + " records; " + stats_text() +
                   (lacking.empty() ? ""
                                    : "; REST could not fill: " + lacking.front() +
                                          (lacking.size() > 1 ? " and more" : ""));
    done.records_written = total_published();
    done.first_id = marker.first_id;
    done.last_id = marker.last_id;
    if constexpr (kKline<R>) {
      // Revisions make the records published more than the candles the range holds: what
      // the store should have is one candle an interval, for every symbol.
      done.records_expected =
          expected_candles(range_.start_ms, range_.end_ms, interval_,
                           std::max(max_event_time_, access_.client->now_ms())) *
          static_cast<int64_t>(state_.size());
    }
    (void)tel_.send(std::move(done));
    return kExitFinished;
  }

  static constexpr int64_t kQuietEndGraceMs = 5'000;

  WorkerContext& ctx_;
  const WorkerConfig& cfg_;
  ControlChannel& control_;
  Telemetry& tel_;
  LiveMetrics metrics_;
  LiveSettings settings_;
  bn::TimeRange range_;
  std::string interval_;
  ExchangeAccess access_;
  std::unique_ptr<bus::Producer> producer_;
  std::unique_ptr<bn::StreamFeed> feed_;
  std::map<std::string, SymbolState<R>> state_;
  std::map<std::string, std::string> by_stream_;  // order books: stream name -> symbol
  std::string snapshot_topic_;                    // order books: where snapshots go
  int64_t published_snapshots_ = 0;
  int64_t max_resync_ms_ = 0;
  std::string encoded_;
  std::optional<Error> publish_error_;
  int64_t published_ = 0;
  int64_t max_event_time_ = 0;
  LiveCounters totals_;
  int64_t reported_messages_ = 0;
  std::vector<int64_t> lags_;
  std::string last_problem_;  // why the last connection ended or failed; cleared on connect
};

template <class R>
int run_live(WorkerContext& ctx) {
  return run_worker(ctx, LiveTraits<R>::kTarget,
                    [](WorkerContext& c, const WorkerConfig& cfg, ControlChannel& ch,
                       Telemetry& t) { return LiveLoader<R>(c, cfg, ch, t).run(); });
}

}  // namespace

int run_live_trades(WorkerContext& ctx) { return run_live<market::Trade>(ctx); }
int run_live_agg_trades(WorkerContext& ctx) { return run_live<market::AggTrade>(ctx); }
int run_live_klines(WorkerContext& ctx) { return run_live<market::Candle>(ctx); }
int run_live_orderbook(WorkerContext& ctx) { return run_live<market::BookDiff>(ctx); }

}  // namespace sf::workers
