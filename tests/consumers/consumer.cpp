// A program that uses an installed grove the way an application does: green threads,
// a timeout, a loopback echo through a StreamServer and a TLS context. Built by tests/consumers/run.sh
// with pkg-config, as a meson subproject and from CMake. Prints one line and exits 0.
#include <chrono>
#include <cstdio>
#include <string>

#include <grove/grove.hpp>
#include <grove/net/net.hpp>

int main() {
  using namespace std::chrono_literals;

  // Green threads and get().
  auto doubled = grove::spawn([](int x) { grove::sleep(1ms); return x * 2; }, 21);
  if (doubled.get() != 42) return 1;

  // A timeout that fires, caught by with_timeout.
  if (grove::with_timeout(10ms, [] { grove::sleep(10s); })) return 2;

  // Loopback echo through a server on port 0.
  grove::net::StreamServer server(grove::net::Address::parse("127.0.0.1:0"),
      [](grove::net::Socket& sock, const grove::net::Address&) {
        char buf[256];
        while (std::size_t n = sock.recv_into(buf, sizeof buf)) sock.sendall(buf, n);
      });
  server.start();
  grove::net::Socket client = grove::net::Socket::tcp();
  client.connect(server.address(), 5s);
  client.sendall("ping");
  char buf[4];
  if (client.recv_exactly(buf, sizeof buf) != 4 || std::string(buf, 4) != "ping") return 3;
  client.close();
  server.stop();

  // A TLS client context with the system's CAs: links OpenSSL (a static libgrove's
  // users must get libssl and libcrypto from pkg-config or CMake).
  grove::net::TlsContext tls = grove::net::TlsContext::client();
  (void)tls;

  std::printf("grove %s consumer ok (%d.%d.%d)\n", GROVE_VERSION, GROVE_VERSION_MAJOR,
              GROVE_VERSION_MINOR, GROVE_VERSION_PATCH);
  return 0;
}
