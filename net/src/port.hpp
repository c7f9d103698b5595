// port.hpp: the port of "host:port", as Address::parse and the endpoints read it.
#pragma once

#include <charconv>
#include <cstdint>
#include <string_view>

namespace grove::net::detail {

// Reads a decimal port (0..65535) into `out`. Returns nullptr, or why `port` is not
// one, in words both parsers put into their error message.
inline const char* parse_port(std::string_view port, std::uint16_t& out) noexcept {
  if (port.empty()) return "missing port after ':' (expected host:port, [v6]:port or a /unix/path)";
  unsigned value = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec == std::errc::result_out_of_range && p == port.data() + port.size()) return "the port is out of range (0..65535)";
  if (ec != std::errc() || p != port.data() + port.size()) return "the port is not a number";
  if (value > 65535) return "the port is out of range (0..65535)";
  out = static_cast<std::uint16_t>(value);
  return nullptr;
}

}  // namespace grove::net::detail
