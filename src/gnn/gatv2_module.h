// Internal to src/gnn (its .cc files, tests and bench/gnn_bench.cc): the libtorch modules
// behind trainer.h. Includes <torch/torch.h>, which is slow to compile: libraries that only
// train and export models include trainer.h instead.
//
// GATv2Conv follows PyTorch Geometric 2.8.1's torch_geometric.nn.conv.GATv2Conv (Brody et
// al. 2022) operation for operation, with the same parameter names in named_parameters()
// ("lin_l.weight", "lin_l.bias", "lin_r.weight", "lin_r.bias", "lin_edge.weight", "att",
// "bias"), so that weights copy one to one; the reference test (gnn_reference_test.cc)
// compares outputs and gradients with PyG's.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <tuple>
#include <utility>

#include "gnn/trainer.h"

namespace sf::gnn {

struct GATv2Options {
  int64_t in_channels = 0;
  int64_t out_channels = 0;
  int64_t heads = 1;
  bool concat = true;  // true: heads * out_channels outputs; false: the mean over heads
  double negative_slope = 0.2;
  double dropout = 0.0;  // on the normalised attention coefficients, in training mode
  bool add_self_loops = true;
  std::optional<int64_t> edge_dim;  // edge features through lin_edge (no bias)
  bool bias = true;
  // true: the per-edge work (attention scores with the edge features' projection, and the
  // weighted sum of messages) runs in fused loops with hand-written backward passes, which
  // never materialise the [E, heads, out_channels] tensors the tensor-op formulation
  // allocates (x_i + x_j, LeakyReLU, messages, and their gradients); false: PyG's tensor
  // operations one by one. Both match PyG (gnn_reference_test.cc). The fused backward is
  // not differentiable again (no double backward).
  bool fused = true;
};

// A graph's edges as PyG's GATv2Conv sees them after its self-loop step: existing self loops
// (i -> i) removed, then one loop per node 0..num_nodes-1 appended after the other edges in
// node order. With edge features (defined `edge_attr`, [E, D] or [E]), a loop's features are
// the mean of the features of the edges into its node (fill_value='mean'; 0 for a node with
// no incoming edge), as torch_geometric.utils.add_self_loops computes them.
struct PreparedEdges {
  torch::Tensor edge_index;  // [2, E'] int64: row 0 sources, row 1 targets
  torch::Tensor edge_attr;   // [E', D] or undefined
};
PreparedEdges pyg_self_loops(const torch::Tensor& edge_index, const torch::Tensor& edge_attr,
                             int64_t num_nodes);

// PyG's torch_geometric.utils.softmax over groups given by `index`: score [E, H], index [E]
// (each edge's target). The per-group max (of the detached scores, as PyG) is subtracted
// before exp; the sum gets PyG's 1e-16.
torch::Tensor segment_softmax(const torch::Tensor& score, const torch::Tensor& index,
                              int64_t num_nodes);

class GATv2ConvImpl : public torch::nn::Module {
 public:
  explicit GATv2ConvImpl(const GATv2Options& options);

  // PyG's reset_parameters(): glorot lin_l/lin_r/lin_edge weights and att, lin biases
  // uniform(+-1/sqrt(in_channels)), output bias zero. Uses torch's default generator.
  void reset_parameters();

  // x [N, in_channels]; edge_index [2, E] int64 (source row, target row; message j -> i
  // flows along (j, i)); edge_attr [E, edge_dim] or [E] (edge_dim 1) or undefined.
  // Returns [N, heads * out_channels] (concat) or [N, out_channels].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& edge_index,
                        const torch::Tensor& edge_attr = {});

  // The same, also returning the edges used (after the self-loop step) and each one's
  // attention coefficients [E', heads] (after dropout, as PyG's return_attention_weights).
  std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> forward_with_attention(
      const torch::Tensor& x, const torch::Tensor& edge_index, const torch::Tensor& edge_attr);

  // forward() on edges that already went through pyg_self_loops() (or none when
  // add_self_loops is off): the model prepares a graph once for every layer and epoch.
  torch::Tensor forward_prepared(const torch::Tensor& x, const PreparedEdges& edges,
                                 torch::Tensor* attention = nullptr);

  const GATv2Options& options() const { return options_; }

  torch::nn::Linear lin_l{nullptr}, lin_r{nullptr}, lin_edge{nullptr};
  torch::Tensor att;   // [1, heads, out_channels]
  torch::Tensor bias;  // [heads * out_channels] or [out_channels]; undefined without bias

 private:
  GATv2Options options_;
};
TORCH_MODULE(GATv2Conv);

// The node-level model the trainer fits: features standardised with the training set's
// mean and standard deviation (buffers), then `layers` GATv2 layers, each after a dropout of
// its input and followed by ELU: every layer but the last with `heads` heads concatenated
// (hidden * heads outputs), the last averaging its `heads` heads (hidden outputs); then a
// dropout and a linear head: 2 logits (classification) or 1 value (regression). Edge
// weights are the layers' edge features (edge_dim 1) when `use_edge_weight`.
struct ModelSpec {
  int64_t in_dim = 0;
  int64_t layers = 2;
  int64_t hidden = 32;
  int64_t heads = 4;
  double dropout = 0.0;
  double negative_slope = 0.2;
  bool use_edge_weight = true;
  bool self_loops = true;
  int64_t outputs = 2;
};

class NodeModelImpl : public torch::nn::Module {
 public:
  explicit NodeModelImpl(const ModelSpec& spec);

  // x [N, in_dim] float; edge_index [2, E] int64; edge_weight [E] (ignored without
  // use_edge_weight; may then be undefined). Returns [N, outputs].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& edge_index,
                        const torch::Tensor& edge_weight = {});
  // The self-loop step of every layer, done once (what forward() does first).
  PreparedEdges prepare(const torch::Tensor& edge_index, const torch::Tensor& edge_weight,
                        int64_t num_nodes) const;
  torch::Tensor forward_prepared(const torch::Tensor& x, const PreparedEdges& edges);

  const ModelSpec& spec() const { return spec_; }

  torch::nn::ModuleList convs;
  torch::nn::Linear head{nullptr};
  torch::Tensor feature_mean, feature_std;  // buffers [in_dim]

 private:
  ModelSpec spec_;
  std::vector<GATv2Conv> conv_list_;
};
TORCH_MODULE(NodeModel);

// What TrainResult::model holds.
struct TrainedModel {
  ModelSpec spec;
  Task task = Task::classification;
  NodeModel net{nullptr};
};

// A sample's tensors: x [N, F] float, edge_index [2, E] int64, edge_weight [E] float.
struct SampleTensors {
  torch::Tensor x, edge_index, edge_weight;
};
SampleTensors to_tensors(const GraphSample& s);

}  // namespace sf::gnn
