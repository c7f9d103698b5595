// reuseport_group.cpp: binding a server's SO_REUSEPORT sockets, one per hub.
#include "reuseport_group.hpp"

namespace grove::net::detail {

std::vector<Socket> bind_reuseport_group(const Address& want, SocketType type, std::size_t n, bool reuse_address,
                                         int backlog) {
  std::vector<Socket> socks;
  socks.reserve(n);
  Address at = want;
  for (std::size_t i = 0; i < n; ++i) {
    Socket s(want.family(), type);
    if (reuse_address) s.set_reuse_address(true);
    s.set_reuse_port(true);  // before bind, on every socket of the group, the first included
    s.bind(at);
    if (type == SocketType::kStream) s.listen(backlog);
    if (i == 0) at = s.local_address();  // the real port, when `want` said 0
    socks.push_back(std::move(s));
  }
  return socks;
}

}  // namespace grove::net::detail
