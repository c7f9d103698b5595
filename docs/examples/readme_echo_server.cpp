#include <cstdio>

#include <grove/grove.hpp>
#include <grove/net/stream_server.hpp>

// One green thread per connection runs this; recv and sendall park only it.
void echo(grove::net::Socket& sock, const grove::net::Address& peer) {
  std::printf("%s connected\n", peer.to_string().c_str());
  char buf[4096];
  for (;;) {
    std::size_t n = sock.recv_into(buf, sizeof buf);  // 0 at end of file
    if (n == 0) return;
    sock.sendall(buf, n);
  }
}

int main() {
  grove::net::StreamServer server(grove::net::Address::parse("127.0.0.1:7000"), echo);
  server.serve_forever();  // the main context is a green thread too
}
