// file_contents.hpp: the two contents file_writer_helper writes in turn (tests/core).
#pragma once

#include <string>

namespace file_test {
// Line-structured, so a torn file shows where it tore.
inline const std::string& content_a() {
  static const std::string s = [] {
    std::string out;
    for (int i = 0; i < 20000; ++i) out += "a-line " + std::to_string(i) + "\n";
    return out;
  }();
  return s;
}
inline const std::string& content_b() {
  static const std::string s = [] {
    std::string out;
    for (int i = 0; i < 15000; ++i) out += "the b line " + std::to_string(i) + "\n";
    return out;
  }();
  return s;
}
}  // namespace file_test
