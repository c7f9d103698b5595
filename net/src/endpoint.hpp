// endpoint.hpp: "host:port" strings that may hold a host name, for the servers and
// create_connection. Address::parse takes numeric hosts only (it is a plain value
// parser and cannot park); an Endpoint keeps the name and looks it up through
// grove::net::resolve when it is used (a server's start(), a connect).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <grove/duration.hpp>
#include <grove/net/address.hpp>

namespace grove::net::detail {

// An endpoint given as a string: an Address when it is numeric or a Unix path, or a
// host name and a port to look up when it is used.
struct Endpoint {
  // What the string is for: ":port" (no host) means every IPv4 interface to a server
  // and is an error for a connect.
  enum class Use { kListen, kConnect };

  std::string text;   // as given, for messages
  Address address;    // numeric or Unix; empty while `host` waits for a lookup
  std::string host;   // the name to look up; empty once `address` is set
  std::uint16_t port = 0;

  // Accepts what Address::parse accepts ("127.0.0.1:80", "[::1]:80", "unix:/path",
  // "/path", "@abstract"), "name:80", and for kListen ":80" (0.0.0.0). Does not park.
  // std::invalid_argument quoting `text` and saying what is wrong.
  static Endpoint parse(std::string_view text, Use use);

  bool needs_lookup() const noexcept { return !host.empty(); }

  // The address a server binds: `address`, or of the host's addresses the first IPv4
  // one, else the first (Go's net.Listen rule). Parks for a lookup. On failure
  // std::system_error whose message starts with `who` and quotes the host.
  Address listen_address(const char* who) const;
};

}  // namespace grove::net::detail
