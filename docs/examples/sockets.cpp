// Sockets: blocking-style calls that park only the calling green thread.
#include <chrono>
#include <cstdio>
#include <string>
#include <system_error>

#include <grove/grove.hpp>
#include <grove/net/net.hpp>

using namespace std::chrono_literals;
namespace net = grove::net;

int main() {
  // A listener on a free port, and a green thread serving one connection.
  net::Socket listener = net::Socket::tcp();
  listener.bind(net::Address::parse("127.0.0.1:0"));
  listener.listen();
  auto server = grove::spawn([&] {
    net::Accepted conn = listener.accept();       // parks until a client connects
    net::BufferedStream io(conn.socket);          // like gevent's makefile()
    std::string line = io.read_line(1024);        // "hello\n"
    io.write("you said: " + line);
    io.flush();
  });

  // create_connection resolves (off the hub) and connects, within 5 s in all.
  net::Socket client = net::create_connection("127.0.0.1", listener.local_address().port(), 5s);
  client.sendall("hello\n");
  std::string reply = client.recv(1024);
  std::printf("%s", reply.c_str());
  server.join();

  // Errors come as a pair: the std::error_code overload, or a throwing one.
  auto [quiet, peer] = net::Socket::pair();  // connected Unix sockets; peer says nothing
  quiet.settimeout(20ms);  // every later call on it gives up after 20 ms
  std::error_code ec;
  char buf[64];
  std::size_t n = quiet.recv_into(buf, sizeof buf, ec);
  std::printf("recv: %zu bytes, %s\n", n, ec.message().c_str());
  try {
    net::Socket refused = net::Socket::tcp();
    refused.connect(net::Address::parse("127.0.0.1:1"), 1s);
  } catch (const std::system_error& e) {
    std::printf("connect failed: %s\n", e.what());
  }
  return ec == std::errc::timed_out ? 0 : 1;
}
