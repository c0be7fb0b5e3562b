// The PyTorch Geometric reference (label `reference`, CTest timeout 600 s):
//   1. GATv2Conv against PyG 2.8.1's GATv2Conv: gnn_reference.py (in the PyG venv that
//      src/gnn/pyg_env builds or reuses) writes 26 cases (heads 1, 2, 4; concat and mean;
//      without edge features, with 2-dimensional ones and with 1-D edge weights; with and
//      without self loops; a graph with existing self loops, a duplicate edge and a node
//      without incoming edges) with PyG's output and gradients w.r.t. x, edge_attr and every
//      parameter, in float32 and float64; this side loads the same weights and inputs and
//      must match all of them to 1e-5 (absolute), with the fused kernels (the default) and
//      with the tensor-op formulation.
//   2. torchscript_bytes(): /usr/bin/python3 loads the archive with torch.jit.load, runs it
//      on a snapshot and must reproduce predict()'s output to 1e-5.
// Every failure to build the venv, run Python or compare FAILS the test (no skip).
#include <gtest/gtest.h>

#include <array>
#include <boost/json.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "gnn/gatv2_module.h"
#include "gnn/synthetic.h"
#include "gnn/trainer.h"
#include "tests/support/temp_dir.h"

namespace sf::gnn {
namespace {

namespace json = boost::json;
constexpr double kTolerance = 1e-5;

// Runs `cmd` through the shell; its stdout, and its exit status in *status.
std::string run(const std::string& cmd, int* status) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) {
    *status = -1;
    return out;
  }
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  *status = ::pclose(p);
  return out;
}

std::string last_line(const std::string& s) {
  auto t = s;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
  const auto nl = t.rfind('\n');
  return nl == std::string::npos ? t : t.substr(nl + 1);
}

json::value read_json(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());
}

double as_double(const json::value& v) {
  return v.is_double() ? v.as_double() : static_cast<double>(v.to_number<int64_t>());
}

torch::Tensor tensor(const json::value& v, torch::Dtype dtype) {
  const auto& o = v.as_object();
  std::vector<int64_t> shape;
  for (const auto& d : o.at("shape").as_array()) shape.push_back(d.to_number<int64_t>());
  std::vector<double> data;
  for (const auto& d : o.at("data").as_array()) data.push_back(as_double(d));
  return torch::from_blob(data.data(), {static_cast<int64_t>(data.size())}, torch::kFloat64)
      .clone()
      .view(shape)
      .to(dtype);
}

json::value tensor_json(const torch::Tensor& t) {
  const auto c = t.detach().to(torch::kFloat64).contiguous();
  json::array shape, data;
  for (auto s : c.sizes()) shape.push_back(s);
  const auto* d = c.data_ptr<double>();
  for (int64_t i = 0; i < c.numel(); ++i) data.push_back(d[i]);
  return json::object{{"shape", std::move(shape)}, {"data", std::move(data)}};
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.sizes() != b.sizes()) return std::numeric_limits<double>::infinity();
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

std::string pyg_python() {
  int status = 0;
  const auto out = run(std::string("'") + SF_GNN_PYG_ENV + "'", &status);
  EXPECT_EQ(status, 0) << "src/gnn/pyg_env failed: " << out;
  return last_line(out);
}

TEST(GnnReference, GATv2ConvMatchesTorchGeometric) {
  const auto python = pyg_python();
  ASSERT_FALSE(python.empty());
  testing::TempDir dir("sf-gnn-ref");
  const auto cases_file = (dir.path() / "cases.json").string();
  int status = 0;
  const auto out =
      run("'" + python + "' '" + SF_GNN_REFERENCE_PY + "' layer-cases '" + cases_file + "' 2>&1",
          &status);
  ASSERT_EQ(status, 0) << out;
  const auto doc = read_json(cases_file);
  EXPECT_EQ(doc.at("pyg_version").as_string(), "2.8.1");
  const auto& cases = doc.at("cases").as_array();
  ASSERT_EQ(cases.size(), 26u);
  double worst32 = 0, worst64 = 0;
  int compared = 0;
  for (size_t k = 0; k < cases.size(); ++k) {
    const auto& c = cases[k].as_object();
    GATv2Options o;
    o.in_channels = c.at("in_channels").to_number<int64_t>();
    o.out_channels = c.at("out_channels").to_number<int64_t>();
    o.heads = c.at("heads").to_number<int64_t>();
    o.concat = c.at("concat").as_bool();
    o.negative_slope = as_double(c.at("negative_slope"));
    o.dropout = as_double(c.at("dropout"));
    o.add_self_loops = c.at("self_loops").as_bool();
    if (!c.at("edge_dim").is_null()) o.edge_dim = c.at("edge_dim").to_number<int64_t>();
    const std::string name = "case " + std::to_string(k) + " (heads " + std::to_string(o.heads) +
                             ", concat " + std::to_string(o.concat) + ", edge_dim " +
                             (o.edge_dim ? std::to_string(*o.edge_dim) : "-") + ", self loops " +
                             std::to_string(o.add_self_loops) + ")";
    std::vector<int64_t> ei;
    for (const auto& row : c.at("edge_index").as_array())
      for (const auto& v : row.as_array()) ei.push_back(v.to_number<int64_t>());
    const auto edge_index =
        torch::from_blob(ei.data(), {2, static_cast<int64_t>(ei.size() / 2)}, torch::kInt64)
            .clone();
    for (auto [dtype, dname, fused] : {std::tuple{torch::kFloat32, "float32", true},
                                       std::tuple{torch::kFloat64, "float64", true},
                                       std::tuple{torch::kFloat32, "float32", false},
                                       std::tuple{torch::kFloat64, "float64", false}}) {
      SCOPED_TRACE(name + " " + dname + (fused ? " fused" : " tensor ops"));
      o.fused = fused;
      GATv2Conv conv(o);
      conv->to(dtype);
      conv->eval();  // dropout 0.3 is off, as on PyG's side
      {
        torch::NoGradGuard g;
        const auto& params = c.at("params").as_object();
        size_t seen = 0;
        for (auto& p : conv->named_parameters()) {
          ASSERT_TRUE(params.contains(p.key())) << p.key();
          p.value().copy_(tensor(params.at(p.key()), dtype));
          ++seen;
        }
        ASSERT_EQ(seen, params.size());
      }
      auto x = tensor(c.at("x"), dtype).requires_grad_();
      torch::Tensor edge_attr;
      if (!c.at("edge_attr").is_null())
        edge_attr = tensor(c.at("edge_attr"), dtype).requires_grad_();
      const auto out = conv->forward(x, edge_index, edge_attr);
      (out * tensor(c.at("grad_out"), dtype)).sum().backward();
      const auto& want = c.at("expected").at(dname).as_object();
      double worst = max_diff(out, tensor(want.at("out"), dtype));
      EXPECT_LE(worst, kTolerance) << "output";
      const auto& grads = want.at("grad").as_object();
      EXPECT_LE(max_diff(x.grad(), tensor(grads.at("x"), dtype)), kTolerance) << "grad x";
      worst = std::max(worst, max_diff(x.grad(), tensor(grads.at("x"), dtype)));
      if (edge_attr.defined()) {
        const double d = max_diff(edge_attr.grad(), tensor(grads.at("edge_attr"), dtype));
        EXPECT_LE(d, kTolerance) << "grad edge_attr";
        worst = std::max(worst, d);
      } else {
        EXPECT_FALSE(grads.contains("edge_attr"));
      }
      for (const auto& p : conv->named_parameters()) {
        ASSERT_TRUE(grads.contains(p.key())) << p.key();
        const double d = max_diff(p.value().grad(), tensor(grads.at(p.key()), dtype));
        EXPECT_LE(d, kTolerance) << "grad " << p.key();
        worst = std::max(worst, d);
      }
      (dtype == torch::kFloat32 ? worst32 : worst64) =
          std::max(dtype == torch::kFloat32 ? worst32 : worst64, worst);
      ++compared;
    }
  }
  EXPECT_EQ(compared, 104);
  std::printf(
      "GATv2Conv vs PyG %s: %d comparisons, largest difference %.3g (float32), %.3g "
      "(float64)\n",
      std::string(doc.at("pyg_version").as_string()).c_str(), compared, worst32, worst64);
}

TEST(GnnReference, TorchScriptArchiveRunsInPython) {
  struct Variant {
    Task task;
    bool edge_weight, self_loops;
    int64_t layers;
  };
  for (const auto& v :
       {Variant{Task::classification, true, true, 2}, Variant{Task::classification, false, true, 3},
        Variant{Task::regression, true, false, 1}, Variant{Task::regression, false, false, 2}}) {
    SCOPED_TRACE(std::string(task_name(v.task)) + " edge weight " + std::to_string(v.edge_weight) +
                 " self loops " + std::to_string(v.self_loops) + " layers " +
                 std::to_string(v.layers));
    SyntheticOptions so;
    so.nodes = 24;
    so.snapshots = 8;
    so.top_k = 4;
    const auto samples = synthetic_samples(so);
    TrainConfig c;
    c.task = v.task;
    c.use_edge_weight = v.edge_weight;
    c.self_loops = v.self_loops;
    c.layers = v.layers;
    c.hidden = 6;
    c.heads = 3;
    c.max_epochs = 5;
    auto r = train(samples, c);
    ASSERT_TRUE(r) << r.error().message;
    auto bytes = torchscript_bytes(*r);
    ASSERT_TRUE(bytes) << bytes.error().message;
    const auto& g = samples.back();  // has self loops (node 0, 10, 20) in its edges
    auto want = predict(*r, g);
    ASSERT_TRUE(want);

    testing::TempDir dir("sf-gnn-ts");
    const auto archive = (dir.path() / "model.pt").string();
    const auto in_file = (dir.path() / "in.json").string();
    const auto out_file = (dir.path() / "out.json").string();
    {
      std::ofstream f(archive, std::ios::binary);
      f << *bytes;
      ASSERT_TRUE(f.good());
    }
    {
      auto t = to_tensors(g);
      json::array rows{json::array(g.src.begin(), g.src.end()),
                       json::array(g.dst.begin(), g.dst.end())};
      json::object in{{"x", tensor_json(t.x)}, {"edge_index", std::move(rows)}};
      in["edge_weight"] = v.edge_weight ? tensor_json(t.edge_weight) : json::value(nullptr);
      std::ofstream f(in_file);
      f << json::serialize(in);
      ASSERT_TRUE(f.good());
    }
    int status = 0;
    const auto out =
        run(std::string("/usr/bin/python3 '") + SF_GNN_REFERENCE_PY + "' torchscript '" + archive +
                "' '" + in_file + "' '" + out_file + "' 2>&1",
            &status);
    ASSERT_EQ(status, 0) << out;
    const auto res = read_json(out_file);
    const auto got = tensor(res.at("out"), torch::kFloat32);
    const auto n = g.num_nodes;
    const auto expected = v.task == Task::classification
                              ? torch::from_blob(want->data(), {n, 2}, torch::kFloat32).clone()
                              : torch::from_blob(want->data(), {n}, torch::kFloat32).clone();
    const double d = max_diff(got, expected);
    EXPECT_LE(d, kTolerance) << "TorchScript in Python vs predict()";
    std::printf(
        "TorchScript (%s, edge weight %d, self loops %d, %lld layers) in Python torch "
        "%s: largest difference %.3g\n",
        task_name(v.task), v.edge_weight, v.self_loops, static_cast<long long>(v.layers),
        std::string(res.at("torch_version").as_string()).c_str(), d);
    EXPECT_EQ(res.at("task").as_string(), task_name(v.task));
    EXPECT_EQ(res.at("heads").to_number<int64_t>(), 3);
    EXPECT_EQ(res.at("layers").to_number<int64_t>(), v.layers);
    EXPECT_EQ(res.at("use_edge_weight").as_bool(), v.edge_weight);
  }
}

}  // namespace
}  // namespace sf::gnn
