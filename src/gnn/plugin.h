// The GNN plugin: libtorch costs a process about 0.8 s and 160 MB just to load, so the
// streamforge binary does not link it. The trainer (trainer.h's train, predict,
// torchscript_bytes, metrics_json) is built a second time into the shared library
// libsf_gnn_plugin.so (hidden visibility: only sf_gnn_plugin_api is exported), which the
// client library sf_gnn_client dlopen()s the first time one of those functions is called:
// a process that never trains never loads libtorch.
//
// Where the client looks, first found wins: the directory of the running executable, its
// ../bin (test binaries live in build/tests), ../lib/streamforge, then the build's bin
// directory (compiled in), then the dynamic loader's search path. Both sides are built
// together by the same compiler (the ABI is the C++ one); kPluginApiVersion guards against
// a stale plugin.
//
// Thread-safety: the plugin is loaded once (std::call_once) and never unloaded.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "gnn/trainer.h"

namespace sf::gnn {

inline constexpr int kPluginApiVersion = 1;
inline constexpr const char* kPluginFile = "libsf_gnn_plugin.so";
inline constexpr const char* kPluginEntry = "sf_gnn_plugin_api";

struct PluginApi {
  int version = kPluginApiVersion;
  Result<TrainResult> (*train)(const std::vector<GraphSample>&, const TrainConfig&,
                               const EpochCallback&);
  Result<std::vector<float>> (*predict)(const TrainResult&, const GraphSample&);
  Result<std::string> (*torchscript_bytes)(const TrainResult&);
  std::string (*metrics_json)(const TrainResult&, const TrainConfig&);
};

// The loaded plugin (loading it on the first call), or unavailable naming every path tried
// and the loader's error. In sf_gnn_client.
Result<const PluginApi*> plugin();

}  // namespace sf::gnn
