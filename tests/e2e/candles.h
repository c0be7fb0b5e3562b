// Shared by the e2e suites that load candles (historical, kafka_crash): the checker that
// compares the store with the simulator's ground truth, recomputed from the same seed.
// Header-only; needs gtest, sf_store_open and sf_exchange_sim.
#pragma once

#include <gtest/gtest.h>

#include <cctype>
#include <string>
#include <variant>

#include "exchange/sim/market.h"
#include "market/records.h"
#include "store/open.h"

namespace sf::testing {

// The store (`store_url`, or SQLite in `data_dir`) holds exactly `n` 1m candles of `symbol`,
// one per minute from `start_ms`, each equal to the simulator's (seed `seed`).
inline void expect_exact_candles(const std::string& store_url, const std::string& data_dir,
                                 const std::string& symbol, uint64_t seed, int64_t start_ms,
                                 int64_t n) {
  auto store = sf::store::open_data_store(store_url, data_dir);
  ASSERT_TRUE(store.ok()) << store.error().message;
  std::string coll = symbol;
  for (auto& c : coll) c = static_cast<char>(std::tolower(c));
  auto rows = (*store)->scan(coll + "_candles_1m");
  ASSERT_TRUE(rows.ok()) << rows.error().message;
  ASSERT_EQ(static_cast<int64_t>(rows->size()), n) << symbol << ": rows in the store";
  sf::exchange::sim::Market market(seed);
  for (size_t i = 0; i < rows->size(); ++i) {
    const auto& got = std::get<sf::market::Candle>((*rows)[i]);
    ASSERT_EQ(got.open_time, start_ms + static_cast<int64_t>(i) * 60'000)
        << symbol << " row " << i << " out of sequence (a missing or extra minute)";
    auto want = market.candle(symbol, "1m", got.open_time);
    ASSERT_TRUE(want.has_value()) << symbol << " row " << i;
    ASSERT_EQ(got, *want) << symbol << " row " << i << " differs from the exchange's";
  }
}

}  // namespace sf::testing
