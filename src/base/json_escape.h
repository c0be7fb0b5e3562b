// JSON string escaping, shared by the logger (base) and the JSON writer (json), which
// must not depend on each other's layers.
#pragma once

#include <string>
#include <string_view>

namespace sf {

// Appends `s` escaped for use inside a JSON string literal (without the quotes).
void append_json_escaped(std::string& out, std::string_view s);

}  // namespace sf
