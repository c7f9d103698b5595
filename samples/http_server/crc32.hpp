// crc32.hpp: the CRC-32 of zlib and Python's zlib.crc32 (polynomial 0xEDB88320), which
// `POST /` reports for the body it received.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace http {

namespace detail {
constexpr std::array<std::uint32_t, 256> make_crc32_table() {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}
inline constexpr std::array<std::uint32_t, 256> kCrc32Table = make_crc32_table();
}  // namespace detail

// Continues `crc` (0 for a fresh one) over `len` bytes; returns the new value.
inline std::uint32_t crc32_update(std::uint32_t crc, const void* data, std::size_t len) {
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
  for (std::size_t i = 0; i < len; ++i) crc = detail::kCrc32Table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

}  // namespace http
