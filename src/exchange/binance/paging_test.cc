#include "exchange/binance/paging.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <set>
#include <thread>

namespace sf::exchange::binance {
namespace {

constexpr int64_t kT0 = 1722470400000;  // 2024-08-01T00:00:00Z
constexpr int64_t kMin = 60'000;

// An in-memory exchange for klines: Binance's filtering (open time in [start, end], oldest
// first, at most `limit`) over a set of open times; marks candles at/after `open_from` as
// still open.
struct FakeKlines {
  std::set<int64_t> opens;
  int64_t open_from = INT64_MAX;
  std::vector<KlineRequest> requests;

  Result<std::vector<market::Candle>> operator()(const KlineRequest& r) {
    requests.push_back(r);
    std::vector<market::Candle> page;
    for (auto it = opens.lower_bound(r.start_ms);
         it != opens.end() && *it <= r.end_ms && static_cast<int>(page.size()) < r.limit; ++it) {
      market::Candle c;
      c.open_time = *it;
      c.close_time = *it + kMin - 1;
      c.closed = *it < open_from;
      page.push_back(c);
    }
    return page;
  }
  void fill(int64_t from, int64_t to) {
    for (int64_t t = from; t < to; t += kMin) opens.insert(t);
  }
  // The start of each request so far, in minutes after kT0.
  std::vector<int64_t> request_minutes() const {
    std::vector<int64_t> out;
    for (const auto& r : requests) out.push_back((r.start_ms - kT0) / kMin);
    return out;
  }
};

Result<PagingStats> run(FakeKlines& fake, TimeRange range, std::optional<int64_t> resume,
                        std::vector<market::Candle>* got) {
  KlineFetcher f = [&](const KlineRequest& r) { return fake(r); };
  return for_each_kline_page(f, "1m", range, resume, [&](std::vector<market::Candle>& page) {
    got->insert(got->end(), page.begin(), page.end());
    return true;
  });
}

TEST(KlinePaging, RangeBoundariesAreHalfOpen) {
  FakeKlines fake;
  fake.fill(kT0 - 10 * kMin, kT0 + 20 * kMin);
  std::vector<market::Candle> got;
  auto st = run(fake, {kT0, kT0 + 10 * kMin}, std::nullopt, &got);
  ASSERT_TRUE(st.ok()) << st.error().message;
  ASSERT_EQ(got.size(), 10u);
  EXPECT_EQ(got.front().open_time, kT0);            // first candle exactly at start: in
  EXPECT_EQ(got.back().open_time, kT0 + 9 * kMin);  // candle opening at end: out
  ASSERT_EQ(fake.requests.size(), 1u);              // next start == end: no extra request
  EXPECT_EQ(fake.requests[0], (KlineRequest{kT0, kT0 + 10 * kMin - 1, 1000}));
}

TEST(KlinePaging, UnalignedStartAndEmptyRange) {
  FakeKlines fake;
  fake.fill(kT0, kT0 + 20 * kMin);
  std::vector<market::Candle> got;
  ASSERT_TRUE(run(fake, {kT0 + 30'000, kT0 + 5 * kMin + 1}, std::nullopt, &got).ok());
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got.front().open_time, kT0 + kMin);
  EXPECT_EQ(got.back().open_time, kT0 + 5 * kMin);
  got.clear();
  fake.requests.clear();
  auto st = run(fake, {kT0, kT0}, std::nullopt, &got);
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(fake.requests.empty());
  EXPECT_FALSE(run(fake, {kT0, kT0 - 1}, std::nullopt, &got).ok());
}

TEST(KlinePaging, OverThousandItemsInPages) {
  FakeKlines fake;
  fake.fill(kT0, kT0 + 5000 * kMin);
  std::vector<market::Candle> got;
  auto st = run(fake, {kT0, kT0 + 2500 * kMin}, std::nullopt, &got);
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(got.size(), 2500u);
  EXPECT_EQ(fake.request_minutes(), (std::vector<int64_t>{0, 1000, 2000}));
  EXPECT_EQ(st->pages, 3);
  for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i].open_time, kT0 + int64_t(i) * kMin);
}

TEST(KlinePaging, HolesAndEmptyTail) {
  FakeKlines fake;
  fake.fill(kT0, kT0 + 900 * kMin);
  fake.fill(kT0 + 1000 * kMin, kT0 + 1500 * kMin);  // 100-minute hole, then data ends
  std::vector<market::Candle> got;
  auto st = run(fake, {kT0, kT0 + 3000 * kMin}, std::nullopt, &got);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(got.size(), 1400u);
  // Page 1: 0..899 + 1000..1099; page 2: 1100..1499 (short); page 3: empty -> done.
  EXPECT_EQ(fake.request_minutes(), (std::vector<int64_t>{0, 1100, 1500}));
  // A range that is one big hole: one empty page, no callback.
  got.clear();
  fake.requests.clear();
  st = run(fake, {kT0 + 900 * kMin, kT0 + 1000 * kMin}, std::nullopt, &got);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->pages, 0);
  EXPECT_EQ(fake.requests.size(), 1u);
}

TEST(KlinePaging, LastOpenCandleIsDeliveredMarkedOpen) {
  FakeKlines fake;
  fake.fill(kT0, kT0 + 10 * kMin);  // the exchange has candles up to "now"
  fake.open_from = kT0 + 9 * kMin;
  std::vector<market::Candle> got;
  ASSERT_TRUE(run(fake, {kT0, kT0 + 60 * kMin}, std::nullopt, &got).ok());
  ASSERT_EQ(got.size(), 10u);
  EXPECT_TRUE(got[8].closed);
  EXPECT_FALSE(got[9].closed);
}

TEST(KlinePaging, ResumeAfterLastPublished) {
  FakeKlines fake;
  fake.fill(kT0, kT0 + 50 * kMin);
  std::vector<market::Candle> got;
  ASSERT_TRUE(run(fake, {kT0, kT0 + 50 * kMin}, kT0 + 39 * kMin, &got).ok());
  ASSERT_EQ(got.size(), 10u);
  EXPECT_EQ(got.front().open_time, kT0 + 40 * kMin);
  EXPECT_EQ(fake.requests[0].start_ms, kT0 + 40 * kMin);
  // Resuming at the last candle: nothing left to fetch.
  fake.requests.clear();
  got.clear();
  ASSERT_TRUE(run(fake, {kT0, kT0 + 50 * kMin}, kT0 + 49 * kMin, &got).ok());
  EXPECT_TRUE(fake.requests.empty());
}

TEST(KlinePaging, CallbackStopsAndNoProgressIsAnError) {
  FakeKlines fake;
  fake.fill(kT0, kT0 + 3000 * kMin);
  KlineFetcher f = [&](const KlineRequest& r) { return fake(r); };
  int pages = 0;
  auto st = for_each_kline_page(f, "1m", {kT0, kT0 + 3000 * kMin}, std::nullopt,
                                [&](std::vector<market::Candle>&) { return ++pages < 2; });
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(st->stopped);
  EXPECT_EQ(pages, 2);

  KlineFetcher stuck = [&](const KlineRequest&) -> Result<std::vector<market::Candle>> {
    market::Candle c;
    c.open_time = kT0;  // always the same old candle
    return std::vector<market::Candle>{c};
  };
  auto bad = for_each_kline_page(stuck, "1m", {kT0 + kMin, kT0 + 10 * kMin}, std::nullopt,
                                 [](std::vector<market::Candle>&) { return true; });
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Errc::internal);

  KlineFetcher failing = [](const KlineRequest&) -> Result<std::vector<market::Candle>> {
    return Error(Errc::invalid_argument, "exchange error -1121: Invalid symbol.");
  };
  auto err = for_each_kline_page(failing, "1m", {kT0, kT0 + kMin}, std::nullopt,
                                 [](std::vector<market::Candle>&) { return true; });
  ASSERT_FALSE(err.ok());
  EXPECT_EQ(err.error().message, "exchange error -1121: Invalid symbol.");
}

TEST(KlinePaging, CalendarMonthsAndIntervals) {
  // 2024-01-01, 2024-02-01, 2024-03-01 (leap year), 2025-01-01 UTC.
  constexpr int64_t kJan = 1704067200000, kFeb = 1706745600000, kMar = 1709251200000;
  EXPECT_EQ(*next_open_time(kJan, "1M"), kFeb);
  EXPECT_EQ(*next_open_time(kFeb, "1M"), kMar);
  EXPECT_EQ(*next_open_time(1733011200000 /* 2024-12-01 */, "1M"), 1735689600000);
  EXPECT_EQ(*next_open_time(kT0, "1h"), kT0 + 3'600'000);
  EXPECT_FALSE(next_open_time(kT0, "7m").ok());
  auto req = first_kline_request({kJan, kMar}, "1M", kJan);
  ASSERT_TRUE(req.ok());
  ASSERT_TRUE(req->has_value());
  EXPECT_EQ((*req)->start_ms, kFeb);
  EXPECT_FALSE(first_kline_request({kJan, kMar}, "2m", std::nullopt).ok());
}

// The trade tests' exchange: `n` records R with ids from `first_id` (`id`, R's id member), one
// every `step_ms` from `t0`.
template <class R>
std::vector<R> tape(int n, int64_t R::*id, int64_t first_id, int64_t t0, int64_t step_ms) {
  std::vector<R> out;
  for (int i = 0; i < n; ++i) {
    R r;
    r.*id = first_id + i;
    r.time = t0 + i * step_ms;
    out.push_back(r);
  }
  return out;
}

// A page of `tape` as fromId asks for it: at most `limit` records from id `from_id` on.
template <class R>
std::vector<R> page_from(const std::vector<R>& tape, int64_t R::*id, int64_t from_id, int limit) {
  std::vector<R> page;
  for (const auto& r : tape)
    if (static_cast<int>(page.size()) < limit && r.*id >= from_id) page.push_back(r);
  return page;
}

// An on_page callback that appends the pages' ids (`id` of R) to `ids` and goes on.
template <class R>
auto collect_ids(std::vector<int64_t>* ids, int64_t R::*id) {
  return [ids, id](std::vector<R>& page) {
    for (const auto& r : page) ids->push_back(r.*id);
    return true;
  };
}

// Windows over several fetchers: each its own fake (a fetcher is one thread's), all serving
// the same data; `delay` slows one down so windows finish out of order.
struct WindowFakes {
  std::vector<FakeKlines> fakes;
  std::vector<std::chrono::milliseconds> delay;
  std::vector<KlineFetcher> fetchers;
  WindowFakes(int n, const std::function<void(FakeKlines&)>& fill) : fakes(n), delay(n) {
    for (auto& f : fakes) fill(f);
    for (int i = 0; i < n; ++i)
      fetchers.push_back([this, i](const KlineRequest& r) {
        std::this_thread::sleep_for(delay[i]);
        return fakes[i](r);
      });
  }
  std::vector<KlineRequest> requests() const {
    std::vector<KlineRequest> all;
    for (const auto& f : fakes) all.insert(all.end(), f.requests.begin(), f.requests.end());
    std::sort(all.begin(), all.end(),
              [](const auto& a, const auto& b) { return a.start_ms < b.start_ms; });
    return all;
  }
};

TEST(KlineWindows, SeveralFetchersDeliverWhatOnePagerDoesInOrder) {
  for (int n : {2, 3}) {
    SCOPED_TRACE(n);
    auto fill = [](FakeKlines& f) {
      f.fill(kT0, kT0 + 900 * kMin);
      f.fill(kT0 + 1000 * kMin, kT0 + 4500 * kMin);  // a hole, then data to 4500
    };
    FakeKlines one;
    fill(one);
    std::vector<market::Candle> expected;
    const TimeRange range{kT0 + 30'000, kT0 + 5200 * kMin};
    ASSERT_TRUE(run(one, range, kT0 + 99 * kMin, &expected).ok());

    WindowFakes w(n, fill);
    w.delay[0] = std::chrono::milliseconds(5);  // the first window arrives last
    std::vector<market::Candle> got;
    std::atomic<bool> cancelled{false};
    KlineWindowOptions opts;
    opts.cancelled = &cancelled;
    auto st = for_each_kline_window(
        w.fetchers, "1m", range, kT0 + 99 * kMin,
        [&](std::vector<market::Candle>& page) {
          got.insert(got.end(), page.begin(), page.end());
          return true;
        },
        opts);
    ASSERT_TRUE(st.ok()) << st.error().message;
    EXPECT_TRUE(cancelled.load());
    ASSERT_EQ(got.size(), expected.size());
    for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i].open_time, expected[i].open_time);
    // One request a window of 1000 minutes from the resume point, the hole's short window and
    // the empty ones past the data included, never one past the range.
    auto reqs = w.requests();
    ASSERT_EQ(reqs.size(), 6u);
    for (size_t k = 0; k < reqs.size(); ++k) {
      EXPECT_EQ(reqs[k].start_ms, kT0 + (100 + 1000 * int64_t(k)) * kMin);
      EXPECT_EQ(reqs[k].end_ms,
                std::min(kT0 + (1100 + 1000 * int64_t(k)) * kMin, range.end_ms) - 1);
    }
    EXPECT_EQ(st->requests, 6);
    EXPECT_EQ(st->rows, static_cast<int64_t>(expected.size()));
  }
}

TEST(KlineWindows, AnErrorEndsPagingAtItsWindowAndStopIsObeyedWhileWaiting) {
  auto fill = [](FakeKlines& f) { f.fill(kT0, kT0 + 6000 * kMin); };
  const TimeRange range{kT0, kT0 + 6000 * kMin};
  {
    WindowFakes w(2, fill);
    std::vector<KlineFetcher> fetchers = w.fetchers;
    fetchers[1] = [&](const KlineRequest& r) -> Result<std::vector<market::Candle>> {
      if (r.start_ms == kT0 + 3000 * kMin)
        return Error(Errc::unavailable, "window 3 failed");  // windows 1, 3, 5 are fetcher 1's
      return w.fakes[1](r);
    };
    std::vector<int64_t> firsts;
    auto st = for_each_kline_window(fetchers, "1m", range, std::nullopt,
                                    [&](std::vector<market::Candle>& page) {
                                      firsts.push_back((page.front().open_time - kT0) / kMin);
                                      return true;
                                    });
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().message, "window 3 failed");
    EXPECT_EQ(firsts, (std::vector<int64_t>{0, 1000, 2000}));  // in order, none after it
  }
  {
    // A fetcher stuck on the exchange: while_waiting stops paging, the fetcher gives up
    // once it sees `cancelled`.
    WindowFakes w(2, fill);
    std::atomic<bool> cancelled{false};
    std::vector<KlineFetcher> fetchers = w.fetchers;
    fetchers[1] = [&](const KlineRequest&) -> Result<std::vector<market::Candle>> {
      while (!cancelled.load()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      return Error(Errc::closed, "given up");
    };
    int waits = 0;
    KlineWindowOptions opts;
    opts.cancelled = &cancelled;
    opts.while_waiting = [&] { return ++waits < 3; };
    int pages = 0;
    const auto t0 = std::chrono::steady_clock::now();
    auto st = for_each_kline_window(
        fetchers, "1m", range, std::nullopt,
        [&](std::vector<market::Candle>&) { return ++pages > 0; }, opts);
    ASSERT_TRUE(st.ok()) << st.error().message;
    EXPECT_TRUE(st->stopped);
    EXPECT_EQ(pages, 1);  // window 0; window 1 never came
    EXPECT_EQ(waits, 3);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  }
  {
    // on_page asking to stop.
    WindowFakes w(3, fill);
    int pages = 0;
    auto st = for_each_kline_window(w.fetchers, "1m", range, std::nullopt,
                                    [&](std::vector<market::Candle>&) { return ++pages < 2; });
    ASSERT_TRUE(st.ok());
    EXPECT_TRUE(st->stopped);
    EXPECT_EQ(pages, 2);
  }
}

TEST(KlineWindows, AWindowHoldingMoreThanOnePageIsAnError) {
  // Candles 30 s apart under a "1m" interval: a 1000-minute window holds 2000 of them.
  auto fill = [](FakeKlines& f) {
    for (int64_t t = kT0; t < kT0 + 3000 * kMin; t += 30'000) f.opens.insert(t);
  };
  WindowFakes w(2, fill);
  auto st = for_each_kline_window(w.fetchers, "1m", {kT0, kT0 + 3000 * kMin}, std::nullopt,
                                  [](std::vector<market::Candle>&) { return true; });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::internal);
  EXPECT_NE(st.error().message.find("holds more than 1000 klines"), std::string::npos)
      << st.error().message;
}

TEST(KlineWindows, CalendarMonthsPageOneRequestAfterAnother) {
  constexpr int64_t kJan = 1704067200000, kMar = 1709251200000;  // 2024-01-01, 2024-03-01
  std::vector<KlineRequest> seen;
  std::vector<KlineFetcher> fetchers(2, [&](const KlineRequest& r) {
    seen.push_back(r);
    return Result<std::vector<market::Candle>>(std::vector<market::Candle>{});
  });
  auto st = for_each_kline_window(fetchers, "1M", {kJan, kMar}, std::nullopt,
                                  [](std::vector<market::Candle>&) { return true; });
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(seen.size(), 1u);  // one request from the start, as for_each_kline_page asks
  EXPECT_EQ(seen[0], (KlineRequest{kJan, kMar - 1, 1000}));
}

TEST(AggTradePaging, FindsFirstIdThroughEmptyHoursAndStopsAtEnd) {
  // Trades only from 2h30m on, one every minute, ids 500...
  const auto trades = tape(300, &market::AggTrade::agg_id, 500, kT0 + 9'000'000, kMin);
  std::vector<AggTradesQuery> queries;
  AggTradeFetcher f = [&](const AggTradesQuery& q) -> Result<std::vector<market::AggTrade>> {
    queries.push_back(q);
    std::vector<market::AggTrade> page;
    for (const auto& t : trades) {
      if (static_cast<int>(page.size()) >= q.limit) break;
      if (q.from_id && t.agg_id < *q.from_id) continue;
      if (q.start_ms && t.time < *q.start_ms) continue;
      if (q.end_ms && t.time > *q.end_ms) break;
      page.push_back(t);
    }
    return page;
  };
  TimeRange range{kT0, kT0 + 9'000'000 + 100 * kMin};
  std::vector<int64_t> ids;
  auto st =
      for_each_agg_trade_page(f, range, std::nullopt, collect_ids(&ids, &market::AggTrade::agg_id));
  ASSERT_TRUE(st.ok()) << st.error().message;
  ASSERT_EQ(ids.size(), 100u);
  EXPECT_EQ(ids.front(), 500);
  EXPECT_EQ(ids.back(), 599);
  // Windows of at most one hour while searching: [0,1h) [1h,2h) [2h,3h) found.
  ASSERT_GE(queries.size(), 4u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(*queries[i].start_ms, kT0 + i * 3'600'000);
    EXPECT_EQ(*queries[i].end_ms, kT0 + (i + 1) * 3'600'000 - 1);
  }
  EXPECT_EQ(*queries[3].from_id, 530);  // after the 30 trades of the found window

  // Resume after id 549: search skipped.
  queries.clear();
  ids.clear();
  st = for_each_agg_trade_page(f, range, 549, collect_ids(&ids, &market::AggTrade::agg_id));
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(ids.size(), 50u);
  EXPECT_EQ(ids.front(), 550);
  EXPECT_EQ(*queries[0].from_id, 550);

  // No trades in the range at all.
  queries.clear();
  st =
      for_each_agg_trade_page(f, {kT0, kT0 + 7'200'000}, std::nullopt, [&](auto&) { return true; });
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->rows, 0);
  EXPECT_EQ(queries.size(), 2u);
}

// A repair's loader: ids [first, last] of the range, by fromId, without the time search,
// stopping at the page that reaches `last` rather than at the range's end.
TEST(AggTradePaging, AnIdRangeIsFetchedByFromIdAndStopsPastItsLastId) {
  const auto trades = tape(5000, &market::AggTrade::agg_id, 0, kT0, 100);  // one every 100 ms
  std::vector<AggTradesQuery> queries;
  AggTradeFetcher f = [&](const AggTradesQuery& q) -> Result<std::vector<market::AggTrade>> {
    queries.push_back(q);
    return page_from(trades, &market::AggTrade::agg_id, q.from_id.value_or(0), q.limit);
  };
  std::vector<int64_t> ids;
  auto st = for_each_agg_trade_page(f, {kT0, kT0 + 500'000}, /*resume_after=*/1199,
                                    collect_ids(&ids, &market::AggTrade::agg_id), /*last=*/3456);
  ASSERT_TRUE(st.ok()) << st.error().message;
  ASSERT_EQ(ids.size(), 3456u - 1200u + 1u);
  EXPECT_EQ(ids.front(), 1200);
  EXPECT_EQ(ids.back(), 3456);
  ASSERT_EQ(queries.size(), 3u) << "1200.., 2200.., 3200.. and no further";
  EXPECT_EQ(*queries[0].from_id, 1200);
  EXPECT_FALSE(queries[0].start_ms.has_value()) << "no time search for an id range";
  EXPECT_EQ(*queries[2].from_id, 3200);
}

TEST(TradePaging, AnIdRangeIsFetchedByFromIdAndStopsPastItsLastId) {
  const auto trades = tape(3000, &market::Trade::trade_id, 0, kT0, 10);  // one every 10 ms
  std::vector<int64_t> from_ids;
  int searches = 0;
  TradeFetcher fetch = [&](int64_t from_id, int limit) -> Result<std::vector<market::Trade>> {
    from_ids.push_back(from_id);
    return page_from(trades, &market::Trade::trade_id, from_id, limit);
  };
  FirstTradeIdFn first = [&](int64_t start_ms, int64_t) -> Result<std::optional<int64_t>> {
    ++searches;
    return std::optional<int64_t>((start_ms - kT0) / 10);
  };
  std::vector<int64_t> ids;
  const auto collect = collect_ids(&ids, &market::Trade::trade_id);
  auto st = for_each_trade_page(fetch, first, {kT0, kT0 + 30'000}, 499, collect, 1500);
  ASSERT_TRUE(st.ok()) << st.error().message;
  ASSERT_EQ(ids.size(), 1001u);
  EXPECT_EQ(ids.front(), 500);
  EXPECT_EQ(ids.back(), 1500);
  EXPECT_EQ(from_ids, (std::vector<int64_t>{500, 1500})) << "pages of 1000 until past 1500";
  EXPECT_EQ(searches, 0);

  // Without an id range: the search, then the range's end by time.
  ids.clear();
  from_ids.clear();
  st = for_each_trade_page(fetch, first, {kT0 + 1000, kT0 + 2000}, std::nullopt, collect);
  ASSERT_TRUE(st.ok()) << st.error().message;
  ASSERT_EQ(ids.size(), 100u);
  EXPECT_EQ(ids.front(), 100);
  EXPECT_EQ(ids.back(), 199);
  EXPECT_EQ(searches, 1);
}

}  // namespace
}  // namespace sf::exchange::binance
