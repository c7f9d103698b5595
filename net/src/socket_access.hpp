// socket_access.hpp: the SocketState behind a Socket, for net/src code that parks on
// the socket's own watchers (TlsStream), or builds a Socket around a state it made
// (StreamServer). Socket names it a friend.
#pragma once

#include <grove/net/socket.hpp>

#include "socket_state.hpp"

namespace grove::net::detail {

struct SocketAccess {
  static SocketState* state(Socket& s) noexcept { return s.s_.get(); }
  static const SocketState* state(const Socket& s) noexcept { return s.s_.get(); }
  static Socket wrap(std::unique_ptr<SocketState> s) noexcept { return Socket(std::move(s)); }
};

}  // namespace grove::net::detail
