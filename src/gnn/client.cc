// trainer.h's functions for a binary without libtorch: each forwards to the plugin
// (plugin.h), loaded on first use.
#include <dlfcn.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>

#include "gnn/plugin.h"

namespace sf::gnn {

namespace {

struct Loaded {
  const PluginApi* api = nullptr;
  std::string error;
};

std::vector<std::filesystem::path> candidates() {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const auto dir = exe.parent_path();
    out.push_back(dir / kPluginFile);
    out.push_back(dir.parent_path() / "bin" / kPluginFile);
    out.push_back(dir.parent_path() / "lib" / "streamforge" / kPluginFile);
  }
#ifdef SF_GNN_PLUGIN_BUILD_DIR
  out.push_back(std::filesystem::path(SF_GNN_PLUGIN_BUILD_DIR) / kPluginFile);
#endif
  return out;
}

Loaded load() {
  Loaded l;
  std::string tried;
  void* handle = nullptr;
  for (const auto& p : candidates()) {
    std::error_code ec;
    if (!std::filesystem::exists(p, ec)) {
      tried += (tried.empty() ? "" : ", ") + p.string();
      continue;
    }
    handle = ::dlopen(p.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle) break;
    l.error = "cannot load " + p.string() + ": " + ::dlerror();
    return l;
  }
  if (!handle) {
    handle = ::dlopen(kPluginFile, RTLD_NOW | RTLD_LOCAL);  // the loader's search path
    if (!handle) {
      l.error = std::string("the GNN plugin ") + kPluginFile + " is not installed (looked in " +
                tried + " and the library path: " + ::dlerror() + ")";
      return l;
    }
  }
  auto entry = reinterpret_cast<const PluginApi* (*)()>(::dlsym(handle, kPluginEntry));
  if (!entry) {
    l.error = std::string(kPluginFile) + " has no " + kPluginEntry;
    return l;
  }
  const PluginApi* api = entry();
  if (api == nullptr || api->version != kPluginApiVersion) {
    l.error = std::string(kPluginFile) + " is of another version than this binary";
    return l;
  }
  l.api = api;
  return l;
}

}  // namespace

Result<const PluginApi*> plugin() {
  static std::once_flag once;
  static Loaded loaded;
  std::call_once(once, [] { loaded = load(); });
  if (!loaded.api) return Error(Errc::unavailable, loaded.error);
  return loaded.api;
}

Result<TrainResult> train(const std::vector<GraphSample>& samples, const TrainConfig& config,
                          const EpochCallback& callback) {
  const PluginApi* p = nullptr;
  SF_TRY_ASSIGN(p, plugin());
  return p->train(samples, config, callback);
}

Result<std::vector<float>> predict(const TrainResult& result, const GraphSample& sample) {
  const PluginApi* p = nullptr;
  SF_TRY_ASSIGN(p, plugin());
  return p->predict(result, sample);
}

Result<std::string> torchscript_bytes(const TrainResult& result) {
  const PluginApi* p = nullptr;
  SF_TRY_ASSIGN(p, plugin());
  return p->torchscript_bytes(result);
}

std::string metrics_json(const TrainResult& result, const TrainConfig& config) {
  auto p = plugin();
  // A TrainResult exists only if train() loaded the plugin.
  return p ? (*p)->metrics_json(result, config) : std::string("{}");
}

}  // namespace sf::gnn
