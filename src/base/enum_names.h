// Names of a plain enum (values 0, 1, 2, ... in declaration order) from one table in that
// order, both ways. Header-only, constexpr where it can be.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace sf {

// names[e], or `fallback` for a value past the table.
template <class E, size_t N>
constexpr const char* enum_name(E e, const char* const (&names)[N], const char* fallback) {
  const auto i = static_cast<size_t>(e);
  return i < N ? names[i] : fallback;
}

// The value whose name is `s`, or nullopt.
template <class E, size_t N>
constexpr std::optional<E> enum_from_name(std::string_view s, const char* const (&names)[N]) {
  for (size_t i = 0; i < N; ++i)
    if (s == names[i]) return static_cast<E>(i);
  return std::nullopt;
}

}  // namespace sf
