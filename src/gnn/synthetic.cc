#include "gnn/synthetic.h"

#include <algorithm>
#include <random>

namespace sf::gnn {

std::vector<GraphSample> synthetic_samples(const SyntheticOptions& o) {
  std::mt19937_64 rng(o.seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const auto n = static_cast<size_t>(o.nodes);
  std::vector<double> last(n, 0.0);
  std::vector<GraphSample> out;
  for (int64_t t = 0; t < o.snapshots; ++t) {
    GraphSample s;
    s.version = t;
    s.num_nodes = o.nodes;
    s.feature_dim = o.features;
    const double f[2] = {normal(rng), normal(rng)};
    s.next_return.resize(n);
    s.last_return = last;
    s.features.resize(n * static_cast<size_t>(o.features));
    for (size_t i = 0; i < n; ++i) {
      const double g = f[i % 2];
      s.next_return[i] = 0.01 * (g + 0.3 * normal(rng));
      float* row = &s.features[i * static_cast<size_t>(o.features)];
      row[0] = static_cast<float>(g + o.noise * normal(rng));
      row[1] = static_cast<float>(last[i] * 100);
      for (int64_t k = 2; k < o.features; ++k) row[k] = static_cast<float>(normal(rng));
    }
    for (size_t i = 0; i < n; ++i) {
      std::vector<int64_t> chosen;
      while (static_cast<int64_t>(chosen.size()) < std::min<int64_t>(o.top_k, o.nodes - 1)) {
        const bool cross = unit(rng) < 0.2;
        auto j = static_cast<int64_t>(unit(rng) * static_cast<double>(o.nodes / 2)) * 2;
        j = std::min<int64_t>(j, (o.nodes - 1) / 2 * 2) +
            static_cast<int64_t>(cross ? 1 - i % 2 : i % 2);
        if (j >= o.nodes || j == static_cast<int64_t>(i) ||
            std::find(chosen.begin(), chosen.end(), j) != chosen.end())
          continue;
        chosen.push_back(j);
        s.src.push_back(j);
        s.dst.push_back(static_cast<int64_t>(i));
        s.edge_weight.push_back(
            static_cast<float>(cross ? -0.3 + 0.6 * unit(rng) : 0.5 + 0.4 * unit(rng)));
      }
      if (i % 10 == 0) {
        s.src.push_back(static_cast<int64_t>(i));
        s.dst.push_back(static_cast<int64_t>(i));
        s.edge_weight.push_back(1.0f);
      }
    }
    last = s.next_return;
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace sf::gnn
