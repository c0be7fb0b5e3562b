#include "exchange/sim/live.h"

#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "base/log.h"
#include "exchange/sim/depth.h"
#include "exchange/sim/hash.h"
#include "exchange/sim/malform.h"
#include "http/server.h"

namespace sf::exchange::sim {

namespace bj = boost::json;

std::optional<StreamName> parse_stream_name(const Market& market, std::string_view name) {
  const size_t at = name.find('@');
  if (at == std::string_view::npos || at == 0) return std::nullopt;
  std::string symbol(name.substr(0, at));
  for (char& c : symbol) {
    if (c >= 'A' && c <= 'Z') return std::nullopt;  // stream names are lowercase
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  StreamName s;
  s.symbol = market.find(symbol);
  if (!s.symbol) return std::nullopt;
  s.name = std::string(name);
  const std::string_view kind = name.substr(at + 1);
  if (kind == "trade") {
    s.type = StreamName::Type::trade;
  } else if (kind == "aggTrade") {
    s.type = StreamName::Type::agg_trade;
  } else if (kind == "depth" || kind == "depth@1000ms" || kind == "depth@100ms") {
    s.type = StreamName::Type::depth;
    s.depth_ms = kind == "depth@100ms" ? 100 : 1000;
  } else if (kind == "bookTicker") {
    s.type = StreamName::Type::book_ticker;
  } else if (kind.starts_with("depth")) {  // depth<5|10|20>[@100ms|@1000ms]
    std::string_view rest = kind.substr(5);
    const size_t at2 = rest.find('@');
    const std::string_view levels = rest.substr(0, at2);
    const std::string_view speed = at2 == std::string_view::npos ? "" : rest.substr(at2);
    if (levels != "5" && levels != "10" && levels != "20") return std::nullopt;
    if (!speed.empty() && speed != "@100ms" && speed != "@1000ms") return std::nullopt;
    s.type = StreamName::Type::partial_depth;
    s.levels = levels == "5" ? 5 : levels == "10" ? 10 : 20;
    s.depth_ms = speed == "@100ms" ? 100 : 1000;
  } else if (kind.starts_with("kline_")) {
    s.type = StreamName::Type::kline;
    s.interval = find_interval(kind.substr(6));
    if (!s.interval || s.interval->ms == 0) return std::nullopt;  // 1M: not streamed here
  } else {
    return std::nullopt;
  }
  return s;
}

namespace {

// A subscribed stream and where it stands.
struct Sub {
  StreamName name;
  uint64_t key = 0;                      // the name hashed (fault draws)
  int64_t next_id = 0;                   // trade / agg_trade: the next id to send
  int64_t depth_tick = 0;                // depth, partial_depth, book_ticker: the tick last sent
  DepthBook depth_book;                  // depth: the book after depth_tick
  market::BookLevel best_bid, best_ask;  // book_ticker: as last sent
  int64_t kline_open = 0;                // kline: the candle being pushed
  int64_t kline_push = 0;                // kline: when it was last pushed
};

// What a fault draw is for (one of the PRNG key's coordinates).
enum class Draw : uint64_t { disconnect = 1, stall, shutdown, depth_skip, malformed, malform_kind };

// A fault that recurs on a connection at exponentially distributed intervals.
struct Recurring {
  int64_t mean = 0;             // as drawn; a changed knob is drawn afresh
  int64_t next_at = INT64_MAX;  // real time
  uint64_t draws = 0;
};

struct Conn {
  std::shared_ptr<http::WsSession> ws;
  bool combined = false;
  uint64_t serial = 0;  // the n-th connection opened (fault draws)
  int64_t opened_ms = 0;
  std::vector<Sub> subs;
  int64_t rate_second = -1;  // steady-clock second of the incoming-message count
  int rate_count = 0;
  uint64_t frames = 0;  // event frames sent (malformed draws)
  Recurring disconnect, stall, shutdown;
  bool stalled = false;
  int64_t stall_until = 0;          // real time
  bool shutdown_requested = false;  // LiveStreams::server_shutdown()
  bool shutdown_sent = false;
  int64_t close_at = INT64_MAX;  // real time: the close that follows serverShutdown
};

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  return h;
}

int64_t steady_second() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A JSON object of an event, built field by field ("e" first when given).
class Obj {
 public:
  Obj() { b_ = "{"; }
  explicit Obj(const char* event_type) { b_.append("{\"e\":\"").append(event_type).push_back('"'); }
  Obj& i(const char* k, int64_t v) {
    key(k);
    b_ += std::to_string(v);
    return *this;
  }
  Obj& q(const char* k, int64_t units) {  // a fixed-point decimal, as a string
    key(k);
    b_.push_back('"');
    append_fixed8(b_, units);
    b_.push_back('"');
    return *this;
  }
  Obj& s(const char* k, std::string_view v) {
    key(k);
    b_.append("\"").append(v).push_back('"');
    return *this;
  }
  Obj& flag(const char* k, bool v) {
    key(k);
    b_ += v ? "true" : "false";
    return *this;
  }
  Obj& raw(const char* k, std::string_view json) {
    key(k);
    b_ += json;
    return *this;
  }
  std::string done() {
    b_.push_back('}');
    return std::move(b_);
  }

 private:
  void key(const char* k) {
    if (b_.size() > 1) b_.push_back(',');
    b_.append("\"").append(k).append("\":");
  }
  std::string b_;
};

// [["price","qty"], ...]
std::string levels_json(const std::vector<market::BookLevel>& levels) {
  std::string b = "[";
  for (size_t i = 0; i < levels.size(); ++i) {
    b.append(i == 0 ? "[\"" : ",[\"");
    append_fixed8(b, levels[i].price);
    b.append("\",\"");
    append_fixed8(b, levels[i].qty);
    b.append("\"]");
  }
  b.push_back(']');
  return b;
}

}  // namespace

Status validate_live_faults(const LiveFaults& f) {
  auto rate = [](double v, const char* name) -> Status {
    if (!(v >= 0 && v <= 1))
      return Error(Errc::invalid_argument, std::string(name) + " must be within [0, 1]", name);
    return ok_status();
  };
  auto ms = [](int64_t v, int64_t lo, int64_t hi, const char* name) -> Status {
    if (v < lo || v > hi)
      return Error(Errc::invalid_argument,
                   std::string(name) + " must be within [" + std::to_string(lo) + ", " +
                       std::to_string(hi) + "] (milliseconds)",
                   name);
    return ok_status();
  };
  constexpr int64_t kWeekMs = 7 * 86'400'000LL;
  SF_TRY(ms(f.disconnect_mean_ms, 0, kWeekMs, "ws_disconnect_mean_ms"));
  SF_TRY(ms(f.stall_mean_ms, 0, kWeekMs, "ws_stall_mean_ms"));
  SF_TRY(ms(f.stall_ms, 1, 3'600'000, "ws_stall_ms"));
  SF_TRY(rate(f.depth_skip_rate, "ws_depth_skip_rate"));
  SF_TRY(rate(f.malformed_rate, "ws_malformed_rate"));
  SF_TRY(ms(f.shutdown_mean_ms, 0, kWeekMs, "ws_shutdown_mean_ms"));
  SF_TRY(ms(f.shutdown_grace_ms, 0, 600'000, "ws_shutdown_grace_ms"));
  return ok_status();
}

struct LiveStreams::Impl : std::enable_shared_from_this<LiveStreams::Impl> {
  Impl(const Market& m, const Clock& c, const Clock& rc, LiveOptions o)
      : market(m), clock(c), real_clock(rc), opts(o), depth(m), faults(o.faults) {}

  const Market& market;
  const Clock& clock;
  const Clock& real_clock;
  const LiveOptions opts;
  const DepthModel depth;

  mutable std::mutex mu;  // everything below but the counters
  std::vector<std::shared_ptr<Conn>> conns;
  std::condition_variable cv;
  bool stopping = false;
  std::thread pump;
  LiveFaults faults;
  uint64_t next_serial = 0;

  std::atomic<int64_t> disconnects{0}, stalls{0}, depth_skipped{0}, malformed{0},
      server_shutdowns{0};

  // The PRNG: a pure function of (seed, connection, what, index).
  uint64_t draw(const Conn& c, Draw what, uint64_t index) const {
    const uint64_t k = splitmix(opts.seed ^ 0x6c69766566ULL ^ (static_cast<uint64_t>(what) << 56));
    return splitmix(splitmix(k ^ c.serial) ^ index);
  }
  // An exponentially distributed interval of mean `mean` (>= 1 ms).
  static int64_t exp_ms(int64_t mean, uint64_t r) {
    const double x = -static_cast<double>(mean) * std::log1p(-u01(r));
    return std::max<int64_t>(1, std::llround(x));
  }
  // A recurring fault's first time, drawn from `now` when its knob is new or changed.
  void schedule(const Conn& c, Recurring& r, int64_t mean, Draw what, int64_t now) const {
    if (mean == r.mean) return;
    r.mean = mean;
    r.next_at = mean > 0 ? now + exp_ms(mean, draw(c, what, r.draws++)) : INT64_MAX;
  }
  // Its next time after one at `from`.
  void reschedule(const Conn& c, Recurring& r, Draw what, int64_t from) const {
    r.next_at = r.mean > 0 ? from + exp_ms(r.mean, draw(c, what, r.draws++)) : INT64_MAX;
  }

  // A subscription starting now.
  Sub subscribe(StreamName name, int64_t now) const {
    Sub s;
    const SymbolSpec& spec = *name.symbol;
    switch (name.type) {
      case StreamName::Type::agg_trade:
        s.next_id = Market::first_agg_id_at(spec, now + 1);
        break;
      case StreamName::Type::trade:
        s.next_id = Market::first_agg_id_at(spec, now + 1) * spec.trades_per_agg;
        break;
      case StreamName::Type::depth:
        s.depth_tick = std::max<int64_t>(0, DepthModel::tick_at(now));
        s.depth_book = depth.book(spec, s.depth_tick);
        break;
      case StreamName::Type::partial_depth:
        s.depth_tick = std::max<int64_t>(0, DepthModel::tick_at(now));
        break;
      case StreamName::Type::book_ticker: {
        s.depth_tick = std::max<int64_t>(0, DepthModel::tick_at(now));
        const DepthBook top = depth.book(spec, s.depth_tick, 1);
        if (!top.bids.empty()) s.best_bid = top.bids[0];
        if (!top.asks.empty()) s.best_ask = top.asks[0];
        break;
      }
      case StreamName::Type::kline:
        s.kline_open = align(*name.interval, now);
        s.kline_push = INT64_MIN / 2;  // the open kline goes out at the next turn
        break;
    }
    s.key = fnv1a(name.name);
    s.name = std::move(name);
    return s;
  }

  // Sends one event on a connection (wrapped for a combined one), malformed at
  // faults.malformed_rate; false: the connection is gone (closed, or dropped as too slow).
  bool send(Conn& c, const Sub& s, std::string event) {
    std::string text;
    if (c.combined) {
      text.reserve(event.size() + s.name.name.size() + 24);
      text.append("{\"stream\":\"").append(s.name.name).append("\",\"data\":");
      text.append(event).push_back('}');
    } else {
      text = std::move(event);
    }
    const uint64_t frame = c.frames++;
    if (faults.malformed_rate > 0 && u01(draw(c, Draw::malformed, frame)) < faults.malformed_rate) {
      malform(text, draw(c, Draw::malform_kind, frame));
      malformed.fetch_add(1, std::memory_order_relaxed);
    }
    return c.ws->send(std::move(text));
  }

  std::string agg_trade_event(const SymbolSpec& spec, int64_t id, PriceMemo* memo) const {
    const RawAggTrade a = market.raw_agg_trade(spec, id, memo);
    return Obj("aggTrade")
        .i("E", a.time)
        .s("s", spec.name)
        .i("a", a.id)
        .q("p", a.price)
        .q("q", a.qty)
        .i("f", a.first_trade_id)
        .i("l", a.last_trade_id)
        .i("T", a.time)
        .flag("m", a.buyer_maker)
        .flag("M", true)
        .done();
  }

  std::string trade_event(const SymbolSpec& spec, int64_t id, PriceMemo* memo) const {
    const RawTrade t = market.raw_trade(spec, id, memo);
    return Obj("trade")
        .i("E", t.time)
        .s("s", spec.name)
        .i("t", t.id)
        .q("p", t.price)
        .q("q", t.qty)
        .i("T", t.time)
        .flag("m", t.buyer_maker)
        .flag("M", true)
        .done();
  }

  std::string depth_event(const SymbolSpec& spec, const DepthUpdate& u) const {
    return Obj("depthUpdate")
        .i("E", u.time_ms)
        .s("s", spec.name)
        .i("U", u.first_id)
        .i("u", u.last_id)
        .raw("b", levels_json(u.bids))
        .raw("a", levels_json(u.asks))
        .done();
  }

  // The candle opening at `open` as of `as_of` (INT64_MAX: final), sent at `now`.
  std::string kline_event(const SymbolSpec& spec, const Interval& iv, int64_t open, int64_t as_of,
                          int64_t now) const {
    const RawCandle c = market.raw_candle(spec, iv, open, as_of);
    const int64_t r = spec.trades_per_agg;
    const int64_t first = Market::first_agg_id_at(spec, open) * r;
    const int64_t last = Market::first_agg_id_at(spec, std::min(c.close_time, as_of) + 1) * r - 1;
    const std::string k = Obj()
                              .i("t", c.open_time)
                              .i("T", c.close_time)
                              .s("s", spec.name)
                              .s("i", iv.name)
                              .i("f", first)
                              .i("L", last)
                              .q("o", c.open)
                              .q("c", c.close)
                              .q("h", c.high)
                              .q("l", c.low)
                              .q("v", c.volume)
                              .i("n", c.trades)
                              .flag("x", c.closed)
                              .q("q", c.quote_volume)
                              .q("V", c.taker_base)
                              .q("Q", c.taker_quote)
                              .s("B", "0")
                              .done();
    return Obj("kline").i("E", now).s("s", spec.name).raw("k", k).done();
  }

  // Everything that happened on one stream since its last turn, up to `now`.
  bool pump_sub(Conn& c, Sub& s, int64_t now) {
    const SymbolSpec& spec = *s.name.symbol;
    int64_t budget =
        std::min(kMaxEventsPerTurn, kMaxBacklog - static_cast<int64_t>(c.ws->queued()));
    switch (s.name.type) {
      case StreamName::Type::agg_trade: {
        const int64_t last = Market::first_agg_id_at(spec, now + 1) - 1;
        PriceMemo memo;  // a turn's trades are close in time: they share lattice cells
        for (; s.next_id <= last && budget-- > 0; ++s.next_id)
          if (!send(c, s, agg_trade_event(spec, s.next_id, &memo))) return false;
        return true;
      }
      case StreamName::Type::trade: {
        const int64_t last = Market::first_agg_id_at(spec, now + 1) * spec.trades_per_agg - 1;
        PriceMemo memo;
        for (; s.next_id <= last && budget-- > 0; ++s.next_id)
          if (!send(c, s, trade_event(spec, s.next_id, &memo))) return false;
        return true;
      }
      case StreamName::Type::depth: {
        const int64_t step = s.name.depth_ms / DepthModel::kTickMs;
        const int64_t current = DepthModel::tick_at(now);
        for (; s.depth_tick + step <= current && budget-- > 0; s.depth_tick += step) {
          DepthBook next = depth.book(spec, s.depth_tick + step);
          const DepthUpdate u = DepthModel::diff(s.depth_book, next);
          s.depth_book = std::move(next);
          // Skipped on this connection only: the book goes on, the next U jumps.
          if (faults.depth_skip_rate > 0 &&
              u01(draw(c, Draw::depth_skip, s.key ^ static_cast<uint64_t>(u.last_id))) <
                  faults.depth_skip_rate) {
            depth_skipped.fetch_add(1, std::memory_order_relaxed);
            continue;
          }
          if (!send(c, s, depth_event(spec, u))) return false;
        }
        return true;
      }
      case StreamName::Type::partial_depth: {
        const int64_t step = s.name.depth_ms / DepthModel::kTickMs;
        const int64_t current = DepthModel::tick_at(now);
        if (current < s.depth_tick + step) return true;
        s.depth_tick += (current - s.depth_tick) / step * step;  // the latest step
        const DepthBook b = depth.book(spec, s.depth_tick, s.name.levels);
        return send(c, s,
                    Obj()
                        .i("lastUpdateId", b.last_update_id)
                        .raw("bids", levels_json(b.bids))
                        .raw("asks", levels_json(b.asks))
                        .done());
      }
      case StreamName::Type::book_ticker: {
        const int64_t current = DepthModel::tick_at(now);
        if (current <= s.depth_tick) return true;
        s.depth_tick = current;
        const DepthBook b = depth.book(spec, current, 1);
        if (b.bids.empty() || b.asks.empty()) return true;
        if (b.bids[0] == s.best_bid && b.asks[0] == s.best_ask) return true;
        s.best_bid = b.bids[0];
        s.best_ask = b.asks[0];
        return send(c, s,
                    Obj()
                        .i("u", b.last_update_id)
                        .s("s", spec.name)
                        .q("b", s.best_bid.price)
                        .q("B", s.best_bid.qty)
                        .q("a", s.best_ask.price)
                        .q("A", s.best_ask.qty)
                        .done());
      }
      case StreamName::Type::kline: {
        const Interval& iv = *s.name.interval;
        // Candles that ended since the last turn go out closed, as /klines has them.
        while (next_open(iv, s.kline_open) <= now && budget-- > 0) {
          if (!send(c, s, kline_event(spec, iv, s.kline_open, INT64_MAX, now))) return false;
          s.kline_open = next_open(iv, s.kline_open);
          s.kline_push = now;
        }
        const int64_t every = iv.ms == 1000 ? 1000 : 2000;
        if (now - s.kline_push >= every) {
          if (!send(c, s, kline_event(spec, iv, s.kline_open, now, now))) return false;
          s.kline_push = now;
        }
        return true;
      }
    }
    return true;
  }

  // One turn of one connection at simulated time `now`, real time `real`: its faults, then
  // its streams. false: the connection is gone.
  bool pump_conn(Conn& c, int64_t now, int64_t real) {
    if (!c.ws->is_open()) return false;
    if (now - c.opened_ms >= opts.max_age_ms || real >= c.close_at) {
      if (c.stalled) c.ws->pause(false);  // else the close frame would wait for ever
      c.ws->close();
      return false;
    }
    schedule(c, c.disconnect, faults.disconnect_mean_ms, Draw::disconnect, real);
    if (real >= c.disconnect.next_at) {
      disconnects.fetch_add(1, std::memory_order_relaxed);
      c.ws->drop();
      return false;
    }
    if (c.stalled) {
      if (real < c.stall_until) return true;
      c.stalled = false;
      c.ws->pause(false);
    }
    schedule(c, c.stall, faults.stall_mean_ms, Draw::stall, real);
    if (real >= c.stall.next_at) {
      stalls.fetch_add(1, std::memory_order_relaxed);
      c.stalled = true;
      c.stall_until = real + faults.stall_ms;
      c.ws->pause(true);
      reschedule(c, c.stall, Draw::stall, c.stall_until);
      return true;
    }
    if (!c.shutdown_sent) {
      schedule(c, c.shutdown, faults.shutdown_mean_ms, Draw::shutdown, real);
      if (c.shutdown_requested || real >= c.shutdown.next_at) {
        c.shutdown_sent = true;
        c.close_at = real + faults.shutdown_grace_ms;
        server_shutdowns.fetch_add(1, std::memory_order_relaxed);
        if (!c.ws->send(Obj("serverShutdown").i("E", now).done())) return false;
      }
    }
    for (Sub& s : c.subs) {
      if (!pump_sub(c, s, now)) return false;
    }
    return true;
  }

  void run_pump() {
    std::unique_lock lk(mu);
    while (!stopping) {
      cv.wait_for(lk, opts.pump_interval, [&] { return stopping; });
      if (stopping) break;
      const int64_t now = clock.now_ms();
      const int64_t real = real_clock.steady_ms();
      std::erase_if(conns,
                    [&](const std::shared_ptr<Conn>& c) { return !pump_conn(*c, now, real); });
    }
  }

  static std::string error_reply(int code, const std::string& msg, const bj::value& id) {
    bj::object e{{"code", code}, {"msg", msg}};
    return bj::serialize(bj::object{{"error", e}, {"id", id}});
  }

  // A control message from the client; the reply, if any.
  std::optional<std::string> on_control(Conn& c, const std::string& text) {
    const int64_t second = steady_second();
    if (second != c.rate_second) {
      c.rate_second = second;
      c.rate_count = 0;
    }
    if (++c.rate_count > kMaxIncomingPerSecond) {
      log::warn("sim: websocket client sent more than 5 messages in a second: disconnecting");
      c.ws->close();
      return std::nullopt;
    }
    boost::system::error_code ec;
    const bj::value v = bj::parse(text, ec);
    if (ec || !v.is_object()) return error_reply(3, "Invalid JSON: " + ec.message(), nullptr);
    const bj::object& o = v.as_object();
    const bj::value id = o.contains("id") ? o.at("id") : bj::value(nullptr);
    if (!id.is_null() && !id.is_int64() && !id.is_uint64() && !id.is_string())
      return error_reply(2, "Invalid request: request ID must be an unsigned integer", nullptr);
    const bj::value* method = o.if_contains("method");
    if (!method || !method->is_string())
      return error_reply(2, "Invalid request: missing field `method`", id);
    const std::string m(method->as_string());
    if (m == "LIST_SUBSCRIPTIONS") {
      bj::array names;
      for (const Sub& s : c.subs) names.emplace_back(s.name.name);
      return bj::serialize(bj::object{{"result", names}, {"id", id}});
    }
    if (m != "SUBSCRIBE" && m != "UNSUBSCRIBE")
      return error_reply(2, "Invalid request: unknown variant `" + m + "`", id);
    const bj::value* params = o.if_contains("params");
    if (!params || !params->is_array())
      return error_reply(2, "Invalid request: missing field `params`", id);
    std::vector<StreamName> names;
    for (const bj::value& p : params->as_array()) {
      std::optional<StreamName> n;
      if (p.is_string()) n = parse_stream_name(market, std::string(p.as_string()));
      if (!n) return error_reply(2, "Invalid request: invalid stream name", id);
      names.push_back(std::move(*n));
    }
    const int64_t now = clock.now_ms();
    for (StreamName& n : names) {
      auto it = std::find_if(c.subs.begin(), c.subs.end(),
                             [&](const Sub& s) { return s.name.name == n.name; });
      if (m == "UNSUBSCRIBE") {
        if (it != c.subs.end()) c.subs.erase(it);
      } else if (it == c.subs.end()) {
        if (c.subs.size() >= kMaxStreams)
          return error_reply(2, "Invalid request: too many streams (at most 1024)", id);
        c.subs.push_back(subscribe(std::move(n), now));
      }
    }
    return bj::serialize(bj::object{{"result", nullptr}, {"id", id}});
  }

  void open(std::shared_ptr<http::WsSession> ws, bool combined) {
    auto conn = std::make_shared<Conn>();
    conn->ws = ws;
    conn->combined = combined;
    const int64_t now = clock.now_ms();
    conn->opened_ms = now;
    auto streams = requested_streams(ws->request(), combined);  // ok: check() passed it
    if (streams.ok())
      for (StreamName& n : *streams) conn->subs.push_back(subscribe(std::move(n), now));
    std::weak_ptr<Conn> weak = conn;
    // Weak both ways: a message may arrive while the LiveStreams is being destroyed.
    ws->on_message([self = weak_from_this(), weak](const std::string& text) {
      auto impl = self.lock();
      auto c = weak.lock();
      if (!impl || !c) return;
      std::optional<std::string> reply;
      {
        std::lock_guard lk(impl->mu);
        reply = impl->on_control(*c, text);
      }
      if (reply) c->ws->send(std::move(*reply));
    });
    std::lock_guard lk(mu);
    if (stopping) {
      ws->close();
      return;
    }
    conn->serial = next_serial++;
    conns.push_back(std::move(conn));
  }

  // The streams an upgrade request names, or why it is refused (an unknown stream, too
  // many). check() refuses with it; open() takes the list of a request check() let pass.
  Result<std::vector<StreamName>> requested_streams(const http::Request& r, bool combined) const {
    auto invalid = [](std::string_view name) {
      return Error(Errc::invalid_argument, "Invalid stream name '" + std::string(name) + "'");
    };
    std::vector<StreamName> out;
    if (!combined) {
      auto n = parse_stream_name(market, r.path_param("stream"));
      if (!n) return invalid(r.path_param("stream"));
      out.push_back(std::move(*n));
      return out;
    }
    const std::string list = r.query_param("streams").value_or("");
    for (size_t start = 0; start < list.size();) {
      const size_t end = std::min(list.find('/', start), list.size());
      const std::string_view name = std::string_view(list).substr(start, end - start);
      auto n = parse_stream_name(market, name);
      if (!n) return invalid(name);
      if (out.size() == kMaxStreams)
        return Error(Errc::invalid_argument, "Too many streams (at most 1024)");
      out.push_back(std::move(*n));
      start = end + 1;
    }
    return out;
  }

  std::optional<http::Response> check(const http::Request& r, bool combined) const {
    auto streams = requested_streams(r, combined);
    if (streams.ok()) return std::nullopt;
    return http::Response::json(
        400, bj::serialize(bj::object{{"code", -1100}, {"msg", streams.error().message}}));
  }
};

LiveStreams::LiveStreams(const Market& market, const Clock& clock, const Clock& real_clock,
                         LiveOptions options)
    : impl_(std::make_shared<Impl>(market, clock, real_clock, options)) {
  if (auto st = validate_live_faults(options.faults); !st)
    throw std::invalid_argument(st.error().message);
}

LiveStreams::~LiveStreams() { stop(); }

void LiveStreams::attach(http::Server& server) {
  std::weak_ptr<Impl> weak = impl_;
  const http::WsRouteOptions keep_alive{.ping_interval = impl_->opts.ping_interval,
                                        .pong_timeout = impl_->opts.pong_timeout};
  for (bool combined : {false, true}) {
    server.websocket(
        combined ? "/stream" : "/ws/{stream}",
        [weak, combined](std::shared_ptr<http::WsSession> ws) {
          if (auto impl = weak.lock()) impl->open(std::move(ws), combined);
        },
        [weak, combined](const http::Request& r) -> std::optional<http::Response> {
          if (auto impl = weak.lock()) return impl->check(r, combined);
          return http::Response::error(503, "stopping");
        },
        keep_alive);
  }
}

void LiveStreams::start() {
  std::lock_guard lk(impl_->mu);
  if (impl_->pump.joinable() || impl_->stopping) return;
  impl_->pump = std::thread([impl = impl_.get()] { impl->run_pump(); });
}

void LiveStreams::stop() {
  std::vector<std::shared_ptr<Conn>> conns;
  {
    std::lock_guard lk(impl_->mu);
    impl_->stopping = true;
    conns.swap(impl_->conns);
  }
  impl_->cv.notify_all();
  if (impl_->pump.joinable()) impl_->pump.join();
  for (auto& c : conns) {
    if (c->stalled) c->ws->pause(false);
    c->ws->close();
  }
}

size_t LiveStreams::connections() const {
  std::lock_guard lk(impl_->mu);
  return impl_->conns.size();
}

void LiveStreams::set_faults(const LiveFaults& faults) {
  std::lock_guard lk(impl_->mu);
  impl_->faults = faults;
}

void LiveStreams::server_shutdown() {
  std::lock_guard lk(impl_->mu);
  for (auto& c : impl_->conns) c->shutdown_requested = true;
}

LiveCounters LiveStreams::counters() const {
  LiveCounters c;
  c.connections = static_cast<int64_t>(connections());
  c.disconnects = impl_->disconnects.load();
  c.stalls = impl_->stalls.load();
  c.depth_skipped = impl_->depth_skipped.load();
  c.malformed = impl_->malformed.load();
  c.server_shutdowns = impl_->server_shutdowns.load();
  return c;
}

void LiveStreams::reset_counters() {
  for (auto* a : {&impl_->disconnects, &impl_->stalls, &impl_->depth_skipped, &impl_->malformed,
                  &impl_->server_shutdowns})
    a->store(0);
}

}  // namespace sf::exchange::sim
