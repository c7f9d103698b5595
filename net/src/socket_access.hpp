// socket_access.hpp: the SocketState behind a Socket, for net/src code that parks on
// the socket's own watchers (TlsStream). Socket names it a friend.
#pragma once

#include <grove/net/socket.hpp>

#include "socket_state.hpp"

namespace grove::net::detail {

struct SocketAccess {
  static SocketState* state(Socket& s) noexcept { return s.s_.get(); }
  static const SocketState* state(const Socket& s) noexcept { return s.s_.get(); }
};

}  // namespace grove::net::detail
