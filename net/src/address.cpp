// address.cpp: parsing and printing socket addresses.
#include <grove/net/address.hpp>

#include "port.hpp"

#include <arpa/inet.h>
#include <net/if.h>

#include <charconv>
#include <cstring>
#include <stdexcept>

namespace grove::net {

namespace {

[[noreturn]] void bad(std::string_view text, const char* why) {
  std::string msg = "grove::net::Address: invalid address \"";
  msg.append(text).append("\": ").append(why);
  throw std::invalid_argument(msg);
}

// The port, or bad() with why it is not one.
std::uint16_t port_of(std::string_view text, std::string_view port) {
  std::uint16_t value = 0;
  if (const char* why = detail::parse_port(port, value)) bad(text, why);
  return value;
}

bool fill_ip(sockaddr_storage& ss, socklen_t& len, std::string_view host, std::uint16_t port) {
  if (host.find('\0') != std::string_view::npos) return false;  // inet_pton would stop at it
  std::string h(host);
  std::memset(&ss, 0, sizeof ss);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  if (::inet_pton(AF_INET, h.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    len = sizeof(sockaddr_in);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  std::string scope;
  if (auto pct = h.find('%'); pct != std::string::npos) {
    scope = h.substr(pct + 1);
    h.resize(pct);
    if (scope.empty()) return false;  // "fe80::1%" names no interface
  }
  if (::inet_pton(AF_INET6, h.c_str(), &v6->sin6_addr) != 1) return false;
  v6->sin6_family = AF_INET6;
  v6->sin6_port = htons(port);
  if (!scope.empty()) {
    unsigned idx = ::if_nametoindex(scope.c_str());
    if (idx == 0) {
      auto [p, ec] = std::from_chars(scope.data(), scope.data() + scope.size(), idx);
      if (ec != std::errc() || p != scope.data() + scope.size()) return false;
    }
    v6->sin6_scope_id = idx;
  }
  len = sizeof(sockaddr_in6);
  return true;
}

}  // namespace

Address::Address() noexcept { std::memset(&storage_, 0, sizeof storage_); }

Address Address::ip(std::string_view host, std::uint16_t port) {
  Address a;
  if (!fill_ip(a.storage_, a.len_, host, port)) bad(host, "not a numeric IPv4 or IPv6 address");
  return a;
}

Address Address::unix_path(std::string_view path) {
  Address a;
  auto* un = reinterpret_cast<sockaddr_un*>(&a.storage_);
  if (path.empty()) bad(path, "empty Unix socket path");
  const bool abstract = path[0] == '@';  // its name may hold any byte, NUL included
  if (abstract && path.size() > sizeof(un->sun_path)) bad(path, "abstract Unix socket name longer than 107 bytes");
  if (!abstract && path.size() >= sizeof(un->sun_path)) bad(path, "Unix socket path longer than 107 bytes");
  if (!abstract && path.find('\0') != std::string_view::npos) bad(path, "NUL byte in a Unix socket path");
  un->sun_family = AF_UNIX;
  std::memcpy(un->sun_path, path.data(), path.size());
  if (abstract) un->sun_path[0] = '\0';
  a.len_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (abstract ? 0 : 1));
  return a;
}

Address Address::from_sockaddr(const sockaddr* sa, socklen_t len) {
  if (len > sizeof(sockaddr_storage)) throw std::invalid_argument("grove::net::Address: sockaddr too long");
  Address a;
  std::memcpy(&a.storage_, sa, len);
  a.len_ = len;
  return a;
}

Address Address::parse(std::string_view text) {
  if (text.empty()) bad(text, "empty string");
  if (text.substr(0, 5) == "unix:") return unix_path(text.substr(5));
  if (text[0] == '/' || text[0] == '.' || text[0] == '@') return unix_path(text);
  Address a;
  if (text[0] == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) bad(text, "missing ']' after an IPv6 host");
    if (close + 1 >= text.size() || text[close + 1] != ':') bad(text, "missing :port after ']'");
    std::uint16_t port = port_of(text, text.substr(close + 2));
    if (!fill_ip(a.storage_, a.len_, text.substr(1, close - 1), port) ||
        a.family() != Family::kIPv6) {
      bad(text, "the part in [] is not an IPv6 address");
    }
    return a;
  }
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) bad(text, "missing :port (expected host:port, [v6]:port or a /unix/path)");
  if (text.find(':') != colon) bad(text, "an IPv6 host must be written in brackets, as [::1]:7000");
  std::uint16_t port = port_of(text, text.substr(colon + 1));
  if (colon == 0) bad(text, "missing host before ':'");
  if (!fill_ip(a.storage_, a.len_, text.substr(0, colon), port)) {
    bad(text,
        "the host is not a numeric IPv4 address (Address::parse does not look names up: resolve them with "
        "grove::net::resolve, or give the servers and create_connection the \"host:port\" string)");
  }
  return a;
}

Family Address::family() const noexcept {
  if (len_ == 0) return Family::kUnspecified;
  switch (storage_.ss_family) {
    case AF_INET: return Family::kIPv4;
    case AF_INET6: return Family::kIPv6;
    case AF_UNIX: return Family::kUnix;
    default: return Family::kUnspecified;
  }
}

std::uint16_t Address::port() const noexcept {
  switch (family()) {
    case Family::kIPv4: return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
    case Family::kIPv6: return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
    default: return 0;
  }
}

std::string Address::host() const {
  char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2] = {0};
  switch (family()) {
    case Family::kIPv4:
      ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, buf, sizeof buf);
      return buf;
    case Family::kIPv6: {
      const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&storage_);
      ::inet_ntop(AF_INET6, &v6->sin6_addr, buf, sizeof buf);
      std::string out = buf;
      if (v6->sin6_scope_id != 0) {
        // Appended piece by piece: GCC 12 warns (-Wrestrict, falsely) on "%" + std::string.
        out += '%';
        out += std::to_string(v6->sin6_scope_id);
      }
      return out;
    }
    case Family::kUnix: {
      const auto* un = reinterpret_cast<const sockaddr_un*>(&storage_);
      const std::size_t n = len_ > offsetof(sockaddr_un, sun_path) ? len_ - offsetof(sockaddr_un, sun_path) : 0;
      if (n == 0) return {};  // unnamed (the client end of a connection, a socketpair)
      if (un->sun_path[0] == '\0') return std::string("@").append(un->sun_path + 1, n - 1);
      return std::string(un->sun_path, ::strnlen(un->sun_path, n));
    }
    default: return {};
  }
}

std::string Address::to_string() const {
  switch (family()) {
    case Family::kIPv4: return host() + ":" + std::to_string(port());
    case Family::kIPv6: return std::string("[").append(host()).append("]:").append(std::to_string(port()));
    case Family::kUnix: {
      std::string p = host();
      return p.empty() ? std::string("unix:(unnamed)") : "unix:" + p;
    }
    default: return "(no address)";
  }
}

bool operator==(const Address& a, const Address& b) noexcept {
  return a.len_ == b.len_ && std::memcmp(&a.storage_, &b.storage_, a.len_) == 0;
}

}  // namespace grove::net
