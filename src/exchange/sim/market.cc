#include "exchange/sim/market.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "base/civil.h"
#include "exchange/sim/hash.h"

namespace sf::exchange::sim {

namespace {

__extension__ using u128 = unsigned __int128;

constexpr int64_t kDayMs = 86'400'000;

// Stateless hash of a seed and up to three coordinates: the PRNG of the whole market.
uint64_t hash(uint64_t seed, uint64_t a, uint64_t b = 0, uint64_t c = 0) {
  uint64_t x = splitmix(seed ^ (a * 0xd6e8feb86659fd93ULL));
  x = splitmix(x ^ (b * 0xa0761d6478bd642fULL));
  return splitmix(x ^ (c * 0xe7037ed1a0b428dbULL));
}

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

int64_t month_start(int64_t y, int64_t m) {
  while (m > 12) m -= 12, ++y;
  while (m < 1) m += 12, --y;
  return days_from_civil(y, m, 1) * kDayMs;
}

// The first instant of the month `months` after (or before) the one `t` falls in.
int64_t month_start_from(int64_t t, int64_t months) {
  const CivilDate c = civil_from_days(floor_div(t, kDayMs));
  return month_start(c.year, c.month + months);
}

int64_t round_to(double v, int64_t step) {
  if (!(v > 0)) return 0;
  return std::llround(v / static_cast<double>(step)) * step;
}

int64_t mul_units(int64_t a, int64_t b) {  // a * b / 1e8, both in 1e-8 units
  return static_cast<int64_t>(static_cast<u128>(a) * static_cast<u128>(b) / kUnit);
}

// Octave amplitudes: sigma * sqrt(period), the period capped at 2^20 s (about 12 days).
constexpr int kOctaves = kPriceOctaves;
constexpr double kSigma = 1e-4;  // log-price noise per sqrt(second): ~55% a year
const std::array<double, kOctaves>& amplitudes() {
  static const auto a = [] {
    std::array<double, kOctaves> r{};
    for (int l = 0; l < kOctaves; ++l) r[l] = kSigma * std::sqrt(std::ldexp(1.0, std::min(l, 20)));
    return r;
  }();
  return a;
}

double sec_since_epoch(int64_t t_ms) { return static_cast<double>(t_ms - kEpochMs) / 1000.0; }

// One fractal value noise (see the file comment of market.h), summed separately over the
// octaves below kSharedOctave (`own`: every symbol's own), the fast ones up to kFastOctaves
// and the slow ones; a factor starts at kSharedOctave (`first`). Octaves below
// kDirectOctaves are summed one by one; each group [lo, hi) of slower ones is, inside its
// cells, a linear function c + b * t of t, with c and b computed from its lattice values
// only (so with and without a memo alike), and a memo keeps c and b while t stays in the
// cell of octave lo (then it stays in the cells of all its slower octaves). `cells` and
// `groups`: a memo's, or nullptr.
struct NoiseSums {
  double own = 0, fast = 0, slow = 0;
};
constexpr int kDirectOctaves = 8;
constexpr std::array<int, kNoiseGroups + 1> kGroupBounds = {kDirectOctaves, 12, kFastOctaves,
                                                            kOctaves};
static_assert(kGroupBounds[2] == kFastOctaves, "a group never spans fast and slow octaves");
static_assert(kSharedOctave < kDirectOctaves);

NoiseSums noise(uint64_t seed, int first, double t, PriceMemo::Cell* cells,
                PriceMemo::Group* groups) {
  static const auto inv = [] {
    std::array<double, kOctaves> r{};
    for (int l = 0; l < kOctaves; ++l) r[l] = std::ldexp(1.0, -l);
    return r;
  }();
  const auto& amp = amplitudes();
  // One splitmix per lattice point (the octave folded into the seed): this is the hot loop
  // of every candle and trade.
  const auto lattice = [&](int l, int64_t index, double& v0, double& v1) {
    const uint64_t oseed = seed + static_cast<uint64_t>(l) * 0x9e3779b97f4a7c15ULL;
    const auto value = [oseed](int64_t i) {
      return 2 * u01(splitmix(oseed ^ (static_cast<uint64_t>(i) * 0xd6e8feb86659fd93ULL))) - 1;
    };
    if (cells && cells[l].index == index) {
      v0 = cells[l].v0;
      v1 = cells[l].v1;
    } else {
      // Walking forward one cell, the old right point is the new left one.
      v0 = cells && cells[l].index == index - 1 ? cells[l].v1 : value(index);
      v1 = value(index + 1);
      if (cells) cells[l] = {index, v0, v1};
    }
  };
  NoiseSums sums;
  for (int l = first; l < kDirectOctaves; ++l) {
    const double x = t * inv[l];  // t / 2^l, exact
    const double fl = std::floor(x);
    double v0, v1;
    lattice(l, static_cast<int64_t>(fl), v0, v1);
    (l < kSharedOctave ? sums.own : sums.fast) += amp[l] * (v0 + (v1 - v0) * (x - fl));
  }
  for (int g = 0; g < kNoiseGroups; ++g) {
    const int lo = kGroupBounds[g], hi = kGroupBounds[g + 1];
    const auto index = static_cast<int64_t>(std::floor(t * inv[lo]));
    PriceMemo::Group local;
    PriceMemo::Group& group = groups ? groups[g] : local;
    if (group.index != index) {
      group = {index, 0, 0};
      for (int l = lo; l < hi; ++l) {
        const double fl = std::floor(t * inv[l]);
        double v0, v1;
        lattice(l, static_cast<int64_t>(fl), v0, v1);
        // amp * (v0 + (v1 - v0) * (t / 2^l - fl)) = amp * (v0 - (v1 - v0) fl) + t * ...
        group.c += amp[l] * (v0 - (v1 - v0) * fl);
        group.b += amp[l] * (v1 - v0) * inv[l];
      }
    }
    (hi <= kFastOctaves ? sums.fast : sums.slow) += group.c + group.b * t;
  }
  return sums;
}

// Regimes in seconds after kEpochMs (whole hours, exact as doubles).
constexpr double kRegimeMeanSec = static_cast<double>(kRegimeMeanMs) / 1000.0;
constexpr double kRegimeBlendSec = static_cast<double>(kRegimeBlendMs) / 1000.0;
constexpr int64_t kJitterHours = kRegimeJitterMs / 3'600'000;

int64_t regime_start_sec(uint64_t seed, int64_t r) {
  const uint64_t h =
      splitmix(seed ^ 0x726567696d65ULL ^ (static_cast<uint64_t>(r) * 0xd6e8feb86659fd93ULL));
  const auto jitter = static_cast<int64_t>(u01(h) * (2 * kJitterHours + 1));
  return r * (kRegimeMeanMs / 1000) + (jitter - kJitterHours) * 3600;
}

// A follower's fast loading in regime r (market.h).
double regime_loading(const SymbolSpec& s, int64_t r) {
  const uint64_t k = static_cast<uint64_t>(r) * 0xa0761d6478bd642fULL;
  const double u = 0.7 * u01(splitmix(s.sector_seed ^ 0x6c6f6164ULL ^ k)) +
                   0.3 * u01(splitmix(s.seed ^ 0x6c6f6164ULL ^ k));
  return kMinLoading + (kMaxLoading - kMinLoading) * u;
}

// The named symbols' sectors (README): the rest are hashed by name.
struct KnownSector {
  const char* name;
  int sector;
  bool leader;
};
constexpr KnownSector kKnownSectors[] = {
    {"BTCUSDT", 0, true}, {"ETHUSDT", 0, false}, {"BNBUSDT", 0, false},
    {"SOLUSDT", 1, true}, {"XRPUSDT", 1, false}, {"DOGEUSDT", 1, false},
};

struct Known {
  const char* name;
  double price;
  int64_t tick, step;
  double volume_per_sec;
  int64_t agg_per_sec, trades_per_agg;
};
constexpr Known kKnown[] = {
    {"BTCUSDT", 30000, 1'000'000, 1'000, 0.25, 10, 2},
    {"ETHUSDT", 2000, 1'000'000, 10'000, 3, 8, 2},
    {"SOLUSDT", 50, 1'000'000, 100'000, 20, 5, 2},
    {"BNBUSDT", 300, 1'000'000, 100'000, 2, 4, 2},
    {"XRPUSDT", 0.5, 10'000, 100'000'000, 5000, 4, 2},
};

void split_assets(SymbolSpec& s) {
  static constexpr std::string_view kQuotes[] = {"USDT", "FDUSD", "USDC", "BUSD", "TUSD",
                                                 "BTC",  "ETH",   "BNB",  "EUR",  "TRY"};
  for (auto q : kQuotes) {
    if (s.name.size() > q.size() && std::string_view(s.name).ends_with(q)) {
      s.base_asset = s.name.substr(0, s.name.size() - q.size());
      s.quote_asset = std::string(q);
      return;
    }
  }
  s.base_asset = s.name;
  s.quote_asset = "";
}

}  // namespace

const std::vector<Interval>& intervals() {
  static const std::vector<Interval> v = {
      {"1s", 1'000, 0},
      {"1m", 60'000, 0},
      {"3m", 180'000, 0},
      {"5m", 300'000, 0},
      {"15m", 900'000, 0},
      {"30m", 1'800'000, 0},
      {"1h", 3'600'000, 0},
      {"2h", 7'200'000, 0},
      {"4h", 14'400'000, 0},
      {"6h", 21'600'000, 0},
      {"8h", 28'800'000, 0},
      {"12h", 43'200'000, 0},
      {"1d", kDayMs, 0},
      {"3d", 3 * kDayMs, 0},
      {"1w", 7 * kDayMs, 4 * kDayMs},  // 1970-01-01 was a Thursday; weeks open on Monday
      {"1M", 0, 0},
  };
  return v;
}

const Interval* find_interval(std::string_view name) {
  for (const auto& iv : intervals())
    if (iv.name == name) return &iv;
  return nullptr;
}

int64_t align(const Interval& iv, int64_t t) {
  if (iv.ms > 0) return floor_div(t - iv.offset_ms, iv.ms) * iv.ms + iv.offset_ms;
  return month_start_from(t, 0);
}

int64_t next_open(const Interval& iv, int64_t open) {
  if (iv.ms > 0) return open + iv.ms;
  return month_start_from(open, 1);
}

int64_t prev_open(const Interval& iv, int64_t open) {
  if (iv.ms > 0) return open - iv.ms;
  return month_start_from(open, -1);
}

const Hole* find_hole(const std::vector<Hole>& holes, std::string_view symbol, int64_t t) {
  for (const auto& h : holes)
    if (t >= h.from_ms && t < h.to_ms && h.symbol == symbol) return &h;
  return nullptr;
}

const std::vector<std::string>& default_symbols() {
  static const std::vector<std::string> v = [] {
    std::vector<std::string> r;
    for (const auto& k : kKnown) r.emplace_back(k.name);
    return r;
  }();
  return v;
}

int sector_of(std::string_view symbol) {
  for (const auto& k : kKnownSectors)
    if (symbol == k.name) return k.sector;
  return static_cast<int>(splitmix(fnv1a(symbol)) % kSectors);
}

bool valid_symbol_name(std::string_view s) {
  if (s.empty() || s.size() > 20) return false;
  for (char c : s) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

Market::Market(uint64_t seed, const std::vector<std::string>& extra_symbols,
               int64_t extra_agg_per_sec)
    : seed_(seed) {
  if (extra_agg_per_sec < 1 || extra_agg_per_sec > 100'000)
    throw std::invalid_argument("extra symbols' trades per second must be 1..100000, not " +
                                std::to_string(extra_agg_per_sec));
  for (const auto& k : kKnown) {
    SymbolSpec s;
    s.name = k.name;
    s.base_price = k.price;
    s.tick = k.tick;
    s.step = k.step;
    s.volume_per_sec = k.volume_per_sec;
    s.agg_per_sec = k.agg_per_sec;
    s.trades_per_agg = k.trades_per_agg;
    specs_.push_back(std::move(s));
  }
  for (const auto& name : extra_symbols) {
    if (!valid_symbol_name(name))
      throw std::invalid_argument("invalid symbol name '" + name + "' (want ^[A-Z0-9-_.]{1,20}$)");
    if (find(name)) continue;
    SymbolSpec s;
    s.name = name;
    // A price between 0.1 and 1000 from the name, 4 decimals, ~1e5 quote volume a day.
    s.base_price = std::pow(10.0, -1.0 + 4.0 * u01(hash(seed, fnv1a(name), 1)));
    s.tick = 10'000;
    s.step = 1'000'000;
    s.volume_per_sec = 1.2 / s.base_price;
    s.agg_per_sec = extra_agg_per_sec;
    s.trades_per_agg = 1;
    specs_.push_back(std::move(s));
  }
  for (auto& s : specs_) {
    s.seed = splitmix(seed ^ fnv1a(s.name));
    s.log_base_price = std::log(s.base_price);
    split_assets(s);
    s.sector = sector_of(s.name);
    s.sector_seed = hash(seed ^ 0x736563746f72ULL, static_cast<uint64_t>(s.sector));
  }
  // A sector's leader: its named one (BTCUSDT, SOLUSDT: default symbols, always there), else
  // its byte-smallest symbol.
  std::array<const SymbolSpec*, kSectors> leaders{};
  for (const auto& k : kKnownSectors)
    if (k.leader) leaders[static_cast<size_t>(k.sector)] = find(k.name);
  const auto named = leaders;
  for (const auto& s : specs_) {
    const auto k = static_cast<size_t>(s.sector);
    if (!named[k] && (!leaders[k] || s.name < leaders[k]->name)) leaders[k] = &s;
  }
  for (auto& s : specs_) {
    s.leader = leaders[static_cast<size_t>(s.sector)] == &s;
    s.lag_ms = s.leader ? 0 : kFollowerLagMs;
  }
}

int64_t Market::regime_start(int64_t r) const {
  return kEpochMs + regime_start_sec(seed_, r) * 1000;
}

int64_t Market::regime_at(int64_t t_ms) const {
  const int64_t t = t_ms - kEpochMs;
  const int64_t r = floor_div(t, kRegimeMeanMs);
  if (t < regime_start_sec(seed_, r) * 1000) return r - 1;
  if (t >= regime_start_sec(seed_, r + 1) * 1000) return r + 1;
  return r;
}

PriceMemo::Regime Market::regime(const SymbolSpec& s, double t) const {
  auto r = static_cast<int64_t>(std::floor(t / kRegimeMeanSec));
  auto start = static_cast<double>(regime_start_sec(seed_, r));
  auto end = static_cast<double>(regime_start_sec(seed_, r + 1));
  if (t < start) {
    --r;
    end = start;
    start = static_cast<double>(regime_start_sec(seed_, r));
  } else if (t >= end) {
    ++r;
    start = end;
    end = static_cast<double>(regime_start_sec(seed_, r + 1));
  }
  return {r, start, end, regime_loading(s, r), regime_loading(s, r - 1)};
}

double Market::fast_loading(const SymbolSpec& s, double t, PriceMemo* memo) const {
  if (s.leader) return kLeaderLoading;
  PriceMemo::Regime g;
  if (memo && memo->regime.r != INT64_MIN && t >= memo->regime.start && t < memo->regime.end) {
    g = memo->regime;
  } else {
    g = regime(s, t);
    if (memo) memo->regime = g;
  }
  const double x = (t - g.start) / kRegimeBlendSec;
  if (x >= 1) return g.loading;
  const double smooth = x * x * (3 - 2 * x);  // smoothstep: no kink at either end
  return g.previous + (g.loading - g.previous) * smooth;
}

double Market::loading(const SymbolSpec& s, int64_t t_ms) const {
  return fast_loading(s, sec_since_epoch(t_ms), nullptr);
}

const SymbolSpec* Market::find(std::string_view symbol) const {
  for (const auto& s : specs_)
    if (s.name == symbol) return &s;
  return nullptr;
}

double Market::log_price(const SymbolSpec& s, double t, PriceMemo* memo) const {
  if (memo && memo->seed != s.seed) *memo = PriceMemo{.seed = s.seed};
  const NoiseSums own = noise(s.seed, 0, t, memo ? memo->cells.data() : nullptr,
                              memo ? memo->groups.data() : nullptr);
  const NoiseSums factor = noise(
      s.sector_seed, kSharedOctave, t - static_cast<double>(s.lag_ms) / 1000.0,
      memo ? memo->factor_cells.data() : nullptr, memo ? memo->factor_groups.data() : nullptr);
  const double fast = fast_loading(s, t, memo);
  const double slow = s.leader ? kLeaderLoading : kSlowLoading;
  return s.log_base_price + own.own + std::sqrt(1 - fast * fast) * own.fast + fast * factor.fast +
         std::sqrt(1 - slow * slow) * own.slow + slow * factor.slow;
}

int64_t Market::price_at(const SymbolSpec& s, double t_sec, PriceMemo* memo) const {
  return std::max(s.tick, round_to(std::exp(log_price(s, t_sec, memo)) * kUnit, s.tick));
}

int64_t Market::current_price(const SymbolSpec& s, int64_t now_ms) const {
  return price_at(s, sec_since_epoch(now_ms));
}

RawCandle Market::raw_candle(const SymbolSpec& s, const Interval& iv, int64_t open, int64_t as_of,
                             int64_t open_price, PriceMemo* memo) const {
  if (!memo) {  // open and close share the lattice cells of the octaves slower than the candle
    PriceMemo local;
    return raw_candle(s, iv, open, as_of, open_price, &local);
  }
  RawCandle c;
  c.open_time = open;
  const int64_t next = next_open(iv, open);
  c.close_time = next - 1;
  c.closed = as_of > c.close_time;
  const int64_t end = c.closed ? next : std::max(as_of, open);
  const double dur_sec = static_cast<double>(next - open) / 1000.0;
  const double frac = static_cast<double>(end - open) / static_cast<double>(next - open);

  c.open = open_price > 0 ? open_price : price_at(s, sec_since_epoch(open), memo);
  c.close = price_at(s, sec_since_epoch(end), memo);
  const uint64_t key = hash(s.seed ^ 0x6b6c696e65ULL, fnv1a(iv.name), static_cast<uint64_t>(open));
  const double elapsed = dur_sec * frac;
  const double swing = kSigma * std::sqrt(std::min(elapsed, 1048576.0));
  const double up = swing * (0.2 + 0.8 * u01(hash(key, 1)));
  const double down = swing * (0.2 + 0.8 * u01(hash(key, 2)));
  const int64_t hi = std::max(c.open, c.close), lo = std::min(c.open, c.close);
  c.high = std::max(hi, static_cast<int64_t>(std::ceil(static_cast<double>(hi) * std::exp(up) /
                                                       static_cast<double>(s.tick))) *
                            s.tick);
  c.low = std::clamp(static_cast<int64_t>(std::floor(static_cast<double>(lo) * std::exp(-down) /
                                                     static_cast<double>(s.tick))) *
                         s.tick,
                     s.tick, lo);

  c.trades = std::llround(static_cast<double>(s.agg_per_sec * s.trades_per_agg) * elapsed *
                          (0.5 + u01(hash(key, 3))));
  c.volume = round_to(s.volume_per_sec * elapsed * (0.5 + u01(hash(key, 4))) * kUnit, s.step);
  if (c.trades == 0 || c.volume == 0) {
    c.trades = 0;
    c.volume = 0;
  }
  const int64_t vwap = (c.open + c.high + c.low + c.close) / 4;
  c.quote_volume = mul_units(c.volume, vwap);
  c.taker_base = std::min(
      c.volume, round_to(static_cast<double>(c.volume) * (0.3 + 0.4 * u01(hash(key, 5))), s.step));
  c.taker_quote = mul_units(c.taker_base, vwap);
  return c;
}

int64_t Market::agg_time(const SymbolSpec& s, int64_t id) {
  const int64_t k = s.agg_per_sec, slot = 1000 / k;
  const int64_t sec = id / k, j = id % k;
  return kEpochMs + sec * 1000 + j * slot +
         static_cast<int64_t>(hash(s.seed ^ 0x616767ULL, static_cast<uint64_t>(id)) %
                              static_cast<uint64_t>(slot));
}

int64_t Market::first_agg_id_at(const SymbolSpec& s, int64_t t) {
  if (t <= kEpochMs) return 0;
  const int64_t sec = (t - kEpochMs) / 1000;
  for (int64_t id = sec * s.agg_per_sec; id < (sec + 1) * s.agg_per_sec; ++id)
    if (agg_time(s, id) >= t) return id;
  return (sec + 1) * s.agg_per_sec;
}

namespace {
int64_t trade_qty(const SymbolSpec& s, int64_t tid) {
  const double mean =
      s.volume_per_sec * kUnit / static_cast<double>(s.agg_per_sec * s.trades_per_agg);
  const double u = u01(hash(s.seed ^ 0x717479ULL, static_cast<uint64_t>(tid)));
  return std::max(s.step, round_to(2 * mean * u, s.step));
}
}  // namespace

RawAggTrade Market::raw_agg_trade(const SymbolSpec& s, int64_t id, PriceMemo* memo) const {
  RawAggTrade a;
  a.id = id;
  a.time = agg_time(s, id);
  a.price = price_at(s, sec_since_epoch(a.time), memo);
  a.first_trade_id = id * s.trades_per_agg;
  a.last_trade_id = a.first_trade_id + s.trades_per_agg - 1;
  for (int64_t t = a.first_trade_id; t <= a.last_trade_id; ++t) a.qty += trade_qty(s, t);
  a.buyer_maker = hash(s.seed ^ 0x6d616b6572ULL, static_cast<uint64_t>(id)) & 1;
  return a;
}

RawTrade Market::raw_trade(const SymbolSpec& s, int64_t id, PriceMemo* memo) const {
  RawTrade t;
  const int64_t agg = id / s.trades_per_agg;
  t.id = id;
  t.time = agg_time(s, agg);
  t.price = price_at(s, sec_since_epoch(t.time), memo);
  t.qty = trade_qty(s, id);
  t.quote_qty = mul_units(t.qty, t.price);
  t.buyer_maker = hash(s.seed ^ 0x6d616b6572ULL, static_cast<uint64_t>(agg)) & 1;
  return t;
}

std::optional<market::Candle> Market::candle(std::string_view symbol, std::string_view interval,
                                             int64_t open, int64_t as_of) const {
  const SymbolSpec* s = find(symbol);
  const Interval* iv = find_interval(interval);
  if (!s || !iv || open < kEpochMs || align(*iv, open) != open) return std::nullopt;
  const RawCandle r = raw_candle(*s, *iv, open, as_of);
  market::Candle c;
  c.symbol = s->name;
  c.interval = std::string(iv->name);
  c.open_time = r.open_time;
  c.close_time = r.close_time;
  c.open = fixed8(r.open);
  c.high = fixed8(r.high);
  c.low = fixed8(r.low);
  c.close = fixed8(r.close);
  c.volume = fixed8(r.volume);
  c.quote_volume = fixed8(r.quote_volume);
  c.trades = r.trades;
  c.taker_buy_base_volume = fixed8(r.taker_base);
  c.taker_buy_quote_volume = fixed8(r.taker_quote);
  c.closed = r.closed;
  return c;
}

std::optional<market::AggTrade> Market::agg_trade(std::string_view symbol, int64_t id) const {
  const SymbolSpec* s = find(symbol);
  if (!s || id < 0) return std::nullopt;
  const RawAggTrade r = raw_agg_trade(*s, id);
  market::AggTrade a;
  a.symbol = s->name;
  a.agg_id = r.id;
  a.price = fixed8(r.price);
  a.qty = fixed8(r.qty);
  a.first_trade_id = r.first_trade_id;
  a.last_trade_id = r.last_trade_id;
  a.time = r.time;
  a.is_buyer_maker = r.buyer_maker;
  a.is_best_match = true;
  return a;
}

std::optional<market::Trade> Market::trade(std::string_view symbol, int64_t id) const {
  const SymbolSpec* s = find(symbol);
  if (!s || id < 0) return std::nullopt;
  const RawTrade r = raw_trade(*s, id);
  market::Trade t;
  t.symbol = s->name;
  t.trade_id = r.id;
  t.price = fixed8(r.price);
  t.qty = fixed8(r.qty);
  t.quote_qty = fixed8(r.quote_qty);
  t.time = r.time;
  t.is_buyer_maker = r.buyer_maker;
  t.is_best_match = true;
  return t;
}

namespace {

// Writers into a caller's buffer: a row is built on the stack and appended once.
char* put_int(char* p, int64_t v) { return std::to_chars(p, p + 24, v).ptr; }

char* put_q8(char* p, int64_t units) {
  *p++ = '"';
  p = market::put_units(p, units);
  *p++ = '"';
  return p;
}

char* put_lit(char* p, std::string_view s) {
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

}  // namespace

void append_kline_row(std::string& out, const RawCandle& c, bool micros) {
  char buf[512];  // 12 fields of at most ~30 characters each
  char* p = buf;
  *p++ = '[';
  p = put_int(p, micros ? c.open_time * 1000 : c.open_time);
  *p++ = ',';
  p = put_q8(p, c.open);
  *p++ = ',';
  p = put_q8(p, c.high);
  *p++ = ',';
  p = put_q8(p, c.low);
  *p++ = ',';
  p = put_q8(p, c.close);
  *p++ = ',';
  p = put_q8(p, c.volume);
  *p++ = ',';
  p = put_int(p, micros ? (c.close_time + 1) * 1000 - 1 : c.close_time);
  *p++ = ',';
  p = put_q8(p, c.quote_volume);
  *p++ = ',';
  p = put_int(p, c.trades);
  *p++ = ',';
  p = put_q8(p, c.taker_base);
  *p++ = ',';
  p = put_q8(p, c.taker_quote);
  p = put_lit(p, ",\"0\"]");
  out.append(buf, static_cast<size_t>(p - buf));
}

}  // namespace sf::exchange::sim
