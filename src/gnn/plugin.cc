// The entry point of libsf_gnn_plugin.so (plugin.h): the trainer compiled into the plugin.
#include "gnn/plugin.h"

namespace {

const sf::gnn::PluginApi kApi{
    sf::gnn::kPluginApiVersion,
    [](const std::vector<sf::gnn::GraphSample>& s, const sf::gnn::TrainConfig& c,
       const sf::gnn::EpochCallback& cb) { return sf::gnn::train(s, c, cb); },
    [](const sf::gnn::TrainResult& r, const sf::gnn::GraphSample& s) {
      return sf::gnn::predict(r, s);
    },
    [](const sf::gnn::TrainResult& r) { return sf::gnn::torchscript_bytes(r); },
    [](const sf::gnn::TrainResult& r, const sf::gnn::TrainConfig& c) {
      return sf::gnn::metrics_json(r, c);
    },
};

}  // namespace

extern "C" __attribute__((visibility("default"))) const sf::gnn::PluginApi* sf_gnn_plugin_api() {
  return &kApi;
}
