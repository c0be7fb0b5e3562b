#include "exchange/binance/paging.h"

#include <gtest/gtest.h>

#include <set>

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
