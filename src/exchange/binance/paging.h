// Paging over a time range: pure planning functions plus loops that drive a fetcher (a
// BinanceClient, or any function in tests) and hand each page to a callback.
//
// Ranges are half-open [start_ms, end_ms) in epoch ms. A kline belongs to the range when
// its open time does; an aggregate trade when its time does.
//
// Klines: requests of up to 1000 rows with startTime = the range start (or the kline after
// `resume_after_open_time`) and endTime = end_ms - 1 (Binance's endTime is inclusive); the
// next request starts at the last row's open time + the interval (the next calendar month
// for "1M"). Paging stops at an empty page or when the next start reaches the range end.
// A short page does not end paging by itself (a hole in the data ends a page early on some
// servers); it costs at most one extra, empty request at the end.
//
// Aggregate trades: the first id at/after the range start is found with startTime/endTime
// windows of at most one hour (Binance's rule), walking forward an hour at a time through
// empty hours; that window's rows are the first page. Then pages by fromId = last id + 1,
// until a trade at/after the range end or an empty page. With resume_after_agg_id the
// search is skipped: paging starts at that id + 1 (rows before the range start are
// dropped).
//
// Trades: historicalTrades pages by id only. The first trade id at/after the range start is
// the first_trade_id of the first aggregate trade there (searched an hour window at a time,
// like aggregate trades'); then pages of 1000 by fromId = last id + 1 until a trade at/after
// the range end or an empty page. With resume_after_trade_id the search is skipped.
//
// Both trade loops take an optional last id: rows after it are dropped and paging stops at
// the first page that reaches it (a repair loads the ids [resume + 1, last_id] this way:
// fromId = resume + 1, then pages of 1000 by id until past last_id, the range end or an
// empty page).
//
// Rows outside the range (or at/before the resume point) are removed before the callback
// sees a page; the callback is not called for pages left empty. A callback returning
// false stops paging (PagingStats::stopped). A server that does not move forward (a page
// whose last row is before the request's start) is an Errc::internal error rather than a
// loop.
//
// Thread-safety: the functions are reentrant; the loops use the fetcher on the calling
// thread only, except for_each_kline_window (see there).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "exchange/binance/client.h"
#include "market/records.h"

namespace sf::exchange::binance {

struct TimeRange {
  int64_t start_ms = 0;  // inclusive
  int64_t end_ms = 0;    // exclusive
};

// One klines request, in Binance's terms (end inclusive).
struct KlineRequest {
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  int limit = kMaxLimit;
  friend bool operator==(const KlineRequest&, const KlineRequest&) = default;
};

struct PagingStats {
  int64_t requests = 0;  // fetcher calls
  int64_t pages = 0;     // callback calls
  int64_t rows = 0;      // rows handed to the callback
  bool stopped = false;  // the callback returned false
};

// Invalid_argument for a negative start or end < start (an empty range is valid).
Status check_range(const TimeRange& range);

// Open time of the kline after the one opening at open_time_ms: + the interval, or the
// first instant of the next UTC calendar month for "1M". invalid_argument for an unknown
// interval.
Result<int64_t> next_open_time(int64_t open_time_ms, std::string_view interval);

// The first request for the range, or nullopt when there is nothing to fetch.
Result<std::optional<KlineRequest>> first_kline_request(
    const TimeRange& range, std::string_view interval,
    std::optional<int64_t> resume_after_open_time, int limit = kMaxLimit);

// The request after `prev` returned `page` (untrimmed), or nullopt when done.
Result<std::optional<KlineRequest>> next_kline_request(const TimeRange& range,
                                                       std::string_view interval,
                                                       const KlineRequest& prev,
                                                       const std::vector<market::Candle>& page);

// Removes candles whose open time is outside the range or <= resume_after_open_time.
void trim_klines(std::vector<market::Candle>* page, const TimeRange& range,
                 std::optional<int64_t> resume_after_open_time);

using KlineFetcher = std::function<Result<std::vector<market::Candle>>(const KlineRequest&)>;
using KlinePageFn = std::function<bool(std::vector<market::Candle>& page)>;
using AggTradeFetcher = std::function<Result<std::vector<market::AggTrade>>(const AggTradesQuery&)>;
using AggTradePageFn = std::function<bool(std::vector<market::AggTrade>& page)>;
using TradePageFn = std::function<bool(std::vector<market::Trade>& page)>;

// Fetch errors are returned as they are (the client has already retried).
Result<PagingStats> for_each_kline_page(const KlineFetcher& fetch, std::string_view interval,
                                        const TimeRange& range,
                                        std::optional<int64_t> resume_after_open_time,
                                        const KlinePageFn& on_page);
Result<PagingStats> for_each_kline_page(BinanceClient& client, std::string_view symbol,
                                        std::string_view interval, const TimeRange& range,
                                        std::optional<int64_t> resume_after_open_time,
                                        const KlinePageFn& on_page);

// Klines over several connections at once. The range (after the resume point) is cut into
// windows of kMaxLimit intervals, [s + k*1000*iv, s + (k+1)*1000*iv), each fetched with one
// startTime/endTime request: candles open one interval apart, so a window never holds more
// than one page and no request depends on the one before. Window k is fetched by
// fetchers[k % n] on a thread of its own (one per fetcher; a BinanceClient is one thread's);
// pages reach on_page in window order on the calling thread, with at most one fetched page
// per fetcher waiting. A short or empty window (a hole in the data) is not the end: every
// window is asked once. "1M" (months differ in length) and a single fetcher page as
// for_each_kline_page does, with fetchers[0] on the calling thread.
//
// while_waiting is called on the calling thread at least every 100 ms while it waits for
// the next window; false stops paging (PagingStats::stopped), as on_page returning false
// does. When the fetcher threads run, `cancelled` is set once paging stops for any reason
// (stop, an error, the end): a fetcher waiting for the exchange (its limiter, a retry)
// should give up when it is set, since paging returns only after every fetcher thread has
// ended. The first error in window
// order is returned; windows after it are not delivered.
struct KlineWindowOptions {
  std::function<bool()> while_waiting;
  std::atomic<bool>* cancelled = nullptr;
};
Result<PagingStats> for_each_kline_window(std::span<const KlineFetcher> fetchers,
                                          std::string_view interval, const TimeRange& range,
                                          std::optional<int64_t> resume_after_open_time,
                                          const KlinePageFn& on_page,
                                          const KlineWindowOptions& options = {});

Result<PagingStats> for_each_agg_trade_page(const AggTradeFetcher& fetch, const TimeRange& range,
                                            std::optional<int64_t> resume_after_agg_id,
                                            const AggTradePageFn& on_page,
                                            std::optional<int64_t> last_agg_id = std::nullopt);
Result<PagingStats> for_each_agg_trade_page(BinanceClient& client, std::string_view symbol,
                                            const TimeRange& range,
                                            std::optional<int64_t> resume_after_agg_id,
                                            const AggTradePageFn& on_page,
                                            std::optional<int64_t> last_agg_id = std::nullopt);

using TradeFetcher = std::function<Result<std::vector<market::Trade>>(int64_t from_id, int limit)>;
// `first_id` finds the first trade id at/after a time (the first_trade_id of the first
// aggregate trade there; nullopt when there is none before the window's end).
using FirstTradeIdFn =
    std::function<Result<std::optional<int64_t>>(int64_t start_ms, int64_t end_ms)>;
Result<PagingStats> for_each_trade_page(const TradeFetcher& fetch, const FirstTradeIdFn& first_id,
                                        const TimeRange& range,
                                        std::optional<int64_t> resume_after_trade_id,
                                        const TradePageFn& on_page,
                                        std::optional<int64_t> last_trade_id = std::nullopt);
Result<PagingStats> for_each_trade_page(BinanceClient& client, std::string_view symbol,
                                        const TimeRange& range,
                                        std::optional<int64_t> resume_after_trade_id,
                                        const TradePageFn& on_page,
                                        std::optional<int64_t> last_trade_id = std::nullopt);

}  // namespace sf::exchange::binance
