#include "base/json_escape.h"

#include <cstdio>

namespace sf {

void append_json_escaped(std::string& out, std::string_view s) {
  // Most strings (symbols, decimals, ids, log messages) need no escaping: copy them whole.
  size_t clean = 0;
  while (clean < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[clean]);
    if (c < 0x20 || c == '"' || c == '\\') break;
    ++clean;
  }
  out.append(s.data(), clean);
  for (unsigned char c : s.substr(clean)) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
}

}  // namespace sf
