// grove/duration.hpp: the one duration type grove's calls take.
//
// Every timeout and delay is a std::chrono::nanoseconds; any integral std::chrono
// duration (1s, 250ms, ...) converts to it implicitly. For floating durations use
// std::chrono::duration_cast or grove::seconds(0.25).
#pragma once

#include <chrono>

namespace grove {

// The type of every timeout and delay grove takes (see the comment at the top of
// grove/duration.hpp).
using Duration = std::chrono::nanoseconds;

// A Duration from a floating number of seconds, for gevent-style call sites.
constexpr Duration seconds(double s) noexcept {
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(s));
}

namespace detail {
constexpr double to_seconds(Duration d) noexcept {
  return std::chrono::duration<double>(d).count();
}
}  // namespace detail

}  // namespace grove
