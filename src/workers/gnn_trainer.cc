#include "workers/gnn_trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "analytics/graph.h"
#include "artifacts/artifact_store.h"
#include "json/json.h"
#include "market/records.h"
#include "protocol/validate.h"
#include "store/data_store.h"
#include "workers/analytics_settings.h"

namespace sf::workers {

using protocol::RunStatus;

namespace {

constexpr std::string_view kWaitNeedsShape = "needs the graph's shape";

Error bad(const std::string& field, const std::string& what) {
  return Error(Errc::invalid_argument, field + " " + what, field);
}

std::string fmt(double v, const char* f = "%.3f") {
  char buf[32];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

}  // namespace

const std::vector<std::string>& gnn_feature_names() {
  static const std::vector<std::string> names = {"log_return",    "volatility", "log1p_volume",
                                                 "volume_change", "return_1",   "return_2",
                                                 "return_3"};
  return names;
}

Result<GnnTrainerSettings> GnnTrainerSettings::from_params(const boost::json::object& params) {
  GnnTrainerSettings s;
  json::Fields f(params);
  SF_TRY(f.only({"task",           "layers",       "hidden",          "heads",      "dropout",
                 "negative_slope", "lr",           "weight_decay",    "max_epochs", "patience",
                 "seed",           "val_fraction", "use_edge_weight", "self_loops", "threads",
                 "wait_s",         "symbols",      "interval",        "window",     "step"}));
  gnn::TrainConfig& c = s.train;
  std::optional<std::string> str;
  SF_TRY_ASSIGN(str, f.opt_str("task"));
  if (str) {
    if (*str == "classification") {
      c.task = gnn::Task::classification;
    } else if (*str == "regression") {
      c.task = gnn::Task::regression;
    } else {
      return bad("task", "must be classification or regression, not '" + str->substr(0, 40) + "'");
    }
  }
  std::optional<int64_t> n;
  for (auto [key, out] : {std::pair{"layers", &c.layers}, std::pair{"hidden", &c.hidden},
                          std::pair{"heads", &c.heads}, std::pair{"max_epochs", &c.max_epochs},
                          std::pair{"patience", &c.patience}, std::pair{"threads", &c.threads}}) {
    SF_TRY_ASSIGN(n, f.opt_int64(key));
    if (n) *out = *n;
  }
  SF_TRY_ASSIGN(n, f.opt_int64("seed"));
  if (n) {
    if (*n < 0) return bad("seed", "must not be negative");
    c.seed = static_cast<uint64_t>(*n);
  }
  std::optional<double> d;
  for (auto [key, out] :
       {std::pair{"dropout", &c.dropout}, std::pair{"negative_slope", &c.negative_slope},
        std::pair{"lr", &c.lr}, std::pair{"weight_decay", &c.weight_decay},
        std::pair{"val_fraction", &c.val_fraction}, std::pair{"wait_s", &s.wait_s}}) {
    SF_TRY_ASSIGN(d, f.opt_number(key));
    if (d) *out = *d;
  }
  std::optional<bool> b;
  SF_TRY_ASSIGN(b, f.opt_bool("use_edge_weight"));
  if (b) c.use_edge_weight = *b;
  SF_TRY_ASSIGN(b, f.opt_bool("self_loops"));
  if (b) c.self_loops = *b;
  SF_TRY(c.validate());
  if (!(s.wait_s >= 0 && s.wait_s <= 86400)) return bad("wait_s", "must be between 0 and 86400");

  // The graph's shape: all four or none.
  SF_TRY_ASSIGN(str, f.opt_str("symbols"));
  if (str) SF_TRY_ASSIGN(s.symbols, parse_symbol_list(*str, "symbols", 1, 1000));
  SF_TRY_ASSIGN(str, f.opt_str("interval"));
  if (str) s.interval = *str;
  if (market::interval_ms(s.interval) <= 0)
    return bad("interval", "'" + s.interval + "' is not a fixed-length kline interval");
  SF_TRY_ASSIGN(n, f.opt_int64("window"));
  if (n) {
    if (*n < 3 || *n > 1'000'000) return bad("window", "must be between 3 and 1000000");
    s.window = static_cast<size_t>(*n);
  }
  SF_TRY_ASSIGN(n, f.opt_int64("step"));
  if (n) {
    if (*n < 1 || *n > 1'000'000) return bad("step", "must be between 1 and 1000000");
    s.step = static_cast<size_t>(*n);
  }
  const bool shape = !s.symbols.empty() && s.window > 0 && s.step > 0;
  if (s.wait_s > 0 && !shape)
    return bad("wait_s", std::string(kWaitNeedsShape) +
                             " to know when it is complete: symbols, window and step (and "
                             "interval, default 1h)");
  return s;
}

std::string GnnTrainerSettings::json_schema() {
  boost::json::object props = boost::json::parse(R"json({
    "task": {"type": "string", "enum": ["classification", "regression"], "description": "predict the sign of each symbol's next return (default) or the return"},
    "layers": {"type": "integer", "minimum": 1, "maximum": 16, "description": "GATv2 layers (default 2)"},
    "hidden": {"type": "integer", "minimum": 1, "maximum": 4096, "description": "channels per head (default 32)"},
    "heads": {"type": "integer", "minimum": 1, "maximum": 64, "description": "attention heads (default 4)"},
    "dropout": {"type": "number", "minimum": 0, "maximum": 1, "exclusiveMaximum": true, "description": "default 0.1"},
    "negative_slope": {"type": "number", "minimum": 0, "maximum": 1, "description": "the attention's LeakyReLU slope (default 0.2)"},
    "lr": {"type": "number", "minimum": 0, "exclusiveMinimum": true, "description": "Adam's learning rate (default 0.005)"},
    "weight_decay": {"type": "number", "minimum": 0, "description": "default 0.0005"},
    "max_epochs": {"type": "integer", "minimum": 1, "maximum": 1000000, "description": "default 200"},
    "patience": {"type": "integer", "minimum": 0, "maximum": 1000000, "description": "epochs without a better validation loss before stopping (default 20; 0: never)"},
    "seed": {"type": "integer", "minimum": 0, "description": "random seed (default 42): the same seed gives the same model"},
    "val_fraction": {"type": "number", "minimum": 0, "exclusiveMinimum": true, "maximum": 1, "exclusiveMaximum": true, "description": "the latest snapshots that validate (default 0.2)"},
    "use_edge_weight": {"type": "boolean", "description": "correlations as edge features (default true)"},
    "self_loops": {"type": "boolean", "description": "GATv2 self loops (default true)"},
    "threads": {"type": "integer", "minimum": 0, "maximum": 256, "description": "torch threads (default 1)"},
    "wait_s": {"type": "number", "minimum": 0, "maximum": 86400, "description": "wait this long for the graph to be complete (needs symbols, window, step)"},
    "window": {"type": "integer", "minimum": 3, "maximum": 1000000, "description": "the graph's window (to wait for it)"},
    "step": {"type": "integer", "minimum": 1, "maximum": 1000000, "description": "the graph's step (to wait for it)"}
  })json")
                                  .as_object();
  props["symbols"] =
      symbol_list_schema(1, 1000, "the graph's symbols, comma-separated (to wait for it)");
  props["interval"] = fixed_interval_schema("the graph's interval (default 1h; to wait for it)");
  return settings_schema(std::move(props), {}, {kRepeatedSymbol, kWaitNeedsShape});
}

namespace {

struct Samples {
  std::vector<gnn::GraphSample> samples;
  std::vector<int64_t> versions;  // of the samples
  std::vector<std::string> symbols;
  int64_t snapshots = 0;   // in the graph
  int64_t unlabelled = 0;  // left out: a node without has_next
  int64_t edges = 0;
};

Result<Samples> read_samples(store::DataStore& store, const store::GraphCollections& g) {
  auto nodes = store.scan(g.nodes);
  if (!nodes) return nodes.error();
  auto edges = store.scan(g.edges);
  if (!edges) return edges.error();
  Samples out;
  std::map<int64_t, std::vector<const market::GraphNode*>> by_version;
  std::set<std::string> symbols;
  for (const market::Record& r : *nodes) {
    const auto& n = std::get<market::GraphNode>(r);
    by_version[n.version].push_back(&n);
    symbols.insert(n.symbol);
  }
  out.symbols.assign(symbols.begin(), symbols.end());
  std::map<std::string, int64_t> index;
  for (size_t i = 0; i < out.symbols.size(); ++i) index[out.symbols[i]] = static_cast<int64_t>(i);
  std::map<int64_t, std::vector<const market::GraphEdge*>> edges_of;
  for (const market::Record& r : *edges) {
    const auto& e = std::get<market::GraphEdge>(r);
    edges_of[e.version].push_back(&e);
  }
  out.snapshots = static_cast<int64_t>(by_version.size());
  const auto nsym = static_cast<int64_t>(out.symbols.size());
  const size_t nf = gnn_feature_names().size();
  for (const auto& [version, list] : by_version) {
    if (static_cast<int64_t>(list.size()) != nsym)
      return Error(Errc::invalid_argument,
                   "graph " + g.graph + ": snapshot " + std::to_string(version) + " has " +
                       std::to_string(list.size()) + " nodes, others " + std::to_string(nsym),
                   "collection_name");
    if (std::any_of(list.begin(), list.end(), [](auto* n) { return !n->has_next; })) {
      ++out.unlabelled;
      continue;
    }
    gnn::GraphSample s;
    s.version = version;
    s.num_nodes = nsym;
    s.feature_dim = static_cast<int64_t>(nf);
    s.features.assign(static_cast<size_t>(nsym) * nf, 0.0f);
    s.next_return.assign(static_cast<size_t>(nsym), 0.0);
    s.last_return.assign(static_cast<size_t>(nsym), 0.0);
    for (const market::GraphNode* n : list) {
      const auto i = static_cast<size_t>(index.at(n->symbol));
      const double f[] = {n->log_return,    n->volatility, std::log1p(n->volume),
                          n->volume_change, n->return_1,   n->return_2,
                          n->return_3};
      for (size_t k = 0; k < nf; ++k) s.features[i * nf + k] = static_cast<float>(f[k]);
      s.next_return[i] = n->next_return;
      s.last_return[i] = n->log_return;
    }
    for (const market::GraphEdge* e : edges_of[version]) {
      const int64_t a = index.at(e->symbol), b = index.at(e->target);
      auto add = [&](int64_t from, int64_t to) {
        s.src.push_back(from);
        s.dst.push_back(to);
        s.edge_weight.push_back(static_cast<float>(e->correlation));
      };
      add(a, b);
      if (e->lag == 0) add(b, a);  // a correlation at lag 0 goes both ways
    }
    out.edges += static_cast<int64_t>(s.src.size());
    out.samples.push_back(std::move(s));
    out.versions.push_back(version);
  }
  return out;
}

int trainer_work(WorkerContext& ctx, const WorkerConfig& cfg, ControlChannel& control,
                 Telemetry& tel) {
  auto fail = [&](int rc, const std::string& m) {
    (void)tel.send(RunStatus::error, m);
    return rc;
  };
  if (ctx.data_store == nullptr)
    return fail(kExitError, "gnn-trainer needs a store, and none is configured");
  if (ctx.artifacts == nullptr)
    return fail(kExitError, "gnn-trainer needs an artifact store (--artifacts), and none is given");
  auto settings = GnnTrainerSettings::from_params(cfg.params);
  if (!settings)
    return fail(kExitBadConfig, "bad gnn-trainer settings: " + settings.error().message);
  const GnnTrainerSettings& s = *settings;
  if (!cfg.collection_name)
    return fail(kExitBadConfig, "bad gnn-trainer settings: no collection_name (the graph)");
  auto g = store::graph_collections(*cfg.collection_name);
  if (!g) return fail(kExitBadConfig, "bad gnn-trainer settings: " + g.error().message);
  (void)tel.send(RunStatus::started, "training on graph " + g->graph, 0);

  // Wait for a complete graph: every snapshot of the range, every node.
  if (s.wait_s > 0) {
    if (!cfg.time_range)
      return fail(kExitBadConfig, "bad gnn-trainer settings: wait_s needs a time_range");
    auto range = protocol::parse_time_range(*cfg.time_range);
    if (!range) return fail(kExitBadConfig, range.error().message);
    const int64_t step_ms = market::interval_ms(s.interval);
    const int64_t start = (range->start_ms + step_ms - 1) / step_ms * step_ms;
    const size_t grid = start < range->end_ms
                            ? static_cast<size_t>((range->end_ms - start + step_ms - 1) / step_ms)
                            : 0;
    analytics::GraphOptions shape;
    shape.window = s.window;
    shape.step = s.step;
    const auto want =
        static_cast<int64_t>(analytics::snapshot_count(grid, shape) * s.symbols.size());
    const int64_t deadline = ctx.clock->steady_ms() + static_cast<int64_t>(s.wait_s * 1000);
    int64_t last_note = 0;
    for (;;) {
      auto have = ctx.data_store->count(g->nodes);
      if (!have && have.error().code != Errc::not_found)
        return fail(kExitError, have.error().message);
      const int64_t n = have ? *have : 0;
      if (n >= want) break;
      const std::string msg = "graph " + g->graph + " holds " + std::to_string(n) + " of " +
                              std::to_string(want) + " nodes";
      if (ctx.clock->steady_ms() >= deadline)
        return fail(kExitError, msg + " after waiting " + fmt(s.wait_s, "%.0f") + " s");
      if (ctx.clock->steady_ms() - last_note >= 1000) {
        last_note = ctx.clock->steady_ms();
        (void)tel.send(RunStatus::loading, "waiting for the graph: " + msg, 0);
      }
      if (control.wait_stop_for(std::chrono::milliseconds(500))) {
        (void)tel.send(RunStatus::interrupted, "stopped while waiting for the graph", 0);
        return kExitInterrupted;
      }
    }
  }

  auto samples = read_samples(*ctx.data_store, *g);
  if (!samples)
    return fail(samples.error().code == Errc::not_found ? kExitBadConfig : kExitError,
                "cannot read graph " + g->graph + ": " + samples.error().message);
  (void)tel.send(RunStatus::loading,
                 "graph " + g->graph + ": " + std::to_string(samples->samples.size()) +
                     " labelled snapshots of " + std::to_string(samples->symbols.size()) +
                     " nodes (" + std::to_string(samples->unlabelled) + " without a next step)",
                 0);

  int64_t epochs = 0;
  auto result = gnn::train(samples->samples, s.train, [&](const gnn::EpochMetrics& m) {
    epochs = m.epoch;
    (void)tel.send(RunStatus::loading,
                   "epoch " + std::to_string(m.epoch) + ": train loss " +
                       fmt(m.train_loss, "%.4f") + " acc " + fmt(m.train_accuracy) + " f1 " +
                       fmt(m.train_f1) + "; val loss " + fmt(m.val_loss, "%.4f") + " acc " +
                       fmt(m.val_accuracy) + " f1 " + fmt(m.val_f1),
                   m.epoch);
    return !control.stop_requested();
  });
  if (!result) return fail(kExitError, "training failed: " + result.error().message);
  if (result->stopped_by_callback) {
    (void)tel.send(RunStatus::interrupted,
                   "stopped after " + std::to_string(epochs) + " epochs; no model stored", epochs);
    return kExitInterrupted;
  }

  // metrics.json: the trainer's, with the graph it learnt from.
  auto metrics = json::parse_object(gnn::metrics_json(*result, s.train), 64 << 20);
  if (!metrics) return fail(kExitError, "metrics: " + metrics.error().message);
  boost::json::array versions, names, symbols;
  for (int64_t v : samples->versions) versions.push_back(v);
  for (const auto& f : gnn_feature_names()) names.emplace_back(f);
  for (const auto& sym : samples->symbols) symbols.emplace_back(sym);
  (*metrics)["graph"] = boost::json::object{{"name", g->graph},
                                            {"nodes_collection", g->nodes},
                                            {"edges_collection", g->edges},
                                            {"versions", versions},
                                            {"snapshots", samples->snapshots},
                                            {"unlabelled_snapshots", samples->unlabelled},
                                            {"symbols", symbols},
                                            {"features", names}};
  (*metrics)["queue_id"] = cfg.queue_id;
  auto model = gnn::torchscript_bytes(*result);
  if (!model) return fail(kExitError, "model export failed: " + model.error().message);
  const std::string dir = "models/" + cfg.queue_id + "/";
  if (auto st = artifacts::check_artifact_name(dir + "model.pt"); !st)
    return fail(kExitBadConfig, "the queue id makes no artifact name: " + st.error().message);
  if (auto st = ctx.artifacts->put(dir + "model.pt", *model); !st)
    return fail(kExitError, "cannot store " + dir + "model.pt: " + st.error().message);
  if (auto st = ctx.artifacts->put(dir + "metrics.json", boost::json::serialize(*metrics)); !st)
    return fail(kExitError, "cannot store " + dir + "metrics.json: " + st.error().message);

  const gnn::TrainResult& r = *result;
  const gnn::EpochMetrics& best = r.epochs.at(static_cast<size_t>(r.best_epoch - 1));
  (void)tel.send(
      RunStatus::finished,
      "model of graph " + g->graph + ": best epoch " + std::to_string(r.best_epoch) + " of " +
          std::to_string(r.epochs.size()) + ", validation accuracy " + fmt(best.val_accuracy) +
          " F1 " + fmt(best.val_f1) + " (majority class " + fmt(r.majority.val_accuracy) + " / " +
          fmt(r.majority.val_f1) + ", last window's sign " + fmt(r.last_sign.val_accuracy) + " / " +
          fmt(r.last_sign.val_f1) + "); " + std::to_string(r.train_samples) +
          " snapshots trained, " + std::to_string(r.val_samples) + " validated; artifacts " + dir +
          "model.pt and " + dir + "metrics.json in " + ctx.artifacts->describe(),
      static_cast<int64_t>(r.epochs.size()));
  return kExitFinished;
}

}  // namespace

int run_gnn_trainer(WorkerContext& ctx) { return run_worker(ctx, "gnn-trainer", trainer_work); }

}  // namespace sf::workers
