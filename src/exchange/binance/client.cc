#include "exchange/binance/client.h"

#include <algorithm>
#include <charconv>
#include <thread>

#include "base/log.h"

namespace sf::exchange::binance {

namespace {

std::optional<int64_t> parse_int(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  if (s.empty()) return std::nullopt;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// Symbols and intervals go into the query string unescaped: allow only their alphabet.
Status check_token(std::string_view v, const char* field) {
  bool ok = !v.empty() && v.size() <= 32 && std::all_of(v.begin(), v.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
  if (ok) return ok_status();
  return Error(Errc::invalid_argument,
               std::string("invalid ") + field + " '" + std::string(v.substr(0, 40)) + "'", field);
}

Status check_limit(int limit) {
  if (limit >= 1 && limit <= kMaxLimit) return ok_status();
  return Error(Errc::invalid_argument,
               "limit must be 1.." + std::to_string(kMaxLimit) + ", got " + std::to_string(limit),
               "limit");
}

std::string api_prefix_for(std::string_view base_url) {
  while (!base_url.empty() && base_url.back() == '/') base_url.remove_suffix(1);
  constexpr std::string_view kApi = "/api";
  bool ends_api =
      base_url.size() > kApi.size() && base_url.substr(base_url.size() - kApi.size()) == kApi &&
      base_url.substr(0, base_url.size() - kApi.size()).find("://") != std::string_view::npos;
  return ends_api ? "/v3" : "/api/v3";
}

bool transient_transport(Errc c) {
  return c == Errc::timeout || c == Errc::unavailable || c == Errc::io_error;
}

}  // namespace

BinanceClient::BinanceClient(Options options, RateLimiter& limiter)
    : options_(std::move(options)),
      limiter_(limiter),
      clock_(options_.clock ? *options_.clock : limiter.clock()),
      http_(options_.base_url, {}, options_.timeout, options_.tls),
      api_prefix_(api_prefix_for(options_.base_url)),
      rng_(options_.jitter_seed ? options_.jitter_seed : std::random_device{}()) {
  if (options_.time_unit == TimeUnit::microsecond) {
    headers_.emplace_back("X-MBX-TIME-UNIT", "MICROSECOND");
  }
  if (!options_.api_key.empty()) headers_.emplace_back("X-MBX-APIKEY", options_.api_key);
  if (options_.max_retries < 0) options_.max_retries = 0;
}

int64_t BinanceClient::now_ms() const { return clock_.now_ms() + offset_ms_; }

std::chrono::milliseconds BinanceClient::backoff(int retry) {
  // Capped exponential, "equal jitter": uniform in [d/2, d], so retries of many loaders
  // that failed together spread out while each still waits a meaningful minimum.
  int64_t base = std::max<int64_t>(1, options_.backoff_base.count());
  int64_t cap = std::max<int64_t>(base, options_.backoff_cap.count());
  int64_t d = base;
  for (int i = 1; i < retry && d < cap; ++i) d *= 2;
  d = std::min(d, cap);
  std::uniform_int_distribution<int64_t> dist(d / 2, d);
  return std::chrono::milliseconds(dist(rng_));
}

template <typename T, typename Decode>
Result<T> BinanceClient::fetch(const std::string& path_and_query, int weight, Decode&& decode) {
  const std::string what = "GET " + log::redact_url(options_.base_url) + path_and_query;
  std::optional<Error> last;
  bool backoff_next = false;
  for (int attempt = 0; attempt <= options_.max_retries; ++attempt) {
    if (attempt > 0) {
      ++stats_.retries;
      if (backoff_next) {
        auto d = backoff(attempt);
        if (options_.sleep) {
          options_.sleep(d);
        } else if (!options_.keep_waiting) {
          std::this_thread::sleep_for(d);
        } else {
          // In slices, so a stop is obeyed within one.
          const auto until = std::chrono::steady_clock::now() + d;
          for (auto now = std::chrono::steady_clock::now(); now < until;
               now = std::chrono::steady_clock::now()) {
            if (!options_.keep_waiting())
              return Error(Errc::closed, what + ": gave up waiting to retry");
            std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
                until - now, std::chrono::milliseconds(100)));
          }
        }
      }
    }
    backoff_next = true;
    auto grant = limiter_.acquire(weight, options_.max_limiter_wait, options_.keep_waiting);
    if (!grant) return Error(grant.error().code, what + ": " + grant.error().message);
    ++stats_.requests;
    auto res = http_.get(path_and_query, headers_);
    if (!res) {
      if (!transient_transport(res.error().code)) return res.error();
      last = res.error();
      log::warn(res.error().message + " (attempt " + std::to_string(attempt + 1) + ")");
      continue;
    }
    const int status = res->status;
    limiter_.observe(*grant, status, parse_int(res->header("X-MBX-USED-WEIGHT-1M")),
                     parse_int(res->header("Retry-After")));
    if (status == 200) {
      Result<T> v = decode(res->body);
      if (v) return v;
      ++stats_.malformed;
      last = Error(Errc::parse_error, what + ": " + v.error().message, v.error().field);
      log::warn(last->message + " (attempt " + std::to_string(attempt + 1) + ")");
      continue;
    }
    auto body = decoder_.error_body(res->body);
    std::string exchange_msg =
        body ? "exchange error " + std::to_string(body->code) + ": " + body->msg
             : "HTTP " + std::to_string(status) + ": " + res->body.substr(0, 200);
    if (status == 429) {
      ++stats_.throttled;
      backoff_next = false;  // the limiter holds every caller for Retry-After
      last = Error(Errc::unavailable, what + ": throttled (HTTP 429): " + exchange_msg);
      continue;
    }
    if (status == 418) {
      auto ban = limiter_.last_ban();
      std::string until = ban ? format_utc_ms(ban->until_ms) : "unknown";
      return Error(Errc::unavailable,
                   "banned by the exchange until " + until + " (HTTP 418: " + exchange_msg + ")");
    }
    if (status >= 500 || status == 408) {
      last = Error(Errc::unavailable, what + ": HTTP " + std::to_string(status) +
                                          (body ? " (" + exchange_msg + ")" : ""));
      log::warn(last->message + " (attempt " + std::to_string(attempt + 1) + ")");
      continue;
    }
    log::warn(what + ": " + exchange_msg);
    return Error(Errc::invalid_argument, exchange_msg);
  }
  Error e = last.value_or(Error(Errc::internal, what + ": no attempt made"));
  e.message += " (gave up after " + std::to_string(options_.max_retries + 1) + " attempts)";
  return e;
}

Result<std::vector<market::Candle>> BinanceClient::klines(std::string_view symbol,
                                                          std::string_view interval,
                                                          std::optional<int64_t> start_ms,
                                                          std::optional<int64_t> end_ms,
                                                          int limit) {
  SF_TRY(check_token(symbol, "symbol"));
  SF_TRY(check_token(interval, "interval"));
  SF_TRY(check_limit(limit));
  std::string q =
      api_prefix_ + "/klines?symbol=" + std::string(symbol) + "&interval=" + std::string(interval);
  if (start_ms) q += "&startTime=" + std::to_string(*start_ms);
  if (end_ms) q += "&endTime=" + std::to_string(*end_ms);
  q += "&limit=" + std::to_string(limit);
  auto out = fetch<std::vector<market::Candle>>(
      q, kWeightKlines, [&](const std::string& body) -> Result<std::vector<market::Candle>> {
        std::vector<market::Candle> rows;
        rows.reserve(static_cast<size_t>(limit));  // a full page without regrowing
        SF_TRY(decoder_.klines(body, symbol, interval, options_.time_unit, &rows));
        return rows;
      });
  if (!out) return out;
  const int64_t now = now_ms();
  for (auto& c : *out) c.closed = c.close_time < now;
  return out;
}

Result<std::vector<market::AggTrade>> BinanceClient::agg_trades(std::string_view symbol,
                                                                const AggTradesQuery& query) {
  SF_TRY(check_token(symbol, "symbol"));
  SF_TRY(check_limit(query.limit));
  std::string q = api_prefix_ + "/aggTrades?symbol=" + std::string(symbol);
  if (query.from_id) q += "&fromId=" + std::to_string(*query.from_id);
  if (query.start_ms) q += "&startTime=" + std::to_string(*query.start_ms);
  if (query.end_ms) q += "&endTime=" + std::to_string(*query.end_ms);
  q += "&limit=" + std::to_string(query.limit);
  return fetch<std::vector<market::AggTrade>>(
      q, kWeightAggTrades, [&](const std::string& body) -> Result<std::vector<market::AggTrade>> {
        std::vector<market::AggTrade> rows;
        rows.reserve(static_cast<size_t>(query.limit));
        SF_TRY(decoder_.agg_trades(body, symbol, options_.time_unit, &rows));
        return rows;
      });
}

Result<DepthSnapshot> BinanceClient::depth(std::string_view symbol, int limit) {
  SF_TRY(check_token(symbol, "symbol"));
  if (limit < 1 || limit > kMaxDepthLimit)
    return Error(Errc::invalid_argument,
                 "depth limit must be 1.." + std::to_string(kMaxDepthLimit) + ", got " +
                     std::to_string(limit),
                 "limit");
  std::string q =
      api_prefix_ + "/depth?symbol=" + std::string(symbol) + "&limit=" + std::to_string(limit);
  return fetch<DepthSnapshot>(q, depth_weight(limit),
                              [&](const std::string& body) -> Result<DepthSnapshot> {
                                DepthSnapshot snap;
                                SF_TRY(decoder_.depth(body, &snap));
                                return snap;
                              });
}

Result<std::vector<market::Trade>> BinanceClient::historical_trades(std::string_view symbol,
                                                                    std::optional<int64_t> from_id,
                                                                    int limit) {
  SF_TRY(check_token(symbol, "symbol"));
  SF_TRY(check_limit(limit));
  std::string q = api_prefix_ + "/historicalTrades?symbol=" + std::string(symbol);
  if (from_id) q += "&fromId=" + std::to_string(*from_id);
  q += "&limit=" + std::to_string(limit);
  return fetch<std::vector<market::Trade>>(
      q, kWeightHistoricalTrades,
      [&](const std::string& body) -> Result<std::vector<market::Trade>> {
        std::vector<market::Trade> rows;
        rows.reserve(static_cast<size_t>(limit));
        SF_TRY(decoder_.trades(body, symbol, options_.time_unit, &rows));
        return rows;
      });
}

Result<ExchangeInfo> BinanceClient::exchange_info(std::optional<std::string_view> symbol) {
  std::string q = api_prefix_ + "/exchangeInfo";
  if (symbol) {
    SF_TRY(check_token(*symbol, "symbol"));
    q += "?symbol=" + std::string(*symbol);
  }
  auto info = fetch<ExchangeInfo>(q, kWeightExchangeInfo, [&](const std::string& body) {
    return decoder_.exchange_info(body, options_.time_unit);
  });
  if (info && options_.apply_exchange_limits) {
    if (auto limit = info->request_weight_per_minute()) limiter_.set_limit(*limit);
  }
  return info;
}

Result<int64_t> BinanceClient::server_time() {
  const int64_t before = clock_.now_ms();
  auto t = fetch<int64_t>(api_prefix_ + "/time", kWeightTime, [&](const std::string& body) {
    return decoder_.server_time(body, options_.time_unit);
  });
  if (t) {
    // The server stamped its time somewhere between send and receive: assume the middle.
    const int64_t after = clock_.now_ms();
    offset_ms_ = *t - (before + (after - before) / 2);
  }
  return t;
}

}  // namespace sf::exchange::binance
