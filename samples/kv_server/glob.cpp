// glob.cpp: see glob.hpp.
#include "glob.hpp"

#include <cstddef>
#include <utility>

namespace kv {

namespace {

// Whether the pattern element at `p` (not '*') matches `c`; `next` is the element
// after it.
bool match_one(std::string_view pat, std::size_t p, char c, std::size_t& next) noexcept {
  const std::size_t n = pat.size();
  switch (pat[p]) {
    case '?':
      next = p + 1;
      return true;
    case '\\':
      if (p + 1 < n) {
        next = p + 2;
        return pat[p + 1] == c;
      }
      next = p + 1;
      return c == '\\';
    case '[': {
      std::size_t q = p + 1;
      const bool negate = q < n && pat[q] == '^';
      if (negate) ++q;
      bool matched = false;
      while (q < n && pat[q] != ']') {
        if (pat[q] == '\\' && q + 1 < n) {
          matched |= pat[q + 1] == c;
          q += 2;
        } else if (q + 2 < n && pat[q + 1] == '-') {
          unsigned char lo = static_cast<unsigned char>(pat[q]);
          unsigned char hi = static_cast<unsigned char>(pat[q + 2]);
          if (lo > hi) std::swap(lo, hi);
          const auto uc = static_cast<unsigned char>(c);
          matched |= uc >= lo && uc <= hi;
          q += 3;
        } else {
          matched |= pat[q] == c;
          ++q;
        }
      }
      next = q < n ? q + 1 : q;  // an unterminated class runs to the end
      return negate ? !matched : matched;
    }
    default:
      next = p + 1;
      return pat[p] == c;
  }
}

}  // namespace

bool glob_match(std::string_view pat, std::string_view s) noexcept {
  constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  std::size_t p = 0, i = 0, star_p = kNone, star_i = 0;
  while (i < s.size()) {
    if (p < pat.size() && pat[p] == '*') {
      while (p < pat.size() && pat[p] == '*') ++p;
      if (p == pat.size()) return true;
      star_p = p;
      star_i = i;
      continue;
    }
    std::size_t next;
    if (p < pat.size() && match_one(pat, p, s[i], next)) {
      p = next;
      ++i;
      continue;
    }
    if (star_p == kNone) return false;
    p = star_p;  // let the last '*' swallow one more character
    i = ++star_i;
  }
  while (p < pat.size() && pat[p] == '*') ++p;
  return p == pat.size();
}

}  // namespace kv
