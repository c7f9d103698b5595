// grove/duration.hpp: the one duration type grove's calls take.
//
// Every timeout and delay is a std::chrono::nanoseconds; any integral std::chrono
// duration (1s, 250ms, ...) converts to it implicitly. For floating durations use
// std::chrono::duration_cast or grove::seconds(0.25).
#pragma once

#include <chrono>
#include <type_traits>

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

// now + timeout, saturated: time_point::max() (or min()) where the sum would overflow,
// so that a timeout of Duration::max() is a very long wait rather than undefined
// behaviour. Every deadline grove computes goes through this.
template <class Clock, class D>
constexpr std::chrono::time_point<Clock, D> deadline_after(std::chrono::time_point<Clock, D> now,
                                                           Duration timeout) noexcept {
  using TP = std::chrono::time_point<Clock, D>;
  static_assert(std::is_same_v<D, Duration>, "grove::detail::deadline_after expects a nanosecond clock");
  const auto t = now.time_since_epoch();
  if (timeout > Duration::zero() && t > D::max() - timeout) return TP::max();
  if (timeout < Duration::zero() && t < D::min() - timeout) return TP::min();
  return now + timeout;
}

// As above, for a timeout in (floating) seconds; a NaN or infinite one saturates too.
template <class Clock, class D>
constexpr std::chrono::time_point<Clock, D> deadline_after(std::chrono::time_point<Clock, D> now,
                                                           double timeout_seconds) noexcept {
  constexpr double kMaxSeconds = 9.2e9;  // just under Duration::max() (~292 years)
  if (!(timeout_seconds < kMaxSeconds)) return deadline_after(now, Duration::max());
  if (!(timeout_seconds > -kMaxSeconds)) return deadline_after(now, Duration::min());
  return deadline_after(now, seconds(timeout_seconds));
}
}  // namespace detail

}  // namespace grove
