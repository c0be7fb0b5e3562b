#include "market/units.h"

#include <charconv>
#include <limits>

namespace sf::market {

std::optional<int64_t> parse_units(std::string_view s) {
  const size_t dot = s.find('.');
  const std::string_view whole = s.substr(0, dot);
  const std::string_view frac =
      dot == std::string_view::npos ? std::string_view{} : s.substr(dot + 1);
  if (whole.empty() || (dot != std::string_view::npos && (frac.empty() || frac.size() > 8)))
    return std::nullopt;
  for (std::string_view part : {whole, frac})
    for (char c : part)
      if (c < '0' || c > '9') return std::nullopt;
  uint64_t w = 0;
  // from_chars refuses overflow; leading zeros are fine ("0.5", "00.5" both mean 0.5).
  if (auto r = std::from_chars(whole.data(), whole.data() + whole.size(), w);
      r.ec != std::errc{} || r.ptr != whole.data() + whole.size())
    return std::nullopt;
  int64_t f = 0;
  for (size_t i = 0; i < 8; ++i) f = f * 10 + (i < frac.size() ? frac[i] - '0' : 0);
  constexpr auto kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (w > (kMax - static_cast<uint64_t>(f)) / kUnitsPerOne) return std::nullopt;
  return static_cast<int64_t>(w) * kUnitsPerOne + f;
}

char* put_units(char* p, int64_t units) {
  uint64_t u = static_cast<uint64_t>(units);
  if (units < 0) {
    *p++ = '-';
    u = 0 - u;
  }
  p = std::to_chars(p, p + 24, u / kUnitsPerOne).ptr;
  *p++ = '.';
  uint64_t frac = u % kUnitsPerOne;
  static constexpr char kPairs[] =
      "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
      "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
      "8081828384858687888990919293949596979899";
  for (int i = 6; i >= 0; i -= 2) {
    const uint64_t d = frac % 100;
    frac /= 100;
    p[i] = kPairs[2 * d];
    p[i + 1] = kPairs[2 * d + 1];
  }
  return p + 8;
}

void append_units(std::string& out, int64_t units) {
  char buf[32];
  out.append(buf, static_cast<size_t>(put_units(buf, units) - buf));
}

std::string format_units(int64_t units) {
  std::string s;
  append_units(s, units);
  return s;
}

}  // namespace sf::market
