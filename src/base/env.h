// Env: a worker's configuration as name=value pairs, exactly what a Kubernetes Job would
// receive as environment variables. Libraries take an Env, never read getenv() themselves.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "base/result.h"

namespace sf {

class Env {
 public:
  Env() = default;
  explicit Env(std::map<std::string, std::string> vars) : vars_(std::move(vars)) {}

  // Snapshot of the process environment (used only by apps/ and the process launcher).
  static Env from_process();

  void set(const std::string& k, std::string v) { vars_[k] = std::move(v); }
  std::optional<std::string> get(const std::string& k) const;
  std::string get_or(const std::string& k, const std::string& def) const;
  // Typed getters fail with invalid_argument naming the variable when the value is malformed.
  Result<std::string> require(const std::string& k) const;
  Result<int64_t> get_int(const std::string& k, int64_t def) const;
  Result<double> get_double(const std::string& k, double def) const;
  const std::map<std::string, std::string>& vars() const { return vars_; }

 private:
  std::map<std::string, std::string> vars_;
};

}  // namespace sf
