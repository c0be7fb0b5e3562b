#include "exchange/sim/server.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <variant>

#include "base/text.h"
#include "exchange/sim/depth.h"
#include "exchange/sim/hash.h"
#include "exchange/sim/live.h"
#include "exchange/sim/malform.h"
#include "http/server.h"
#include "json/json.h"

namespace sf::exchange::sim {

namespace {

using http::Request;
using http::Response;

constexpr int64_t kWindowMs = 60'000;
constexpr int64_t kFirstBanMs = 120'000;
constexpr int64_t kMaxBanMs = 3 * 86'400'000LL;
constexpr int64_t kMaxTradeWindowMs = 3'600'000;
constexpr int64_t kDayMs = 86'400'000;
constexpr int64_t kAvgPriceMs = 300'000;  // /avgPrice: the last 5 minutes
__extension__ using u128 = unsigned __int128;

void append_int(std::string& out, int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, static_cast<size_t>(r.ptr - buf));
}
void append_q8(std::string& out, int64_t units) {
  out.push_back('"');
  append_fixed8(out, units);
  out.push_back('"');
}

// Appends a JSON array of n rows; row(i) appends the i-th to out.
template <typename Row>
void append_rows(std::string& out, size_t n, Row&& row) {
  out.push_back('[');
  for (size_t i = 0; i < n; ++i) {
    if (i) out.push_back(',');
    row(i);
  }
  out.push_back(']');
}

// A Binance parameter error: HTTP 400 {"code":..,"msg":..}.
struct ApiError {
  int code;
  std::string msg;
};

Response binance_error(int status, int code, std::string_view msg) {
  std::string body;
  json::Writer(body).begin_object().kv_int("code", code).kv("msg", msg).end_object();
  return Response::json(status, std::move(body));
}

ApiError missing(std::string_view name) {
  return {-1102, "Mandatory parameter '" + std::string(name) +
                     "' was not sent, was empty/null, or malformed."};
}
ApiError illegal(std::string_view name, std::string_view range) {
  return {-1100, "Illegal characters found in parameter '" + std::string(name) +
                     "'; legal range is '" + std::string(range) + "'."};
}
ApiError invalid(std::string_view name) {
  return {-1130, "Data sent for parameter '" + std::string(name) + "' is not valid."};
}

// An unsigned integer parameter (^[0-9]{1,20}$ as Binance checks it). nullopt when absent.
std::optional<ApiError> uint_param(const Request& req, std::string_view name,
                                   std::optional<int64_t>* out) {
  auto v = req.query_param(name);
  if (!v || v->empty()) return std::nullopt;
  const bool digits =
      std::all_of(v->begin(), v->end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || v->size() > 20) return illegal(name, "^[0-9]{1,20}$");
  int64_t x = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), x);
  // Up to 20 digits match the pattern, but above 2^63 - 1 the value itself is the problem.
  if (ec != std::errc() || p != v->data() + v->size())
    return ApiError{-1108, "Parameter '" + std::string(name) + "' overflowed: " + *v +
                               " is out of range (the largest value accepted is " +
                               std::to_string(INT64_MAX) + ")."};
  *out = x;
  return std::nullopt;
}

// A parameter sent more than once ("?symbol=A&symbol=B"): Binance refuses the request
// with -1101 rather than pick one.
bool has_duplicate_param(const Request& req) {
  if (req.query.size() < 2) return false;
  std::vector<std::string_view> keys;
  keys.reserve(req.query.size());
  for (const auto& kv : req.query) keys.push_back(kv.first);
  std::sort(keys.begin(), keys.end());
  return std::adjacent_find(keys.begin(), keys.end()) != keys.end();
}
constexpr std::string_view kDuplicateMsg = "Duplicate values for a parameter detected.";

// The http server's own refusals (unknown path 404, wrong method 405, body too large 413,
// header too large 431, malformed request 400, handler exception 500) in Binance's
// {"code","msg"} format, which client libraries parse on every error. Binance has no code
// for these; -1000 UNKNOWN is its catch-all (and its answer to a 500).
Response server_error(int status, std::string_view message) {
  std::string msg;
  if (status == 404) {
    msg = "Not found: the simulator serves no such endpoint.";
  } else if (status == 500) {
    msg = "An unknown error occured while processing the request.";
  } else {
    msg = message;
    if (!msg.empty() && msg[0] >= 'a' && msg[0] <= 'z') msg[0] = static_cast<char>(msg[0] - 32);
    msg += '.';
  }
  return binance_error(status, -1000, msg);
}

// /sim/control's refusals in the same format: -1135 for a body that is not JSON, -1130 for
// a bad value (the message names the field).
Response control_error(const Error& e) {
  const int code = e.code == Errc::parse_error ? -1135 : -1130;
  return binance_error(http::http_status(e.code), code,
                       e.field.empty() ? e.message : "'" + e.field + "': " + e.message);
}

// "-3.142" style percentage with 3 decimals, as Binance prints priceChangePercent.
std::string percent3(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 3);
  std::string s(buf, r.ptr);
  if (s == "-0.000") s.erase(0, 1);
  return s;
}

// startTime/endTime in ms; values above 1e14 are microseconds (start rounds up, end down,
// so exactly the items inside the microsecond range are selected).
std::optional<ApiError> time_param(const Request& req, std::string_view name, bool is_end,
                                   std::optional<int64_t>* out) {
  if (auto e = uint_param(req, name, out)) return e;
  if (*out && **out > 100'000'000'000'000LL) **out = is_end ? **out / 1000 : (**out + 999) / 1000;
  return std::nullopt;
}

std::optional<ApiError> limit_param(const Request& req, int64_t def, int64_t max, int64_t* out) {
  std::optional<int64_t> v;
  if (auto e = uint_param(req, "limit", &v)) return e;
  *out = v.value_or(def);
  if (*out < 1 || *out > max) return invalid("limit");
  return std::nullopt;
}

bool wants_micros(const Request& req) {
  return ascii_iequals(req.header("X-MBX-TIME-UNIT"), "MICROSECOND");
}

int64_t depth_weight(int64_t limit) {
  if (limit <= 100) return 5;
  if (limit <= 500) return 25;
  if (limit <= 1000) return 50;
  return 250;
}

std::string client_ip(const Request& req) {
  const auto& ep = req.remote_endpoint;
  auto colon = ep.rfind(':');
  return colon == std::string::npos ? ep : ep.substr(0, colon);
}

enum class Ep {
  ping,
  time,
  exchange_info,
  klines,
  ui_klines,
  agg_trades,
  trades,
  historical_trades,
  depth,
  avg_price,
  ticker_24hr,
  ticker_price,
  book_ticker,
  system_status,
};

// How a ticker request names its symbols: `symbol` (1), `symbols` (the items of its JSON
// array, counted roughly for the weight: validation comes later), or neither (0: all).
struct SymbolCount {
  bool single = false;
  int64_t n = 0;
};
SymbolCount count_symbols(const Request& req) {
  if (auto one = req.query_param("symbol"); one && !one->empty()) return {true, 1};
  auto many = req.query_param("symbols");
  if (!many || many->empty()) return {};
  return {false, 1 + std::count(many->begin(), many->end(), ',')};
}

}  // namespace

Status validate_faults(const Faults& f, const Market& m) {
  auto rate = [](double v, const char* name) -> Status {
    if (!(v >= 0 && v <= 1))
      return Error(Errc::invalid_argument, std::string(name) + " must be within [0, 1]", name);
    return ok_status();
  };
  SF_TRY(rate(f.error_rate_5xx, "error_rate_5xx"));
  SF_TRY(rate(f.error_rate_429, "error_rate_429"));
  SF_TRY(rate(f.malformed_rate, "malformed_rate"));
  if (f.error_rate_5xx + f.error_rate_429 > 1)
    return Error(Errc::invalid_argument, "error_rate_5xx + error_rate_429 must not exceed 1",
                 "error_rate_429");
  if (f.latency_ms < 0 || f.latency_ms > 600'000)
    return Error(Errc::invalid_argument, "latency_ms must be within [0, 600000]", "latency_ms");
  for (size_t i = 0; i < f.holes.size(); ++i) {
    const auto& h = f.holes[i];
    std::string field = "holes[" + std::to_string(i) + "]";
    if (!m.find(h.symbol))
      return Error(Errc::invalid_argument, "unknown symbol '" + h.symbol + "'", field + ".symbol");
    if (h.from_ms >= h.to_ms)
      return Error(Errc::invalid_argument, "from must be before to", field + ".to");
  }
  return validate_live_faults(f.ws);
}

struct SimServer::Impl {
  struct IpState {
    int64_t window = -1;
    int64_t used = 0;
    int64_t wait_until = 0;  // told to retry after this (429)
    int strikes = 0;         // requests received before wait_until
    int64_t ban_until = 0;
    int bans = 0;
  };
  struct Decision {
    int status = 200;  // 200, 429 or 418
    int64_t used = 0;
    int64_t retry_at = 0;
  };

  explicit Impl(SimOptions o)
      : opts(std::move(o)),
        market(opts.seed, opts.symbols, opts.extra_trades_per_sec),
        clock(opts.clock ? opts.clock : &SystemClock::instance()),
        real_clock(opts.real_clock ? opts.real_clock : clock),
        server(make_server_options(opts)) {
    if (auto st = validate_faults(opts.faults, market); !st)
      throw std::invalid_argument(st.error().message);
    if (opts.weight_limit < 1) throw std::invalid_argument("weight_limit must be positive");
    if (opts.ws_ping_interval_ms < 0 || opts.ws_pong_timeout_ms < 0)
      throw std::invalid_argument(
          "ws_ping_interval_ms and ws_pong_timeout_ms must not be negative");
    faults = std::make_shared<const Faults>(opts.faults);
    register_routes();
  }

  static http::ServerOptions make_server_options(const SimOptions& o) {
    http::ServerOptions so;
    so.address = o.address;
    so.port = o.port;
    so.threads = std::max(1, o.threads);
    so.error_response = server_error;
    return so;
  }

  std::shared_ptr<const Faults> snapshot() const {
    std::lock_guard lk(faults_mu);
    return faults;
  }

  Decision admit(const std::string& ip, int64_t weight, int64_t now) {
    std::lock_guard lk(limits_mu);
    IpState& st = ips[ip];
    const int64_t w = now / kWindowMs;
    if (st.window != w) {
      st.window = w;
      st.used = 0;
    }
    Decision d;
    if (opts.limits && now < st.ban_until) {
      d.status = 418;
      d.used = st.used;
      d.retry_at = st.ban_until;
      return d;
    }
    st.used += weight;
    d.used = st.used;
    if (!opts.limits) return d;
    if (now < st.wait_until) {
      if (++st.strikes > opts.strikes_before_ban) {
        const int64_t dur = std::min(kMaxBanMs, kFirstBanMs << std::min(st.bans, 20));
        ++st.bans;
        st.ban_until = now + dur;
        st.wait_until = 0;
        st.strikes = 0;
        d.status = 418;
        d.retry_at = st.ban_until;
        return d;
      }
      d.status = 429;
      d.retry_at = st.wait_until;
      return d;
    }
    if (st.used > opts.weight_limit) {
      st.wait_until = (w + 1) * kWindowMs;
      st.strikes = 0;
      d.status = 429;
      d.retry_at = st.wait_until;
    }
    return d;
  }

  void note_injected_429(const std::string& ip, int64_t now) {
    if (!opts.limits) return;
    std::lock_guard lk(limits_mu);
    IpState& st = ips[ip];
    if (now >= st.wait_until) st.strikes = 0;
    st.wait_until = std::max(st.wait_until, now + 1000);
  }

  static int64_t weight_of(Ep ep, const Request& req) {
    switch (ep) {
      case Ep::ping:
      case Ep::time:
        return 1;
      case Ep::exchange_info:
        return 20;
      case Ep::klines:
      case Ep::ui_klines:
      case Ep::avg_price:
        return 2;
      case Ep::agg_trades:
        return 4;
      case Ep::trades:
      case Ep::historical_trades:
        return 25;
      case Ep::system_status:
        return 1;
      case Ep::ticker_24hr: {
        const SymbolCount c = count_symbols(req);
        if (c.n == 0 || c.n > 100) return 80;
        return c.n > 20 ? 40 : 2;
      }
      case Ep::ticker_price:
      case Ep::book_ticker:
        return count_symbols(req).single ? 2 : 4;
      case Ep::depth: {
        std::optional<int64_t> l;
        if (uint_param(req, "limit", &l) || !l) return 5;
        return depth_weight(std::min<int64_t>(*l, 5000));
      }
    }
    return 1;
  }

  Response api(const Request& req, Ep ep) {
    requests.fetch_add(1, std::memory_order_relaxed);
    const std::string ip = client_ip(req);
    const int64_t now = clock->now_ms();        // the market's
    const int64_t real = real_clock->now_ms();  // the limits'
    const Decision d = admit(ip, weight_of(ep, req), real);
    Response res;
    if (d.status == 418) {
      responses_418.fetch_add(1, std::memory_order_relaxed);
      res = binance_error(418, -1003,
                          "Way too much request weight used; IP banned until " +
                              std::to_string(d.retry_at) +
                              ". Please use WebSocket Streams for live updates to avoid bans.");
      add_retry_after(res, d.retry_at, real);
    } else if (d.status == 429) {
      responses_429.fetch_add(1, std::memory_order_relaxed);
      res = binance_error(429, -1003,
                          "Too much request weight used; current limit is " +
                              std::to_string(opts.weight_limit) +
                              " request weight per 1 MINUTE. Please use WebSocket Streams for "
                              "live updates to avoid polling the API.");
      add_retry_after(res, d.retry_at, real);
    } else {
      res = faulted(req, ep, ip, now, real);
    }
    std::string used;
    append_int(used, d.used);
    // /sapi answers carry their own header name (the weight is counted in the same budget).
    res.headers.emplace_back(
        ep == Ep::system_status ? "X-SAPI-USED-IP-WEIGHT-1M" : "X-MBX-USED-WEIGHT-1M",
        std::move(used));
    return res;
  }

  static void add_retry_after(Response& res, int64_t retry_at, int64_t now) {
    res.headers.emplace_back("Retry-After",
                             std::to_string(std::max<int64_t>(1, (retry_at - now + 999) / 1000)));
  }

  Response faulted(const Request& req, Ep ep, const std::string& ip, int64_t now, int64_t real) {
    const auto f = snapshot();
    if (f->latency_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(f->latency_ms));
    const uint64_t n = splitmix(opts.seed ^ 0x6661756c74ULL) ^ draws.fetch_add(1);
    const double r = u01(splitmix(n));
    if (r < f->error_rate_5xx) {
      injected_5xx.fetch_add(1, std::memory_order_relaxed);
      switch (splitmix(n ^ 1) % 4) {
        case 0:
          return binance_error(500, -1000,
                               "An unknown error occured while processing the request.");
        case 1:
          return Response::text(502, "<html><body><h1>502 Bad Gateway</h1></body></html>",
                                "text/html");
        case 2:
          return binance_error(503, -1008,
                               "Server is currently overloaded with other requests. Please try "
                               "again in a few minutes.");
        default:
          return binance_error(504, -1007,
                               "Timeout waiting for response from backend server. Send status "
                               "unknown; execution status unknown.");
      }
    }
    if (r < f->error_rate_5xx + f->error_rate_429) {
      injected_429.fetch_add(1, std::memory_order_relaxed);
      responses_429.fetch_add(1, std::memory_order_relaxed);
      note_injected_429(ip, real);
      Response res =
          binance_error(429, -1003,
                        "Too many requests; current limit is " + std::to_string(opts.weight_limit) +
                            " request weight per 1 MINUTE.");
      res.headers.emplace_back("Retry-After", "1");
      return res;
    }
    Response res = handle(req, ep, *f, now);
    if (res.status == 200 && f->malformed_rate > 0 && u01(splitmix(n ^ 2)) < f->malformed_rate) {
      injected_malformed.fetch_add(1, std::memory_order_relaxed);
      malform(res.body, splitmix(n ^ 3));
    }
    return res;
  }

  Response handle(const Request& req, Ep ep, const Faults& f, int64_t now) {
    if (has_duplicate_param(req)) return binance_error(400, -1101, kDuplicateMsg);
    std::variant<std::string, ApiError> out;
    const bool micros = wants_micros(req);
    switch (ep) {
      case Ep::ping:
        out = std::string("{}");
        break;
      case Ep::time: {
        std::string b = "{\"serverTime\":";
        append_int(b, micros ? now * 1000 : now);
        b.push_back('}');
        out = std::move(b);
        break;
      }
      case Ep::exchange_info:
        out = exchange_info(req, now, micros);
        break;
      case Ep::klines:
      case Ep::ui_klines:  // the same candles: nothing to smooth in a synthetic market
        out = klines(req, f, now, micros);
        break;
      case Ep::agg_trades:
        out = agg_trades(req, f, now, micros);
        break;
      case Ep::trades:
        out = trades(req, f, now, micros, /*recent=*/true);
        break;
      case Ep::historical_trades:
        out = trades(req, f, now, micros, /*recent=*/false);
        break;
      case Ep::depth:
        out = depth(req, now);
        break;
      case Ep::avg_price:
        out = avg_price(req, f, now, micros);
        break;
      case Ep::ticker_24hr:
        out = ticker_24hr(req, f, now, micros);
        break;
      case Ep::ticker_price:
        out = ticker_price(req, now);
        break;
      case Ep::book_ticker:
        out = book_ticker(req, now);
        break;
      case Ep::system_status:
        out = std::string(R"({"status":0,"msg":"normal"})");
        break;
    }
    if (auto* e = std::get_if<ApiError>(&out)) return binance_error(400, e->code, e->msg);
    return Response::json(200, std::move(std::get<std::string>(out)));
  }

  // symbol: mandatory, legal characters, known.
  std::variant<const SymbolSpec*, ApiError> symbol_param(const Request& req) const {
    auto v = req.query_param("symbol");
    if (!v || v->empty()) return missing("symbol");
    if (!valid_symbol_name(*v)) return illegal("symbol", "^[A-Z0-9-_.]{1,20}$");
    const SymbolSpec* s = market.find(*v);
    if (!s) return ApiError{-1121, "Invalid symbol."};
    return s;
  }

  // symbol=A, or symbols=["A","B"] (a JSON array of names, in that order), or neither:
  // every symbol of the market. Both at once: -1128; a name twice: -1101.
  struct SymbolList {
    std::vector<const SymbolSpec*> list;
    bool single = false;  // `symbol`: answered with an object, not an array
  };
  std::variant<SymbolList, ApiError> symbol_list(const Request& req) const {
    SymbolList out;
    auto one = req.query_param("symbol");
    auto many = req.query_param("symbols");
    const bool has_one = one && !one->empty(), has_many = many && !many->empty();
    if (has_one && has_many) return ApiError{-1128, "Combination of optional parameters invalid."};
    if (has_one) {
      auto s = symbol_param(req);
      if (auto* e = std::get_if<ApiError>(&s)) return *e;
      out.list.push_back(std::get<const SymbolSpec*>(s));
      out.single = true;
      return out;
    }
    if (!has_many) {
      for (const auto& s : market.symbols()) out.list.push_back(&s);
      return out;
    }
    auto trim = [](std::string_view t) {
      while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
      while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
      return t;
    };
    std::string_view t = trim(*many);
    if (t.size() < 2 || t.front() != '[' || t.back() != ']')
      return illegal("symbols", "JSON array");
    t = trim(t.substr(1, t.size() - 2));
    if (t.empty()) return missing("symbols");
    while (true) {
      const auto comma = t.find(',');
      const std::string_view item = trim(t.substr(0, comma));
      if (item.size() < 2 || item.front() != '"' || item.back() != '"')
        return illegal("symbols", "JSON array of strings");
      const std::string_view name = item.substr(1, item.size() - 2);
      if (!valid_symbol_name(name)) return illegal("symbols", "^[A-Z0-9-_.]{1,20}$");
      const SymbolSpec* s = market.find(name);
      if (!s) return ApiError{-1121, "Invalid symbol."};
      if (std::find(out.list.begin(), out.list.end(), s) != out.list.end())
        return ApiError{-1101, std::string(kDuplicateMsg)};
      out.list.push_back(s);
      if (comma == std::string_view::npos) break;
      t = t.substr(comma + 1);
    }
    return out;
  }

  std::variant<std::string, ApiError> exchange_info(const Request& req, int64_t now,
                                                    bool micros) const {
    auto sl = symbol_list(req);
    if (auto* e = std::get_if<ApiError>(&sl)) return *e;
    const std::vector<const SymbolSpec*>& list = std::get<SymbolList>(sl).list;
    std::string b;
    json::Writer w(b);
    w.begin_object().kv("timezone", "UTC").kv_int("serverTime", micros ? now * 1000 : now);
    w.key("rateLimits").begin_array();
    w.begin_object()
        .kv("rateLimitType", "REQUEST_WEIGHT")
        .kv("interval", "MINUTE")
        .kv_int("intervalNum", 1)
        .kv_int("limit", opts.weight_limit)
        .end_object();
    w.begin_object()
        .kv("rateLimitType", "RAW_REQUESTS")
        .kv("interval", "MINUTE")
        .kv_int("intervalNum", 5)
        .kv_int("limit", opts.raw_requests_limit)
        .end_object();
    w.end_array();
    w.key("exchangeFilters").begin_array().end_array();
    w.key("symbols").begin_array();
    for (const SymbolSpec* s : list) {
      w.begin_object()
          .kv("symbol", s->name)
          .kv("status", "TRADING")
          .kv("baseAsset", s->base_asset)
          .kv_int("baseAssetPrecision", 8)
          .kv("quoteAsset", s->quote_asset)
          .kv_int("quotePrecision", 8)
          .kv_int("quoteAssetPrecision", 8)
          .kv_bool("isSpotTradingAllowed", true);
      w.key("filters").begin_array();
      w.begin_object()
          .kv("filterType", "PRICE_FILTER")
          .kv("minPrice", fixed8(s->tick))
          .kv("maxPrice", fixed8(1'000'000 * kUnit))
          .kv("tickSize", fixed8(s->tick))
          .end_object();
      w.begin_object()
          .kv("filterType", "LOT_SIZE")
          .kv("minQty", fixed8(s->step))
          .kv("maxQty", fixed8(9'000'000 * kUnit))
          .kv("stepSize", fixed8(s->step))
          .end_object();
      w.end_array();
      w.key("permissionSets").begin_array().begin_array().str("SPOT").end_array().end_array();
      w.end_object();
    }
    w.end_array().end_object();
    return b;
  }

  std::variant<std::string, ApiError> klines(const Request& req, const Faults& f, int64_t now,
                                             bool micros) const {
    auto sv = symbol_param(req);
    if (auto* e = std::get_if<ApiError>(&sv)) return *e;
    const SymbolSpec& s = *std::get<const SymbolSpec*>(sv);
    auto iname = req.query_param("interval");
    if (!iname || iname->empty()) return missing("interval");
    const Interval* ivp = find_interval(*iname);
    if (!ivp) return ApiError{-1120, "Invalid interval."};
    const Interval& iv = *ivp;
    std::optional<int64_t> start, end;
    int64_t limit = 0;
    if (auto e = time_param(req, "startTime", false, &start)) return *e;
    if (auto e = time_param(req, "endTime", true, &end)) return *e;
    if (auto e = limit_param(req, 500, 1000, &limit)) return *e;
    if (start && end && *start > *end)
      return ApiError{-1023, "Start time is greater than end time."};

    auto align_up = [&](int64_t t) {
      int64_t a = align(iv, t);
      return a < t ? next_open(iv, a) : a;
    };
    thread_local std::vector<int64_t> opens;
    opens.clear();
    const int64_t lo = align_up(std::max(start.value_or(kEpochMs), kEpochMs));
    const int64_t hi_t = std::min(end.value_or(now), now);
    if (hi_t >= kEpochMs) {
      const int64_t hi = align(iv, hi_t);
      if (start) {
        for (int64_t t = lo; t <= hi && static_cast<int64_t>(opens.size()) < limit;) {
          if (const Hole* h = find_hole(f.holes, s.name, t)) {
            t = align_up(h->to_ms);
            continue;
          }
          opens.push_back(t);
          t = next_open(iv, t);
        }
      } else {
        for (int64_t t = hi; t >= lo && static_cast<int64_t>(opens.size()) < limit;) {
          if (const Hole* h = find_hole(f.holes, s.name, t)) {
            t = align(iv, h->from_ms - 1);
            continue;
          }
          opens.push_back(t);
          t = prev_open(iv, t);
        }
        std::reverse(opens.begin(), opens.end());
      }
    }
    // A repeated request for candles that cannot change any more: the body rendered before.
    const bool may_cache = opts.kline_cache_bytes > 0 && start && f.holes.empty();
    std::string key;
    if (may_cache) {
      key = (micros ? "us " : "ms ") + req.target;
      std::lock_guard lk(kline_cache_mu);
      if (auto it = kline_cache.find(key); it != kline_cache.end()) {
        kline_cache_hits.fetch_add(1, std::memory_order_relaxed);
        return it->second;
      }
    }
    std::string b;
    b.reserve(2 + opens.size() * 200);
    RawCandle prev;
    PriceMemo memo;
    append_rows(b, opens.size(), [&](size_t i) {
      // A closed candle's close is the open of the next one: reuse it when contiguous.
      const bool chained = i > 0 && prev.closed && prev.close_time + 1 == opens[i];
      prev = market.raw_candle(s, iv, opens[i], now, chained ? prev.close : 0, &memo);
      append_kline_row(b, prev, micros);
    });
    // Kept only when no later "now" can change it: the last candle (so every one) closed,
    // and no candle can join the page (it is full, or it ends before now).
    if (may_cache && !opens.empty() && prev.closed &&
        (static_cast<int64_t>(opens.size()) == limit || (end && *end < now))) {
      std::lock_guard lk(kline_cache_mu);
      if (kline_cache_used + b.size() <= opts.kline_cache_bytes &&
          kline_cache.emplace(key, b).second)
        kline_cache_used += b.size();
    }
    return b;
  }

  // Collects aggregate-trade ids, or with per_agg > 1 trade ids (per_agg trades to an
  // aggregate trade): forward from `from` (stopping after `end` or at max_id) or, when from
  // is unset, backward from `last`; holes skipped in O(1) each.
  void collect_ids(const SymbolSpec& s, const Faults& f, std::optional<int64_t> from, int64_t last,
                   std::optional<int64_t> end, int64_t limit, int64_t max_id,
                   std::vector<int64_t>* ids, int64_t per_agg = 1) const {
    auto full = [&] { return static_cast<int64_t>(ids->size()) >= limit; };
    if (from) {
      for (int64_t id = std::max<int64_t>(0, *from); id <= max_id && !full();) {
        const int64_t t = Market::agg_time(s, id / per_agg);
        if (end && t > *end) break;
        if (const Hole* h = find_hole(f.holes, s.name, t)) {
          id = std::max(id + 1, Market::first_agg_id_at(s, h->to_ms) * per_agg);
          continue;
        }
        ids->push_back(id);
        ++id;
      }
    } else {
      for (int64_t id = std::min(last, max_id); id >= 0 && !full();) {
        const int64_t t = Market::agg_time(s, id / per_agg);
        if (const Hole* h = find_hole(f.holes, s.name, t)) {
          id = std::min(id - 1, Market::first_agg_id_at(s, h->from_ms) * per_agg - 1);
          continue;
        }
        ids->push_back(id);
        --id;
      }
      std::reverse(ids->begin(), ids->end());
    }
  }

  std::variant<std::string, ApiError> agg_trades(const Request& req, const Faults& f, int64_t now,
                                                 bool micros) const {
    auto sv = symbol_param(req);
    if (auto* e = std::get_if<ApiError>(&sv)) return *e;
    const SymbolSpec& s = *std::get<const SymbolSpec*>(sv);
    std::optional<int64_t> from_id, start, end;
    int64_t limit = 0;
    if (auto e = uint_param(req, "fromId", &from_id)) return *e;
    if (auto e = time_param(req, "startTime", false, &start)) return *e;
    if (auto e = time_param(req, "endTime", true, &end)) return *e;
    if (auto e = limit_param(req, 500, 1000, &limit)) return *e;
    if (start && end) {
      if (*start > *end) return ApiError{-1023, "Start time is greater than end time."};
      if (*end - *start > kMaxTradeWindowMs)
        return ApiError{-1127, "More than 1 hours between startTime and endTime."};
    }
    const int64_t max_id = Market::first_agg_id_at(s, now + 1) - 1;
    thread_local std::vector<int64_t> ids;
    ids.clear();
    if (from_id) {
      collect_ids(s, f, from_id, 0, end, limit, max_id, &ids);
    } else if (start) {
      collect_ids(s, f, Market::first_agg_id_at(s, *start), 0, end, limit, max_id, &ids);
    } else {
      const int64_t last = end ? Market::first_agg_id_at(s, *end + 1) - 1 : max_id;
      collect_ids(s, f, std::nullopt, last, std::nullopt, limit, max_id, &ids);
    }
    std::string b;
    b.reserve(2 + ids.size() * 140);
    PriceMemo memo;
    append_rows(b, ids.size(), [&](size_t i) {
      const RawAggTrade a = market.raw_agg_trade(s, ids[i], &memo);
      b.append("{\"a\":");
      append_int(b, a.id);
      b.append(",\"p\":");
      append_q8(b, a.price);
      b.append(",\"q\":");
      append_q8(b, a.qty);
      b.append(",\"f\":");
      append_int(b, a.first_trade_id);
      b.append(",\"l\":");
      append_int(b, a.last_trade_id);
      b.append(",\"T\":");
      append_int(b, micros ? a.time * 1000 : a.time);
      b.append(a.buyer_maker ? ",\"m\":true,\"M\":true}" : ",\"m\":false,\"M\":true}");
    });
    return b;
  }

  // /historicalTrades, and with `recent` /trades: the same trades, but only the most
  // recent ones (/trades has no fromId; like any unknown parameter it is ignored).
  std::variant<std::string, ApiError> trades(const Request& req, const Faults& f, int64_t now,
                                             bool micros, bool recent) const {
    auto sv = symbol_param(req);
    if (auto* e = std::get_if<ApiError>(&sv)) return *e;
    const SymbolSpec& s = *std::get<const SymbolSpec*>(sv);
    std::optional<int64_t> from_id;
    int64_t limit = 0;
    if (!recent) {
      if (auto e = uint_param(req, "fromId", &from_id)) return *e;
    }
    if (auto e = limit_param(req, 500, 1000, &limit)) return *e;
    const int64_t r = s.trades_per_agg;
    const int64_t max_tid = Market::first_agg_id_at(s, now + 1) * r - 1;
    thread_local std::vector<int64_t> ids;
    ids.clear();
    collect_ids(s, f, from_id, max_tid, std::nullopt, limit, max_tid, &ids, r);
    std::string b;
    b.reserve(2 + ids.size() * 160);
    PriceMemo memo;
    append_rows(b, ids.size(), [&](size_t i) {
      const RawTrade t = market.raw_trade(s, ids[i], &memo);
      b.append("{\"id\":");
      append_int(b, t.id);
      b.append(",\"price\":");
      append_q8(b, t.price);
      b.append(",\"qty\":");
      append_q8(b, t.qty);
      b.append(",\"quoteQty\":");
      append_q8(b, t.quote_qty);
      b.append(",\"time\":");
      append_int(b, micros ? t.time * 1000 : t.time);
      b.append(t.buyer_maker ? ",\"isBuyerMaker\":true,\"isBestMatch\":true}"
                             : ",\"isBuyerMaker\":false,\"isBestMatch\":true}");
    });
    return b;
  }

  std::variant<std::string, ApiError> depth(const Request& req, int64_t now) const {
    auto sv = symbol_param(req);
    if (auto* e = std::get_if<ApiError>(&sv)) return *e;
    const SymbolSpec& s = *std::get<const SymbolSpec*>(sv);
    std::optional<int64_t> lv;
    if (auto e = uint_param(req, "limit", &lv)) return *e;
    const int64_t limit = std::min<int64_t>(lv.value_or(100), 5000);  // Binance truncates
    if (limit < 1) return invalid("limit");
    // The simulated book (depth.h) after the last 100 ms tick completed: what the depth
    // streams' updates chain onto by update id.
    const DepthBook book = depth_model.book(s, std::max<int64_t>(0, DepthModel::tick_at(now)),
                                            static_cast<size_t>(limit));
    std::string b;
    b.reserve(64 + (book.bids.size() + book.asks.size()) * 40);
    b.append("{\"lastUpdateId\":");
    append_int(b, book.last_update_id);
    auto levels = [&](const std::vector<market::BookLevel>& side) {
      append_rows(b, side.size(), [&](size_t i) {
        b.push_back('[');
        append_q8(b, side[i].price);
        b.push_back(',');
        append_q8(b, side[i].qty);
        b.push_back(']');
      });
    };
    b.append(",\"bids\":");
    levels(book.bids);
    b.append(",\"asks\":");
    levels(book.asks);
    b.push_back('}');
    return b;
  }

  // The best levels of the simulated book at `now` (depth.h).
  DepthBook top_of_book(const SymbolSpec& s, int64_t now) const {
    return depth_model.book(s, std::max<int64_t>(0, DepthModel::tick_at(now)), 1);
  }

  // Quantity-weighted mean price of the trades in [now - 5 min, now] (trades in holes are
  // absent) and the time of the last of them; with none there, the last trade before.
  std::variant<std::string, ApiError> avg_price(const Request& req, const Faults& f, int64_t now,
                                                bool micros) const {
    auto sv = symbol_param(req);
    if (auto* e = std::get_if<ApiError>(&sv)) return *e;
    const SymbolSpec& s = *std::get<const SymbolSpec*>(sv);
    const int64_t max_id = Market::first_agg_id_at(s, now + 1) - 1;
    thread_local std::vector<int64_t> ids;
    ids.clear();
    collect_ids(s, f, Market::first_agg_id_at(s, now - kAvgPriceMs), 0, now, INT64_MAX, max_id,
                &ids);
    if (ids.empty()) collect_ids(s, f, std::nullopt, max_id, std::nullopt, 1, max_id, &ids);
    int64_t price = market.current_price(s, now), close_time = now;
    if (!ids.empty()) {
      u128 pq = 0, q = 0;
      PriceMemo memo;
      for (int64_t id : ids) {
        const RawAggTrade a = market.raw_agg_trade(s, id, &memo);
        pq += static_cast<u128>(a.price) * static_cast<u128>(a.qty);
        q += static_cast<u128>(a.qty);
      }
      price = static_cast<int64_t>(pq / q);
      close_time = Market::agg_time(s, ids.back());
    }
    std::string b = "{\"mins\":5,\"price\":";
    append_q8(b, price);
    b.append(",\"closeTime\":");
    append_int(b, micros ? close_time * 1000 : close_time);
    b.push_back('}');
    return b;
  }

  // The rolling 24 h of a symbol: from the 1m candles opening in [align(now) - 24 h, now]
  // (the one still open included, holes absent) and the trades in that window.
  struct DayStats {
    int64_t open_time = 0;
    int64_t open = 0, high = 0, low = 0, last = 0;
    int64_t volume = 0, quote_volume = 0, count = 0;
    int64_t first_id = -1, last_id = -1, last_qty = 0;  // -1: no trade (as Binance)
  };
  DayStats day_stats(const SymbolSpec& s, const Faults& f, int64_t now) const {
    static const Interval& m1 = *find_interval("1m");
    DayStats d;
    d.open_time = std::max(kEpochMs, align(m1, now) - kDayMs);
    d.last = market.current_price(s, now);
    d.low = INT64_MAX;
    bool any = false;
    RawCandle prev;
    PriceMemo memo;
    for (int64_t t = d.open_time; t <= now;) {
      if (const Hole* h = find_hole(f.holes, s.name, t)) {
        const int64_t a = align(m1, h->to_ms);
        t = a < h->to_ms ? next_open(m1, a) : a;
        continue;
      }
      const bool chained = any && prev.closed && prev.close_time + 1 == t;
      prev = market.raw_candle(s, m1, t, now, chained ? prev.close : 0, &memo);
      if (!any) d.open = prev.open;
      any = true;
      d.high = std::max(d.high, prev.high);
      d.low = std::min(d.low, prev.low);
      d.volume += prev.volume;
      d.quote_volume += prev.quote_volume;
      d.count += prev.trades;
      t = next_open(m1, t);
    }
    if (!any) d.open = d.high = d.low = d.last;
    const int64_t max_id = Market::first_agg_id_at(s, now + 1) - 1;
    std::vector<int64_t> ids;
    collect_ids(s, f, Market::first_agg_id_at(s, d.open_time), 0, now, 1, max_id, &ids);
    if (!ids.empty()) {
      d.first_id = ids.front() * s.trades_per_agg;
      ids.clear();
      collect_ids(s, f, std::nullopt, max_id, std::nullopt, 1, max_id, &ids);
      d.last_id = ids.front() * s.trades_per_agg + s.trades_per_agg - 1;
      d.last_qty = market.raw_trade(s, d.last_id).qty;
    }
    return d;
  }

  // A ticker's answer: one(w, symbol) writes each symbol's object, as the answer for
  // `symbol`, else in an array. check() sees the other parameters once the symbols are
  // valid.
  template <typename Check, typename One>
  std::variant<std::string, ApiError> per_symbol(const Request& req, Check&& check,
                                                 One&& one) const {
    auto sl = symbol_list(req);
    if (auto* e = std::get_if<ApiError>(&sl)) return *e;
    if (std::optional<ApiError> e = check()) return *e;
    const SymbolList& list = std::get<SymbolList>(sl);
    std::string b;
    json::Writer w(b);
    if (!list.single) w.begin_array();
    for (const SymbolSpec* s : list.list) one(w, *s);
    if (!list.single) w.end_array();
    return b;
  }
  static std::optional<ApiError> no_check() { return std::nullopt; }

  std::variant<std::string, ApiError> ticker_24hr(const Request& req, const Faults& f, int64_t now,
                                                  bool micros) const {
    bool mini = false;
    auto check_type = [&]() -> std::optional<ApiError> {
      if (auto type = req.query_param("type"); type && !type->empty()) {
        if (*type != "FULL" && *type != "MINI") return ApiError{-1139, "Invalid ticker type."};
        mini = *type == "MINI";
      }
      return std::nullopt;
    };
    // As of the last completed depth tick, so that the last price is the book's best bid
    // (the book moves in 100 ms ticks, the price in between: at `now` itself the two could
    // differ for up to a tick).
    const int64_t as_of = DepthModel::tick_end_ms(std::max<int64_t>(0, DepthModel::tick_at(now)));
    return per_symbol(req, check_type, [&](json::Writer& w, const SymbolSpec& s) {
      const DayStats d = day_stats(s, f, as_of);
      w.begin_object().kv("symbol", s.name);
      if (!mini) {
        const DepthBook book = top_of_book(s, as_of);
        const int64_t vwap =
            d.volume > 0
                ? static_cast<int64_t>(static_cast<u128>(d.quote_volume) * kUnit / d.volume)
                : 0;
        w.kv("priceChange", fixed8(d.last - d.open))
            .kv("priceChangePercent", percent3(100.0 * static_cast<double>(d.last - d.open) /
                                               static_cast<double>(d.open)))
            .kv("weightedAvgPrice", fixed8(vwap))
            .kv("prevClosePrice", fixed8(d.open))  // the close before the window is its open
            .kv("lastPrice", fixed8(d.last))
            .kv("lastQty", fixed8(d.last_qty))
            .kv("bidPrice", fixed8(book.bids.at(0).price))
            .kv("bidQty", fixed8(book.bids.at(0).qty))
            .kv("askPrice", fixed8(book.asks.at(0).price))
            .kv("askQty", fixed8(book.asks.at(0).qty));
      }
      w.kv("openPrice", fixed8(d.open))
          .kv("highPrice", fixed8(d.high))
          .kv("lowPrice", fixed8(d.low));
      if (mini) w.kv("lastPrice", fixed8(d.last));
      w.kv("volume", fixed8(d.volume))
          .kv("quoteVolume", fixed8(d.quote_volume))
          .kv_int("openTime", micros ? d.open_time * 1000 : d.open_time)
          .kv_int("closeTime", micros ? as_of * 1000 : as_of)
          .kv_int("firstId", d.first_id)
          .kv_int("lastId", d.last_id)
          .kv_int("count", d.count)
          .end_object();
    });
  }

  std::variant<std::string, ApiError> ticker_price(const Request& req, int64_t now) const {
    return per_symbol(req, no_check, [&](json::Writer& w, const SymbolSpec& s) {
      w.begin_object()
          .kv("symbol", s.name)
          .kv("price", fixed8(market.current_price(s, now)))
          .end_object();
    });
  }

  std::variant<std::string, ApiError> book_ticker(const Request& req, int64_t now) const {
    return per_symbol(req, no_check, [&](json::Writer& w, const SymbolSpec& s) {
      const DepthBook book = top_of_book(s, now);
      w.begin_object()
          .kv("symbol", s.name)
          .kv("bidPrice", fixed8(book.bids.at(0).price))
          .kv("bidQty", fixed8(book.bids.at(0).qty))
          .kv("askPrice", fixed8(book.asks.at(0).price))
          .kv("askQty", fixed8(book.asks.at(0).qty))
          .end_object();
    });
  }

  std::string control_json() const {
    const auto f = snapshot();
    std::string b;
    json::Writer w(b);
    w.begin_object()
        .kv_num("error_rate_5xx", f->error_rate_5xx)
        .kv_num("error_rate_429", f->error_rate_429)
        .kv_num("malformed_rate", f->malformed_rate)
        .kv_int("latency_ms", f->latency_ms)
        .kv_int("ws_disconnect_mean_ms", f->ws.disconnect_mean_ms)
        .kv_int("ws_stall_mean_ms", f->ws.stall_mean_ms)
        .kv_int("ws_stall_ms", f->ws.stall_ms)
        .kv_num("ws_depth_skip_rate", f->ws.depth_skip_rate)
        .kv_num("ws_malformed_rate", f->ws.malformed_rate)
        .kv_int("ws_shutdown_mean_ms", f->ws.shutdown_mean_ms)
        .kv_int("ws_shutdown_grace_ms", f->ws.shutdown_grace_ms);
    w.key("holes").begin_array();
    for (const auto& h : f->holes)
      w.begin_object()
          .kv("symbol", h.symbol)
          .kv_int("from", h.from_ms)
          .kv_int("to", h.to_ms)
          .end_object();
    w.end_array();
    w.kv_bool("limits", opts.limits)
        .kv_int("weight_limit", opts.weight_limit)
        .kv_int("strikes_before_ban", opts.strikes_before_ban)
        .kv_int("seed", static_cast<int64_t>(opts.seed));
    const Counters c = counters();
    w.key("counters")
        .begin_object()
        .kv_int("requests", c.requests)
        .kv_int("responses_429", c.responses_429)
        .kv_int("responses_418", c.responses_418)
        .kv_int("injected_429", c.injected_429)
        .kv_int("injected_5xx", c.injected_5xx)
        .kv_int("injected_malformed", c.injected_malformed)
        .kv_int("ws_connections", c.ws_connections)
        .kv_int("ws_disconnects", c.ws_disconnects)
        .kv_int("ws_stalls", c.ws_stalls)
        .kv_int("ws_depth_skipped", c.ws_depth_skipped)
        .kv_int("ws_malformed", c.ws_malformed)
        .kv_int("ws_server_shutdowns", c.ws_server_shutdowns)
        .end_object();
    w.end_object();
    return b;
  }

  Response control_post(const Request& req) {
    auto obj = json::parse_object(req.body);
    if (!obj) return control_error(obj.error());
    json::Fields fl(*obj);
    if (auto st =
            fl.only({"error_rate_5xx", "error_rate_429", "malformed_rate", "latency_ms", "holes",
                     "reset_counters", "reset_limits", "ws_disconnect_mean_ms", "ws_stall_mean_ms",
                     "ws_stall_ms", "ws_depth_skip_rate", "ws_malformed_rate",
                     "ws_shutdown_mean_ms", "ws_shutdown_grace_ms", "ws_server_shutdown"});
        !st)
      return control_error(st.error());
    Faults f = *snapshot();
    auto num = [&](const char* k, double* out) -> Status {
      auto v = fl.opt_number(k);
      if (!v) return v.error();
      if (*v) *out = **v;
      return ok_status();
    };
    for (auto [k, p] : {std::pair{"error_rate_5xx", &f.error_rate_5xx},
                        std::pair{"error_rate_429", &f.error_rate_429},
                        std::pair{"malformed_rate", &f.malformed_rate},
                        std::pair{"ws_depth_skip_rate", &f.ws.depth_skip_rate},
                        std::pair{"ws_malformed_rate", &f.ws.malformed_rate}})
      if (auto st = num(k, p); !st) return control_error(st.error());
    for (auto [k, p] : {std::pair{"latency_ms", &f.latency_ms},
                        std::pair{"ws_disconnect_mean_ms", &f.ws.disconnect_mean_ms},
                        std::pair{"ws_stall_mean_ms", &f.ws.stall_mean_ms},
                        std::pair{"ws_stall_ms", &f.ws.stall_ms},
                        std::pair{"ws_shutdown_mean_ms", &f.ws.shutdown_mean_ms},
                        std::pair{"ws_shutdown_grace_ms", &f.ws.shutdown_grace_ms}}) {
      auto v = fl.opt_int64(k);
      if (!v) return control_error(v.error());
      if (*v) *p = **v;
    }
    if (const auto* hv = obj->if_contains("holes")) {
      if (!hv->is_array())
        return control_error(Error(Errc::invalid_argument, "holes must be an array", "holes"));
      f.holes.clear();
      const auto& arr = hv->get_array();
      for (size_t i = 0; i < arr.size(); ++i) {
        std::string prefix = "holes[" + std::to_string(i) + "].";
        if (!arr[i].is_object())
          return control_error(
              Error(Errc::invalid_argument, "each hole must be an object", prefix));
        json::Fields hf(arr[i].get_object(), prefix);
        if (auto st = hf.only({"symbol", "from", "to"}); !st) return control_error(st.error());
        Hole h;
        auto sym = hf.str("symbol");
        auto from = hf.int64("from");
        auto to = hf.int64("to");
        if (!sym) return control_error(sym.error());
        if (!from) return control_error(from.error());
        if (!to) return control_error(to.error());
        h.symbol = *sym;
        h.from_ms = *from;
        h.to_ms = *to;
        f.holes.push_back(std::move(h));
      }
    }
    auto rc = fl.opt_bool("reset_counters");
    auto rl = fl.opt_bool("reset_limits");
    auto sd = fl.opt_bool("ws_server_shutdown");
    if (!rc) return control_error(rc.error());
    if (!rl) return control_error(rl.error());
    if (!sd) return control_error(sd.error());
    if (auto st = set_faults(std::move(f)); !st) return control_error(st.error());
    if (rc->value_or(false)) {
      for (auto* a : {&requests, &responses_429, &responses_418, &injected_429, &injected_5xx,
                      &injected_malformed})
        a->store(0);
      live.reset_counters();
    }
    if (rl->value_or(false)) reset_limits();
    if (sd->value_or(false)) live.server_shutdown();
    return Response::json(200, control_json());
  }

  Status set_faults(Faults f) {
    SF_TRY(validate_faults(f, market));
    auto p = std::make_shared<const Faults>(std::move(f));
    std::lock_guard lk(faults_mu);
    live.set_faults(p->ws);
    faults = std::move(p);
    return ok_status();
  }

  void reset_limits() {
    std::lock_guard lk(limits_mu);
    ips.clear();
  }

  Counters counters() const {
    Counters c;
    c.requests = requests.load();
    c.responses_429 = responses_429.load();
    c.responses_418 = responses_418.load();
    c.injected_429 = injected_429.load();
    c.injected_5xx = injected_5xx.load();
    c.injected_malformed = injected_malformed.load();
    c.kline_cache_hits = kline_cache_hits.load();
    const LiveCounters l = live.counters();
    c.ws_connections = l.connections;
    c.ws_disconnects = l.disconnects;
    c.ws_stalls = l.stalls;
    c.ws_depth_skipped = l.depth_skipped;
    c.ws_malformed = l.malformed;
    c.ws_server_shutdowns = l.server_shutdowns;
    return c;
  }

  void register_routes() {
    const std::pair<const char*, Ep> routes[] = {
        {"/api/v3/ping", Ep::ping},
        {"/api/v3/time", Ep::time},
        {"/api/v3/exchangeInfo", Ep::exchange_info},
        {"/api/v3/klines", Ep::klines},
        {"/api/v3/uiKlines", Ep::ui_klines},
        {"/api/v3/aggTrades", Ep::agg_trades},
        {"/api/v3/trades", Ep::trades},
        {"/api/v3/historicalTrades", Ep::historical_trades},
        {"/api/v3/depth", Ep::depth},
        {"/api/v3/avgPrice", Ep::avg_price},
        {"/api/v3/ticker/24hr", Ep::ticker_24hr},
        {"/api/v3/ticker/price", Ep::ticker_price},
        {"/api/v3/ticker/bookTicker", Ep::book_ticker},
        {"/sapi/v1/system/status", Ep::system_status},
    };
    for (auto [path, ep] : routes)
      server.route("GET", path, [this, ep = ep](const Request& r) { return api(r, ep); });
    server.route("GET", "/sim/control",
                 [this](const Request&) { return Response::json(200, control_json()); });
    server.route("POST", "/sim/control", [this](const Request& r) { return control_post(r); });
    live.attach(server);
  }

  const SimOptions opts;
  const Market market;
  const DepthModel depth_model{market};
  const Clock* clock;       // simulated time
  const Clock* real_clock;  // protocol time
  http::Server server;
  // After the server: destroyed first, closing its WebSocket sessions.
  LiveStreams live{market, *clock, *real_clock,
                   LiveOptions{.max_age_ms = opts.ws_max_age_ms,
                               .ping_interval = std::chrono::milliseconds(opts.ws_ping_interval_ms),
                               .pong_timeout = std::chrono::milliseconds(opts.ws_pong_timeout_ms),
                               .pump_interval = std::chrono::milliseconds(opts.ws_pump_interval_ms),
                               .seed = opts.seed,
                               .faults = opts.faults.ws}};

  mutable std::mutex faults_mu;
  std::shared_ptr<const Faults> faults;

  std::mutex limits_mu;
  std::unordered_map<std::string, IpState> ips;

  // Rendered kline answers (SimOptions::kline_cache_bytes), filled until the byte bound.
  mutable std::mutex kline_cache_mu;
  mutable std::unordered_map<std::string, std::string> kline_cache;
  mutable size_t kline_cache_used = 0;
  mutable std::atomic<int64_t> kline_cache_hits{0};

  std::atomic<uint64_t> draws{0};
  std::atomic<int64_t> requests{0}, responses_429{0}, responses_418{0}, injected_429{0},
      injected_5xx{0}, injected_malformed{0};
};

SimServer::SimServer(SimOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
SimServer::~SimServer() { stop(); }

Status SimServer::start() {
  SF_TRY(impl_->server.start());
  impl_->live.start();
  return ok_status();
}
void SimServer::stop() {
  impl_->live.stop();
  impl_->server.stop();
}
uint16_t SimServer::port() const { return impl_->server.port(); }
std::string SimServer::base_url() const { return impl_->server.base_url(); }
const Market& SimServer::market() const { return impl_->market; }
SimServer::Counters SimServer::counters() const { return impl_->counters(); }
Faults SimServer::faults() const { return *impl_->snapshot(); }
Status SimServer::set_faults(Faults f) { return impl_->set_faults(std::move(f)); }
void SimServer::reset_limits() { impl_->reset_limits(); }
void SimServer::server_shutdown() { impl_->live.server_shutdown(); }

}  // namespace sf::exchange::sim
