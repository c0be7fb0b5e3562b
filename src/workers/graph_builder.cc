#include "workers/graph_builder.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <limits>
#include <set>

#include "json/json.h"
#include "market/records.h"
#include "protocol/validate.h"
#include "store/data_store.h"
#include "workers/analytics_settings.h"

namespace sf::workers {

using protocol::RunStatus;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Grid candles read per symbol at a time (analytics works on one block of windows).
constexpr size_t kBlockCandles = 20'000;
constexpr size_t kWriteBatch = 5'000;

Error bad(const std::string& field, const std::string& what) {
  return Error(Errc::invalid_argument, field + " " + what, field);
}

std::string replace_all(std::string s, std::string_view from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

// Decimal text as a double (closes and volumes are market::is_decimal text).
double to_double(const std::string& s) {
  double v = kNaN;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

}  // namespace

Result<GraphBuilderSettings> GraphBuilderSettings::from_params(const boost::json::object& params) {
  GraphBuilderSettings s;
  json::Fields f(params);
  SF_TRY(f.only({"symbols", "interval", "source", "window", "step", "method", "max_lag",
                 "threshold", "top_k", "min_pairs", "min_coverage", "wait_s"}));
  std::string list;
  SF_TRY_ASSIGN(list, f.str("symbols"));
  SF_TRY_ASSIGN(s.symbols, parse_symbol_list(list, "symbols", 2, 1000));
  std::optional<std::string> str;
  SF_TRY_ASSIGN(str, f.opt_str("interval"));
  if (str) s.interval = *str;
  if (market::interval_ms(s.interval) <= 0)
    return bad("interval", "'" + s.interval + "' is not a fixed-length kline interval");
  SF_TRY_ASSIGN(str, f.opt_str("source"));
  if (str) s.source = *str;
  // The source names every symbol's collection: check them all now.
  for (const std::string& sym : s.symbols) {
    const std::string name = s.source_collection(sym);
    if (auto st = store::check_collection_name(name); !st)
      return bad("source", "gives the collection name '" + name.substr(0, 80) +
                               "', which is refused: " + st.error().message);
  }
  std::optional<int64_t> n;
  auto positive = [&](const char* key, int64_t lo, int64_t hi, auto* out) -> Status {
    SF_TRY_ASSIGN(n, f.opt_int64(key));
    if (!n) return {};
    if (*n < lo || *n > hi)
      return bad(key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    *out = static_cast<std::remove_pointer_t<decltype(out)>>(*n);
    return {};
  };
  SF_TRY(positive("window", 3, 1'000'000, &s.graph.window));
  SF_TRY(positive("step", 1, 1'000'000, &s.graph.step));
  SF_TRY(positive("max_lag", 0, 1'000'000, &s.graph.max_lag));
  SF_TRY(positive("top_k", 0, 10'000, &s.graph.top_k));
  SF_TRY(positive("min_pairs", 0, 1'000'000, &s.graph.min_pairs));
  SF_TRY_ASSIGN(str, f.opt_str("method"));
  if (str) {
    if (*str == "pearson") {
      s.graph.method = analytics::CorrelationMethod::pearson;
    } else if (*str == "spearman") {
      s.graph.method = analytics::CorrelationMethod::spearman;
    } else {
      return bad("method", "must be pearson or spearman, not '" + str->substr(0, 40) + "'");
    }
  }
  std::optional<double> d;
  SF_TRY_ASSIGN(d, f.opt_number("threshold"));
  if (d) {
    s.graph.threshold = *d;
  } else if (s.graph.top_k > 0) {
    s.graph.threshold.reset();  // top_k alone
  }
  SF_TRY_ASSIGN(d, f.opt_number("min_coverage"));
  if (d) s.min_coverage = *d;
  if (!(s.min_coverage >= 0 && s.min_coverage <= 1))
    return bad("min_coverage", "must be between 0 and 1");
  SF_TRY_ASSIGN(d, f.opt_number("wait_s"));
  if (d) s.wait_s = *d;
  if (!(s.wait_s >= 0 && s.wait_s <= 86400)) return bad("wait_s", "must be between 0 and 86400");
  SF_TRY(s.graph.validate());
  return s;
}

std::string GraphBuilderSettings::source_collection(const std::string& symbol) const {
  std::string lower = symbol;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string name = replace_all(source, "{symbol_lower}", lower);
  name = replace_all(std::move(name), "{symbol}", symbol);
  return replace_all(std::move(name), "{interval}", interval);
}

std::string GraphBuilderSettings::json_schema() {
  boost::json::object props = boost::json::parse(R"json({
    "source": {"type": "string", "pattern": "^([A-Za-z0-9_]|\\{symbol\\}|\\{symbol_lower\\}|\\{interval\\}){1,63}$", "description": "each symbol's candle collection; {symbol}, {symbol_lower} and {interval} are replaced (default {symbol_lower}_candles_{interval}); each name it gives must be a collection name"},
    "window": {"type": "integer", "minimum": 3, "maximum": 1000000, "description": "candles per snapshot (default 24)"},
    "step": {"type": "integer", "minimum": 1, "maximum": 1000000, "description": "candles between snapshots (default 3)"},
    "method": {"type": "string", "enum": ["pearson", "spearman"], "description": "correlation (default pearson)"},
    "max_lag": {"type": "integer", "minimum": 0, "maximum": 999998, "description": "lagged cross-correlation up to this many candles, at most window - 2, Pearson only (default 0: none)"},
    "threshold": {"type": "number", "minimum": 0, "maximum": 1, "description": "keep edges with |correlation| at least this (default 0.5; none when only top_k is given)"},
    "top_k": {"type": "integer", "minimum": 0, "maximum": 10000, "description": "also keep each node's k strongest edges (default 0: off)"},
    "min_pairs": {"type": "integer", "minimum": 0, "maximum": 999999, "description": "fewest complete return pairs for an edge: 2 to window - 1 (default 0: (window - 1) / 2)"},
    "min_coverage": {"type": "number", "minimum": 0, "maximum": 1, "description": "fraction of the range's candles each input must hold (default 0.9)"},
    "wait_s": {"type": "number", "minimum": 0, "maximum": 86400, "description": "how long to wait for the inputs to reach min_coverage (default 0)"}
  })json")
                                  .as_object();
  props["symbols"] = symbol_list_schema(2, 1000, "comma-separated symbols, 2 to 1000 (required)");
  props["interval"] = fixed_interval_schema("the candles' interval (default 1h)");
  return settings_schema(
      std::move(props), {"symbols"},
      {kRepeatedSymbol, "gives the collection name", analytics::GraphOptions::kMaxLagCheck,
       analytics::GraphOptions::kLaggedPearsonCheck, analytics::GraphOptions::kMinPairsCheck});
}

namespace {

class GraphBuild {
 public:
  GraphBuild(WorkerContext& ctx, const WorkerConfig& cfg, ControlChannel& control, Telemetry& tel,
             GraphBuilderSettings s, store::GraphCollections g)
      : ctx_(ctx), cfg_(cfg), control_(control), tel_(tel), s_(std::move(s)), g_(std::move(g)) {}

  int run(const protocol::TimeRange& range) {
    step_ms_ = market::interval_ms(s_.interval);
    grid_start_ = (range.start_ms + step_ms_ - 1) / step_ms_ * step_ms_;
    grid_n_ = grid_start_ < range.end_ms
                  ? static_cast<size_t>((range.end_ms - grid_start_ + step_ms_ - 1) / step_ms_)
                  : 0;
    const size_t snapshots = analytics::snapshot_count(grid_n_, s_.graph);
    if (snapshots == 0)
      return fail(kExitBadConfig, "the range holds " + std::to_string(grid_n_) + " " + s_.interval +
                                      " candles, fewer than one window of " +
                                      std::to_string(s_.graph.window));
    (void)tel_.send(RunStatus::started,
                    "building " + std::to_string(snapshots) + " snapshots of " +
                        std::to_string(s_.symbols.size()) + " symbols into graph " + g_.graph,
                    0);
    if (int rc = wait_for_inputs(); rc >= 0) return rc;
    if (auto st = ctx_.data_store->ensure_collection(g_.nodes, market::Kind::graph_node); !st)
      return fail(kExitError, st.error().message);
    if (auto st = ctx_.data_store->ensure_collection(g_.edges, market::Kind::graph_edge); !st)
      return fail(kExitError, st.error().message);

    // Blocks of snapshots whose candles (window, and the step after it) fit kBlockCandles.
    const size_t per_block =
        std::max<size_t>(1, (kBlockCandles > s_.graph.window + s_.graph.step
                                 ? kBlockCandles - s_.graph.window - s_.graph.step
                                 : 0) /
                                    s_.graph.step +
                                1);
    for (size_t v0 = 0; v0 < snapshots; v0 += per_block) {
      const size_t v1 = std::min(snapshots, v0 + per_block);
      const size_t c0 = v0 * s_.graph.step;
      const size_t c1 =
          std::min(grid_n_, (v1 - 1) * s_.graph.step + s_.graph.window + s_.graph.step);
      if (auto st = load(c0, c1); !st) return fail(kExitError, st.error().message);
      for (size_t v = v0; v < v1; ++v) {
        if (control_.stop_requested()) {
          (void)flush();
          (void)tel_.send(RunStatus::interrupted,
                          "stopped after " + std::to_string(v) + " of " +
                              std::to_string(snapshots) + " snapshots",
                          written_);
          return kExitInterrupted;
        }
        analytics::GraphSnapshot snap = analytics::build_snapshot(
            series_, grid_start_, step_ms_, static_cast<int64_t>(v), s_.graph, c0);
        edges_total_ += snap.edges.size();
        for (auto& n : snap.nodes) nodes_.emplace_back(std::move(n));
        for (auto& e : snap.edges) edges_.emplace_back(std::move(e));
        if (nodes_.size() + edges_.size() >= kWriteBatch)
          if (auto st = flush(); !st) return fail(kExitError, st.error().message);
        progress("snapshot " + std::to_string(v + 1) + " of " + std::to_string(snapshots));
      }
    }
    if (auto st = flush(); !st) return fail(kExitError, st.error().message);
    (void)tel_.send(RunStatus::finished,
                    "graph " + g_.graph + ": " + std::to_string(snapshots) + " snapshots of " +
                        std::to_string(s_.symbols.size()) + " nodes, " +
                        std::to_string(edges_total_) + " edges (" + g_.nodes + ", " + g_.edges +
                        ")",
                    written_);
    return kExitFinished;
  }

 private:
  int fail(int rc, const std::string& message) {
    (void)tel_.send(RunStatus::error, message, written_);
    return rc;
  }

  void progress(const std::string& what) {
    const int64_t now = ctx_.clock->steady_ms();
    if (now - last_progress_ms_ < 1000) return;
    last_progress_ms_ = now;
    (void)tel_.send(RunStatus::loading, what + ", " + std::to_string(written_) + " records written",
                    written_);
  }

  // -1 when every input holds min_coverage of the range; else the exit code (after the
  // final event).
  int wait_for_inputs() {
    const auto need =
        static_cast<int64_t>(std::ceil(s_.min_coverage * static_cast<double>(grid_n_)));
    const int64_t deadline = ctx_.clock->steady_ms() + static_cast<int64_t>(s_.wait_s * 1000);
    for (;;) {
      std::string short_of;
      size_t short_count = 0;
      for (const std::string& sym : s_.symbols) {
        const std::string name = s_.source_collection(sym);
        store::Query q;
        q.symbol = sym;
        q.interval = s_.interval;
        q.from_ms = grid_start_;
        q.to_ms = grid_start_ + static_cast<int64_t>(grid_n_) * step_ms_;
        auto n = ctx_.data_store->count(name, q);
        if (!n && n.error().code != Errc::not_found) return fail(kExitError, n.error().message);
        if (n) {
          auto kind = ctx_.data_store->collection_kind(name);
          if (kind && *kind != market::Kind::candle)
            return fail(kExitError, "input collection " + name + " holds " +
                                        market::to_string(*kind) + " records, not candles");
        }
        const int64_t held = n ? *n : 0;
        if (held >= need) continue;
        if (++short_count <= 5)
          short_of += (short_of.empty() ? "" : "; ") + name + " holds " + std::to_string(held) +
                      " of " + std::to_string(grid_n_) + " " + sym + " candles";
      }
      if (short_count == 0) return -1;
      if (short_count > 5) short_of += "; and " + std::to_string(short_count - 5) + " more";
      const std::string msg = "inputs short of the range (min_coverage " +
                              std::to_string(s_.min_coverage).substr(0, 4) + "): " + short_of;
      if (ctx_.clock->steady_ms() >= deadline) return fail(kExitError, msg);
      progress("waiting for inputs: " + msg);
      if (control_.wait_stop_for(std::chrono::milliseconds(1000))) {
        (void)tel_.send(RunStatus::interrupted, "stopped while waiting for inputs", written_);
        return kExitInterrupted;
      }
    }
  }

  // Grid candles [c0, c1) of every symbol into series_ (NaN where missing or not closed).
  Status load(size_t c0, size_t c1) {
    series_.resize(s_.symbols.size());
    const int64_t from = grid_start_ + static_cast<int64_t>(c0) * step_ms_;
    for (size_t i = 0; i < s_.symbols.size(); ++i) {
      analytics::AlignedSeries& a = series_[i];
      a.symbol = s_.symbols[i];
      a.close.assign(c1 - c0, kNaN);
      a.volume.assign(c1 - c0, kNaN);
      store::Query q;
      q.symbol = a.symbol;
      q.interval = s_.interval;
      q.from_ms = from;
      q.to_ms = grid_start_ + static_cast<int64_t>(c1) * step_ms_;
      auto rows = ctx_.data_store->scan(s_.source_collection(a.symbol), q);
      if (!rows) return rows.error();
      for (const market::Record& r : *rows) {
        const auto* c = std::get_if<market::Candle>(&r);
        if (c == nullptr || !c->closed || (c->open_time - from) % step_ms_ != 0) continue;
        const auto at = static_cast<size_t>((c->open_time - from) / step_ms_);
        if (at >= a.close.size()) continue;
        a.close[at] = to_double(c->close);
        a.volume[at] = to_double(c->volume);
      }
    }
    return {};
  }

  // Edges first: once a snapshot's nodes are stored, so are its edges (what a gnn-trainer
  // waiting for a complete graph counts on).
  Status flush() {
    for (auto* batch : {&edges_, &nodes_}) {
      if (batch->empty()) continue;
      const bool nodes = batch == &nodes_;
      SF_TRY(ctx_.data_store->upsert(nodes ? g_.nodes : g_.edges,
                                     nodes ? market::Kind::graph_node : market::Kind::graph_edge,
                                     *batch));
      written_ += static_cast<int64_t>(batch->size());
      batch->clear();
    }
    return {};
  }

  WorkerContext& ctx_;
  const WorkerConfig& cfg_;
  ControlChannel& control_;
  Telemetry& tel_;
  GraphBuilderSettings s_;
  store::GraphCollections g_;
  int64_t step_ms_ = 0, grid_start_ = 0;
  size_t grid_n_ = 0;
  std::vector<analytics::AlignedSeries> series_;
  std::vector<market::Record> nodes_, edges_;
  int64_t written_ = 0;
  size_t edges_total_ = 0;
  int64_t last_progress_ms_ = 0;
};

int graph_builder_work(WorkerContext& ctx, const WorkerConfig& cfg, ControlChannel& control,
                       Telemetry& tel) {
  auto bad_config = [&](const std::string& m) {
    (void)tel.send(RunStatus::error, "bad graph-builder settings: " + m);
    return kExitBadConfig;
  };
  if (ctx.data_store == nullptr) {
    (void)tel.send(RunStatus::error, "graph-builder needs a store, and none is configured");
    return kExitError;
  }
  auto settings = GraphBuilderSettings::from_params(cfg.params);
  if (!settings) return bad_config(settings.error().message);
  if (!cfg.time_range) return bad_config("no time_range");
  auto range = protocol::parse_time_range(*cfg.time_range);
  if (!range) return bad_config(range.error().message);
  if (!cfg.collection_name) return bad_config("no collection_name (the graph's name)");
  auto g = store::graph_collections(*cfg.collection_name);
  if (!g) return bad_config(g.error().message);
  return GraphBuild(ctx, cfg, control, tel, std::move(*settings), std::move(*g)).run(*range);
}

}  // namespace

int run_graph_builder(WorkerContext& ctx) {
  return run_worker(ctx, "graph-builder", graph_builder_work);
}

}  // namespace sf::workers
