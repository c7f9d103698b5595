// fuzz_support.hpp: what every libFuzzer target in tests/fuzz shares: a property check
// that stops the run with a message (libFuzzer then saves the input as a crash), and
// a reproducible way to cut a byte source into reads of arbitrary sizes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace fuzz {

// A property that must hold for every input: abort (a finding) with where and what.
#define FUZZ_CHECK(cond, what)                                                              \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      std::fprintf(stderr, "%s:%d: property violated: %s (%s)\n", __FILE__, __LINE__, what, \
                   #cond);                                                                  \
      std::abort();                                                                         \
    }                                                                                       \
  } while (0)

// Sizes of successive reads, from a seed the input carries: 0 gives one read of
// everything; otherwise reads of 1 to 64 bytes (xorshift32), so split points fall
// anywhere, reproducibly for one input.
class Splitter {
 public:
  explicit Splitter(std::uint8_t seed) noexcept : whole_(seed == 0), state_(0x9e3779b9u ^ seed) {}
  // The size of the next read, at most `avail` (which is > 0).
  std::size_t next(std::size_t avail) noexcept {
    if (whole_) return avail;
    state_ ^= state_ << 13;
    state_ ^= state_ >> 17;
    state_ ^= state_ << 5;
    const std::size_t n = 1 + state_ % 64;
    return n < avail ? n : avail;
  }

 private:
  bool whole_;
  std::uint32_t state_;
};

}  // namespace fuzz
