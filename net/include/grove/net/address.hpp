// grove/net/address.hpp: a socket address (IPv4, IPv6 or a Unix-domain path), parsed
// from and printed to the strings people type.
//
//   auto a = grove::net::Address::parse("127.0.0.1:7000");
//   auto b = grove::net::Address::parse("[::1]:7000");
//   auto c = grove::net::Address::parse("unix:/tmp/app.sock");   // or just "/tmp/app.sock"
//   a.to_string() == "127.0.0.1:7000"
//
// Plain value type; no call here parks or touches the hub. Names are not resolved
// here (see grove/net/resolve.hpp); StreamServer, DatagramServer and
// create_connection also take a "localhost:7000" string and resolve it themselves.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstdint>
#include <string>
#include <string_view>

#include <grove/export.hpp>

namespace grove::net {

// The address family of an Address or a Socket: none (an empty address), IPv4,
// IPv6, or Unix domain.
enum class Family : std::uint8_t { kUnspecified, kIPv4, kIPv6, kUnix };

// A socket address held by value (see the comment at the top of
// grove/net/address.hpp): IPv4, IPv6, a Unix-domain path, or empty. Copyable; no call
// parks.
class GROVE_API Address {
 public:
  // An empty address (family kUnspecified).
  Address() noexcept;

  // Parses "a.b.c.d:port", "[v6]:port", "unix:/path", "/path" or "./path". Numeric
  // hosts only. Throws std::invalid_argument whose message quotes the string and
  // says what is wrong (missing port, port out of range, not an IP literal, ...).
  static Address parse(std::string_view text);
  // A numeric IPv4 or IPv6 host ("127.0.0.1", "::1", "fe80::1%lo") and a port.
  // std::invalid_argument if `host` is not an IP literal.
  static Address ip(std::string_view host, std::uint16_t port);
  // A Unix-domain path; a leading '@' makes a Linux abstract name (up to 107 bytes
  // after the '@', any byte allowed). std::invalid_argument if a path is longer than
  // 107 bytes or holds a NUL byte.
  static Address unix_path(std::string_view path);
  // Copies a sockaddr the kernel returned. std::invalid_argument if `len` is too long.
  static Address from_sockaddr(const sockaddr* sa, socklen_t len);

  // Its family (kUnspecified for an empty address).
  Family family() const noexcept;
  // True for an empty address.
  bool empty() const noexcept { return family() == Family::kUnspecified; }
  // The port of an IP address (0 for Unix addresses).
  std::uint16_t port() const noexcept;
  // The numeric host of an IP address ("::1"), or the path of a Unix address.
  std::string host() const;
  // "127.0.0.1:7000", "[::1]:7000", "unix:/path" (parse() accepts each of them back).
  std::string to_string() const;

  // The sockaddr, for system calls (size() bytes).
  const sockaddr* data() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
  // The sockaddr storage for a system call to fill (capacity() bytes); then set_size().
  sockaddr* data() noexcept { return reinterpret_cast<sockaddr*>(&storage_); }
  // The sockaddr's length in bytes (0 when empty).
  socklen_t size() const noexcept { return len_; }
  // Sets the length after a call that filled data() (accept, recvfrom, getsockname).
  void set_size(socklen_t len) noexcept { len_ = len; }
  // The room data() offers: sizeof(sockaddr_storage).
  static constexpr socklen_t capacity() noexcept { return sizeof(sockaddr_storage); }

  // True if both hold the same sockaddr bytes (same family, host, port / path).
  friend GROVE_API bool operator==(const Address& a, const Address& b) noexcept;

 private:
  sockaddr_storage storage_;
  socklen_t len_ = 0;
};

}  // namespace grove::net
