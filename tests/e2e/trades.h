// Shared by the e2e suites that load trades: the checkers that compare the store with the
// simulator's ground truth, recomputed from the same seed. Header-only; needs gtest,
// sf_store_open and sf_exchange_sim.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "exchange/sim/market.h"
#include "market/records.h"
#include "store/open.h"

namespace sf::testing {

namespace detail {

// The check of both: `collection` holds exactly the records R of the simulator whose ids
// (`id` of R) run from the first id at start_ms up to the first at end_ms, in order, each
// equal to the simulator's (`lookup`). With `trade_ids`, ids are trade ids: trades_per_agg to
// an aggregate trade.
template <class R>
void expect_exact_ids(const std::string& store_url, const std::string& data_dir,
                      const std::string& collection, const std::string& symbol, uint64_t seed,
                      int64_t start_ms, int64_t end_ms, int64_t R::*id,
                      std::optional<R> (sf::exchange::sim::Market::*lookup)(std::string_view,
                                                                            int64_t) const,
                      bool trade_ids) {
  auto store = sf::store::open_data_store(store_url, data_dir);
  ASSERT_TRUE(store.ok()) << store.error().message;
  auto rows = (*store)->scan(collection);
  ASSERT_TRUE(rows.ok()) << rows.error().message;
  sf::exchange::sim::Market market(seed);
  const auto* spec = market.find(symbol);
  ASSERT_NE(spec, nullptr) << symbol;
  const int64_t r = trade_ids ? spec->trades_per_agg : 1;
  const int64_t first = sf::exchange::sim::Market::first_agg_id_at(*spec, start_ms) * r;
  const int64_t end = sf::exchange::sim::Market::first_agg_id_at(*spec, end_ms) * r;
  ASSERT_EQ(static_cast<int64_t>(rows->size()), end - first) << symbol << ": rows in the store";
  for (size_t i = 0; i < rows->size(); ++i) {
    const auto& got = std::get<R>((*rows)[i]);
    ASSERT_EQ(got.*id, first + static_cast<int64_t>(i))
        << symbol << " row " << i << " out of sequence (a missing or extra id)";
    auto want = (market.*lookup)(symbol, got.*id);
    ASSERT_TRUE(want.has_value()) << symbol << " row " << i;
    ASSERT_EQ(got, *want) << symbol << " row " << i << " differs from the exchange's";
  }
}

}  // namespace detail

// The store (`store_url`, or SQLite in `data_dir`) holds in `collection` exactly the aggregate
// trades of `symbol` with time in [start_ms, end_ms) on the simulator (seed `seed`): every
// id from the range's first to its last, once, each equal to the simulator's.
inline void expect_exact_agg_trades(const std::string& store_url, const std::string& data_dir,
                                    const std::string& collection, const std::string& symbol,
                                    uint64_t seed, int64_t start_ms, int64_t end_ms) {
  detail::expect_exact_ids(store_url, data_dir, collection, symbol, seed, start_ms, end_ms,
                           &sf::market::AggTrade::agg_id, &sf::exchange::sim::Market::agg_trade,
                           /*trade_ids=*/false);
}

// The same for trades (historicalTrades) in `collection`.
inline void expect_exact_trades(const std::string& store_url, const std::string& data_dir,
                                const std::string& collection, const std::string& symbol,
                                uint64_t seed, int64_t start_ms, int64_t end_ms) {
  detail::expect_exact_ids(store_url, data_dir, collection, symbol, seed, start_ms, end_ms,
                           &sf::market::Trade::trade_id, &sf::exchange::sim::Market::trade,
                           /*trade_ids=*/true);
}

}  // namespace sf::testing
