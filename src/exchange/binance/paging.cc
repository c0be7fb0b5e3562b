#include "exchange/binance/paging.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace sf::exchange::binance {

namespace {
constexpr int64_t kHourMs = 3'600'000;
}

Status check_range(const TimeRange& range) {
  if (range.start_ms < 0 || range.end_ms < range.start_ms) {
    return Error(Errc::invalid_argument,
                 "invalid time range [" + std::to_string(range.start_ms) + ", " +
                     std::to_string(range.end_ms) + ")",
                 "time_range");
  }
  return ok_status();
}

Result<int64_t> next_open_time(int64_t open_time_ms, std::string_view interval) {
  int64_t step = market::interval_ms(interval);
  if (step < 0) {
    return Error(Errc::invalid_argument, "unknown kline interval '" + std::string(interval) + "'",
                 "interval");
  }
  if (step > 0) return open_time_ms + step;
  // "1M": calendar months in UTC.
  using namespace std::chrono;
  auto day = floor<days>(sys_time<milliseconds>(milliseconds(open_time_ms)));
  year_month_day ymd(day);
  year_month next = ymd.year() / ymd.month() + months(1);
  return duration_cast<milliseconds>(sys_days(next / 1).time_since_epoch()).count();
}

Result<std::optional<KlineRequest>> first_kline_request(
    const TimeRange& range, std::string_view interval,
    std::optional<int64_t> resume_after_open_time, int limit) {
  SF_TRY(check_range(range));
  int64_t start = range.start_ms;
  if (resume_after_open_time) {
    int64_t after;
    SF_TRY_ASSIGN(after, next_open_time(*resume_after_open_time, interval));
    start = std::max(start, after);
  } else {
    SF_TRY(next_open_time(0, interval));  // validates the interval
  }
  if (start >= range.end_ms) return std::optional<KlineRequest>();
  return std::optional<KlineRequest>(KlineRequest{start, range.end_ms - 1, limit});
}

Result<std::optional<KlineRequest>> next_kline_request(const TimeRange& range,
                                                       std::string_view interval,
                                                       const KlineRequest& prev,
                                                       const std::vector<market::Candle>& page) {
  if (page.empty()) return std::optional<KlineRequest>();
  const int64_t last = page.back().open_time;
  if (last < prev.start_ms) {
    return Error(Errc::internal, "klines paging made no progress: last open time " +
                                     std::to_string(last) + " is before the request start " +
                                     std::to_string(prev.start_ms));
  }
  int64_t next;
  SF_TRY_ASSIGN(next, next_open_time(last, interval));
  if (next >= range.end_ms) return std::optional<KlineRequest>();
  return std::optional<KlineRequest>(KlineRequest{next, range.end_ms - 1, prev.limit});
}

void trim_klines(std::vector<market::Candle>* page, const TimeRange& range,
                 std::optional<int64_t> resume_after_open_time) {
  std::erase_if(*page, [&](const market::Candle& c) {
    return c.open_time < range.start_ms || c.open_time >= range.end_ms ||
           (resume_after_open_time && c.open_time <= *resume_after_open_time);
  });
}

namespace {
// Counts a non-empty page and hands it to on_page; false when on_page asked to stop.
template <typename Page, typename PageFn>
bool deliver(PagingStats& stats, Page& page, const PageFn& on_page) {
  if (page.empty()) return true;
  ++stats.pages;
  stats.rows += static_cast<int64_t>(page.size());
  if (on_page(page)) return true;
  stats.stopped = true;
  return false;
}
}  // namespace

Result<PagingStats> for_each_kline_page(const KlineFetcher& fetch, std::string_view interval,
                                        const TimeRange& range,
                                        std::optional<int64_t> resume_after_open_time,
                                        const KlinePageFn& on_page) {
  PagingStats stats;
  std::optional<KlineRequest> req;
  SF_TRY_ASSIGN(req, first_kline_request(range, interval, resume_after_open_time));
  while (req) {
    std::vector<market::Candle> page;
    SF_TRY_ASSIGN(page, fetch(*req));
    ++stats.requests;
    std::optional<KlineRequest> next;
    SF_TRY_ASSIGN(next, next_kline_request(range, interval, *req, page));
    trim_klines(&page, range, resume_after_open_time);
    if (!deliver(stats, page, on_page)) break;
    req = next;
  }
  return stats;
}

Result<PagingStats> for_each_kline_window(std::span<const KlineFetcher> fetchers,
                                          std::string_view interval, const TimeRange& range,
                                          std::optional<int64_t> resume_after_open_time,
                                          const KlinePageFn& on_page,
                                          const KlineWindowOptions& options) {
  if (fetchers.empty()) return Error(Errc::invalid_argument, "no kline fetcher");
  const int64_t step = market::interval_ms(interval);
  if (fetchers.size() == 1 || step <= 0)
    return for_each_kline_page(fetchers[0], interval, range, resume_after_open_time, on_page);
  std::optional<KlineRequest> first;
  SF_TRY_ASSIGN(first, first_kline_request(range, interval, resume_after_open_time));
  if (!first) return PagingStats{};
  const int64_t start = first->start_ms;
  const int64_t span = step * kMaxLimit;
  const int64_t windows = (range.end_ms - start + span - 1) / span;
  const auto n = static_cast<int64_t>(std::min<size_t>(fetchers.size(), windows));
  auto window = [&](int64_t k) {
    return KlineRequest{start + k * span, std::min(start + (k + 1) * span, range.end_ms) - 1,
                        kMaxLimit};
  };

  using Page = Result<std::vector<market::Candle>>;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::optional<Page>> slots(n);  // slots[i]: fetcher i's next window, in order
  bool stop = false;                          // under mu
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (int64_t i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      for (int64_t k = i; k < windows; k += n) {
        {
          std::lock_guard lock(mu);
          if (stop) return;
        }
        Page got = fetchers[i](window(k));
        const bool failed = !got.ok();
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return !slots[i] || stop; });
        if (stop) return;
        slots[i] = std::move(got);
        cv.notify_all();
        if (failed) return;  // paging ends at this window
      }
    });
  }
  auto stop_threads = [&] {
    {
      std::lock_guard lock(mu);
      stop = true;
      cv.notify_all();
    }
    if (options.cancelled) options.cancelled->store(true);
    for (auto& t : threads) t.join();
  };

  PagingStats stats;
  for (int64_t k = 0; k < windows; ++k) {
    const int64_t i = k % n;
    std::optional<Page> got;
    while (!got) {
      std::unique_lock lock(mu);
      if (cv.wait_for(lock, std::chrono::milliseconds(100), [&] { return slots[i].has_value(); })) {
        got = std::move(slots[i]);
        slots[i].reset();
        cv.notify_all();
        break;
      }
      lock.unlock();
      if (options.while_waiting && !options.while_waiting()) {
        stats.stopped = true;
        stop_threads();
        return stats;
      }
    }
    ++stats.requests;
    if (!got->ok()) {
      stop_threads();
      return got->error();
    }
    std::vector<market::Candle>& page = **got;
    const KlineRequest w = window(k);
    if (static_cast<int>(page.size()) >= kMaxLimit) {
      // A full window must end at its last interval; otherwise candles do not open one
      // interval apart and some of this window would be lost.
      auto next = next_open_time(page.back().open_time, interval);
      if (next && *next <= w.end_ms) {
        stop_threads();
        return Error(Errc::internal, "klines window [" + std::to_string(w.start_ms) + ", " +
                                         std::to_string(w.end_ms) + "] holds more than " +
                                         std::to_string(kMaxLimit) + " klines");
      }
    }
    std::erase_if(page, [&](const market::Candle& c) {
      return c.open_time < w.start_ms || c.open_time > w.end_ms;
    });
    trim_klines(&page, range, resume_after_open_time);
    if (!deliver(stats, page, on_page)) break;
  }
  stop_threads();
  return stats;
}

Result<PagingStats> for_each_kline_page(BinanceClient& client, std::string_view symbol,
                                        std::string_view interval, const TimeRange& range,
                                        std::optional<int64_t> resume_after_open_time,
                                        const KlinePageFn& on_page) {
  KlineFetcher fetch = [&](const KlineRequest& r) {
    return client.klines(symbol, interval, r.start_ms, r.end_ms, r.limit);
  };
  return for_each_kline_page(fetch, interval, range, resume_after_open_time, on_page);
}

Result<PagingStats> for_each_agg_trade_page(const AggTradeFetcher& fetch, const TimeRange& range,
                                            std::optional<int64_t> resume_after_agg_id,
                                            const AggTradePageFn& on_page,
                                            std::optional<int64_t> last_agg_id) {
  SF_TRY(check_range(range));
  PagingStats stats;
  if (range.start_ms >= range.end_ms) return stats;

  std::vector<market::AggTrade> page;
  std::optional<int64_t> from_id;
  int64_t window = range.start_ms;
  if (resume_after_agg_id) {
    from_id = *resume_after_agg_id + 1;
  } else {
    // Find the first trade at/after the start, one hour window at a time.
    while (window < range.end_ms) {
      AggTradesQuery q;
      q.start_ms = window;
      q.end_ms = std::min(window + kHourMs, range.end_ms) - 1;
      SF_TRY_ASSIGN(page, fetch(q));
      ++stats.requests;
      if (!page.empty()) break;
      window += kHourMs;
    }
    if (page.empty()) return stats;  // no trades in the whole range
  }

  for (;;) {
    if (from_id) {
      AggTradesQuery q;
      q.from_id = *from_id;
      SF_TRY_ASSIGN(page, fetch(q));
      ++stats.requests;
      if (page.empty()) break;
      if (page.back().agg_id < *from_id) {
        return Error(Errc::internal, "aggTrades paging made no progress: last id " +
                                         std::to_string(page.back().agg_id) + " is before fromId " +
                                         std::to_string(*from_id));
      }
    }
    const int64_t last_id = page.back().agg_id;
    bool reached_end = std::any_of(page.begin(), page.end(), [&](const market::AggTrade& t) {
      return t.time >= range.end_ms;
    });
    if (last_agg_id && last_id >= *last_agg_id) reached_end = true;
    std::erase_if(page, [&](const market::AggTrade& t) {
      return t.time < range.start_ms || t.time >= range.end_ms ||
             (resume_after_agg_id && t.agg_id <= *resume_after_agg_id) ||
             (last_agg_id && t.agg_id > *last_agg_id);
    });
    if (!deliver(stats, page, on_page)) break;
    if (reached_end) break;
    from_id = last_id + 1;
  }
  return stats;
}

Result<PagingStats> for_each_agg_trade_page(BinanceClient& client, std::string_view symbol,
                                            const TimeRange& range,
                                            std::optional<int64_t> resume_after_agg_id,
                                            const AggTradePageFn& on_page,
                                            std::optional<int64_t> last_agg_id) {
  AggTradeFetcher fetch = [&](const AggTradesQuery& q) { return client.agg_trades(symbol, q); };
  return for_each_agg_trade_page(fetch, range, resume_after_agg_id, on_page, last_agg_id);
}

// historicalTrades pages by id only (see the header).
Result<PagingStats> for_each_trade_page(const TradeFetcher& fetch, const FirstTradeIdFn& first_id,
                                        const TimeRange& range,
                                        std::optional<int64_t> resume_after_id,
                                        const TradePageFn& on_page,
                                        std::optional<int64_t> last_trade_id) {
  PagingStats stats;
  std::optional<int64_t> from_id;
  if (resume_after_id) from_id = *resume_after_id + 1;
  for (int64_t t = range.start_ms; !from_id && t < range.end_ms; t += 3'600'000) {
    auto first = first_id(t, std::min(t + 3'600'000, range.end_ms) - 1);
    ++stats.requests;
    if (!first) return first.error();
    from_id = *first;
  }
  if (!from_id) return stats;  // no trade in the range
  std::vector<market::Trade> page;
  for (;;) {
    if (last_trade_id && *from_id > *last_trade_id) return stats;
    auto got = fetch(*from_id, 1000);
    ++stats.requests;
    if (!got) return got.error();
    if (got->empty()) return stats;
    ++stats.pages;
    const int64_t last_id = got->back().trade_id;
    page.clear();
    bool past_end = false;
    for (auto& tr : *got) {
      if (tr.time >= range.end_ms || (last_trade_id && tr.trade_id > *last_trade_id)) {
        past_end = true;
        break;
      }
      if (tr.time >= range.start_ms) page.push_back(std::move(tr));
    }
    stats.rows += static_cast<int64_t>(page.size());
    if (!page.empty() && !on_page(page)) {
      stats.stopped = true;
      return stats;
    }
    if (past_end) return stats;
    if (last_id < *from_id) return Error(Errc::internal, "historicalTrades did not move forward");
    from_id = last_id + 1;
  }
}

Result<PagingStats> for_each_trade_page(BinanceClient& client, std::string_view symbol,
                                        const TimeRange& range,
                                        std::optional<int64_t> resume_after_trade_id,
                                        const TradePageFn& on_page,
                                        std::optional<int64_t> last_trade_id) {
  TradeFetcher fetch = [&](int64_t from_id, int limit) {
    return client.historical_trades(symbol, from_id, limit);
  };
  FirstTradeIdFn first_id = [&](int64_t start_ms,
                                int64_t end_ms) -> Result<std::optional<int64_t>> {
    AggTradesQuery q;
    q.start_ms = start_ms;
    q.end_ms = end_ms;
    q.limit = 1;
    auto first = client.agg_trades(symbol, q);
    if (!first) return first.error();
    if (first->empty()) return std::optional<int64_t>();
    return std::optional<int64_t>(first->front().first_trade_id);
  };
  return for_each_trade_page(fetch, first_id, range, resume_after_trade_id, on_page, last_trade_id);
}

}  // namespace sf::exchange::binance
