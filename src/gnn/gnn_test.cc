// Unit tests of src/gnn: the GATv2 layer's shapes, attention and self loops, the trainer's
// validation, determinism, learning on a synthetic graph, early stopping and the artifacts.
// The comparison with PyTorch Geometric is gnn_reference_test.cc (label `reference`).
#include <gtest/gtest.h>
#include <torch/script.h>

#include <boost/json.hpp>
#include <cmath>
#include <functional>
#include <sstream>

#include "gnn/gatv2_module.h"
#include "gnn/synthetic.h"
#include "gnn/trainer.h"

namespace sf::gnn {
namespace {

// 6 nodes; node 2 has an existing self loop (twice), node 5 no incoming edge.
torch::Tensor test_edges() {
  return torch::tensor({1, 0, 2, 2, 3, 4, 0, 1, 2,   // sources
                        0, 1, 2, 2, 2, 3, 3, 4, 4},  // targets
                       torch::kInt64)
      .view({2, 9});
}

TEST(GATv2Conv, ShapesForHeadsConcatAndEdgeFeatures) {
  torch::manual_seed(1);
  const auto x = torch::randn({6, 5});
  const auto ei = test_edges();
  for (int64_t heads : {1, 2, 4, 8})
    for (bool concat : {true, false})
      for (bool edges : {false, true})
        for (bool loops : {false, true}) {
          GATv2Options o{.in_channels = 5, .out_channels = 3, .heads = heads};
          o.concat = concat;
          o.add_self_loops = loops;
          if (edges) o.edge_dim = 2;
          GATv2Conv conv(o);
          const auto out = conv->forward(x, ei, edges ? torch::randn({9, 2}) : torch::Tensor());
          SCOPED_TRACE("heads " + std::to_string(heads) + " concat " + std::to_string(concat));
          ASSERT_EQ(out.dim(), 2);
          EXPECT_EQ(out.size(0), 6);
          EXPECT_EQ(out.size(1), concat ? heads * 3 : 3);
          EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
          EXPECT_EQ(conv->att.sizes(), (std::vector<int64_t>{1, heads, 3}));
          EXPECT_EQ(conv->bias.size(0), concat ? heads * 3 : 3);
        }
}

TEST(GATv2Conv, ParameterNamesAreTorchGeometrics) {
  GATv2Options o{.in_channels = 4, .out_channels = 2};
  o.edge_dim = 1;
  GATv2Conv conv(o);
  std::vector<std::string> names;
  for (const auto& p : conv->named_parameters()) names.push_back(p.key());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"att", "bias", "lin_edge.weight", "lin_l.bias",
                                             "lin_l.weight", "lin_r.bias", "lin_r.weight"}));
}

TEST(GATv2Conv, AttentionSumsToOneOverIncomingEdges) {
  torch::manual_seed(2);
  for (bool loops : {true, false}) {
    GATv2Options o{.in_channels = 5, .out_channels = 4, .heads = 3};
    o.add_self_loops = loops;
    o.edge_dim = 1;
    GATv2Conv conv(o);
    conv->eval();
    auto [out, ei, alpha] =
        conv->forward_with_attention(torch::randn({6, 5}) * 3, test_edges(), torch::randn({9}));
    ASSERT_EQ(alpha.size(0), ei.size(1));
    ASSERT_EQ(alpha.size(1), 3);
    EXPECT_TRUE((alpha >= 0).all().item<bool>());
    const auto sums = torch::zeros({6, 3}).index_add(0, ei[1], alpha);
    const auto has_in = torch::zeros({6}).index_add(0, ei[1], torch::ones({ei.size(1)})) > 0;
    for (int64_t i = 0; i < 6; ++i)
      for (int64_t h = 0; h < 3; ++h) {
        if (has_in[i].item<bool>())
          EXPECT_NEAR(sums[i][h].item<float>(), 1.0f, 1e-6) << "node " << i << " head " << h;
        else
          EXPECT_EQ(sums[i][h].item<float>(), 0.0f);
      }
    // Without self loops node 5 has no incoming edge: its output is just the bias.
    if (!loops) {
      EXPECT_TRUE(torch::allclose(out[5], conv->bias));
    }
  }
}

TEST(GATv2Conv, SelfLoopsAddedOnceEvenIfPresent) {
  const auto ei = test_edges();
  const auto attr = torch::tensor({1.f, 2.f, 10.f, 20.f, 3.f, 4.f, 5.f, 6.f, 7.f}).view({9, 1});
  const auto p = pyg_self_loops(ei, attr, 6);
  // 9 edges, 2 of them loops (2->2 twice), then 6 loops appended.
  ASSERT_EQ(p.edge_index.size(1), 9 - 2 + 6);
  const auto src = p.edge_index[0], dst = p.edge_index[1];
  for (int64_t i = 0; i < 6; ++i)
    EXPECT_EQ(((src == i) & (dst == i)).sum().item<int64_t>(), 1) << "node " << i;
  // The appended loops in node order, after the other edges.
  EXPECT_TRUE(
      torch::equal(p.edge_index.index({torch::indexing::Slice(), torch::indexing::Slice(7)}),
                   torch::arange(6).view({1, -1}).repeat({2, 1})));
  // Loop features: the mean over the node's other incoming edges; 0 for node 5 (none).
  // Incoming (non-loop): 0 <- 1 (1), 1 <- 0 (2), 2 <- 3 (3), 3 <- 4, 0 (4, 5),
  // 4 <- 1, 2 (6, 7).
  const auto loop_attr = p.edge_attr.index({torch::indexing::Slice(7)}).view({-1});
  const std::vector<float> want = {1, 2, 3, 4.5, 6.5, 0};
  for (int64_t i = 0; i < 6; ++i)
    EXPECT_FLOAT_EQ(loop_attr[i].item<float>(), want[static_cast<size_t>(i)]);
  // A second pass changes nothing.
  const auto q = pyg_self_loops(p.edge_index, p.edge_attr, 6);
  EXPECT_EQ(q.edge_index.size(1), p.edge_index.size(1));
}

TEST(GATv2Conv, NoEdgesGivesBiasOnlyWithoutLoopsAndSelfAttentionWith) {
  GATv2Options o{.in_channels = 3, .out_channels = 2};
  GATv2Conv conv(o);
  const auto x = torch::randn({4, 3});
  const auto none = torch::zeros({2, 0}, torch::kInt64);
  auto out = conv->forward(x, none);
  // Each node attends only to itself: alpha 1, the output lin_l(x) + bias.
  EXPECT_TRUE(torch::allclose(out, conv->lin_l(x) + conv->bias, 1e-5, 1e-6));
}

TEST(GATv2Conv, FusedKernelsEqualTheTensorOps) {
  torch::manual_seed(3);
  for (int64_t edge_dim : {0, 1, 3})
    for (bool concat : {true, false}) {
      GATv2Options o{.in_channels = 5, .out_channels = 4, .heads = 3};
      o.concat = concat;
      if (edge_dim) o.edge_dim = edge_dim;
      GATv2Conv fused(o);
      o.fused = false;
      GATv2Conv ops(o);
      fused->to(torch::kFloat64);
      ops->to(torch::kFloat64);
      {
        torch::NoGradGuard g;
        auto a = fused->parameters(), b = ops->parameters();
        for (size_t i = 0; i < a.size(); ++i) b[i].copy_(a[i]);
      }
      const auto x0 = torch::randn({6, 5}, torch::kFloat64);
      const auto ea0 = torch::randn({9, std::max<int64_t>(edge_dim, 1)}, torch::kFloat64);
      std::vector<torch::Tensor> grads[2];
      torch::Tensor outs[2];
      int i = 0;
      for (auto* conv : {&fused, &ops}) {
        auto x = x0.clone().requires_grad_();
        auto ea = ea0.clone().requires_grad_();
        auto out = (*conv)->forward(x, test_edges(), edge_dim ? ea : torch::Tensor());
        (out * out).sum().backward();
        outs[i] = out.detach();
        grads[i].push_back(x.grad());
        if (edge_dim) grads[i].push_back(ea.grad());
        for (const auto& p : (*conv)->parameters()) grads[i].push_back(p.grad());
        ++i;
      }
      SCOPED_TRACE("edge_dim " + std::to_string(edge_dim) + " concat " + std::to_string(concat));
      EXPECT_TRUE(torch::allclose(outs[0], outs[1], 1e-12, 1e-12));
      ASSERT_EQ(grads[0].size(), grads[1].size());
      for (size_t k = 0; k < grads[0].size(); ++k)
        EXPECT_TRUE(torch::allclose(grads[0][k], grads[1][k], 1e-10, 1e-12)) << "gradient " << k;
    }
}

TrainConfig quick_config() {
  return {.layers = 2, .hidden = 8, .heads = 2, .lr = 0.01, .max_epochs = 5, .patience = 0};
}

std::vector<GraphSample> small_samples(int64_t snapshots = 10) {
  return synthetic_samples({.nodes = 30, .snapshots = snapshots, .top_k = 4});
}

TEST(TrainConfig, RefusesBadValuesNamingTheField) {
  EXPECT_TRUE(TrainConfig{}.validate());
  auto expect_bad = [](TrainConfig c, const std::string& field) {
    const auto s = c.validate();
    ASSERT_FALSE(s) << field;
    EXPECT_EQ(s.error().code, Errc::invalid_argument);
    EXPECT_EQ(s.error().field, field);
    EXPECT_NE(s.error().message.find(field), std::string::npos) << s.error().message;
  };
  // One bad setting each, the others the defaults.
  const std::vector<std::pair<std::function<void(TrainConfig&)>, std::string>> bad = {
      {[](TrainConfig& c) { c.layers = 0; }, "layers"},
      {[](TrainConfig& c) { c.hidden = 0; }, "hidden"},
      {[](TrainConfig& c) { c.heads = 0; }, "heads"},
      {[](TrainConfig& c) { c.dropout = 1.0; }, "dropout"},
      {[](TrainConfig& c) { c.dropout = -0.1; }, "dropout"},
      {[](TrainConfig& c) { c.negative_slope = -1; }, "negative_slope"},
      {[](TrainConfig& c) { c.lr = 0; }, "lr"},
      {[](TrainConfig& c) { c.lr = std::nan(""); }, "lr"},
      {[](TrainConfig& c) { c.weight_decay = -1; }, "weight_decay"},
      {[](TrainConfig& c) { c.max_epochs = 0; }, "max_epochs"},
      {[](TrainConfig& c) { c.patience = -1; }, "patience"},
      {[](TrainConfig& c) { c.val_fraction = 0; }, "val_fraction"},
      {[](TrainConfig& c) { c.val_fraction = 1; }, "val_fraction"},
      {[](TrainConfig& c) { c.threads = -1; }, "threads"},
      {[](TrainConfig& c) { c.task = static_cast<Task>(7); }, "task"},
  };
  for (const auto& [set, field] : bad) {
    TrainConfig c;
    set(c);
    expect_bad(c, field);
  }

  TrainConfig c;
  c.layers = 0;
  auto r = train(small_samples(), c);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field, "layers");
}

TEST(Trainer, RefusesTooFewSamples) {
  auto one = small_samples(1);
  auto r = train(one, quick_config());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_NE(r.error().message.find("at least 2"), std::string::npos) << r.error().message;
  EXPECT_FALSE(train({}, quick_config()));
  auto two = small_samples(2);
  auto ok = train(two, quick_config());
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->train_samples, 1);
  EXPECT_EQ(ok->val_samples, 1);
}

TEST(Trainer, RefusesMalformedSamples) {
  auto expect_bad = [](std::vector<GraphSample> s, const std::string& what) {
    auto r = train(s, quick_config());
    ASSERT_FALSE(r) << what;
    EXPECT_EQ(r.error().code, Errc::invalid_argument);
    EXPECT_NE(r.error().message.find(what), std::string::npos) << r.error().message;
  };
  // One defect each in otherwise good samples.
  const std::vector<std::pair<std::function<void(std::vector<GraphSample>&)>, std::string>> bad = {
      {[](std::vector<GraphSample>& s) { s[2].dst[3] = 30; }, "out of range"},
      {[](std::vector<GraphSample>& s) { s[1].features.pop_back(); }, "features has"},
      {[](std::vector<GraphSample>& s) { s[1].features[0] = std::nanf(""); }, "finite"},
      {[](std::vector<GraphSample>& s) { s[3].edge_weight.pop_back(); }, "edge_weight"},
      {[](std::vector<GraphSample>& s) { s[0].next_return.pop_back(); }, "next_return"},
      {[](std::vector<GraphSample>& s) { std::swap(s[1], s[2]); }, "time order"},
      {[](std::vector<GraphSample>& s) { s[2].feature_dim = 3; }, "feature_dim"},
  };
  for (const auto& [spoil, what] : bad) {
    auto s = small_samples(4);
    spoil(s);
    expect_bad(s, what);
  }
  // Without edge weights, empty edge_weight vectors are fine.
  auto s = small_samples(4);
  for (auto& g : s) g.edge_weight.clear();
  auto c = quick_config();
  c.use_edge_weight = false;
  auto r = train(s, c);
  EXPECT_TRUE(r) << r.error().message;
}

TEST(Trainer, SameSeedGivesIdenticalMetrics) {
  const auto samples = small_samples(12);
  auto c = quick_config();
  c.dropout = 0.3;  // dropout draws from the seeded generator too
  c.max_epochs = 8;
  auto a = train(samples, c);
  auto b = train(samples, c);
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->epochs.size(), b->epochs.size());
  for (size_t i = 0; i < a->epochs.size(); ++i) {
    const auto &x = a->epochs[i], &y = b->epochs[i];
    EXPECT_EQ(x.train_loss, y.train_loss) << "epoch " << i + 1;
    EXPECT_EQ(x.val_loss, y.val_loss);
    EXPECT_EQ(x.train_accuracy, y.train_accuracy);
    EXPECT_EQ(x.val_accuracy, y.val_accuracy);
    EXPECT_EQ(x.train_f1, y.train_f1);
    EXPECT_EQ(x.val_f1, y.val_f1);
  }
  EXPECT_EQ(a->best_epoch, b->best_epoch);
  auto pa = predict(*a, samples.back()), pb = predict(*b, samples.back());
  ASSERT_TRUE(pa && pb);
  EXPECT_EQ(*pa, *pb);
  // Another seed trains another model.
  c.seed = 43;
  auto d = train(samples, c);
  ASSERT_TRUE(d);
  EXPECT_NE(d->epochs[0].train_loss, a->epochs[0].train_loss);
}

TEST(Trainer, LearnsASyntheticSignalBeyondTheBaselines) {
  // noise 1.5: one node's view alone is a poor guess; its group's neighbours help.
  const auto samples = synthetic_samples({.nodes = 60, .snapshots = 30, .top_k = 6, .noise = 1.5});
  TrainConfig c{.hidden = 16, .heads = 2, .lr = 0.01, .max_epochs = 150, .patience = 30};
  auto r = train(samples, c);
  ASSERT_TRUE(r) << r.error().message;
  const auto& best = r->epochs[static_cast<size_t>(r->best_epoch - 1)];
  std::printf(
      "synthetic: best epoch %lld val acc %.3f f1 %.3f, majority %.3f/%.3f, last sign %.3f/%.3f\n",
      static_cast<long long>(r->best_epoch), best.val_accuracy, best.val_f1,
      r->majority.val_accuracy, r->majority.val_f1, r->last_sign.val_accuracy, r->last_sign.val_f1);
  EXPECT_GT(best.val_accuracy, r->majority.val_accuracy + 0.15)
      << "majority " << r->majority.val_accuracy << " last sign " << r->last_sign.val_accuracy;
  EXPECT_GT(best.val_accuracy, r->last_sign.val_accuracy + 0.15);
  EXPECT_GT(best.val_accuracy, 0.8);
  EXPECT_GT(best.val_f1, std::max(r->majority.val_f1, r->last_sign.val_f1) + 0.1);
  EXPECT_EQ(r->val_samples, 6);
  EXPECT_EQ(r->train_samples, 24);
}

TEST(Trainer, RegressionPredictsTheReturnsSign) {
  SyntheticOptions o;
  o.nodes = 40;
  o.snapshots = 20;
  o.top_k = 5;
  const auto samples = synthetic_samples(o);
  TrainConfig c = quick_config();
  c.task = Task::regression;
  c.max_epochs = 100;
  auto r = train(samples, c);
  ASSERT_TRUE(r) << r.error().message;
  const auto& best = r->epochs[static_cast<size_t>(r->best_epoch - 1)];
  EXPECT_LT(best.val_loss, r->epochs[0].val_loss);
  std::printf("regression: best epoch %lld val acc %.3f f1 %.3f\n",
              static_cast<long long>(r->best_epoch), best.val_accuracy, best.val_f1);
  EXPECT_GT(best.val_accuracy, 0.7);
  EXPECT_GT(best.val_accuracy, r->majority.val_accuracy);
  auto p = predict(*r, samples.back());
  ASSERT_TRUE(p);
  EXPECT_EQ(p->size(), 40u);  // one value a node
}

TEST(Trainer, BaselinesAndF1Definitions) {
  // 2 snapshots of 4 nodes: train labels + + + -, validation - - - -.
  std::vector<GraphSample> s(2);
  for (int t = 0; t < 2; ++t) {
    s[static_cast<size_t>(t)].version = t;
    s[static_cast<size_t>(t)].num_nodes = 4;
    s[static_cast<size_t>(t)].feature_dim = 1;
    s[static_cast<size_t>(t)].features = {0.f, 1.f, 2.f, 3.f};
    s[static_cast<size_t>(t)].src = {0, 1};
    s[static_cast<size_t>(t)].dst = {1, 2};
    s[static_cast<size_t>(t)].edge_weight = {0.5f, 0.5f};
  }
  s[0].next_return = {0.1, 0.2, 0.3, -0.1};
  s[0].last_return = {0.1, -0.2, 0.3, 0.0};    // predicts + - + -: TP 2, FN 1, TN 1
  s[1].next_return = {-0.1, 0.0, -0.3, -0.1};  // 0.0 is class 0
  s[1].last_return = {0.0, 0.0, 0.0, 0.0};     // predicts all -: no positives at all
  auto r = train(s, quick_config());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_DOUBLE_EQ(r->majority.train_accuracy, 0.75);  // majority +
  EXPECT_DOUBLE_EQ(r->majority.train_f1, 6.0 / 7.0);   // 2*3 / (2*3 + 1)
  EXPECT_DOUBLE_EQ(r->majority.val_accuracy, 0.0);
  EXPECT_DOUBLE_EQ(r->majority.val_f1, 0.0);  // no TP, 4 FP
  EXPECT_DOUBLE_EQ(r->last_sign.train_accuracy, 0.75);
  EXPECT_DOUBLE_EQ(r->last_sign.train_f1, 0.8);  // 2*2 / (2*2 + 0 + 1)
  EXPECT_DOUBLE_EQ(r->last_sign.val_accuracy, 1.0);
  EXPECT_DOUBLE_EQ(r->last_sign.val_f1, 0.0);  // no positive label nor prediction: 0
}

TEST(Trainer, CallbackStopsAndTheBestWeightsAreKept) {
  const auto samples = small_samples(10);
  auto c = quick_config();
  c.max_epochs = 50;
  int calls = 0;
  auto r = train(samples, c, [&](const EpochMetrics& m) {
    EXPECT_EQ(m.epoch, ++calls);
    return m.epoch < 4;
  });
  ASSERT_TRUE(r);
  EXPECT_EQ(r->epochs.size(), 4u);
  EXPECT_TRUE(r->stopped_by_callback);
  EXPECT_FALSE(r->stopped_early);

  // Early stopping: the model's validation loss is the best epoch's.
  c.patience = 3;
  c.lr = 0.05;  // overfits fast
  c.max_epochs = 300;
  auto e = train(samples, c);
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->stopped_early);
  EXPECT_EQ(static_cast<int64_t>(e->epochs.size()), e->best_epoch + 3);
  double loss = 0;
  int64_t nodes = 0;
  for (int64_t i = e->train_samples; i < 10; ++i) {
    const auto& g = samples[static_cast<size_t>(i)];
    auto p = predict(*e, g);
    ASSERT_TRUE(p);
    for (int64_t v = 0; v < g.num_nodes; ++v) {
      const double a = (*p)[static_cast<size_t>(2 * v)], b = (*p)[static_cast<size_t>(2 * v + 1)];
      const double mx = std::max(a, b), lse = mx + std::log(std::exp(a - mx) + std::exp(b - mx));
      loss += lse - (g.next_return[static_cast<size_t>(v)] > 0 ? b : a);
    }
    nodes += g.num_nodes;
  }
  EXPECT_NEAR(loss / static_cast<double>(nodes),
              e->epochs[static_cast<size_t>(e->best_epoch - 1)].val_loss, 1e-5);
}

TEST(Artifacts, MetricsJsonHasEveryEpochBaselinesAndConfig) {
  auto c = quick_config();
  auto r = train(small_samples(), c);
  ASSERT_TRUE(r);
  const auto v = boost::json::parse(metrics_json(*r, c)).as_object();
  EXPECT_EQ(v.at("epochs").as_array().size(), 5u);
  EXPECT_EQ(v.at("best_epoch").as_int64(), r->best_epoch);
  EXPECT_TRUE(v.at("baselines").as_object().contains("majority"));
  EXPECT_TRUE(v.at("baselines").as_object().contains("last_sign"));
  EXPECT_EQ(v.at("config").at("task").as_string(), "classification");
  EXPECT_EQ(v.at("config").at("heads").as_int64(), 2);
  EXPECT_TRUE(v.at("epochs").as_array()[0].as_object().contains("val_f1"));
}

TEST(Artifacts, TorchScriptLoadsAndMatchesPredict) {
  for (bool edge_weight : {true, false}) {
    auto c = quick_config();
    c.use_edge_weight = edge_weight;
    const auto samples = small_samples();
    auto r = train(samples, c);
    ASSERT_TRUE(r);
    auto bytes = torchscript_bytes(*r);
    ASSERT_TRUE(bytes) << bytes.error().message;
    std::istringstream in(*bytes);
    auto m = torch::jit::load(in);
    const auto& g = samples.back();
    auto t = to_tensors(g);
    std::vector<torch::jit::IValue> args{t.x, t.edge_index};
    args.push_back(edge_weight ? torch::jit::IValue(t.edge_weight) : torch::jit::IValue());
    const auto out = m.forward(args).toTensor();
    auto p = predict(*r, g);
    ASSERT_TRUE(p);
    const auto want = torch::from_blob(p->data(), {g.num_nodes, 2});
    EXPECT_TRUE(torch::allclose(out, want, 1e-5, 1e-5)) << (out - want).abs().max();
    EXPECT_EQ(m.attr("heads").toInt(), 2);
  }
  EXPECT_FALSE(torchscript_bytes(TrainResult{}));
}

}  // namespace
}  // namespace sf::gnn
