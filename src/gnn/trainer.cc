#include "gnn/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>
#include <string>

#include "gnn/gatv2_module.h"

namespace sf::gnn {

namespace {

Error bad_sample(size_t i, const std::string& msg) {
  return Error(Errc::invalid_argument, "gnn samples: sample " + std::to_string(i) + ": " + msg,
               "samples");
}

bool all_finite(const std::vector<float>& v) {
  return std::all_of(v.begin(), v.end(), [](float f) { return std::isfinite(f); });
}
bool all_finite(const std::vector<double>& v) {
  return std::all_of(v.begin(), v.end(), [](double f) { return std::isfinite(f); });
}

Status check_sample(const GraphSample& s, size_t i, const TrainConfig& c, int64_t feature_dim,
                    bool labels = true) {
  if (s.num_nodes <= 0) return bad_sample(i, "num_nodes must be > 0");
  if (s.feature_dim != feature_dim)
    return bad_sample(i, "feature_dim " + std::to_string(s.feature_dim) + " differs from " +
                             std::to_string(feature_dim) + " (sample 0's)");
  const auto n = static_cast<size_t>(s.num_nodes);
  if (s.features.size() != n * static_cast<size_t>(s.feature_dim))
    return bad_sample(i, "features has " + std::to_string(s.features.size()) +
                             " values, num_nodes * feature_dim is " +
                             std::to_string(n * static_cast<size_t>(s.feature_dim)));
  if (!all_finite(s.features)) return bad_sample(i, "features must be finite");
  if (s.src.size() != s.dst.size()) return bad_sample(i, "src and dst differ in length");
  for (size_t k = 0; k < s.src.size(); ++k)
    if (s.src[k] < 0 || s.src[k] >= s.num_nodes || s.dst[k] < 0 || s.dst[k] >= s.num_nodes)
      return bad_sample(i, "edge " + std::to_string(k) + " has a node index out of range");
  if (c.use_edge_weight || !s.edge_weight.empty()) {
    if (s.edge_weight.size() != s.src.size())
      return bad_sample(i, "edge_weight needs one value per edge (" + std::to_string(s.src.size()) +
                               "), has " + std::to_string(s.edge_weight.size()));
    if (!all_finite(s.edge_weight)) return bad_sample(i, "edge_weight must be finite");
  }
  if (!labels) return ok_status();
  if (s.next_return.size() != n || s.last_return.size() != n)
    return bad_sample(i, "next_return and last_return need one value per node");
  if (!all_finite(s.next_return) || !all_finite(s.last_return))
    return bad_sample(i, "next_return and last_return must be finite");
  return ok_status();
}

// The snapshots [begin, end) as one disjoint-union graph, and their labels.
struct Batch {
  torch::Tensor x, edge_index, edge_weight;
  torch::Tensor y;             // int64 classes or float returns
  std::vector<bool> positive;  // next_return > 0
  std::vector<bool> last_pos;  // last_return > 0
  PreparedEdges prepared;
  int64_t nodes = 0;
};

Batch make_batch(const std::vector<GraphSample>& samples, size_t begin, size_t end,
                 const TrainConfig& c) {
  Batch b;
  int64_t edges = 0;
  for (size_t i = begin; i < end; ++i) {
    b.nodes += samples[i].num_nodes;
    edges += static_cast<int64_t>(samples[i].src.size());
  }
  const int64_t f = samples[begin].feature_dim;
  b.x = torch::empty({b.nodes, f}, torch::kFloat32);
  b.edge_index = torch::empty({2, edges}, torch::kInt64);
  b.edge_weight = torch::zeros({edges}, torch::kFloat32);
  auto* xp = b.x.data_ptr<float>();
  auto* sp = b.edge_index.data_ptr<int64_t>();
  auto* dp = sp + edges;
  auto* wp = b.edge_weight.data_ptr<float>();
  std::vector<int64_t> cls;
  std::vector<float> ret;
  int64_t offset = 0;
  for (size_t i = begin; i < end; ++i) {
    const auto& s = samples[i];
    xp = std::copy(s.features.begin(), s.features.end(), xp);
    for (size_t k = 0; k < s.src.size(); ++k) {
      *sp++ = s.src[k] + offset;
      *dp++ = s.dst[k] + offset;
    }
    if (!s.edge_weight.empty())
      wp = std::copy(s.edge_weight.begin(), s.edge_weight.end(), wp);
    else
      wp += s.src.size();
    for (int64_t v = 0; v < s.num_nodes; ++v) {
      const auto k = static_cast<size_t>(v);
      b.positive.push_back(s.next_return[k] > 0);
      b.last_pos.push_back(s.last_return[k] > 0);
      cls.push_back(s.next_return[k] > 0 ? 1 : 0);
      ret.push_back(static_cast<float>(s.next_return[k]));
    }
    offset += s.num_nodes;
  }
  if (c.task == Task::classification)
    b.y = torch::from_blob(cls.data(), {b.nodes}, torch::kInt64).clone();
  else
    b.y = torch::from_blob(ret.data(), {b.nodes}, torch::kFloat32).clone();
  return b;
}

struct Scores {
  double accuracy = 0, f1 = 0;
};

Scores score(const std::vector<bool>& truth, const std::vector<bool>& pred) {
  int64_t tp = 0, fp = 0, fn = 0, right = 0;
  for (size_t i = 0; i < truth.size(); ++i) {
    right += truth[i] == pred[i];
    tp += truth[i] && pred[i];
    fp += !truth[i] && pred[i];
    fn += truth[i] && !pred[i];
  }
  Scores s;
  s.accuracy = truth.empty() ? 0 : static_cast<double>(right) / static_cast<double>(truth.size());
  const int64_t den = 2 * tp + fp + fn;
  s.f1 = den == 0 ? 0 : static_cast<double>(2 * tp) / static_cast<double>(den);
  return s;
}

std::vector<bool> predicted_positive(const torch::Tensor& out, Task task) {
  const auto pos = task == Task::classification ? out.argmax(1).eq(1) : out.gt(0);
  const auto p = pos.contiguous().to(torch::kBool);
  const auto* d = p.data_ptr<bool>();
  return std::vector<bool>(d, d + p.numel());
}

torch::Tensor loss_of(const torch::Tensor& out, const torch::Tensor& y, Task task) {
  return task == Task::classification ? torch::nn::functional::cross_entropy(out, y)
                                      : torch::nn::functional::mse_loss(out, y);
}

std::mutex& train_mutex() {
  static std::mutex m;
  return m;
}

}  // namespace

Result<TrainResult> train(const std::vector<GraphSample>& samples, const TrainConfig& config,
                          const EpochCallback& callback) {
  SF_TRY(config.validate());
  const auto n = samples.size();
  const auto n_val =
      static_cast<size_t>(std::ceil(static_cast<double>(n) * config.val_fraction - 1e-9));
  if (n < 2 || n_val < 1 || n_val >= n)
    return Error(Errc::invalid_argument,
                 "gnn samples: " + std::to_string(n) +
                     " snapshot(s) cannot be split in time into training and validation "
                     "(val_fraction " +
                     std::to_string(config.val_fraction) +
                     "): at least one snapshot is needed on each side, i.e. at least 2",
                 "samples");
  const int64_t feature_dim = samples[0].feature_dim;
  if (feature_dim <= 0) return bad_sample(0, "feature_dim must be > 0");
  for (size_t i = 0; i < n; ++i) {
    SF_TRY(check_sample(samples[i], i, config, feature_dim));
    if (i > 0 && samples[i].version <= samples[i - 1].version)
      return bad_sample(i, "version " + std::to_string(samples[i].version) + " does not follow " +
                               std::to_string(samples[i - 1].version) +
                               ": samples must be in time order");
  }
  const size_t n_train = n - n_val;

  std::lock_guard lock(train_mutex());
  if (config.threads > 0) torch::set_num_threads(static_cast<int>(config.threads));
  torch::manual_seed(config.seed);

  TrainResult r;
  r.train_samples = static_cast<int64_t>(n_train);
  r.val_samples = static_cast<int64_t>(n_val);
  auto tr = make_batch(samples, 0, n_train, config);
  auto va = make_batch(samples, n_train, n, config);
  r.train_nodes = tr.nodes;
  r.val_nodes = va.nodes;

  // Baselines.
  const auto positives = std::count(tr.positive.begin(), tr.positive.end(), true);
  const bool majority_pos = 2 * positives > static_cast<int64_t>(tr.positive.size());
  {
    const auto mt = score(tr.positive, std::vector<bool>(tr.positive.size(), majority_pos));
    const auto mv = score(va.positive, std::vector<bool>(va.positive.size(), majority_pos));
    r.majority = {mt.accuracy, mt.f1, mv.accuracy, mv.f1};
    const auto lt = score(tr.positive, tr.last_pos);
    const auto lv = score(va.positive, va.last_pos);
    r.last_sign = {lt.accuracy, lt.f1, lv.accuracy, lv.f1};
  }

  auto model = std::make_shared<TrainedModel>();
  model->task = config.task;
  model->spec.in_dim = feature_dim;
  model->spec.layers = config.layers;
  model->spec.hidden = config.hidden;
  model->spec.heads = config.heads;
  model->spec.dropout = config.dropout;
  model->spec.negative_slope = config.negative_slope;
  model->spec.use_edge_weight = config.use_edge_weight;
  model->spec.self_loops = config.self_loops;
  model->spec.outputs = config.task == Task::classification ? 2 : 1;
  model->net = NodeModel(model->spec);
  auto& net = model->net;
  if (config.standardize) {
    torch::NoGradGuard g;
    net->feature_mean.copy_(tr.x.mean(0));
    auto sd = tr.x.std(0, /*unbiased=*/false);
    net->feature_std.copy_(torch::where(sd > 1e-12, sd, torch::ones_like(sd)));
  }
  const torch::Tensor no_weight;
  tr.prepared =
      net->prepare(tr.edge_index, config.use_edge_weight ? tr.edge_weight : no_weight, tr.nodes);
  va.prepared =
      net->prepare(va.edge_index, config.use_edge_weight ? va.edge_weight : no_weight, va.nodes);
  for (const auto& p : net->parameters()) r.parameters += p.numel();

  torch::optim::Adam opt(net->parameters(),
                         torch::optim::AdamOptions(config.lr).weight_decay(config.weight_decay));
  double best_loss = std::numeric_limits<double>::infinity();
  std::vector<torch::Tensor> best_state;
  auto snapshot = [&] {
    torch::NoGradGuard g;
    best_state.clear();
    for (const auto& p : net->parameters()) best_state.push_back(p.detach().clone());
  };
  snapshot();
  double total_seconds = 0;
  for (int64_t epoch = 1; epoch <= config.max_epochs; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    EpochMetrics m;
    m.epoch = epoch;
    net->train();
    opt.zero_grad();
    auto out = net->forward_prepared(tr.x, tr.prepared);
    auto loss = loss_of(out, tr.y, config.task);
    loss.backward();
    opt.step();
    m.train_loss = loss.item<double>();
    const auto ts = score(tr.positive, predicted_positive(out.detach(), config.task));
    m.train_accuracy = ts.accuracy;
    m.train_f1 = ts.f1;
    {
      torch::NoGradGuard g;
      net->eval();
      auto vout = net->forward_prepared(va.x, va.prepared);
      m.val_loss = loss_of(vout, va.y, config.task).item<double>();
      const auto vs = score(va.positive, predicted_positive(vout, config.task));
      m.val_accuracy = vs.accuracy;
      m.val_f1 = vs.f1;
    }
    m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    total_seconds += m.seconds;
    r.epochs.push_back(m);
    if (!std::isfinite(m.train_loss) || !std::isfinite(m.val_loss))
      return Error(Errc::invalid_argument,
                   "gnn training diverged: the loss is not finite at epoch " +
                       std::to_string(epoch) + " (lower lr?)",
                   "lr");
    if (m.val_loss < best_loss) {
      best_loss = m.val_loss;
      r.best_epoch = epoch;
      snapshot();
    }
    if (callback && !callback(m)) {
      r.stopped_by_callback = true;
      break;
    }
    if (config.patience > 0 && epoch - r.best_epoch >= config.patience) {
      r.stopped_early = true;
      break;
    }
  }
  {
    torch::NoGradGuard g;
    auto params = net->parameters();
    for (size_t i = 0; i < params.size(); ++i) params[i].copy_(best_state[i]);
  }
  net->eval();
  r.seconds_per_epoch = r.epochs.empty() ? 0 : total_seconds / static_cast<double>(r.epochs.size());
  r.model = std::move(model);
  return r;
}

Result<std::vector<float>> predict(const TrainResult& result, const GraphSample& sample) {
  if (!result.model) return Error(Errc::invalid_argument, "gnn predict: no trained model");
  auto& m = *result.model;  // in eval mode since train() returned
  TrainConfig c;
  c.use_edge_weight = m.spec.use_edge_weight;
  SF_TRY(check_sample(sample, 0, c, m.spec.in_dim, /*labels=*/false));
  auto t = to_tensors(sample);
  torch::NoGradGuard g;
  auto out = m.net->forward(t.x, t.edge_index, t.edge_weight).contiguous();
  const auto* d = out.data_ptr<float>();
  return std::vector<float>(d, d + out.numel());
}

}  // namespace sf::gnn
