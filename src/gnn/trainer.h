// The gnn-trainer's model (issue 13): a GATv2 graph neural network over correlation graph
// snapshots, predicting each node's next-window return (its sign, or the return itself).
// Plain C++ data in and out; libtorch stays inside src/gnn (gatv2_module.h is internal).
//
// Threading: train() runs on the calling thread and sets torch's process-wide thread count
// (TrainConfig::threads) and default random generator; calls to train() in one process are
// serialised by a lock. predict(), torchscript_bytes() and metrics_json() may run on any
// thread, once the TrainResult is no longer being written.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"

namespace sf::gnn {

// One graph snapshot, nodes in a fixed order.
struct GraphSample {
  int64_t version = 0;  // the snapshot's version / index in time order (strictly increasing)
  int64_t num_nodes = 0, feature_dim = 0;
  std::vector<float> features;      // num_nodes * feature_dim, row-major
  std::vector<int64_t> src, dst;    // directed edges src -> dst (node indices)
  std::vector<float> edge_weight;   // one per edge (a correlation in [-1, 1]); may be empty
                                    // when TrainConfig::use_edge_weight is false
  std::vector<double> next_return;  // label source: each node's return over the NEXT window
  std::vector<double> last_return;  // each node's return over THIS window (baseline)
};

enum class Task {
  classification,  // the sign of next_return: class 1 when > 0, class 0 otherwise;
                   // two logits, cross entropy
  regression,      // next_return itself, one output, mean squared error
};

const char* task_name(Task t);

struct TrainConfig {
  Task task = Task::classification;
  int64_t layers = 2;           // GATv2 layers, 1..16
  int64_t hidden = 32;          // channels per head, 1..4096
  int64_t heads = 4;            // attention heads, 1..64
  double dropout = 0.1;         // features and attention coefficients, [0, 1)
  double negative_slope = 0.2;  // the attention's LeakyReLU, [0, 1]
  double lr = 0.005;            // Adam's learning rate, > 0
  double weight_decay = 5e-4;   // Adam's L2 penalty, >= 0
  int64_t max_epochs = 200;     // >= 1
  int64_t patience = 20;        // stop after this many epochs without a lower validation
                                // loss; 0: never stop early (the best epoch still wins)
  uint64_t seed = 42;
  double val_fraction = 0.2;    // the latest snapshots validate, (0, 1)
  bool use_edge_weight = true;  // edge weights as edge features (edge_dim 1)
  bool self_loops = true;       // GATv2's self loops (PyG's add_self_loops)
  bool standardize = true;      // features scaled by the training set's mean and std
  int64_t threads = 1;          // torch's intra-op threads (process-wide); 0: leave as is

  // OK, or invalid_argument naming the field and the allowed range.
  Status validate() const;
};

struct EpochMetrics {
  int64_t epoch = 0;  // from 1
  // From the epoch's training forward pass (dropout active, the weights before its update).
  double train_loss = 0, train_accuracy = 0, train_f1 = 0;
  // Evaluated after the update on the validation snapshots (no dropout).
  double val_loss = 0, val_accuracy = 0, val_f1 = 0;
  double seconds = 0;  // wall time of the epoch (training step and validation)
};

// Accuracy and F1 of the positive class (return > 0) of a rule that needs no model.
struct BaselineMetrics {
  double train_accuracy = 0, train_f1 = 0, val_accuracy = 0, val_f1 = 0;
};

struct TrainedModel;  // libtorch inside (gatv2_module.h)

struct TrainResult {
  std::vector<EpochMetrics> epochs;  // every epoch run, in order
  int64_t best_epoch = 0;            // lowest validation loss; its weights are the model's
  bool stopped_early = false;        // patience ran out
  bool stopped_by_callback = false;  // the callback returned false
  int64_t train_samples = 0, val_samples = 0;  // the split: the first train_samples train
  int64_t train_nodes = 0, val_nodes = 0;
  // Predict the majority class of the TRAIN labels (class 0 on a tie) everywhere.
  BaselineMetrics majority;
  // Predict sign(last_return): positive when last_return > 0.
  BaselineMetrics last_sign;
  double seconds_per_epoch = 0;  // mean over the epochs run
  int64_t parameters = 0;        // the model's trainable scalars
  std::shared_ptr<TrainedModel> model;
};

// Per epoch; return false to stop training (the best weights so far are kept).
using EpochCallback = std::function<bool(const EpochMetrics&)>;

// Trains on the earlier snapshots and validates on the later ones: `samples` are in time
// order (versions strictly increasing), the last ceil(n * val_fraction) validate, never
// shuffled across the split. Each epoch is one full-batch Adam step over all training
// snapshots (one disjoint-union graph), then the validation loss; the model keeps the
// weights of the epoch with the lowest validation loss. invalid_argument for a bad config,
// too few snapshots for both sides of the split, or malformed samples (sizes, node indices
// out of range, non-finite values, feature_dim changing, versions out of order).
//
// F1 is the positive class's: 2TP / (2TP + FP + FN); 0 when there is no positive label and
// no positive prediction (scikit-learn's f1_score with zero_division=0). A return of
// exactly 0 is class 0. For regression, a prediction > 0 counts as positive.
//
// Deterministic: the same samples and config (seed included) give the same metrics and
// weights, for a given thread count.
Result<TrainResult> train(const std::vector<GraphSample>& samples, const TrainConfig& config,
                          const EpochCallback& callback = {});

// The trained model's outputs for one snapshot (eval mode): num_nodes * 2 logits, row-major
// (classification), or num_nodes predicted returns (regression).
Result<std::vector<float>> predict(const TrainResult& result, const GraphSample& sample);

// The trained model as a TorchScript archive (torch.jit.save format) that Python loads with
// torch.jit.load and runs:
//
//   out = module(x, edge_index, edge_weight)
//     x            float32 [N, feature_dim], raw features (the module standardises them)
//     edge_index   int64 [2, E]: row 0 the sources, row 1 the targets (src -> dst)
//     edge_weight  float32 [E], or None (ignored when the model was trained without edge
//                  weights; required when it was)
//     out          float32 [N, 2] logits (classification: class 1 = next return > 0), or
//                  [N] predicted next returns (regression)
//
// The module is in eval mode (no dropout). Its attributes `task`, `feature_dim`, `layers`,
// `hidden`, `heads` and `use_edge_weight` describe it. internal if there is no model.
Result<std::string> torchscript_bytes(const TrainResult& result);

// Every epoch's metrics, the baselines, the best epoch, the split and the config, as one
// JSON object (non-finite numbers as null).
std::string metrics_json(const TrainResult& result, const TrainConfig& config);

}  // namespace sf::gnn
