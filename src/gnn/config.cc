// TrainConfig's checks and the task names: no libtorch, so both the plugin (plugin.h) and the
// client that loads it (sf_gnn_client) have them.
#include <cmath>
#include <string>

#include "gnn/trainer.h"

namespace sf::gnn {

const char* task_name(Task t) { return t == Task::regression ? "regression" : "classification"; }

namespace {

Error bad(const std::string& field, const std::string& msg) {
  return Error(Errc::invalid_argument, "gnn config: " + field + " " + msg, field);
}

template <typename T>
bool in_range(T v, T lo, T hi) {
  return v >= lo && v <= hi;
}

}  // namespace

Status TrainConfig::validate() const {
  if (task != Task::classification && task != Task::regression)
    return bad("task", "must be classification or regression");
  if (!in_range<int64_t>(layers, 1, 16))
    return bad("layers", "must be 1..16, got " + std::to_string(layers));
  if (!in_range<int64_t>(hidden, 1, 4096))
    return bad("hidden", "must be 1..4096, got " + std::to_string(hidden));
  if (!in_range<int64_t>(heads, 1, 64))
    return bad("heads", "must be 1..64, got " + std::to_string(heads));
  if (!(dropout >= 0 && dropout < 1))
    return bad("dropout", "must be in [0, 1), got " + std::to_string(dropout));
  if (!(negative_slope >= 0 && negative_slope <= 1))
    return bad("negative_slope", "must be in [0, 1], got " + std::to_string(negative_slope));
  if (!(lr > 0 && std::isfinite(lr))) return bad("lr", "must be > 0, got " + std::to_string(lr));
  if (!(weight_decay >= 0 && std::isfinite(weight_decay)))
    return bad("weight_decay", "must be >= 0, got " + std::to_string(weight_decay));
  if (!in_range<int64_t>(max_epochs, 1, 1'000'000))
    return bad("max_epochs", "must be 1..1000000, got " + std::to_string(max_epochs));
  if (!in_range<int64_t>(patience, 0, 1'000'000))
    return bad("patience",
               "must be 0..1000000 (0: no early stopping), got " + std::to_string(patience));
  if (!(val_fraction > 0 && val_fraction < 1))
    return bad("val_fraction", "must be in (0, 1), got " + std::to_string(val_fraction));
  if (!in_range<int64_t>(threads, 0, 256))
    return bad("threads", "must be 0..256 (0: torch's default), got " + std::to_string(threads));
  return ok_status();
}

}  // namespace sf::gnn
