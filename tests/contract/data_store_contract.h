// Contract test suite for sf::store::DataStore (src/store/data_store.h). Every
// implementation instantiates it; the tests only use the interface.
//
// Factory shape expected as the type parameter:
//
//   struct MyDataStoreFactory {
//     // A fresh, empty store. Whatever backs it (a temporary directory, a database or
//     // schema created for the test) is released when the last reference goes, typically
//     // through a custom deleter.
//     static std::shared_ptr<sf::store::DataStore> make();
//   };
//
// Instantiation, in exactly one .cc of a test binary (the header defines the tests), at
// global namespace scope:
//
//   #include "tests/contract/data_store_contract.h"  // repository root on the include path
//   INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, DataStoreContract, MyDataStoreFactory);
//
// What is deliberately not here: persistence across reopening, sharing the database with
// the state store, and database outages (implementation-specific ways to provoke them).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"
#include "market/records.h"
#include "store/data_store.h"
#include "tests/support/store_factory.h"

namespace sf::store::data_contract {

inline constexpr int64_t kMinute = 60'000;
inline constexpr int64_t kT0 = 1'722'470'400'000;  // 2024-08-01T00:00:00Z

// A closed 1m candle whose values are derived from (symbol, i) so any row can be recomputed.
inline market::Candle candle(const std::string& symbol, int64_t i, std::string interval = "1m") {
  market::Candle c;
  c.symbol = symbol;
  c.interval = std::move(interval);
  c.open_time = kT0 + i * kMinute;
  c.close_time = c.open_time + kMinute - 1;
  c.open = std::to_string(60000 + i) + ".01000000";
  c.high = std::to_string(60010 + i) + ".00000000";
  c.low = std::to_string(59990 + i) + ".99000000";
  c.close = std::to_string(60001 + i) + ".50000000";
  c.volume = "12.34500000";
  c.quote_volume = "740700.12345678";
  c.trades = 100 + i;
  c.taker_buy_base_volume = "6.00000001";
  c.taker_buy_quote_volume = "360000.00000000";
  c.closed = true;
  return c;
}

inline market::AggTrade agg_trade(const std::string& symbol, int64_t id) {
  market::AggTrade t;
  t.symbol = symbol;
  t.agg_id = id;
  t.price = "60000.1" + std::to_string(id % 10);
  t.qty = "0.00100000";
  t.first_trade_id = id * 3;
  t.last_trade_id = id * 3 + 2;
  t.time = kT0 + id * 10;
  t.is_buyer_maker = id % 2 == 0;
  t.is_best_match = true;
  return t;
}

inline market::Trade trade(const std::string& symbol, int64_t id) {
  market::Trade t;
  t.symbol = symbol;
  t.trade_id = id;
  t.price = "3000.5" + std::to_string(id % 10);
  t.qty = "0.25000000";
  t.quote_qty = "750.13";
  t.time = kT0 + id * 7;
  t.is_buyer_maker = id % 3 == 0;
  t.is_best_match = id % 5 != 0;
  return t;
}

// A node of snapshot `version` (windows of an hour from kT0) with doubles that only an exact
// store keeps: values that are not short in decimal, tiny and huge magnitudes. (A negative
// zero may read back as 0: SQLite stores integral reals as integers.)
inline market::GraphNode graph_node(const std::string& symbol, int64_t version) {
  market::GraphNode n;
  n.symbol = symbol;
  n.version = version;
  n.window_start = kT0 + version * 60 * kMinute;
  n.window_end = n.window_start + 60 * kMinute;
  n.candles = 60 - version;
  n.log_return = 0.1 + 0.2 * static_cast<double>(version);  // 0.30000000000000004 for 1
  n.volatility = 1e-300;
  n.volume = 123456789.123456789;
  n.volume_change = -0.6931471805599453;
  n.return_1 = -1.0 / 3.0;
  n.return_2 = 2.5e-17;
  n.return_3 = 1.7976931348623157e308;
  n.next_return = std::nextafter(0.01, 1.0);
  n.has_next = version % 2 == 0;
  return n;
}

inline market::GraphEdge graph_edge(const std::string& a, const std::string& b, int64_t version,
                                    double correlation) {
  market::GraphEdge e;
  e.symbol = a;
  e.target = b;
  e.version = version;
  e.window_start = kT0 + version * 60 * kMinute;
  e.window_end = e.window_start + 60 * kMinute;
  e.correlation = correlation;
  e.lag = version;
  e.samples = 59;
  return e;
}

inline std::vector<market::Record> candles(const std::string& symbol, int64_t from, int64_t n) {
  std::vector<market::Record> out;
  out.reserve(static_cast<size_t>(n));
  for (int64_t i = from; i < from + n; ++i) out.emplace_back(candle(symbol, i));
  return out;
}

}  // namespace sf::store::data_contract

template <typename Factory>
class DataStoreContract : public sf::testing::StoreContractFixture<sf::store::DataStore, Factory> {
 protected:
  void upsert(const std::string& name, sf::market::Kind kind,
              const std::vector<sf::market::Record>& recs) {
    this->expect_ok(this->store_->upsert(name, kind, recs),
                    "upsert(" + name + ", " + std::to_string(recs.size()) + " records)");
  }
  int64_t count(const std::string& name, const sf::store::Query& q = {}) {
    return this->value_or(this->store_->count(name, q), "count(" + name + ")", int64_t{-1});
  }
  std::vector<sf::market::Record> scan(const std::string& name, const sf::store::Query& q = {}) {
    return this->value_or(this->store_->scan(name, q), "scan(" + name + ")",
                          std::vector<sf::market::Record>{});
  }
};

TYPED_TEST_SUITE_P(DataStoreContract);

TYPED_TEST_P(DataStoreContract, EnsureCollectionCreatesOnceWithItsKind) {
  using namespace sf::store;
  using sf::market::Kind;
  auto& s = this->store();
  ASSERT_TRUE(s.ensure_collection("candles_1m", Kind::candle).ok());
  ASSERT_TRUE(s.ensure_collection("candles_1m", Kind::candle).ok()) << "second ensure is a no-op";
  ASSERT_TRUE(s.ensure_collection("btc_agg", Kind::agg_trade).ok());
  ASSERT_TRUE(s.ensure_collection("eth_trades", Kind::trade).ok());

  auto other = s.ensure_collection("candles_1m", Kind::trade);
  ASSERT_FALSE(other.ok()) << "a collection keeps the kind it was created with";
  EXPECT_EQ(other.error().code, sf::Errc::invalid_argument);
  auto wrong = s.upsert("btc_agg", Kind::candle, data_contract::candles("BTCUSDT", 0, 1));
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code, sf::Errc::invalid_argument);

  auto list = s.collections();
  ASSERT_TRUE(list.ok()) << list.error().message;
  std::vector<CollectionInfo> want = {
      {"btc_agg", Kind::agg_trade}, {"candles_1m", Kind::candle}, {"eth_trades", Kind::trade}};
  EXPECT_EQ(*list, want);
  auto k = s.collection_kind("btc_agg");
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(*k, Kind::agg_trade);
  EXPECT_EQ(this->count("candles_1m"), 0);

  auto missing = s.count("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, sf::Errc::not_found);
  EXPECT_EQ(s.scan("nope").error().code, sf::Errc::not_found);
  EXPECT_EQ(s.times("nope").error().code, sf::Errc::not_found);
  EXPECT_EQ(s.collection_kind("nope").error().code, sf::Errc::not_found);
  EXPECT_FALSE(s.describe().empty());
}

TYPED_TEST_P(DataStoreContract, UpsertCreatesOnFirstUseAndRoundTripsEveryField) {
  using sf::market::Kind;
  namespace dc = sf::store::data_contract;
  std::vector<sf::market::Record> cs = {dc::candle("BTCUSDT", 0), dc::candle("BTCUSDT", 1)};
  std::get<sf::market::Candle>(cs[1]).closed = false;
  std::vector<sf::market::Record> as = {dc::agg_trade("BTCUSDT", 1), dc::agg_trade("BTCUSDT", 2)};
  std::vector<sf::market::Record> ts = {dc::trade("ETHUSDT", 10), dc::trade("ETHUSDT", 15)};
  // Extreme but valid integers survive too.
  std::get<sf::market::Trade>(ts[1]).trade_id = (int64_t{1} << 62) + 12345;

  this->upsert("c", Kind::candle, cs);
  this->upsert("a", Kind::agg_trade, as);
  this->upsert("t", Kind::trade, ts);
  EXPECT_EQ(this->scan("c"), cs);
  EXPECT_EQ(this->scan("a"), as);
  EXPECT_EQ(this->scan("t"), ts);
}

TYPED_TEST_P(DataStoreContract, UpsertIsIdempotent) {
  using sf::market::Kind;
  namespace dc = sf::store::data_contract;
  auto batch = dc::candles("BTCUSDT", 0, 500);
  this->upsert("candles", Kind::candle, batch);
  auto first = this->scan("candles");
  this->upsert("candles", Kind::candle, batch);
  this->upsert("candles", Kind::candle, batch);
  EXPECT_EQ(this->count("candles"), 500);
  EXPECT_EQ(this->scan("candles"), first);
  EXPECT_EQ(first, batch);

  // Duplicates inside one batch: one row, the last one wins.
  std::vector<sf::market::Record> dup = {dc::candle("ETHUSDT", 0), dc::candle("ETHUSDT", 0)};
  std::get<sf::market::Candle>(dup[1]).close = "1.00000000";
  this->upsert("candles", Kind::candle, dup);
  sf::store::Query q;
  q.symbol = "ETHUSDT";
  auto eth = this->scan("candles", q);
  ASSERT_EQ(eth.size(), 1u);
  EXPECT_EQ(eth[0], dup[1]);
}

TYPED_TEST_P(DataStoreContract, BatchBoundaries) {
  using sf::market::Kind;
  namespace dc = sf::store::data_contract;
  // Empty batch: ok, creates the collection, writes nothing.
  ASSERT_TRUE(this->store().upsert("b", Kind::candle, {}).ok());
  EXPECT_EQ(this->count("b"), 0);
  // Sizes around typical boundaries, overlapping the previous batch by a few records.
  const int64_t sizes[] = {1, 2, 7, 999, 1000, 1001, 4999, 5000, 5001};
  int64_t next = 0;
  for (int64_t n : sizes) {
    int64_t from = std::max<int64_t>(0, next - 3);
    this->upsert("b", Kind::candle, dc::candles("BTCUSDT", from, n + (next - from)));
    next += n;
  }
  EXPECT_EQ(this->count("b"), next);
  auto times = this->store().times("b");
  ASSERT_TRUE(times.ok());
  ASSERT_EQ(static_cast<int64_t>(times->size()), next);
  for (int64_t i = 0; i < next; ++i) {
    ASSERT_EQ((*times)[static_cast<size_t>(i)], dc::kT0 + i * dc::kMinute) << "at " << i;
  }
}

TYPED_TEST_P(DataStoreContract, ExactDecimalTextRoundTrips) {
  using sf::market::Kind;
  namespace dc = sf::store::data_contract;
  const std::vector<std::string> odd = {
      "0.00000001", "-1.5", "0.10000000", "0", "1", "100", "0.0", "99999999999999999999.99999999",
      "12345678901234567890.123456789012345678", "-0.00000001", "3.14159265358979323846",
      // Spellings an exact decimal type may normalise: the
      // text must still come back as sent.
      "0.00010000", "-0", "-0.00", "007.50", "00", "0000.0000",
      "1" + std::string(62, '0') + "1",  // 64 bytes
      "-0." + std::string(61, '9')};
  std::vector<sf::market::Record> batch;
  for (size_t i = 0; i < odd.size(); ++i) {
    auto c = dc::candle("BTCUSDT", static_cast<int64_t>(i));
    c.open = odd[i];
    c.high = odd[(i + 1) % odd.size()];
    c.low = odd[(i + 2) % odd.size()];
    c.close = odd[(i + 3) % odd.size()];
    c.volume = odd[(i + 4) % odd.size()];
    c.quote_volume = odd[(i + 5) % odd.size()];
    c.taker_buy_base_volume = odd[(i + 6) % odd.size()];
    c.taker_buy_quote_volume = odd[(i + 7) % odd.size()];
    batch.emplace_back(c);
  }
  this->upsert("decimals", Kind::candle, batch);
  EXPECT_EQ(this->scan("decimals"), batch);

  std::vector<sf::market::Record> trades;
  for (size_t i = 0; i < odd.size(); ++i) {
    auto t = dc::trade("ETHUSDT", static_cast<int64_t>(i));
    t.price = odd[i];
    t.qty = odd[(i + 1) % odd.size()];
    t.quote_qty = odd[(i + 2) % odd.size()];
    trades.emplace_back(t);
  }
  this->upsert("trade_decimals", Kind::trade, trades);
  EXPECT_EQ(this->scan("trade_decimals"), trades);

  // scan_json() may read another way than scan() (PostgreSQL: a binary COPY): the same text.
  for (const auto& [name, want_records] :
       {std::pair{"decimals", &batch}, std::pair{"trade_decimals", &trades}}) {
    std::string want;
    for (const auto& r : *want_records) want += (want.empty() ? "" : ",") + sf::market::encode(r);
    std::string got;
    auto n = this->store().scan_json(name, {}, got);
    ASSERT_TRUE(n.ok()) << n.error().message;
    EXPECT_EQ(*n, want_records->size());
    EXPECT_EQ(got, want) << name;
  }
}

TYPED_TEST_P(DataStoreContract, BadRecordRefusesTheWholeBatch) {
  using sf::market::Kind;
  namespace dc = sf::store::data_contract;
  this->upsert("all_or_nothing", Kind::candle, dc::candles("BTCUSDT", 0, 10));
  auto batch = dc::candles("BTCUSDT", 5, 100);  // 5 overlap, 95 new
  std::get<sf::market::Candle>(batch[1]).close = "changed";
  std::get<sf::market::Candle>(batch[99]).high = "1e5";  // not exchange decimal text
  auto s = this->store().upsert("all_or_nothing", Kind::candle, batch);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, sf::Errc::invalid_argument);
  EXPECT_EQ(this->count("all_or_nothing"), 10);
  EXPECT_EQ(this->scan("all_or_nothing"), dc::candles("BTCUSDT", 0, 10));

  // A record of another kind in the batch is refused the same way.
  std::vector<sf::market::Record> mixed = dc::candles("BTCUSDT", 20, 3);
  mixed.emplace_back(dc::trade("BTCUSDT", 1));
  auto m = this->store().upsert("all_or_nothing", Kind::candle, mixed);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code, sf::Errc::invalid_argument);
  EXPECT_EQ(this->count("all_or_nothing"), 10);
}

TYPED_TEST_P(DataStoreContract, UnsafeCollectionNamesAreRefusedWithoutTouchingTheStore) {
  using sf::market::Kind;
  namespace dc = sf::store::data_contract;
  auto& s = this->store();
  this->upsert("keep", Kind::candle, dc::candles("BTCUSDT", 0, 3));
  const std::vector<std::string> bad = {"x; DROP TABLE queues",
                                        "a-b",
                                        "",
                                        "1abc",
                                        "_x",
                                        "a b",
                                        "a\"b",
                                        "a'b",
                                        "a.b",
                                        "keep;",
                                        "x\n",
                                        std::string(64, 'a'),
                                        "queues",
                                        "Events",
                                        "schema_version",
                                        "sqlite_master",
                                        "sf_collections",
                                        "pg_class",
                                        "caf\xc3\xa9"};
  for (const std::string& name : bad) {
    SCOPED_TRACE("name: '" + name + "'");
    auto e = s.ensure_collection(name, Kind::candle);
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(e.error().code, sf::Errc::invalid_argument);
    auto u = s.upsert(name, Kind::candle, dc::candles("BTCUSDT", 0, 1));
    ASSERT_FALSE(u.ok());
    EXPECT_EQ(u.error().code, sf::Errc::invalid_argument);
    EXPECT_EQ(s.count(name).error().code, sf::Errc::invalid_argument);
    EXPECT_EQ(s.scan(name).error().code, sf::Errc::invalid_argument);
    EXPECT_EQ(s.times(name).error().code, sf::Errc::invalid_argument);
    EXPECT_FALSE(s.collection_kind(name).ok());
  }
  EXPECT_TRUE(sf::store::check_collection_name(std::string(63, 'a')).ok());
  auto list = s.collections();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, "keep");
  EXPECT_EQ(this->count("keep"), 3);
}

TYPED_TEST_P(DataStoreContract, OpenCandleIsReplacedByClosedButNotTheReverse) {
  using sf::market::Kind;
  namespace dc = sf::store::data_contract;
  auto open = dc::candle("BTCUSDT", 0);
  open.closed = false;
  open.close = "60000.00000000";
  open.trades = 5;
  auto closed = dc::candle("BTCUSDT", 0);
  this->upsert("live", Kind::candle, {open});
  EXPECT_EQ(this->scan("live"), std::vector<sf::market::Record>{open});
  this->upsert("live", Kind::candle, {closed});
  EXPECT_EQ(this->scan("live"), std::vector<sf::market::Record>{closed});
  // A redelivered open candle from an earlier run never overwrites the final one.
  this->upsert("live", Kind::candle, {open});
  EXPECT_EQ(this->scan("live"), std::vector<sf::market::Record>{closed});
  // A later open candle does replace an earlier open one.
  auto open2 = open;
  open2.trades = 9;
  auto other = dc::candle("BTCUSDT", 1);
  other.closed = false;
  this->upsert("live", Kind::candle, {other});
  auto other2 = other;
  other2.trades = 99;
  this->upsert("live", Kind::candle, {other2});
  EXPECT_EQ(this->scan("live"), (std::vector<sf::market::Record>{closed, other2}));
}

TYPED_TEST_P(DataStoreContract, QueriesFilterAndOrderByNaturalKey) {
  using sf::market::Kind;
  namespace dc = sf::store::data_contract;
  // Inserted out of key order: two symbols, two intervals, reversed times.
  std::vector<sf::market::Record> batch;
  for (int64_t i = 9; i >= 0; --i) {
    batch.emplace_back(dc::candle("SOLUSDT", i));
    batch.emplace_back(dc::candle("BTCUSDT", i));
    if (i % 5 == 0) batch.emplace_back(dc::candle("BTCUSDT", i, "5m"));
  }
  this->upsert("q", Kind::candle, batch);
  EXPECT_EQ(this->count("q"), 22);

  auto all = this->scan("q");
  ASSERT_EQ(all.size(), 22u);
  for (size_t i = 1; i < all.size(); ++i) {
    const auto& a = std::get<sf::market::Candle>(all[i - 1]);
    const auto& b = std::get<sf::market::Candle>(all[i]);
    EXPECT_LT(std::tie(a.symbol, a.interval, a.open_time),
              std::tie(b.symbol, b.interval, b.open_time))
        << "at " << i;
  }

  sf::store::Query q;
  q.symbol = "BTCUSDT";
  EXPECT_EQ(this->count("q", q), 12);
  q.interval = "1m";
  EXPECT_EQ(this->count("q", q), 10);
  q.from_ms = dc::kT0 + 2 * dc::kMinute;
  q.to_ms = dc::kT0 + 7 * dc::kMinute;  // exclusive
  EXPECT_EQ(this->count("q", q), 5);
  auto times = this->store().times("q", q);
  ASSERT_TRUE(times.ok());
  std::vector<int64_t> want;
  for (int64_t i = 2; i < 7; ++i) want.push_back(dc::kT0 + i * dc::kMinute);
  EXPECT_EQ(*times, want);
  EXPECT_EQ(this->scan("q", q), dc::candles("BTCUSDT", 2, 5));
  q.limit = 2;
  EXPECT_EQ(this->scan("q", q), dc::candles("BTCUSDT", 2, 2));

  // Trades filter on `time`.
  std::vector<sf::market::Record> ts;
  for (int64_t id = 1; id <= 20; ++id) ts.emplace_back(dc::trade("ETHUSDT", id));
  this->upsert("tq", Kind::trade, ts);
  sf::store::Query tq;
  tq.from_ms = dc::kT0 + 7 * 5;  // ids 5..
  tq.to_ms = dc::kT0 + 7 * 10;   // ..9
  tq.interval = "1m";            // ignored for trades
  EXPECT_EQ(this->count("tq", tq), 5);
  tq.symbol = "BTCUSDT";
  EXPECT_EQ(this->count("tq", tq), 0);
}

// scan_json(): encode() of scan(), byte for byte, or the picked fields alone.
TYPED_TEST_P(DataStoreContract, ScanJsonIsTheEncodedScanOrThePickedFields) {
  using sf::market::Kind;
  namespace dc = sf::store::data_contract;
  std::vector<sf::market::Record> cs;
  for (int64_t i = 0; i < 5; ++i) cs.emplace_back(dc::candle("BTCUSDT", i));
  this->upsert("sj", Kind::candle, cs);
  std::vector<sf::market::Record> ts;
  for (int64_t id = 1; id <= 4; ++id) ts.emplace_back(dc::trade("ETHUSDT", id));
  this->upsert("sjt", Kind::trade, ts);
  auto& s = this->store();
  for (const char* name : {"sj", "sjt"}) {
    sf::store::Query q;
    q.limit = 3;
    std::string want;
    for (const auto& r : this->scan(name, q))
      want += (want.empty() ? "" : ",") + sf::market::encode(r);
    std::string got = "[";
    auto n = s.scan_json(name, q, got);
    ASSERT_TRUE(n.ok()) << n.error().message;
    EXPECT_EQ(*n, 3u);
    EXPECT_EQ(got, "[" + want) << name;
  }
  // open_time (2), close (7) and closed (the last field) of the candles.
  const auto& fields = sf::market::kind_info(Kind::candle).fields;
  std::string got;
  auto n = s.scan_json("sj", {}, got, {2, 7, fields.size() - 1});
  ASSERT_TRUE(n.ok()) << n.error().message;
  EXPECT_EQ(*n, 5u);
  std::string want;
  for (const auto& r : cs) {
    const auto& c = std::get<sf::market::Candle>(r);
    want += std::string(want.empty() ? "" : ",") + "{\"open_time\":" + std::to_string(c.open_time) +
            ",\"close\":\"" + c.close + "\",\"closed\":" + (c.closed ? "true" : "false") + "}";
  }
  EXPECT_EQ(std::string(fields[2].name), "open_time");
  EXPECT_EQ(std::string(fields[7].name), "close");
  EXPECT_EQ(got, want);
  std::string ignored;
  EXPECT_EQ(s.scan_json("sj", {}, ignored, {7, 2}).error().code, sf::Errc::invalid_argument);
  EXPECT_EQ(s.scan_json("sj", {}, ignored, {fields.size()}).error().code,
            sf::Errc::invalid_argument);
  EXPECT_EQ(s.scan_json("nope", {}, ignored).error().code, sf::Errc::not_found);
}

// time_bounds(): what the read API lists per collection (count, first and last time).
TYPED_TEST_P(DataStoreContract, TimeBoundsCountAndSpanTheMatchingRecords) {
  using sf::market::Kind;
  namespace dc = sf::store::data_contract;
  std::vector<sf::market::Record> batch;
  for (int64_t i = 9; i >= 3; --i) batch.emplace_back(dc::candle("SOLUSDT", i));
  for (int64_t i = 0; i < 5; ++i) batch.emplace_back(dc::candle("BTCUSDT", i));
  this->upsert("tb", Kind::candle, batch);
  auto& s = this->store();

  auto all = s.time_bounds("tb");
  ASSERT_TRUE(all.ok()) << all.error().message;
  EXPECT_EQ(*all, (sf::store::TimeBounds{12, dc::kT0, dc::kT0 + 9 * dc::kMinute}));
  sf::store::Query q;
  q.symbol = "SOLUSDT";
  q.from_ms = dc::kT0 + 4 * dc::kMinute;
  q.to_ms = dc::kT0 + 8 * dc::kMinute;
  q.limit = 1;  // ignored
  auto some = s.time_bounds("tb", q);
  ASSERT_TRUE(some.ok());
  EXPECT_EQ(*some,
            (sf::store::TimeBounds{4, dc::kT0 + 4 * dc::kMinute, dc::kT0 + 7 * dc::kMinute}));
  q.symbol = "ETHUSDT";
  auto none = s.time_bounds("tb", q);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, (sf::store::TimeBounds{0, std::nullopt, std::nullopt}));

  std::vector<sf::market::Record> ts;
  for (int64_t id = 1; id <= 20; ++id) ts.emplace_back(dc::trade("ETHUSDT", id));
  this->upsert("tbt", Kind::trade, ts);
  auto trades = s.time_bounds("tbt");
  ASSERT_TRUE(trades.ok());
  EXPECT_EQ(*trades, (sf::store::TimeBounds{20, dc::kT0 + 7, dc::kT0 + 7 * 20}));
  EXPECT_EQ(s.time_bounds("nope").error().code, sf::Errc::not_found);
}

TYPED_TEST_P(DataStoreContract, ConcurrentWritersToDifferentAndSameCollections) {
  using sf::market::Kind;
  namespace dc = sf::store::data_contract;
  constexpr int kThreads = 4;
  constexpr int kBatches = 20;
  constexpr int kPerBatch = 250;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string own = "own_" + std::to_string(t);
      for (int b = 0; b < kBatches; ++b) {
        const int64_t from = int64_t{b} * kPerBatch;
        // Own collection: disjoint keys. Shared collection: every thread writes the same keys
        // (identical values) plus a range of its own symbol.
        if (!this->store().upsert(own, Kind::candle, dc::candles("BTCUSDT", from, kPerBatch)).ok())
          ++failures;
        if (!this->store()
                 .upsert("shared", Kind::candle, dc::candles("BTCUSDT", from, kPerBatch))
                 .ok())
          ++failures;
        if (!this->store()
                 .upsert("shared", Kind::candle,
                         dc::candles("SYM" + std::to_string(t) + "USDT", from, kPerBatch))
                 .ok())
          ++failures;
        if (b % 5 == 0 && !this->store().count("shared").ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(this->count("own_" + std::to_string(t)), kBatches * kPerBatch);
  }
  EXPECT_EQ(this->count("shared"), (kThreads + 1) * kBatches * kPerBatch);
  sf::store::Query q;
  q.symbol = "BTCUSDT";
  EXPECT_EQ(this->scan("shared", q), dc::candles("BTCUSDT", 0, kBatches * kPerBatch));
}

TYPED_TEST_P(DataStoreContract, UnicodeAndSpecialCharactersInTextFieldsRoundTrip) {
  using sf::market::Kind;
  namespace dc = sf::store::data_contract;
  // Text key fields reach the database through quoting or escaping layers (SQL parameters,
  // COPY, JSON): none may alter a byte.
  // Control characters, backslashes and quotes are what COPY and SQL escaping must handle.
  const std::vector<std::string> symbols = {
      "BTC/USDT",       "比特币USDT",   "ÉTH-€",          "tab\there", "new\nline",
      "back\\slash",    "\\N",          "quote'\"double", "emoji🚀",    "semi;colon--",
      "percent%_under", "a\tb\rc\n\\t", "trailing\\"};
  std::vector<sf::market::Record> cs, ts;
  for (size_t i = 0; i < symbols.size(); ++i) {
    const std::string& sym = symbols[i];
    auto c = dc::candle(sym, static_cast<int64_t>(i), i % 3 == 0 ? "1m" : "1ч");
    cs.emplace_back(c);
    ts.emplace_back(dc::trade(sym, static_cast<int64_t>(i)));
  }
  this->upsert("unicode_c", Kind::candle, cs);
  this->upsert("unicode_t", Kind::trade, ts);
  for (size_t i = 0; i < cs.size(); ++i) {
    const auto& c = std::get<sf::market::Candle>(cs[i]);
    sf::store::Query q;
    q.symbol = c.symbol;
    q.interval = c.interval;
    SCOPED_TRACE("symbol '" + c.symbol + "'");
    EXPECT_EQ(this->scan("unicode_c", q), std::vector<sf::market::Record>{cs[i]});
    sf::store::Query tq;
    tq.symbol = c.symbol;
    EXPECT_EQ(this->scan("unicode_t", tq), std::vector<sf::market::Record>{ts[i]});
  }
  EXPECT_EQ(this->count("unicode_c"), static_cast<int64_t>(cs.size()));
  // Upserting again with the same keys replaces, never duplicates.
  this->upsert("unicode_c", Kind::candle, cs);
  EXPECT_EQ(this->count("unicode_c"), static_cast<int64_t>(cs.size()));
}

TYPED_TEST_P(DataStoreContract, DuplicateKeysInOneBatchFollowTheClosedCandleRule) {
  using sf::market::Kind;
  namespace dc = sf::store::data_contract;
  // As if the records were upserted one after another: a later record replaces an earlier
  // one with the same key, except that an open candle never replaces a closed one.
  auto closed = dc::candle("BTCUSDT", 0);
  auto open = closed;
  open.closed = false;
  open.close = "1.00000000";
  auto open2 = open;
  open2.trades = 1;
  auto b_open = dc::candle("BTCUSDT", 1);
  b_open.closed = false;
  auto b_closed = dc::candle("BTCUSDT", 1);
  b_closed.volume = "99.00000000";
  // Keys out of order and repeated, across symbols.
  std::vector<sf::market::Record> batch = {closed,   b_open, dc::candle("ETHUSDT", 5), open,
                                           b_closed, open2,  dc::candle("ETHUSDT", 5)};
  this->upsert("dups", Kind::candle, batch);
  EXPECT_EQ(this->scan("dups"),
            (std::vector<sf::market::Record>{closed, b_closed, dc::candle("ETHUSDT", 5)}));

  // Trades: the last one wins.
  auto t1 = dc::trade("BTCUSDT", 7);
  auto t2 = t1;
  t2.price = "1.5";
  auto t3 = t1;
  t3.price = "2.5";
  this->upsert("dup_trades", Kind::trade, {t1, dc::trade("BTCUSDT", 3), t2, t3});
  EXPECT_EQ(this->scan("dup_trades"),
            (std::vector<sf::market::Record>{dc::trade("BTCUSDT", 3), t3}));
}

TYPED_TEST_P(DataStoreContract, LargeBatchLandsOnceAndABadRecordWritesNothing) {
  using sf::market::Kind;
  namespace dc = sf::store::data_contract;
  // Larger than any internal chunk (statements, COPY buffers): all of it, exactly once.
  constexpr int64_t kN = 60'000;
  auto batch = dc::candles("BTCUSDT", 0, kN);
  this->upsert("large", Kind::candle, batch);
  EXPECT_EQ(this->count("large"), kN);
  // The same batch with one bad record at the very end writes nothing new.
  auto next = dc::candles("BTCUSDT", kN, kN);
  std::get<sf::market::Candle>(next.back()).low = "1.2.3";
  auto s = this->store().upsert("large", Kind::candle, next);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(this->count("large"), kN);
  std::get<sf::market::Candle>(next.back()).low = "1.23";
  this->upsert("large", Kind::candle, next);
  auto times = this->store().times("large");
  ASSERT_TRUE(times.ok());
  ASSERT_EQ(static_cast<int64_t>(times->size()), 2 * kN);
  EXPECT_EQ(times->front(), dc::kT0);
  EXPECT_EQ(times->back(), dc::kT0 + (2 * kN - 1) * dc::kMinute);
}

// missing_ids(): gaps between the stored ids of a range always; at the range's edges only
// against the expected first and last ids; the cap on the number of ranges; the filters
// (symbol, time range); and the refusals.
TYPED_TEST_P(DataStoreContract, MissingIdsFindsGapsInsideTheRangeAndAtItsEdgesOnlyWhenExpected) {
  using sf::market::Kind;
  using sf::store::IdGapQuery;
  using sf::store::IdRange;
  namespace dc = sf::store::data_contract;
  // BTCUSDT aggregate trades 2..96 without 10..14 and 50, plus 100..120 (after the range);
  // ETHUSDT 0..99 without 30. Aggregate trade `id` is at kT0 + 10 * id.
  std::vector<sf::market::Record> recs;
  for (int64_t id = 2; id <= 120; ++id)
    if ((id < 10 || id > 14) && id != 50 && (id <= 96 || id >= 100))
      recs.emplace_back(dc::agg_trade("BTCUSDT", id));
  for (int64_t id = 0; id <= 99; ++id)
    if (id != 30) recs.emplace_back(dc::agg_trade("ETHUSDT", id));
  this->upsert("agg", Kind::agg_trade, recs);

  auto missing = [&](IdGapQuery q) {
    return this->value_or(this->store().missing_ids("agg", q), "missing_ids(agg)",
                          std::vector<IdRange>{{-1, -1}});
  };
  IdGapQuery q;
  q.symbol = "BTCUSDT";
  q.from_ms = dc::kT0;       // ids 0 ..
  q.to_ms = dc::kT0 + 1000;  // .. 99
  EXPECT_EQ(missing(q), (std::vector<IdRange>{{10, 14}, {50, 50}}))
      << "without expected ids only the gaps between stored ids can be seen";
  q.expected_first = 0;
  q.expected_last = 99;
  EXPECT_EQ(missing(q), (std::vector<IdRange>{{0, 1}, {10, 14}, {50, 50}, {97, 99}}))
      << "the edges, against the expected ids";
  q.max_ranges = 3;
  EXPECT_EQ(missing(q), (std::vector<IdRange>{{0, 1}, {10, 14}, {50, 99}}))
      << "over the cap the last range runs to the last missing id";
  q.max_ranges = 1;
  EXPECT_EQ(missing(q), (std::vector<IdRange>{{0, 99}}));
  q.expected_first.reset();
  q.expected_last.reset();
  EXPECT_EQ(missing(q), (std::vector<IdRange>{{10, 50}}))
      << "capped without expected ids: up to the last gap between stored ids";
  q.max_ranges = 100;

  // Expected ids the store has at its edges: only the gaps inside.
  q.expected_first = 2;
  q.expected_last = 96;
  EXPECT_EQ(missing(q), (std::vector<IdRange>{{10, 14}, {50, 50}}));
  // A range whose ids are all there.
  q.from_ms = dc::kT0 + 150;  // ids 15 ..
  q.to_ms = dc::kT0 + 500;    // .. 49
  q.expected_first = 15;
  q.expected_last = 49;
  EXPECT_EQ(missing(q), std::vector<IdRange>{});
  // Nothing stored in the range: all of it when both ends are known, else nothing to say.
  q.from_ms = dc::kT0 + 5000;
  q.to_ms = dc::kT0 + 6000;
  q.expected_first = 500;
  q.expected_last = 599;
  EXPECT_EQ(missing(q), (std::vector<IdRange>{{500, 599}}));
  q.expected_last.reset();
  EXPECT_EQ(missing(q), std::vector<IdRange>{});
  // Another symbol's ids are its own.
  q = IdGapQuery{};
  q.symbol = "ETHUSDT";
  q.expected_first = 0;
  q.expected_last = 99;
  EXPECT_EQ(missing(q), (std::vector<IdRange>{{30, 30}}));

  // Trades: the same by trade_id (trade `id` is at kT0 + 7 * id).
  std::vector<sf::market::Record> trades;
  for (int64_t id = 1; id <= 10; ++id)
    if (id != 5) trades.emplace_back(dc::trade("BTCUSDT", id));
  this->upsert("trades", Kind::trade, trades);
  IdGapQuery tq;
  tq.symbol = "BTCUSDT";
  tq.expected_first = 0;
  auto t = this->store().missing_ids("trades", tq);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(*t, (std::vector<IdRange>{{0, 0}, {5, 5}}));

  // Refusals.
  this->upsert("candles", Kind::candle, dc::candles("BTCUSDT", 0, 3));
  EXPECT_EQ(this->store().missing_ids("candles", tq).error().code, sf::Errc::invalid_argument)
      << "candles have no ids";
  EXPECT_EQ(this->store().missing_ids("nope", tq).error().code, sf::Errc::not_found);
  IdGapQuery bad = tq;
  bad.expected_first = 9;
  bad.expected_last = 3;
  EXPECT_EQ(this->store().missing_ids("trades", bad).error().code, sf::Errc::invalid_argument);
  bad = tq;
  bad.max_ranges = 0;
  EXPECT_EQ(this->store().missing_ids("trades", bad).error().code, sf::Errc::invalid_argument);
  bad = tq;
  bad.symbol.clear();
  EXPECT_EQ(this->store().missing_ids("trades", bad).error().code, sf::Errc::invalid_argument);
  EXPECT_EQ(this->store().missing_ids("no-such name", tq).error().code, sf::Errc::invalid_argument);
}

TYPED_TEST_P(DataStoreContract, GraphCollectionsKeepEveryDoubleExactlyAndTheirNames) {
  using sf::market::Kind;
  using sf::market::Record;
  namespace dc = sf::store::data_contract;
  std::vector<Record> nodes, edges;
  for (int64_t v = 0; v < 3; ++v) {
    for (const char* s : {"BTCUSDT", "ETHUSDT", "SOLUSDT"})
      nodes.emplace_back(dc::graph_node(s, v));
    edges.emplace_back(dc::graph_edge("BTCUSDT", "ETHUSDT", v, 0.123456789012345678));
    edges.emplace_back(dc::graph_edge("ETHUSDT", "SOLUSDT", v, -1.0));
    edges.emplace_back(dc::graph_edge("BTCUSDT", "SOLUSDT", v, 1.0 / 7.0));
  }
  this->upsert("corr_nodes", Kind::graph_node, nodes);
  this->upsert("corr_edges", Kind::graph_edge, edges);
  this->upsert("corr_edges", Kind::graph_edge, edges);  // idempotent
  std::vector<Record> want_nodes = nodes, want_edges = edges;
  std::sort(want_nodes.begin(), want_nodes.end(), sf::market::key_less);
  std::sort(want_edges.begin(), want_edges.end(), sf::market::key_less);
  const std::vector<Record> got_nodes = this->scan("corr_nodes");
  EXPECT_EQ(got_nodes, want_nodes) << "every field, every double bit for bit";
  ASSERT_EQ(got_nodes.size(), 9u);
  EXPECT_EQ(this->scan("corr_edges"), want_edges);

  // One snapshot: its window (the time field is window_start).
  sf::store::Query q;
  q.from_ms = dc::kT0 + 60 * dc::kMinute;
  q.to_ms = q.from_ms + 1;
  EXPECT_EQ(this->count("corr_nodes", q), 3);
  q.symbol = "ETHUSDT";
  EXPECT_EQ(this->count("corr_edges", q), 1) << "edges filter on their first end";

  auto& s = this->store();
  auto unnamed = s.upsert("corr", Kind::graph_node, std::vector<Record>{nodes[0]});
  ASSERT_FALSE(unnamed.ok()) << "a node collection is named <graph>_nodes";
  EXPECT_EQ(unnamed.error().code, sf::Errc::invalid_argument);
  EXPECT_EQ(s.ensure_collection("corr_nodes", Kind::graph_edge).error().code,
            sf::Errc::invalid_argument);
  EXPECT_EQ(s.ensure_collection("x_edges", Kind::graph_node).error().code,
            sf::Errc::invalid_argument);

  // A value no JSON and no store can hold exactly is refused, and nothing of its batch lands.
  std::vector<Record> bad = {dc::graph_node("XRPUSDT", 0), dc::graph_node("ADAUSDT", 0)};
  std::get<sf::market::GraphNode>(bad[1]).volatility = std::numeric_limits<double>::quiet_NaN();
  auto nan = s.upsert("corr_nodes", Kind::graph_node, bad);
  ASSERT_FALSE(nan.ok());
  EXPECT_EQ(nan.error().code, sf::Errc::invalid_argument);
  EXPECT_NE(nan.error().message.find("volatility"), std::string::npos) << nan.error().message;
  std::get<sf::market::GraphNode>(bad[1]).volatility = std::numeric_limits<double>::infinity();
  EXPECT_EQ(s.upsert("corr_nodes", Kind::graph_node, bad).error().code, sf::Errc::invalid_argument);
  EXPECT_EQ(this->count("corr_nodes"), 9);
}

REGISTER_TYPED_TEST_SUITE_P(
    DataStoreContract, EnsureCollectionCreatesOnceWithItsKind,
    GraphCollectionsKeepEveryDoubleExactlyAndTheirNames,
    UpsertCreatesOnFirstUseAndRoundTripsEveryField, UpsertIsIdempotent, BatchBoundaries,
    ExactDecimalTextRoundTrips, BadRecordRefusesTheWholeBatch,
    UnsafeCollectionNamesAreRefusedWithoutTouchingTheStore,
    OpenCandleIsReplacedByClosedButNotTheReverse, QueriesFilterAndOrderByNaturalKey,
    TimeBoundsCountAndSpanTheMatchingRecords, ScanJsonIsTheEncodedScanOrThePickedFields,
    ConcurrentWritersToDifferentAndSameCollections,
    UnicodeAndSpecialCharactersInTextFieldsRoundTrip,
    DuplicateKeysInOneBatchFollowTheClosedCandleRule, LargeBatchLandsOnceAndABadRecordWritesNothing,
    MissingIdsFindsGapsInsideTheRangeAndAtItsEdgesOnlyWhenExpected);
