// log_internal.hpp: shorthands for grove's own log lines.
#pragma once

#include <utility>

#include <spdlog/fmt/fmt.h>

#include <grove/log.hpp>

namespace grove::detail {

template <class... A>
void log_warn(fmt::format_string<A...> f, A&&... a) {
  grove::logger().warn(f, std::forward<A>(a)...);
}
template <class... A>
void log_error(fmt::format_string<A...> f, A&&... a) {
  grove::logger().error(f, std::forward<A>(a)...);
}
template <class... A>
void log_debug(fmt::format_string<A...> f, A&&... a) {
  grove::logger().debug(f, std::forward<A>(a)...);
}

}  // namespace grove::detail
