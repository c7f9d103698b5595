// stream_test.cpp: BufferedStream and DatagramServer.
#include <grove/net/buffered_stream.hpp>
#include <grove/net/datagram_server.hpp>
#include <grove/net/stream_server.hpp>

#include "net_test.hpp"

using namespace net_test;
using grove::net::BufferedStream;

GROVE_TEST("read_line returns lines one at a time, then the rest, then empty at EOF") {
  auto [a, b] = Socket::pair();
  a.sendall("one\ntwo\nthr");
  a.close();
  BufferedStream io(b, 4);
  CHECK(io.read_line(100) == "one\n");
  CHECK(io.read_line(100) == "two\n");
  CHECK(io.read_line(100) == "thr");
  CHECK(io.read_line(100).empty());
}

GROVE_TEST("read_line never returns more than its maximum") {
  auto [a, b] = Socket::pair();
  a.sendall(std::string(100, 'x') + "\n");
  BufferedStream io(b);
  std::string first = io.read_line(30);
  CHECK(first == std::string(30, 'x'));
  CHECK(io.buffered() <= 71);
}

GROVE_TEST("read_until finds a delimiter split across recvs") {
  auto [a, b] = Socket::pair();
  BufferedStream io(b, 64);
  auto g = grove::spawn([&] { return io.read_until("\r\n\r\n", 1000); });
  a.sendall("GET / HTTP/1.0\r\n\r");
  grove::sleep(10ms);
  a.sendall("\nbody");
  CHECK(g.get() == "GET / HTTP/1.0\r\n\r\n");
  CHECK(io.read_exactly(4) == "body");
}

GROVE_TEST("read_exactly waits for all bytes and returns fewer only at EOF") {
  auto [a, b] = Socket::pair();
  BufferedStream io(b, 8);
  auto g = grove::spawn([&] { return io.read_exactly(20); });
  a.sendall("0123456789");
  grove::sleep(5ms);
  a.sendall("0123456789tail");
  CHECK(g.get() == "01234567890123456789");
  a.close();
  CHECK(io.read_exactly(100) == "tail");
}

GROVE_TEST("buffered writes go out on flush") {
  auto [a, b] = Socket::pair();
  BufferedStream io(a, 1024);
  io.write("hello ");
  io.write("world");
  CHECK(io.pending_write() == 11);
  b.settimeout(20ms);
  std::error_code ec;
  char buf[32];
  b.recv_into(buf, sizeof buf, ec);
  CHECK(ec == std::errc::timed_out);  // nothing sent yet
  io.flush();
  CHECK(io.pending_write() == 0);
  CHECK(b.recv(32) == "hello world");
}

GROVE_TEST("a read timeout keeps the partial line buffered") {
  auto [a, b] = Socket::pair();
  b.settimeout(20ms);
  BufferedStream io(b);
  a.sendall("par");
  std::error_code ec;
  CHECK(io.read_line(100, ec).empty());
  CHECK(ec == std::errc::timed_out);
  a.sendall("tial\n");
  CHECK(io.read_line(100) == "partial\n");
}

GROVE_TEST("a DatagramServer answers each datagram from its sender") {
  grove::net::DatagramServer server(Address::parse("127.0.0.1:0"),
                                    [](Socket& s, std::string_view d, const Address& from) {
                                      std::string reply = "re:" + std::string(d);
                                      s.sendto(reply.data(), reply.size(), from);
                                    });
  server.start();
  Socket c = Socket::udp();
  c.settimeout(2s);
  for (int i = 0; i < 5; ++i) {
    std::string m = "d" + std::to_string(i);
    c.sendto(m.data(), m.size(), server.address());
    Address from;
    char buf[64];
    const std::size_t n = c.recvfrom(buf, sizeof buf, from);
    CHECK(std::string(buf, n) == "re:" + m);
    CHECK(from == server.address());
  }
  server.stop();
}

GROVE_TEST("a read_line interrupted by a Timeout keeps what was read and can be retried") {
  auto [a, b] = Socket::pair();
  BufferedStream io(b, 64);
  a.sendall("par");
  CHECK_FALSE(grove::with_timeout(10ms, [&] { return io.read_line(100); }).has_value());
  CHECK(io.buffered() == 3);  // the bytes read before the timeout, nothing else
  a.sendall("tial\nnext\n");
  CHECK(io.read_line(100) == "partial\n");
  CHECK(io.read_line(100) == "next\n");
}

GROVE_TEST("DatagramServer::stop from the handler ends serve_forever") {
  grove::net::DatagramServer* srv = nullptr;
  grove::net::DatagramServer server(Address::parse("127.0.0.1:0"),
                                    [&](Socket&, std::string_view d, const Address&) {
                                      if (d == "stop") srv->stop();
                                    });
  srv = &server;
  server.start();
  auto serving = grove::spawn([&] { server.serve_forever(); });
  Socket c = Socket::udp();
  c.sendto("stop", 4, server.address());
  CHECK(serving.join(5s));
}

GROVE_TEST("a stop interrupted by a Timeout still ends serve_forever and the handlers") {
  bool handler_unwound = false;
  {
    grove::net::StreamServer server(Address::parse("127.0.0.1:0"), [&](Socket& s, const Address&) {
      try {
        char buf[16];
        (void)s.recv_into(buf, sizeof buf);
        grove::sleep(10s);
      } catch (const grove::GreenletExit&) {
        grove::sleep(20ms);  // slow cleanup: stop() is still waiting when its Timeout fires
        handler_unwound = true;
        throw;
      }
    });
    server.start();
    auto serving = grove::spawn([&] { server.serve_forever(); });
    Socket c = Socket::tcp();
    c.connect(server.address(), 2s);
    c.sendall("x");
    grove::sleep(5ms);
    CHECK_FALSE(grove::with_timeout(5ms, [&] { server.stop(0s); }));
    CHECK(serving.join(2s));  // serve_forever returned although stop was interrupted
  }  // the server object goes while its handler is still cleaning up
  for (int i = 0; i < 200 && !handler_unwound; ++i) grove::sleep(1ms);
  CHECK(handler_unwound);
}
