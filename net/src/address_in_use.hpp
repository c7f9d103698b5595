// address_in_use.hpp: why binding a Unix socket path failed with EADDRINUSE, in words.
#pragma once

#include <string>
#include <system_error>

#include <grove/net/address.hpp>
#include <grove/net/socket.hpp>

namespace grove::net::detail {

// For a bind of `addr` that failed with `ec`: when `addr` is a Unix socket path (not
// an abstract name) and ec is EADDRINUSE, a sentence saying that the file exists and
// whether a socket of `type` accepts on it (another server runs), or not (a file left
// over by a process that ended without removing it: remove it), or that it is not a
// socket at all. Starts with "; ". Empty otherwise. Never parks.
std::string explain_address_in_use(const Address& addr, SocketType type, const std::error_code& ec);

}  // namespace grove::net::detail
