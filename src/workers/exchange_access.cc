#include "workers/exchange_access.h"

#include "base/log.h"
#include "metrics/metrics.h"

namespace sf::workers {

namespace bn = exchange::binance;

std::function<void(int)> limit_response_counter(metrics::Registry* metrics) {
  if (metrics == nullptr) return {};
  auto& throttled = metrics->counter("streamforge_exchange_throttled_total",
                                     "HTTP 429 answers of the exchange (requests throttled)");
  auto& bans = metrics->counter("streamforge_exchange_bans_total",
                                "HTTP 418 answers of the exchange (this IP banned for a while)");
  return [&throttled, &bans](int status) { (status == 418 ? bans : throttled).inc(); };
}

Result<ExchangeAccess> make_exchange_access(const WorkerContext& ctx,
                                            std::function<bool()> keep_waiting,
                                            const std::string& symbol,
                                            const std::string& queue_id) {
  ExchangeAccess a;
  a.options.base_url = ctx.env.get_or(env_names::kExchangeUrl, kDefaultExchangeUrl);
  auto timeout = ctx.env.get_int(env_names::kExchangeTimeoutMs, 10'000);
  if (!timeout) return Error(Errc::invalid_argument, timeout.error().message);
  a.options.timeout = std::chrono::milliseconds(*timeout);
  a.options.keep_waiting = std::move(keep_waiting);
  a.limiter = ctx.rate_limiter;
  if (!a.limiter) {
    auto fraction = ctx.env.get_double(env_names::kExchangeWeightFraction, 0.8);
    if (!fraction || *fraction <= 0 || *fraction > 1)
      return Error(Errc::invalid_argument, "EXCHANGE_WEIGHT_FRACTION must be in (0, 1]");
    bn::RateLimiterOptions lo;
    lo.fraction = *fraction;
    lo.on_limit_response = limit_response_counter(ctx.metrics);
    a.own_limiter = std::make_unique<bn::RateLimiter>(lo);
    a.limiter = a.own_limiter.get();
    // Workers in processes of their own on one host spend from one budget (docs/workers.md).
    if (auto shared = ctx.env.get(env_names::kExchangeWeightFile); shared && !shared->empty())
      SF_TRY(a.limiter->share_through(*shared));
  }
  a.client = std::make_unique<bn::BinanceClient>(a.options, *a.limiter);
  if (a.own_limiter && ctx.env.get(env_names::kExchangeWeightFile)) {
    // The budget is a share of the exchange's real limit, which exchangeInfo states (the
    // default, Binance's 6000, otherwise): shared by many processes, a wrong limit would
    // earn 429s for all of them.
    if (auto info = a.client->exchange_info(symbol); !info)
      log::warn("exchangeInfo failed, assuming the default weight limit: " + info.error().message,
                queue_id);
  }
  return a;
}

}  // namespace sf::workers
