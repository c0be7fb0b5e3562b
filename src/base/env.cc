#include "base/env.h"

#include <charconv>
#include <cstdlib>
#include <cstring>

extern char** environ;

namespace sf {

Env Env::from_process() {
  std::map<std::string, std::string> vars;
  for (char** e = environ; e && *e; ++e) {
    const char* eq = std::strchr(*e, '=');
    if (!eq) continue;
    vars.emplace(std::string(*e, static_cast<size_t>(eq - *e)), std::string(eq + 1));
  }
  return Env(std::move(vars));
}

std::optional<std::string> Env::get(const std::string& k) const {
  auto it = vars_.find(k);
  if (it == vars_.end()) return std::nullopt;
  return it->second;
}

std::string Env::get_or(const std::string& k, const std::string& def) const {
  auto v = get(k);
  return v ? *v : def;
}

Result<std::string> Env::require(const std::string& k) const {
  auto v = get(k);
  if (!v || v->empty()) return Error(Errc::invalid_argument, k + " is required but not set", k);
  return *v;
}

Result<int64_t> Env::get_int(const std::string& k, int64_t def) const {
  auto v = get(k);
  if (!v || v->empty()) return def;
  int64_t out = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || p != v->data() + v->size())
    return Error(Errc::invalid_argument, k + " must be an integer, got '" + *v + "'", k);
  return out;
}

Result<double> Env::get_double(const std::string& k, double def) const {
  auto v = get(k);
  if (!v || v->empty()) return def;
  char* end = nullptr;
  double out = std::strtod(v->c_str(), &end);
  if (end != v->c_str() + v->size())
    return Error(Errc::invalid_argument, k + " must be a number, got '" + *v + "'", k);
  return out;
}

}  // namespace sf
