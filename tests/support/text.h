// Test support: text helpers: a whole file as a string, and edits for building bad inputs
// from good ones. Header-only; needs gtest.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>

namespace sf::testing {

// The whole content of the file at `path` ("" when it cannot be read).
inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// `s` with the first `from` replaced by `to`; a test failure when `from` is not in `s` (a
// case that edits nothing would test the good input).
inline std::string replace_once(std::string s, const std::string& from, const std::string& to) {
  auto pos = s.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  if (pos != std::string::npos) s.replace(pos, from.size(), to);
  return s;
}

}  // namespace sf::testing
