#include "manager/flows.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "protocol/validate.h"

namespace sf::manager {

namespace bj = boost::json;

namespace {

// YAML scalars become JSON strings, except plain (unquoted) numbers and booleans.
bj::value to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      bj::object o;
      for (const auto& kv : n) o[kv.first.as<std::string>()] = to_json(kv.second);
      return o;
    }
    case YAML::NodeType::Sequence: {
      bj::array a;
      for (const auto& e : n) a.push_back(to_json(e));
      return a;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = n.Scalar();
      if (n.Tag() != "!") {  // plain scalar: try typed
        if (s == "true") return true;
        if (s == "false") return false;
        char* end = nullptr;
        long long i = std::strtoll(s.c_str(), &end, 10);
        if (!s.empty() && end == s.c_str() + s.size()) return static_cast<int64_t>(i);
        double d = std::strtod(s.c_str(), &end);
        if (!s.empty() && end == s.c_str() + s.size()) return d;
      }
      return bj::string(s);
    }
    default:
      return nullptr;
  }
}

struct Filler {
  const std::map<std::string, bj::value>& vars;
  std::set<std::string> used;
  std::optional<Error> error;
  std::string where;

  bj::value fill(const bj::value& v, const std::string& path) {
    if (v.is_object()) {
      bj::object o;
      for (const auto& kv : v.get_object())
        o[kv.key()] = fill(kv.value(), path + "." + std::string(kv.key()));
      return o;
    }
    if (v.is_array()) {
      bj::array a;
      size_t i = 0;
      for (const auto& e : v.get_array())
        a.push_back(fill(e, path + "[" + std::to_string(i++) + "]"));
      return a;
    }
    if (!v.is_string()) return v;
    std::string s(v.get_string());
    // Exactly one placeholder: keep the variable's type.
    if (s.size() > 4 && s.rfind("{{", 0) == 0 && s.find("}}") == s.size() - 2 &&
        s.find("{{", 2) == std::string::npos) {
      std::string name = s.substr(2, s.size() - 4);
      if (const bj::value* val = lookup(name, path)) return *val;
      return v;
    }
    std::string out;
    size_t pos = 0;
    while (true) {
      size_t open = s.find("{{", pos);
      if (open == std::string::npos) break;
      size_t close = s.find("}}", open);
      if (close == std::string::npos) break;
      out += s.substr(pos, open - pos);
      std::string name = s.substr(open + 2, close - open - 2);
      if (const bj::value* val = lookup(name, path)) {
        if (val->is_string())
          out += std::string(val->get_string());
        else
          out += bj::serialize(*val);
      }
      pos = close + 2;
    }
    out += s.substr(pos);
    return bj::string(out);
  }

  const bj::value* lookup(const std::string& name, const std::string& path) {
    auto it = vars.find(name);
    if (it == vars.end()) {
      if (!error)
        error = Error(Errc::invalid_argument,
                      "flow " + where + " needs a value for {{" + name + "}} (at " + path +
                          "); pass it in extra_params",
                      "extra_params." + name);
      return nullptr;
    }
    used.insert(name);
    return &it->second;
  }
};

}  // namespace

Result<Flows> Flows::load_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error(Errc::invalid_argument, "cannot read test flows file " + path);
  std::stringstream text;
  text << in.rdbuf();
  return load_string(text.str(), path);
}

Result<Flows> Flows::load_string(const std::string& yaml, const std::string& origin) {
  // yaml-cpp reports shape errors (a map key that is not a scalar, ...) by throwing.
  try {
    return load_string_unchecked(yaml, origin);
  } catch (const std::exception& e) {
    return Error(Errc::invalid_argument, "cannot read test flows in " + origin + ": " + e.what());
  }
}

Result<Flows> Flows::load_string_unchecked(const std::string& yaml, const std::string& origin) {
  Flows out;
  out.origin_ = origin;
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const std::exception& e) {
    return Error(Errc::invalid_argument, "cannot parse test flows in " + origin + ": " + e.what());
  }
  if (!root["flows"] || !root["flows"].IsMap())
    return Error(Errc::invalid_argument, origin + ": expected a top-level 'flows:' map");
  for (const auto& kv : root["flows"]) {
    Flow f;
    f.name = kv.first.as<std::string>();
    if (!protocol::is_safe_name(f.name))
      return Error(Errc::invalid_argument,
                   origin + ": flow name '" + f.name + "' is not a safe name");
    bj::value v = to_json(kv.second);
    if (!v.is_object())
      return Error(Errc::invalid_argument, origin + ": flow '" + f.name + "' must be a map");
    bj::object& o = v.get_object();
    if (auto* d = o.if_contains("description"); d && d->is_string())
      f.description = std::string(d->get_string());
    if (auto* d = o.if_contains("defaults")) {
      if (!d->is_object())
        return Error(Errc::invalid_argument,
                     origin + ": flow '" + f.name + "': defaults must be a map");
      f.defaults = d->get_object();
    }
    auto* targets = o.if_contains("targets");
    if (!targets || !targets->is_array() || targets->get_array().empty())
      return Error(Errc::invalid_argument,
                   origin + ": flow '" + f.name + "' needs a non-empty 'targets' list");
    if (!o.if_contains("type"))
      return Error(Errc::invalid_argument, origin + ": flow '" + f.name + "' needs a 'type'");
    for (const auto& m : o) {
      std::string_view k(m.key().data(), m.key().size());
      if (k == "description" || k == "defaults") continue;
      if (k != "type" && k != "queue_id" && k != "targets")
        return Error(Errc::invalid_argument,
                     origin + ": flow '" + f.name + "' has unknown key '" + std::string(k) + "'");
      f.start_template[m.key()] = m.value();
    }
    out.flows_.emplace(f.name, std::move(f));
  }
  return out;
}

const Flow* Flows::find(const std::string& name) const {
  auto it = flows_.find(name);
  return it == flows_.end() ? nullptr : &it->second;
}

Result<protocol::StartRequest> Flows::render(const protocol::TestFlowRequest& req,
                                             const std::string& short_id) const {
  const Flow* f = find(req.flow_name);
  if (!f) {
    std::string known;
    for (const auto& [n, fl] : flows_) known += (known.empty() ? "" : ", ") + n;
    return Error(Errc::not_found, "unknown flow '" + req.flow_name + "' (known: " + known + ")",
                 "flow_name");
  }
  auto range = protocol::parse_time_range(req.time_range);
  if (!range) return range.error();
  std::map<std::string, bj::value> vars;
  for (const auto& kv : f->defaults) vars[std::string(kv.key())] = kv.value();
  for (const auto& kv : req.extra_params) vars[std::string(kv.key())] = kv.value();
  std::string lower = req.symbol;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  vars["symbol"] = bj::string(req.symbol);
  vars["symbol_lower"] = bj::string(lower);
  vars["time_range"] = bj::string(req.time_range);
  vars["date"] = bj::string(req.time_range.substr(0, 4) + req.time_range.substr(5, 2) +
                            req.time_range.substr(8, 2));
  vars["short_id"] = bj::string(short_id);
  // Every text variable X also as X_lower ({{symbol_2_lower}}: a collection name).
  std::map<std::string, bj::value> lowered;
  for (const auto& [name, value] : vars) {
    if (!value.is_string() || vars.count(name + "_lower")) continue;
    std::string l(value.get_string());
    for (auto& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    lowered[name + "_lower"] = bj::string(l);
  }
  vars.merge(lowered);

  Filler filler{vars, {}, std::nullopt, "'" + f->name + "'"};
  bj::value filled = filler.fill(f->start_template, "flow");
  if (filler.error) return *filler.error;
  for (const auto& kv : req.extra_params) {
    if (!filler.used.count(std::string(kv.key())))
      return Error(
          Errc::invalid_argument,
          "extra_params." + std::string(kv.key()) + " is not used by flow '" + f->name + "'",
          "extra_params." + std::string(kv.key()));
  }
  bj::object body = filled.get_object();
  body["command"] = "start";
  body["symbol"] = req.symbol;
  body["time_range"] = req.time_range;
  return protocol::decode_start_request(body);
}

}  // namespace sf::manager
