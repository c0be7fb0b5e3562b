// Deterministic synthetic markets: the ground truth the exchange simulator serves.
//
// Every value is a pure function of (seed, symbol, interval, time or id): nothing is
// generated ahead or stored, so any candle or trade is computed directly, in O(1), by the
// simulator and independently by tests. How:
// - Fractal value noise: for octaves L = 0..28 (periods 2^L seconds), a splitmix64 hash of
//   (seed, L, lattice index) gives a value in [-1, 1] at each lattice point, linearly
//   interpolated between points, with amplitude ~ sqrt(period) (Brownian-like) capped at 12
//   days, so prices stay within about x0.3..x3 of the base.
// - Sectors (README): log price = log(base) + the symbol's own noise (seeded by the symbol)
//   in octaves 0..4, and in every slower octave own weight x its own noise + loading x its
//   sector's factor (the same noise, seeded by the sector) at t - lag, with own weight^2 +
//   loading^2 = 1, so every symbol has the same volatility in every regime. Each sector has
//   one leader (lag 0, loading kLeaderLoading); its other symbols follow with lag
//   kFollowerLagMs (D = 3 h) and, in octaves 5..16 (periods 32 s..18 h, what moves hourly
//   returns), a loading that changes between regimes of 7..10 days, blended over the first
//   kRegimeBlendMs of a regime (the slow octaves' loading stays kSlowLoading, so the
//   blend moves the log price by 0.4% rms over those 12 hours: never a jump).
// - A candle at any interval is computed directly at that granularity (not aggregated from
//   1s candles): open = price(open_time), close = price(open_time + interval), so a
//   candle's close is the next one's open and the open of a 1h candle equals the open of
//   its first 1m candle; high/low widen max/min(open, close) by a hashed excursion; volume,
//   trade count and taker volumes are hashed around per-symbol rates. High/low/volume of a
//   big interval are NOT the aggregate of its smaller candles.
// - Aggregate trades: k per second per symbol (SymbolSpec::agg_per_sec, dividing 1000), id
//   a = (second since the market epoch) * k + j, time strictly increasing inside a second;
//   each aggregate trade covers r consecutive trade ids [a*r, a*r + r - 1]
//   (SymbolSpec::trades_per_agg) that share its price, time and side; its qty is the sum
//   of theirs. Trades and candles are not reconciled with each other.
// - Markets start at kEpochMs (2017-01-01T00:00:00Z): no candle opens and no trade
//   happens before it (so the first 1w candle opens on Monday 2017-01-02).
// Prices and quantities are fixed-point integers in units of 1e-8, rounded to the
// symbol's tick/step, printed with 8 decimals like Binance ("64000.01000000").
//
// Thread-safety: a Market is immutable after construction; every method is const and
// safe to call from any number of threads.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "market/records.h"
#include "market/units.h"

namespace sf::exchange::sim {

inline constexpr int64_t kEpochMs = 1483228800000;      // 2017-01-01T00:00:00Z
inline constexpr int64_t kUnit = market::kUnitsPerOne;  // fixed-point scale (1e-8)
inline constexpr int kPriceOctaves = 29;                // octaves of the log-price noise
inline constexpr int kNoiseGroups = 3;  // groups of slow octaves summed as one (PriceMemo)

// Sectors, leaders and regimes (see the file comment and README).
inline constexpr int kSectors = 4;  // 0: BTC (leads) ETH BNB; 1: SOL (leads) XRP DOGE; 2, 3
inline constexpr int64_t kFollowerLagMs = 3 * 3'600'000;  // D: followers see factor(t - D)
inline constexpr int kSharedOctave = 5;                   // octaves 0..4 (<= 16 s): a symbol's own
inline constexpr int kFastOctaves = 17;                   // octaves 5..16 (<= 18 h): follow regimes
inline constexpr double kLeaderLoading = 0.92;            // a leader's loading, octaves 5..28
inline constexpr double kSlowLoading = 0.8;               // a follower's loading in octaves 17..28
// A follower's loading in octaves 5..16 in a regime: kMinLoading + (kMaxLoading -
// kMinLoading) x (0.7 x the sector's draw + 0.3 x its own), draws uniform in [0, 1).
inline constexpr double kMinLoading = 0.55, kMaxLoading = 0.97;
// Regime r starts at kEpochMs + r x kRegimeMeanMs + j_r, j_r a whole number of hours in
// [-kRegimeJitterMs, kRegimeJitterMs] hashed from (seed, r): regimes last 7 to 10 days. The
// same regimes for every symbol of a market.
inline constexpr int64_t kRegimeMeanMs = 204 * 3'600'000;   // 8.5 days
inline constexpr int64_t kRegimeJitterMs = 18 * 3'600'000;  // 0.75 days
inline constexpr int64_t kRegimeBlendMs = 12 * 3'600'000;   // loadings move over 12 h

// A kline interval. ms == 0 for "1M" (calendar months); offset_ms aligns 1w to Mondays.
struct Interval {
  std::string_view name;
  int64_t ms = 0;
  int64_t offset_ms = 0;
};
// Every Binance interval, "1s" .. "1M".
const std::vector<Interval>& intervals();
// nullptr for anything but one of the 16 Binance interval names (case-sensitive).
const Interval* find_interval(std::string_view name);
// Open time of the candle containing t (floor), the next and the previous open time.
int64_t align(const Interval& iv, int64_t t_ms);
int64_t next_open(const Interval& iv, int64_t open_ms);
int64_t prev_open(const Interval& iv, int64_t open_ms);
// Close time: next open - 1 ms (as Binance prints it).
inline int64_t close_time(const Interval& iv, int64_t open_ms) {
  return next_open(iv, open_ms) - 1;
}

// Per-symbol constants of the synthetic market (see the file comment).
struct SymbolSpec {
  std::string name;
  std::string base_asset, quote_asset;
  uint64_t seed = 0;      // global seed mixed with a hash of the name
  double base_price = 1;  // centre of the price walk
  double log_base_price = 0;
  int64_t tick = 1;            // price step in 1e-8 units (1'000'000 = 0.01)
  int64_t step = 1;            // quantity step in 1e-8 units
  double volume_per_sec = 1;   // mean base-asset volume per second
  int64_t agg_per_sec = 1;     // aggregate trades per second; divides 1000
  int64_t trades_per_agg = 1;  // trade ids per aggregate trade
  int sector = 0;              // 0 .. kSectors - 1
  bool leader = false;         // leads its sector (lag 0); else follows with kFollowerLagMs
  uint64_t sector_seed = 0;    // seed of the sector's factor noise
  int64_t lag_ms = 0;          // 0 for a leader, kFollowerLagMs for a follower
};

// The lattice values one symbol's price walk last used, per octave, of its own noise and
// of its sector's factor, and the regime it was in. Consecutive times (a page of candles
// or trades) share the lattice cells of the slow octaves, so with a memo a price costs a
// few hashes instead of 4 * kPriceOctaves. Prices are bit-identical with and without one.
// One memo per symbol and per thread (a page being built); not thread-safe.
struct PriceMemo {
  struct Cell {
    int64_t index = INT64_MIN;  // lattice index of v0; INT64_MIN: empty
    double v0 = 0, v1 = 0;
  };
  struct Group {                // the slow octaves of a group, linear in t inside their cells
    int64_t index = INT64_MIN;  // lattice index of the group's fastest octave
    double c = 0, b = 0;        // their sum is c + b * t
  };
  struct Regime {
    int64_t r = INT64_MIN;             // INT64_MIN: empty
    double start = 0, end = 0;         // seconds after kEpochMs
    double loading = 0, previous = 0;  // this regime's fast loading and the previous one's
  };
  uint64_t seed = 0;                               // SymbolSpec::seed the cells belong to
  std::array<Cell, kPriceOctaves> cells{};         // own noise
  std::array<Cell, kPriceOctaves> factor_cells{};  // sector factor
  std::array<Group, kNoiseGroups> groups{}, factor_groups{};
  Regime regime;
};

// A candle as fixed-point numbers (1e-8 units); formatted by append_kline_row().
struct RawCandle {
  int64_t open_time = 0, close_time = 0;
  int64_t open = 0, high = 0, low = 0, close = 0;
  int64_t volume = 0, quote_volume = 0, taker_base = 0, taker_quote = 0;
  int64_t trades = 0;
  bool closed = true;
};

struct RawAggTrade {
  int64_t id = 0, price = 0, qty = 0, first_trade_id = 0, last_trade_id = 0, time = 0;
  bool buyer_maker = false;
};

struct RawTrade {
  int64_t id = 0, price = 0, qty = 0, quote_qty = 0, time = 0;
  bool buyer_maker = false;
};

// A range [from_ms, to_ms) in which a symbol has no candles (by open time) and no trades
// (by time), like an exchange in maintenance.
struct Hole {
  std::string symbol;
  int64_t from_ms = 0, to_ms = 0;
  friend bool operator==(const Hole&, const Hole&) = default;
};
// The hole of `symbol` containing t, or nullptr.
const Hole* find_hole(const std::vector<Hole>& holes, std::string_view symbol, int64_t t_ms);

// The five symbols every market has.
const std::vector<std::string>& default_symbols();
// True for a name Binance would accept as a symbol: ^[A-Z0-9-_.]{1,20}$.
bool valid_symbol_name(std::string_view s);
// The sector of a symbol name (0 .. kSectors - 1): fixed for the default symbols and
// DOGEUSDT, splitmix64(FNV-1a(name)) mod kSectors for any other (the name's, not the seed's).
int sector_of(std::string_view symbol);

class Market {
 public:
  // The default symbols plus `extra_symbols` (duplicates ignored; invalid names throw
  // std::invalid_argument: a start-up misconfiguration), each with `extra_agg_per_sec`
  // aggregate trades (of one trade each) a second. Sectors: BTC (leader), ETH, BNB in 0;
  // SOL (leader), XRP and DOGEUSDT (when listed) in 1; any other name in sector_of(name).
  // Sectors 2 and 3 have no default member: the byte-smallest of their symbols leads.
  explicit Market(uint64_t seed, const std::vector<std::string>& extra_symbols = {},
                  int64_t extra_agg_per_sec = kDefaultExtraAggPerSec);
  static constexpr int64_t kDefaultExtraAggPerSec = 2;

  uint64_t seed() const { return seed_; }
  const std::vector<SymbolSpec>& symbols() const { return specs_; }
  const SymbolSpec* find(std::string_view symbol) const;  // nullptr: unknown symbol

  // Regime r covers [regime_start(r), regime_start(r + 1)) (ms); regime_at(t) is the r
  // whose range holds t. Regime 0 starts within kRegimeJitterMs of kEpochMs.
  int64_t regime_start(int64_t r) const;
  int64_t regime_at(int64_t t_ms) const;
  // The loading of s on its sector's factor in the fast octaves at t_ms: kLeaderLoading for
  // a leader; for a follower its regime's, moving smoothly from the previous regime's over
  // the first kRegimeBlendMs of a regime. Its own noise weighs sqrt(1 - loading^2).
  double loading(const SymbolSpec& s, int64_t t_ms) const;

  // Price (1e-8 units, rounded to the tick, at least one tick) t seconds after kEpochMs.
  // `memo` (optional) speeds up a walk over nearby times; see PriceMemo.
  int64_t price_at(const SymbolSpec& s, double t_sec, PriceMemo* memo = nullptr) const;
  // The price at instant now_ms: the close of the candle still open then (any interval),
  // what the tickers call the last price and /depth's best bid.
  int64_t current_price(const SymbolSpec& s, int64_t now_ms) const;

  // The candle opening at open_ms (must be aligned and >= kEpochMs). With as_of_ms inside
  // the candle it is the still-open candle as seen at that instant: close = price then,
  // volumes and trades prorated, closed = false; otherwise the final candle.
  // open_price > 0: price_at(open) already known to the caller (the previous candle's
  // close when iterating forward), which halves the work. `memo`: see PriceMemo.
  RawCandle raw_candle(const SymbolSpec& s, const Interval& iv, int64_t open_ms,
                       int64_t as_of_ms = INT64_MAX, int64_t open_price = 0,
                       PriceMemo* memo = nullptr) const;
  // id >= 0
  RawAggTrade raw_agg_trade(const SymbolSpec& s, int64_t id, PriceMemo* memo = nullptr) const;
  RawTrade raw_trade(const SymbolSpec& s, int64_t id, PriceMemo* memo = nullptr) const;

  // Time of aggregate trade `id` and the first id whose time is >= t_ms (0 before the
  // epoch). The last id at or before t is first_agg_id_at(t + 1) - 1.
  static int64_t agg_time(const SymbolSpec& s, int64_t id);
  static int64_t first_agg_id_at(const SymbolSpec& s, int64_t t_ms);

  // Ground truth as the project's record types. nullopt for an unknown symbol or interval,
  // a misaligned or pre-epoch open time, or a negative id. Holes are not applied here.
  std::optional<market::Candle> candle(std::string_view symbol, std::string_view interval,
                                       int64_t open_ms, int64_t as_of_ms = INT64_MAX) const;
  std::optional<market::AggTrade> agg_trade(std::string_view symbol, int64_t id) const;
  std::optional<market::Trade> trade(std::string_view symbol, int64_t id) const;

 private:
  double log_price(const SymbolSpec& s, double t_sec, PriceMemo* memo) const;
  PriceMemo::Regime regime(const SymbolSpec& s, double t_sec) const;
  double fast_loading(const SymbolSpec& s, double t_sec, PriceMemo* memo) const;
  uint64_t seed_;
  std::vector<SymbolSpec> specs_;
};

// Appends units/1e8 with exactly 8 decimals ("64000.01000000"): market::append_units and
// format_units, under the names the simulator's code uses.
inline void append_fixed8(std::string& out, int64_t units) { market::append_units(out, units); }
inline std::string fixed8(int64_t units) { return market::format_units(units); }
// Appends a 12-element Binance kline row; times in microseconds when `micros`.
void append_kline_row(std::string& out, const RawCandle& c, bool micros);

}  // namespace sf::exchange::sim
