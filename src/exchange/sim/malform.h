// The simulator's malformed-body fault, shared by the REST side (200 bodies) and the live
// side (WebSocket event frames): the text stays plausible but fails a strict decoder.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sf::exchange::sim {

// Odd r: the first JSON number outside a string becomes a string ("E":"1722470400000"), a
// field of the wrong type. Even r, or no number: the text is cut to 1 + (r >> 1) % (size - 1)
// bytes (truncated JSON).
inline void malform(std::string& body, uint64_t r) {
  if (r & 1) {
    bool in_str = false, esc = false;
    for (size_t i = 0; i < body.size(); ++i) {
      const char c = body[i];
      if (in_str) {
        if (esc)
          esc = false;
        else if (c == '\\')
          esc = true;
        else if (c == '"')
          in_str = false;
      } else if (c == '"') {
        in_str = true;
      } else if ((c >= '0' && c <= '9') || c == '-') {
        size_t j = i + 1;
        while (j < body.size() &&
               std::string_view("0123456789.eE+-").find(body[j]) != std::string_view::npos)
          ++j;
        body.insert(j, 1, '"');
        body.insert(i, 1, '"');
        return;
      }
    }
  }
  if (body.size() > 1) body.resize(1 + (r >> 1) % (body.size() - 1));
}

}  // namespace sf::exchange::sim
