// The trained model's artifacts: a TorchScript archive and the metrics as JSON.
#include <torch/script.h>

#include <boost/json.hpp>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>

#include "gnn/gatv2_module.h"
#include "gnn/trainer.h"

namespace sf::gnn {

namespace {

std::string attr_name(const std::string& param) {
  std::string s = param;
  for (auto& c : s)
    if (c == '.') c = '_';
  return s;
}

std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  std::string s = buf;
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";
  return s;
}

// TorchScript source of the model: the same operations as GATv2ConvImpl::forward_prepared
// and NodeModelImpl::forward_prepared, in eval mode (no dropout).
std::string script_source(const ModelSpec& spec, Task task) {
  std::ostringstream s;
  const bool ew = spec.use_edge_weight;
  s << "def gatv2(self, x: Tensor, src: Tensor, dst: Tensor, ea: Optional[Tensor], wl: Tensor,"
       " bl: Tensor, wr: Tensor, br: Tensor, we: Optional[Tensor], att: Tensor, bias: Tensor,"
       " heads: int, channels: int, concat: bool) -> Tensor:\n"
       "    n = x.size(0)\n"
       "    xl = torch.linear(x, wl, bl).view(-1, heads, channels)\n"
       "    xr = torch.linear(x, wr, br).view(-1, heads, channels)\n"
       "    xj = xl.index_select(0, src)\n"
       "    e = xr.index_select(0, dst) + xj\n"
       "    if ea is not None and we is not None:\n"
       "        e = e + torch.linear(ea, we).view(-1, heads, channels)\n"
       "    e = torch.leaky_relu(e, "
    << num(spec.negative_slope)
    << ")\n"
       "    score = (e * att).sum(-1)\n"
       "    idx = dst.view(-1, 1).expand_as(score)\n"
       "    mx = torch.zeros([n, heads], dtype=score.dtype, device=score.device)"
       ".scatter_reduce(0, idx, score, 'amax', include_self=False)\n"
       "    ex = (score - mx.index_select(0, dst)).exp()\n"
       "    den = torch.zeros([n, heads], dtype=score.dtype, device=score.device)"
       ".scatter_add(0, idx, ex) + 1e-16\n"
       "    alpha = ex / den.index_select(0, dst)\n"
       "    msg = xj * alpha.unsqueeze(-1)\n"
       "    out = torch.zeros([n, heads, channels], dtype=msg.dtype, device=msg.device)"
       ".scatter_add(0, dst.view(-1, 1, 1).expand_as(msg), msg)\n"
       "    if concat:\n"
       "        out = out.reshape(n, heads * channels)\n"
       "    else:\n"
       "        out = out.mean(1)\n"
       "    return out + bias\n"
       "\n"
       "def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Optional[Tensor] = None)"
       " -> Tensor:\n"
       "    n = x.size(0)\n"
       "    h = (x - self.feature_mean) / self.feature_std\n"
       "    src = edge_index[0]\n"
       "    dst = edge_index[1]\n"
       "    ea: Optional[Tensor] = None\n";
  if (ew)
    s << "    assert edge_weight is not None, 'this model was trained with edge weights'\n"
         "    ea = edge_weight.view(-1, 1).to(h.dtype)\n";
  if (spec.self_loops) {
    s << "    keep = src != dst\n"
         "    src = src[keep]\n"
         "    dst = dst[keep]\n"
         "    loop = torch.arange(n, dtype=src.dtype, device=src.device)\n";
    if (ew)
      s << "    if ea is not None:\n"
           "        a = ea[keep]\n"
           "        cnt = torch.zeros([n], dtype=a.dtype, device=a.device)"
           ".scatter_add(0, dst, torch.ones([dst.size(0)], dtype=a.dtype, device=a.device))"
           ".clamp(1.0)\n"
           "        sums = torch.zeros([n, 1], dtype=a.dtype, device=a.device)"
           ".scatter_add(0, dst.view(-1, 1), a)\n"
           "        ea = torch.cat([a, sums / cnt.view(-1, 1)], 0)\n";
    s << "    src = torch.cat([src, loop], 0)\n"
         "    dst = torch.cat([dst, loop], 0)\n";
  }
  for (int64_t l = 0; l < spec.layers; ++l) {
    const std::string p = "self.convs_" + std::to_string(l) + "_";
    const bool last = l == spec.layers - 1;
    s << "    h = torch.elu(self.gatv2(h, src, dst, ea, " << p << "lin_l_weight, " << p
      << "lin_l_bias, " << p << "lin_r_weight, " << p << "lin_r_bias, "
      << (ew ? p + "lin_edge_weight" : std::string("None")) << ", " << p << "att, " << p << "bias, "
      << spec.heads << ", " << spec.hidden << ", " << (last ? "False" : "True") << "))\n";
  }
  s << "    out = torch.linear(h, self.head_weight, self.head_bias)\n";
  if (task == Task::regression) s << "    out = out.squeeze(-1)\n";
  s << "    return out\n";
  return s.str();
}

boost::json::value jnum(double v) {
  if (!std::isfinite(v)) return nullptr;
  return v;
}

}  // namespace

Result<std::string> torchscript_bytes(const TrainResult& result) {
  if (!result.model) return Error(Errc::internal, "gnn torchscript: no trained model");
  const auto& m = *result.model;
  try {
    torch::jit::Module mod(c10::QualifiedName("__torch__.streamforge.GATv2NodeModel"));
    torch::NoGradGuard g;
    for (const auto& p : m.net->named_parameters())
      mod.register_parameter(attr_name(p.key()), p.value().detach().clone(), false);
    for (const auto& b : m.net->named_buffers())
      mod.register_buffer(attr_name(b.key()), b.value().detach().clone());
    mod.register_attribute("task", c10::StringType::get(), std::string(task_name(m.task)));
    mod.register_attribute("feature_dim", c10::IntType::get(), m.spec.in_dim);
    mod.register_attribute("layers", c10::IntType::get(), m.spec.layers);
    mod.register_attribute("hidden", c10::IntType::get(), m.spec.hidden);
    mod.register_attribute("heads", c10::IntType::get(), m.spec.heads);
    mod.register_attribute("use_edge_weight", c10::BoolType::get(), m.spec.use_edge_weight);
    mod.define(script_source(m.spec, m.task));
    mod.eval();
    std::ostringstream out;
    mod.save(out);
    return out.str();
  } catch (const std::exception& e) {
    return Error(Errc::internal, std::string("gnn torchscript: ") + e.what());
  }
}

std::string metrics_json(const TrainResult& r, const TrainConfig& c) {
  namespace json = boost::json;
  json::array epochs;
  for (const auto& e : r.epochs)
    epochs.push_back(json::object{{"epoch", e.epoch},
                                  {"train_loss", jnum(e.train_loss)},
                                  {"train_accuracy", jnum(e.train_accuracy)},
                                  {"train_f1", jnum(e.train_f1)},
                                  {"val_loss", jnum(e.val_loss)},
                                  {"val_accuracy", jnum(e.val_accuracy)},
                                  {"val_f1", jnum(e.val_f1)},
                                  {"seconds", jnum(e.seconds)}});
  auto baseline = [](const BaselineMetrics& b) {
    return json::object{{"train_accuracy", jnum(b.train_accuracy)},
                        {"train_f1", jnum(b.train_f1)},
                        {"val_accuracy", jnum(b.val_accuracy)},
                        {"val_f1", jnum(b.val_f1)}};
  };
  json::object best;
  if (r.best_epoch >= 1 && static_cast<size_t>(r.best_epoch) <= r.epochs.size()) {
    const auto& e = r.epochs[static_cast<size_t>(r.best_epoch - 1)];
    best = json::object{{"epoch", e.epoch},
                        {"val_loss", jnum(e.val_loss)},
                        {"val_accuracy", jnum(e.val_accuracy)},
                        {"val_f1", jnum(e.val_f1)}};
  }
  json::object config{{"task", task_name(c.task)},
                      {"layers", c.layers},
                      {"hidden", c.hidden},
                      {"heads", c.heads},
                      {"dropout", jnum(c.dropout)},
                      {"negative_slope", jnum(c.negative_slope)},
                      {"lr", jnum(c.lr)},
                      {"weight_decay", jnum(c.weight_decay)},
                      {"max_epochs", c.max_epochs},
                      {"patience", c.patience},
                      {"seed", c.seed},
                      {"val_fraction", jnum(c.val_fraction)},
                      {"use_edge_weight", c.use_edge_weight},
                      {"self_loops", c.self_loops},
                      {"standardize", c.standardize},
                      {"threads", c.threads}};
  json::object o{{"model", "gatv2"},
                 {"config", std::move(config)},
                 {"split", json::object{{"train_samples", r.train_samples},
                                        {"val_samples", r.val_samples},
                                        {"train_nodes", r.train_nodes},
                                        {"val_nodes", r.val_nodes}}},
                 {"parameters", r.parameters},
                 {"best_epoch", r.best_epoch},
                 {"best", std::move(best)},
                 {"stopped_early", r.stopped_early},
                 {"stopped_by_callback", r.stopped_by_callback},
                 {"seconds_per_epoch", jnum(r.seconds_per_epoch)},
                 {"baselines", json::object{{"majority", baseline(r.majority)},
                                            {"last_sign", baseline(r.last_sign)}}},
                 {"epochs", std::move(epochs)}};
  return json::serialize(o);
}

}  // namespace sf::gnn
