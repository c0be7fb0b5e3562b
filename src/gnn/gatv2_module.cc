#include "gnn/gatv2_module.h"

#include <algorithm>
#include <cmath>
#include <limits>
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

// ---- fused per-edge kernels ---------------------------------------------------------------
// Shapes: x_l, x_r [N, H, C] (contiguous); edge_attr [E, D] and w_edge [H*C, D] (lin_edge's
// weight), D = 0 without edge features (custom autograd functions take no undefined
// tensors in torch 1.13); att [1, H, C]; src, dst [E] int64; score and alpha [E, H].
// Single-threaded, in edge order: deterministic.

template <typename T>
struct ScoreArgs {
  const T *xl, *xr, *ea, *we_t, *att;  // we_t: lin_edge's weight transposed, [D, H*C]
  const int64_t *src, *dst;
  int64_t E, H, C, D;
  T slope;
};

// v[k] = x_r[dst[e], k] + x_l[src[e], k] + lin_edge(edge_attr[e])[k] for k < H*C: the
// pre-activation of edge e. Plain loops over k that the compiler vectorises.
template <typename T>
inline void edge_values(const ScoreArgs<T>& a, int64_t e, T* __restrict v) {
  const int64_t HC = a.H * a.C;
  const T* __restrict l = a.xl + a.src[e] * HC;
  const T* __restrict r = a.xr + a.dst[e] * HC;
  for (int64_t k = 0; k < HC; ++k) v[k] = r[k] + l[k];
  for (int64_t d = 0; d < a.D; ++d) {
    const T w = a.ea[e * a.D + d];
    const T* __restrict col = a.we_t + d * HC;
    for (int64_t k = 0; k < HC; ++k) v[k] += col[k] * w;
  }
}

// LeakyReLU(v) = v * leaky_factor(v): 1 for v > 0, else the slope (torch's choice at 0, also
// for the derivative). Branch-free: the sign of v is a coin toss, a branch mispredicts.
template <typename T>
inline T leaky_factor(T v, T slope) {
  return T(1) + (slope - T(1)) * static_cast<T>(!(v > 0));
}

template <typename T>
void score_forward(const ScoreArgs<T>& a, T* __restrict score) {
  const int64_t HC = a.H * a.C;
  std::vector<T> buf(static_cast<size_t>(HC));
  T* __restrict v = buf.data();
  const T* __restrict att = a.att;
  for (int64_t e = 0; e < a.E; ++e) {
    edge_values(a, e, v);
    for (int64_t k = 0; k < HC; ++k) v[k] = v[k] * leaky_factor(v[k], a.slope) * att[k];
    for (int64_t h = 0; h < a.H; ++h) {
      T acc = 0;
      for (int64_t c = 0; c < a.C; ++c) acc += v[h * a.C + c];
      score[e * a.H + h] = acc;
    }
  }
}

// gwe_t is [D, H*C] like we_t.
template <typename T>
void score_backward(const ScoreArgs<T>& a, const T* __restrict grad, T* __restrict gxl,
                    T* __restrict gxr, T* __restrict gea, T* __restrict gwe_t, T* __restrict gatt) {
  const int64_t HC = a.H * a.C;
  std::vector<T> vbuf(static_cast<size_t>(HC)), gbuf(static_cast<size_t>(HC));
  T* __restrict v = vbuf.data();
  T* __restrict ge = gbuf.data();
  const T* __restrict att = a.att;
  for (int64_t e = 0; e < a.E; ++e) {
    edge_values(a, e, v);
    for (int64_t h = 0; h < a.H; ++h) {
      const T g = grad[e * a.H + h];
      for (int64_t c = 0; c < a.C; ++c) {
        const int64_t k = h * a.C + c;
        const T m = leaky_factor(v[k], a.slope);
        gatt[k] += g * (v[k] * m);
        ge[k] = g * att[k] * m;
      }
    }
    T* __restrict gl = gxl + a.src[e] * HC;
    for (int64_t k = 0; k < HC; ++k) gl[k] += ge[k];
    T* __restrict gr = gxr + a.dst[e] * HC;
    for (int64_t k = 0; k < HC; ++k) gr[k] += ge[k];
    for (int64_t d = 0; d < a.D; ++d) {
      const T w = a.ea[e * a.D + d];
      const T* __restrict col = a.we_t + d * HC;
      T* __restrict gcol = gwe_t + d * HC;
      T acc = 0;
      for (int64_t k = 0; k < HC; ++k) {
        gcol[k] += ge[k] * w;
        acc += ge[k] * col[k];
      }
      gea[e * a.D + d] = acc;
    }
  }
}

// score[e, h] = att[h] . LeakyReLU(x_r[dst[e], h] + x_l[src[e], h] + lin_edge(edge_attr[e])[h])
class FusedScore : public torch::autograd::Function<FusedScore> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& xl,
                               const torch::Tensor& xr, const torch::Tensor& ea,
                               const torch::Tensor& we, const torch::Tensor& att,
                               const torch::Tensor& src, const torch::Tensor& dst, double slope) {
    auto l = xl.contiguous(), r = xr.contiguous(), w = att.contiguous();
    auto a = ea.contiguous(), b = we.t().contiguous();  // b: [D, H*C]
    auto s = src.contiguous(), d = dst.contiguous();
    ctx->save_for_backward({l, r, a, b, w, s, d});
    ctx->saved_data["slope"] = slope;
    const int64_t E = s.size(0), H = l.size(1);
    auto score = torch::empty({E, H}, l.options());
    AT_DISPATCH_FLOATING_TYPES(l.scalar_type(), "gatv2_score", [&] {
      score_forward<scalar_t>(args<scalar_t>(l, r, a, b, w, s, d, slope),
                              score.data_ptr<scalar_t>());
    });
    return score;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &l = saved[0], &r = saved[1], &a = saved[2], &b = saved[3], &w = saved[4],
               &s = saved[5], &d = saved[6];
    const double slope = ctx->saved_data["slope"].toDouble();
    const auto g = grads[0].contiguous();
    auto gl = torch::zeros_like(l), gr = torch::zeros_like(r), gw = torch::zeros_like(w);
    auto ga = torch::zeros_like(a), gb = torch::zeros_like(b);  // gb: [D, H*C]
    AT_DISPATCH_FLOATING_TYPES(l.scalar_type(), "gatv2_score_backward", [&] {
      score_backward<scalar_t>(args<scalar_t>(l, r, a, b, w, s, d, slope), g.data_ptr<scalar_t>(),
                               gl.data_ptr<scalar_t>(), gr.data_ptr<scalar_t>(),
                               ga.data_ptr<scalar_t>(), gb.data_ptr<scalar_t>(),
                               gw.data_ptr<scalar_t>());
    });
    return {gl, gr, ga, gb.t().contiguous(), gw, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }

 private:
  template <typename T>
  static ScoreArgs<T> args(const torch::Tensor& l, const torch::Tensor& r, const torch::Tensor& a,
                           const torch::Tensor& b, const torch::Tensor& w, const torch::Tensor& s,
                           const torch::Tensor& d, double slope) {
    ScoreArgs<T> x{};
    x.xl = l.data_ptr<T>();
    x.xr = r.data_ptr<T>();
    x.ea = a.data_ptr<T>();
    x.we_t = b.data_ptr<T>();
    x.att = w.data_ptr<T>();
    x.src = s.data_ptr<int64_t>();
    x.dst = d.data_ptr<int64_t>();
    x.E = s.size(0);
    x.H = l.size(1);
    x.C = l.size(2);
    x.D = a.size(1);
    x.slope = static_cast<T>(slope);
    return x;
  }
};

// out[i, h, :] = sum over edges e into i of alpha[e, h] * x_l[src[e], h, :]
class FusedAggregate : public torch::autograd::Function<FusedAggregate> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& alpha,
                               const torch::Tensor& xl, const torch::Tensor& src,
                               const torch::Tensor& dst, int64_t num_nodes) {
    auto al = alpha.contiguous(), l = xl.contiguous(), s = src.contiguous(), d = dst.contiguous();
    ctx->save_for_backward({al, l, s, d});
    const int64_t E = s.size(0), H = l.size(1), C = l.size(2), HC = H * C;
    auto out = torch::zeros({num_nodes, H, C}, l.options());
    AT_DISPATCH_FLOATING_TYPES(l.scalar_type(), "gatv2_aggregate", [&] {
      const auto *ap = al.data_ptr<scalar_t>(), *xp = l.data_ptr<scalar_t>();
      const auto *sp = s.data_ptr<int64_t>(), *dp = d.data_ptr<int64_t>();
      auto* op = out.data_ptr<scalar_t>();
      for (int64_t e = 0; e < E; ++e) {
        const scalar_t* x = xp + sp[e] * HC;
        scalar_t* o = op + dp[e] * HC;
        for (int64_t h = 0; h < H; ++h) {
          const scalar_t w = ap[e * H + h];
          for (int64_t c = 0; c < C; ++c) o[h * C + c] += w * x[h * C + c];
        }
      }
    });
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &al = saved[0], &l = saved[1], &s = saved[2], &d = saved[3];
    const auto g = grads[0].contiguous();
    const int64_t E = s.size(0), H = l.size(1), C = l.size(2), HC = H * C;
    auto galpha = torch::empty_like(al), gl = torch::zeros_like(l);
    AT_DISPATCH_FLOATING_TYPES(l.scalar_type(), "gatv2_aggregate_backward", [&] {
      const auto *ap = al.data_ptr<scalar_t>(), *xp = l.data_ptr<scalar_t>(),
                 *gp = g.data_ptr<scalar_t>();
      const auto *sp = s.data_ptr<int64_t>(), *dp = d.data_ptr<int64_t>();
      auto *gap = galpha.data_ptr<scalar_t>(), *glp = gl.data_ptr<scalar_t>();
      for (int64_t e = 0; e < E; ++e) {
        const scalar_t* x = xp + sp[e] * HC;
        const scalar_t* go = gp + dp[e] * HC;
        scalar_t* gx = glp + sp[e] * HC;
        for (int64_t h = 0; h < H; ++h) {
          const scalar_t w = ap[e * H + h];
          scalar_t acc = 0;
          for (int64_t c = 0; c < C; ++c) {
            acc += go[h * C + c] * x[h * C + c];
            gx[h * C + c] += w * go[h * C + c];
          }
          gap[e * H + h] = acc;
        }
      }
    });
    return {galpha, gl, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

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
  // PyG: scatter(score.detach(), index, reduce='max'), i.e. scatter_reduce 'amax' without
  // the zeros it starts from (0 where no edge arrives). The same in one loop, without
  // torch 1.13's "scatter_reduce() is in beta" warning in every process's log.
  const auto s = score.detach().contiguous().view({score.size(0), -1});
  const auto ix = index.contiguous();
  auto max = torch::full({num_nodes, s.size(1)}, -std::numeric_limits<double>::infinity(),
                         score.options());
  AT_DISPATCH_FLOATING_TYPES(s.scalar_type(), "segment_max", [&] {
    const auto* sp = s.data_ptr<scalar_t>();
    const auto* ip = ix.data_ptr<int64_t>();
    auto* mp = max.data_ptr<scalar_t>();
    const int64_t E = s.size(0), W = s.size(1);
    for (int64_t e = 0; e < E; ++e)
      for (int64_t w = 0; w < W; ++w)
        mp[ip[e] * W + w] = std::max(mp[ip[e] * W + w], sp[e * W + w]);
    for (int64_t i = 0; i < num_nodes * W; ++i)
      if (mp[i] == -std::numeric_limits<scalar_t>::infinity()) mp[i] = 0;
  });
  max = max.view(size);
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
  TORCH_CHECK(!edges.edge_attr.defined() || lin_edge,
              "GATv2Conv: edge features given to a layer without edge_dim");
  const auto x_l = lin_l(x).view({-1, H, C});
  const auto x_r = lin_r(x).view({-1, H, C});
  const auto src = edges.edge_index[0], dst = edges.edge_index[1];
  torch::Tensor score, x_j;
  if (options_.fused) {
    const bool has = edges.edge_attr.defined();
    const auto ea = has ? edges.edge_attr : torch::empty({src.size(0), 0}, x_l.options());
    const auto we = has ? lin_edge->weight : torch::empty({H * C, 0}, x_l.options());
    score = FusedScore::apply(x_l, x_r, ea, we, att, src, dst, options_.negative_slope);
  } else {
    x_j = x_l.index_select(0, src);
    auto e = x_r.index_select(0, dst) + x_j;  // PyG: x_i + x_j
    if (edges.edge_attr.defined()) e = e + lin_edge(edges.edge_attr).view({-1, H, C});
    e = F::leaky_relu(e, F::LeakyReLUFuncOptions().negative_slope(options_.negative_slope));
    score = (e * att).sum(-1);  // [E, H]
  }
  auto alpha = segment_softmax(score, dst, N);
  alpha = F::dropout(alpha, F::DropoutFuncOptions().p(options_.dropout).training(is_training()));
  if (attention) *attention = alpha;
  torch::Tensor out;
  if (options_.fused) {
    out = FusedAggregate::apply(alpha, x_l, src, dst, N);
  } else {
    const auto msg = x_j * alpha.unsqueeze(-1);  // [E, H, C]
    out = torch::zeros({N, H, C}, msg.options()).scatter_add(0, broadcast_index(dst, msg), msg);
  }
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
