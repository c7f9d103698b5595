// net_test.hpp: helpers shared by the net tests.
#pragma once

#include <chrono>
#include <string>

#include "grove_test.hpp"

#include <grove/net/address.hpp>
#include <grove/net/socket.hpp>

namespace net_test {

using namespace std::chrono_literals;
using grove::net::Address;
using grove::net::Socket;

// A listening TCP socket on 127.0.0.1 (or ::1), port 0.
inline Socket listener(grove::net::Family f = grove::net::Family::kIPv4, int backlog = 16) {
  Socket s = Socket::tcp(f);
  s.bind(f == grove::net::Family::kIPv6 ? Address::parse("[::1]:0") : Address::parse("127.0.0.1:0"));
  s.listen(backlog);
  return s;
}

// A connected TCP pair over loopback: {client, server side}.
inline std::pair<Socket, Socket> tcp_pair(grove::net::Family f = grove::net::Family::kIPv4) {
  Socket l = listener(f);
  Socket c = Socket::tcp(f);
  c.connect(l.local_address(), 5s);
  grove::net::Accepted a = l.accept();
  return {std::move(c), std::move(a.socket)};
}

inline double elapsed_s(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace net_test
