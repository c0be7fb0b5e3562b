#include "gnn/gatv2_module.h"

#include <cmath>
#include <string>

namespace sf::gnn {

namespace F = torch::nn::functional;
using torch::indexing::Slice;

namespace {

// PyG's inits.glorot: uniform(-a, a), a = sqrt(6 / (size(-2) + size(-1))).
void glorot(torch::Tensor& t) {
  torch::NoGradGuard g;
  const double a = std::sqrt(6.0 / static_cast<double>(t.size(-2) + t.size(-1)));
  t.uniform_(-a, a);
}

// A row vector index [E] broadcast to `like`'s shape along dim 0 (PyG's utils.broadcast).
torch::Tensor broadcast_index(const torch::Tensor& index, const torch::Tensor& like) {
  std::vector<int64_t> shape(static_cast<size_t>(like.dim()), 1);
  shape[0] = -1;
  return index.view(shape).expand_as(like);
}

}  // namespace

PreparedEdges pyg_self_loops(const torch::Tensor& edge_index, const torch::Tensor& edge_attr,
                             int64_t num_nodes) {
  TORCH_CHECK(edge_index.dim() == 2 && edge_index.size(0) == 2, "edge_index must be [2, E]");
  const auto keep = edge_index[0] != edge_index[1];
  auto kept = edge_index.index({Slice(), keep});
  const auto loop = torch::arange(num_nodes, edge_index.options()).view({1, -1}).repeat({2, 1});
  PreparedEdges out;
  out.edge_index = torch::cat({kept, loop}, 1);
  if (edge_attr.defined()) {
    auto attr = edge_attr.dim() == 1 ? edge_attr.view({-1, 1}) : edge_attr;
    attr = attr.index({keep});
    // scatter(attr, kept[1], 0, num_nodes, reduce='mean'): the sum over the count clamped to
    // at least 1.
    const auto dst = kept[1];
    auto count = torch::zeros({num_nodes}, attr.options())
                     .scatter_add_(0, dst, torch::ones({dst.size(0)}, attr.options()))
                     .clamp(1);
    auto sums = torch::zeros({num_nodes, attr.size(1)}, attr.options())
                    .scatter_add(0, broadcast_index(dst, attr), attr);
    out.edge_attr = torch::cat({attr, sums / count.view({-1, 1})}, 0);
  }
  return out;
}

torch::Tensor segment_softmax(const torch::Tensor& score, const torch::Tensor& index,
                              int64_t num_nodes) {
  std::vector<int64_t> size = score.sizes().vec();
  size[0] = num_nodes;
  const auto idx = broadcast_index(index, score);
  const auto max = torch::zeros(size, score.options())
                       .scatter_reduce(0, idx, score.detach(), "amax", /*include_self=*/false);
  const auto ex = (score - max.index_select(0, index)).exp();
  const auto sum = torch::zeros(size, score.options()).scatter_add(0, idx, ex) + 1e-16;
  return ex / sum.index_select(0, index);
}

GATv2ConvImpl::GATv2ConvImpl(const GATv2Options& o) : options_(o) {
  TORCH_CHECK(o.in_channels > 0 && o.out_channels > 0 && o.heads > 0,
              "GATv2Conv: channels and heads must be positive");
  const int64_t hc = o.heads * o.out_channels;
  lin_l = register_module(
      "lin_l", torch::nn::Linear(torch::nn::LinearOptions(o.in_channels, hc).bias(o.bias)));
  lin_r = register_module(
      "lin_r", torch::nn::Linear(torch::nn::LinearOptions(o.in_channels, hc).bias(o.bias)));
  if (o.edge_dim)
    lin_edge = register_module(
        "lin_edge", torch::nn::Linear(torch::nn::LinearOptions(*o.edge_dim, hc).bias(false)));
  att = register_parameter("att", torch::empty({1, o.heads, o.out_channels}));
  if (o.bias) bias = register_parameter("bias", torch::empty({o.concat ? hc : o.out_channels}));
  reset_parameters();
}

void GATv2ConvImpl::reset_parameters() {
  torch::NoGradGuard g;
  for (auto* lin : {&lin_l, &lin_r}) {
    glorot((*lin)->weight);
    if ((*lin)->bias.defined()) {
      const double b = 1.0 / std::sqrt(static_cast<double>(options_.in_channels));
      (*lin)->bias.uniform_(-b, b);
    }
  }
  if (lin_edge) glorot(lin_edge->weight);
  glorot(att);
  if (bias.defined()) bias.zero_();
}

torch::Tensor GATv2ConvImpl::forward(const torch::Tensor& x, const torch::Tensor& edge_index,
                                     const torch::Tensor& edge_attr) {
  if (options_.add_self_loops)
    return forward_prepared(x, pyg_self_loops(edge_index, edge_attr, x.size(0)));
  PreparedEdges e{edge_index, edge_attr};
  if (e.edge_attr.defined() && e.edge_attr.dim() == 1) e.edge_attr = e.edge_attr.view({-1, 1});
  return forward_prepared(x, e);
}

std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> GATv2ConvImpl::forward_with_attention(
    const torch::Tensor& x, const torch::Tensor& edge_index, const torch::Tensor& edge_attr) {
  PreparedEdges e{edge_index, edge_attr};
  if (options_.add_self_loops) {
    e = pyg_self_loops(edge_index, edge_attr, x.size(0));
  } else if (e.edge_attr.defined() && e.edge_attr.dim() == 1) {
    e.edge_attr = e.edge_attr.view({-1, 1});
  }
  torch::Tensor alpha;
  auto out = forward_prepared(x, e, &alpha);
  return {out, e.edge_index, alpha};
}

torch::Tensor GATv2ConvImpl::forward_prepared(const torch::Tensor& x, const PreparedEdges& edges,
                                              torch::Tensor* attention) {
  const int64_t H = options_.heads, C = options_.out_channels, N = x.size(0);
  TORCH_CHECK(x.dim() == 2, "GATv2Conv: x must be [N, in_channels]");
  const auto x_l = lin_l(x).view({-1, H, C});
  const auto x_r = lin_r(x).view({-1, H, C});
  const auto src = edges.edge_index[0], dst = edges.edge_index[1];
  const auto x_j = x_l.index_select(0, src);
  auto e = x_r.index_select(0, dst) + x_j;  // PyG: x_i + x_j
  if (edges.edge_attr.defined()) {
    TORCH_CHECK(lin_edge, "GATv2Conv: edge features given to a layer without edge_dim");
    e = e + lin_edge(edges.edge_attr).view({-1, H, C});
  }
  e = F::leaky_relu(e, F::LeakyReLUFuncOptions().negative_slope(options_.negative_slope));
  const auto score = (e * att).sum(-1);  // [E, H]
  auto alpha = segment_softmax(score, dst, N);
  alpha = F::dropout(alpha, F::DropoutFuncOptions().p(options_.dropout).training(is_training()));
  if (attention) *attention = alpha;
  const auto msg = x_j * alpha.unsqueeze(-1);  // [E, H, C]
  auto out = torch::zeros({N, H, C}, msg.options()).scatter_add(0, broadcast_index(dst, msg), msg);
  out = options_.concat ? out.view({-1, H * C}) : out.mean(1);
  if (bias.defined()) out = out + bias;
  return out;
}

NodeModelImpl::NodeModelImpl(const ModelSpec& spec) : spec_(spec) {
  TORCH_CHECK(spec.layers >= 1 && spec.in_dim > 0 && spec.hidden > 0 && spec.heads > 0,
              "NodeModel: bad spec");
  convs = register_module("convs", torch::nn::ModuleList());
  int64_t in = spec.in_dim;
  for (int64_t l = 0; l < spec.layers; ++l) {
    const bool last = l == spec.layers - 1;
    GATv2Options o;
    o.in_channels = in;
    o.out_channels = spec.hidden;
    o.heads = spec.heads;
    o.concat = !last;
    o.negative_slope = spec.negative_slope;
    o.dropout = spec.dropout;
    o.add_self_loops = false;  // prepare() does it once for every layer
    if (spec.use_edge_weight) o.edge_dim = 1;
    GATv2Conv conv(o);
    convs->push_back(conv);
    conv_list_.push_back(conv);
    in = last ? spec.hidden : spec.hidden * spec.heads;
  }
  head = register_module("head", torch::nn::Linear(spec.hidden, spec.outputs));
  feature_mean = register_buffer("feature_mean", torch::zeros({spec.in_dim}));
  feature_std = register_buffer("feature_std", torch::ones({spec.in_dim}));
}

PreparedEdges NodeModelImpl::prepare(const torch::Tensor& edge_index,
                                     const torch::Tensor& edge_weight, int64_t num_nodes) const {
  torch::Tensor attr;
  if (spec_.use_edge_weight) {
    TORCH_CHECK(edge_weight.defined(), "NodeModel: the model needs edge weights");
    attr = edge_weight.view({-1, 1});
  }
  if (spec_.self_loops) return pyg_self_loops(edge_index, attr, num_nodes);
  return {edge_index, attr};
}

torch::Tensor NodeModelImpl::forward(const torch::Tensor& x, const torch::Tensor& edge_index,
                                     const torch::Tensor& edge_weight) {
  return forward_prepared(x, prepare(edge_index, edge_weight, x.size(0)));
}

torch::Tensor NodeModelImpl::forward_prepared(const torch::Tensor& x, const PreparedEdges& edges) {
  auto h = (x - feature_mean) / feature_std;
  const auto drop = F::DropoutFuncOptions().p(spec_.dropout).training(is_training());
  for (auto& conv : conv_list_) {
    h = F::dropout(h, drop);
    h = F::elu(conv->forward_prepared(h, edges));
  }
  h = F::dropout(h, drop);
  auto out = head(h);
  return spec_.outputs == 1 ? out.squeeze(-1) : out;
}

SampleTensors to_tensors(const GraphSample& s) {
  SampleTensors t;
  t.x = torch::from_blob(const_cast<float*>(s.features.data()), {s.num_nodes, s.feature_dim},
                         torch::kFloat32)
            .clone();
  const auto e = static_cast<int64_t>(s.src.size());
  auto ei = torch::empty({2, e}, torch::kInt64);
  std::copy(s.src.begin(), s.src.end(), ei.data_ptr<int64_t>());
  std::copy(s.dst.begin(), s.dst.end(), ei.data_ptr<int64_t>() + e);
  t.edge_index = ei;
  if (!s.edge_weight.empty())
    t.edge_weight =
        torch::from_blob(const_cast<float*>(s.edge_weight.data()), {e}, torch::kFloat32).clone();
  return t;
}

}  // namespace sf::gnn
