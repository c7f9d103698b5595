// reuseport_group.hpp: N sockets bound to one IP address and port with SO_REUSEPORT,
// one per hub of a server with options.hubs = N; the kernel spreads the connections
// (or datagrams) among them by a hash of the peer's address and port.
#pragma once

#include <cstddef>
#include <vector>

#include <grove/net/address.hpp>
#include <grove/net/socket.hpp>

namespace grove::net::detail {

// Binds `n` sockets of `type` to `want` (an IPv4 or IPv6 address), each with
// SO_REUSEPORT, and SO_REUSEADDR if `reuse_address`; stream sockets also listen with
// `backlog`. With port 0 the first bind picks the port and the others bind the
// address it got, so all share one real port. Made on the calling hub. On failure
// std::system_error naming the address; the sockets made so far are closed.
std::vector<Socket> bind_reuseport_group(const Address& want, SocketType type, std::size_t n, bool reuse_address,
                                         int backlog);

}  // namespace grove::net::detail
