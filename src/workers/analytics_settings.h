// Settings the analytics workers (graph-builder, gnn-trainer) share: a list of symbols, a
// fixed-length interval, and how their settings schemas state what they check.
#pragma once

#include <boost/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace sf::workers {

// "BTCUSDT,ETHUSDT": comma-separated symbols (spaces around each allowed), each
// protocol::check_symbol's, none twice, `min` to `max` of them. Errors name `field`; a
// repeated symbol's contains kRepeatedSymbol.
Result<std::vector<std::string>> parse_symbol_list(std::string_view list, const std::string& field,
                                                   size_t min, size_t max);
inline constexpr std::string_view kRepeatedSymbol = "lists a symbol twice";

// The JSON Schema of such a list (a pattern for min..max symbols, no spaces) and of a
// fixed-length kline interval (every protocol::kKlineIntervals one but "1M").
boost::json::object symbol_list_schema(size_t min, size_t max, std::string_view description);
boost::json::object fixed_interval_schema(std::string_view description);

// A settings schema (WorkerRegistry::add) from its properties, the settings that must be
// given (`x-required`) and the checks no JSON Schema can state (one setting against
// another): `x-checks-beyond-schema` lists a text each such refusal's message contains.
std::string settings_schema(boost::json::object properties,
                            const std::vector<std::string_view>& required,
                            const std::vector<std::string_view>& beyond_schema);

}  // namespace sf::workers
