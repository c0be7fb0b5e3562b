// RegistryLauncher: the part of a Launcher (launcher.h) that answers from the worker registry
// it runs targets from: which targets it knows, their settings' checks and schemas, and their
// roles. InProcessLauncher and ProcessLauncher derive from it and add the running.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "launch/launcher.h"
#include "workers/worker.h"

namespace sf::launch {

class RegistryLauncher : public Launcher {
 public:
  std::vector<std::string> targets() const override { return registry_.targets(); }
  Status validate(const std::string& target, const boost::json::object& settings) const override {
    return registry_.validate(target, settings);
  }
  std::optional<std::string> settings_schema(const std::string& target) const override {
    return registry_.settings_schema(target);
  }
  protocol::TargetRole role(const std::string& target) const override {
    return registry_.role(target);
  }

 protected:
  explicit RegistryLauncher(workers::WorkerRegistry registry) : registry_(std::move(registry)) {}

  const workers::WorkerRegistry& registry() const { return registry_; }

 private:
  workers::WorkerRegistry registry_;
};

}  // namespace sf::launch
