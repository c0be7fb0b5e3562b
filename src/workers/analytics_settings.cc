#include "workers/analytics_settings.h"

#include <set>

#include "market/records.h"
#include "protocol/validate.h"

namespace sf::workers {

Result<std::vector<std::string>> parse_symbol_list(std::string_view list, const std::string& field,
                                                   size_t min, size_t max) {
  std::vector<std::string> out;
  std::set<std::string, std::less<>> seen;
  for (size_t at = 0; at <= list.size();) {
    size_t comma = list.find(',', at);
    if (comma == std::string_view::npos) comma = list.size();
    std::string_view sym = list.substr(at, comma - at);
    while (!sym.empty() && sym.front() == ' ') sym.remove_prefix(1);
    while (!sym.empty() && sym.back() == ' ') sym.remove_suffix(1);
    SF_TRY(protocol::check_symbol(sym, field));
    if (!seen.insert(std::string(sym)).second)
      return Error(Errc::invalid_argument,
                   field + " " + std::string(kRepeatedSymbol) + ": " + std::string(sym), field);
    out.emplace_back(sym);
    at = comma + 1;
  }
  if (out.size() < min || out.size() > max)
    return Error(Errc::invalid_argument,
                 field + " must list " + std::to_string(min) + " to " + std::to_string(max) +
                     " symbols, not " + std::to_string(out.size()),
                 field);
  return out;
}

boost::json::object symbol_list_schema(size_t min, size_t max, std::string_view description) {
  // kSymbolPattern without its anchors, repeated.
  std::string one(protocol::kSymbolPattern.substr(1, protocol::kSymbolPattern.size() - 2));
  std::string pattern = "^" + one + "(," + one + "){" + std::to_string(min - 1) + "," +
                        std::to_string(max - 1) + "}$";
  return {{"type", "string"}, {"pattern", pattern}, {"description", description}};
}

boost::json::object fixed_interval_schema(std::string_view description) {
  boost::json::array intervals;
  for (std::string_view i : protocol::kKlineIntervals)
    if (market::interval_ms(i) > 0) intervals.emplace_back(i);
  return {{"type", "string"}, {"enum", std::move(intervals)}, {"description", description}};
}

std::string settings_schema(boost::json::object properties,
                            const std::vector<std::string_view>& required,
                            const std::vector<std::string_view>& beyond_schema) {
  boost::json::array names;
  for (std::string_view r : required) names.emplace_back(r);
  if (!names.empty()) properties["x-required"] = std::move(names);
  boost::json::array checks;
  for (std::string_view c : beyond_schema) checks.emplace_back(c);
  properties["x-checks-beyond-schema"] = std::move(checks);
  return boost::json::serialize(properties);
}

}  // namespace sf::workers
