// Synthetic graph snapshots for src/gnn's tests and bench/gnn_bench.cc (no market data): a
// learnable next-return sign that a graph model can recover better than a single node.
#pragma once

#include <cstdint>
#include <vector>

#include "gnn/trainer.h"

namespace sf::gnn {

struct SyntheticOptions {
  int64_t nodes = 200;
  int64_t snapshots = 60;
  int64_t top_k = 10;    // incoming edges per node
  int64_t features = 4;  // >= 3
  double noise = 1.0;    // of each node's view of its group's factor
  uint64_t seed = 7;
};

// Nodes in two groups (node i in group i % 2). In snapshot t each group has a factor
// f ~ N(0, 1); a node's next_return is 0.01 * (f + 0.3 * N(0, 1)), so its sign is mostly
// the group's. Feature 0 is the node's noisy view of f (f + noise * N(0, 1)), feature 1 is
// last_return * 100 (last_return: the node's previous next_return), the others N(0, 1).
// Each node has top_k incoming edges, mostly from its own group with weights in [0.5, 0.9],
// sometimes (1 in 5) from the other group with weights in [-0.3, 0.3]; one node in ten also
// has a self loop. Deterministic in the options.
std::vector<GraphSample> synthetic_samples(const SyntheticOptions& o);

}  // namespace sf::gnn
