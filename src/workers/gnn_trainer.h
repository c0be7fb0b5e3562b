// gnn-trainer (docs/workers.md, docs/analytics.md): trains the GATv2 model of src/gnn on the
// snapshots of a correlation graph the graph-builder wrote, and puts the model and its
// metrics into the artifact store.
//
// Input: the graph COLLECTION_NAME (`<name>_nodes`, `<name>_edges`). Each snapshot becomes
// one sample: its nodes (by symbol) with 7 features (log_return, volatility,
// ln(1 + volume), volume_change, return_1, return_2, return_3), its edges in both directions
// (a lagged edge only from the leader) weighted by the correlation, and as the label each
// node's next_return. Snapshots whose label is unknown for a node (has_next false: the last
// ones of the range) are left out. The baseline "last window's sign" predicts
// sign(log_return) of the snapshot itself.
//
// TARGET_PARAMS: the model and training settings of gnn::TrainConfig (task, layers, hidden,
// heads, dropout, negative_slope, lr, weight_decay, max_epochs, patience, seed,
// val_fraction, use_edge_weight, self_loops, threads), and, to wait for a graph-builder of
// the same workflow, wait_s with the graph's shape: symbols, interval, window, step (as the
// graph-builder got them; with TIME_RANGE they give the node count to wait for).
//
// Output, under models/<QUEUE_ID>/ in the artifact store (WorkerContext::artifacts):
// model.pt (TorchScript: gnn::torchscript_bytes), metrics.json (gnn::metrics_json plus the
// graph, its versions used and the feature names).
//
// Telemetry: `started`; `loading` after every epoch with its losses, accuracies and F1 and
// the baselines' (records_written = epochs run); `finished` with the best epoch, the
// validation figures against the baselines and where the artifacts are; `interrupted` on
// stop (nothing is stored); `error` for bad settings, a graph too small, or a store failure.
//
// The model code is libtorch's, which this binary loads only when a gnn-trainer runs
// (src/gnn/README.md).
#pragma once

#include <boost/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "gnn/trainer.h"
#include "workers/worker.h"

namespace sf::workers {

struct GnnTrainerSettings {
  gnn::TrainConfig train;
  double wait_s = 0;
  // The graph's shape, to know how many nodes a complete graph has (all or none).
  std::vector<std::string> symbols;
  std::string interval = "1h";
  size_t window = 0, step = 0;

  static Result<GnnTrainerSettings> from_params(const boost::json::object& params);
  static std::string json_schema();
};

// The feature names, in the order of a sample's features.
const std::vector<std::string>& gnn_feature_names();

int run_gnn_trainer(WorkerContext& ctx);

}  // namespace sf::workers
