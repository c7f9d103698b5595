// glob.hpp: redis's glob-style patterns, for KEYS.
//
//   *        any run of characters, also none
//   ?        any one character
//   [abc]    one of a, b, c; [^abc] none of them; [a-z] a range; ] ends the class
//   \x       x itself (also inside a class)
//
// Matching is case-sensitive and takes O(pattern * string) time at worst: a '*'
// backtracks only to the last '*' seen, never further.
#pragma once

#include <string_view>

namespace kv {

bool glob_match(std::string_view pattern, std::string_view s) noexcept;

}  // namespace kv
