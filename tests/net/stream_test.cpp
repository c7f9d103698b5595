// stream_test.cpp: BufferedStream and DatagramServer.
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <grove/net/buffered_stream.hpp>
#include <grove/net/datagram_server.hpp>
#include <grove/net/stream_server.hpp>
#include <grove/pool.hpp>

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
    std::string m = "d";  // appended, not "d" + std::to_string(i): GCC 12 warns (-Wrestrict, falsely)
    m += std::to_string(i);
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

// ---- edge cases of BufferedStream and DatagramServer ----

GROVE_TEST("a read_line interrupted by a Timeout keeps the partial line") {
  auto [a, b] = Socket::pair();
  BufferedStream io(b, 64);
  a.sendall("partial");
  CHECK_THROWS_AS(([&] {
                    grove::Timeout t(20ms);
                    (void)io.read_line(100);
                  }()),
                  grove::TimeoutError);
  CHECK(io.buffered() == 7);
  a.sendall(" line\nnext");
  CHECK(io.read_line(100) == "partial line\n");
  CHECK(io.read_exactly(4) == "next");
}

GROVE_TEST("a socket timeout mid read_exactly keeps the bytes and can be retried") {
  auto [a, b] = Socket::pair();
  b.settimeout(20ms);
  BufferedStream io(b, 64);
  a.sendall("0123");
  std::error_code ec;
  CHECK(io.read_exactly(8, ec).empty());
  CHECK(ec == std::errc::timed_out);
  CHECK(io.buffered() == 4);
  a.sendall("4567");
  CHECK(io.read_exactly(8) == "01234567");
}

GROVE_TEST("a delimiter straddling the max limit is not split wrongly") {
  auto [a, b] = Socket::pair();
  BufferedStream io(b, 64);
  a.sendall("abcd\r\nrest");
  a.close();
  CHECK(io.read_until("\r\n", 5) == "abcd\r");  // cut at max
  CHECK(io.read_until("\r\n", 5) == "\nrest");  // the cut delimiter is no longer one
  CHECK(io.read_until("\r\n", 5).empty());
}

GROVE_TEST("read_line(0) / read_some(0) are usage errors: \"\" would look like end of file") {
  auto [a, b] = Socket::pair();
  BufferedStream io(b, 64);
  a.sendall("line\n");
  CHECK_THROWS_AS((void)io.read_line(0), grove::UsageError);
  CHECK_THROWS_AS((void)io.read_until("\n", 0), grove::UsageError);
  CHECK_THROWS_AS((void)io.read_some(0), grove::UsageError);
  CHECK(io.read_line(100) == "line\n");
}

GROVE_TEST("flush after a peer reset reports an error and keeps the unsent bytes") {
  auto [a, b] = Socket::pair();
  BufferedStream io(a, 1 << 20);
  b.close();
  io.write(std::string(1000, 'x'));
  std::error_code ec;
  io.flush(ec);
  CHECK(ec);
  CHECK(io.pending_write() == 1000);
}

GROVE_TEST("DatagramServer: a handler throwing a non-std exception does not stop the server") {
  int calls = 0;
  grove::net::DatagramServer server(Address::parse("127.0.0.1:0"),
                                    [&](Socket& s, std::string_view d, const Address& from) {
                                      ++calls;
                                      if (d == "bad") throw 42;
                                      s.sendto(d.data(), d.size(), from);
                                    });
  server.start();
  Socket c = Socket::udp();
  c.settimeout(2s);
  c.sendto("bad", 3, server.address());
  c.sendto("good", 4, server.address());
  char buf[16];
  Address from;
  std::error_code ec;
  const std::size_t n = c.recvfrom(buf, sizeof buf, from, ec);
  CHECK_MESSAGE(!ec, "no reply after a handler threw a non-std exception: " << ec.message());
  CHECK(std::string(buf, n) == "good");
  CHECK(calls == 2);
  server.stop();
}

GROVE_TEST("DatagramServer: stop() while a handler parks kills it after the timeout") {
  bool unwound = false;
  grove::net::DatagramServer server(Address::parse("127.0.0.1:0"), [&](Socket&, std::string_view, const Address&) {
    struct Mark {
      bool& b;
      ~Mark() { b = true; }
    } m{unwound};
    grove::sleep(60s);
  });
  server.start();
  Socket c = Socket::udp();
  c.sendto("x", 1, server.address());
  for (int i = 0; i < 200 && grove::hub_stats().live_green_threads < 2; ++i) grove::sleep(1ms);
  grove::sleep(20ms);
  server.stop(50ms);
  CHECK(unwound);
}

GROVE_TEST("DatagramServer: an oversized datagram is truncated to max_datagram") {
  std::size_t got = 0;
  grove::net::DatagramServerOptions opts;
  opts.max_datagram = 100;
  grove::net::DatagramServer server(
      Address::parse("127.0.0.1:0"), [&](Socket&, std::string_view d, const Address&) { got = d.size(); }, opts);
  server.start();
  Socket c = Socket::udp();
  const std::string big(5000, 'z');
  c.sendto(big.data(), big.size(), server.address());
  for (int i = 0; i < 500 && got == 0; ++i) grove::sleep(1ms);
  CHECK(got == 100);
  server.stop();
}

GROVE_TEST("DatagramServer with a pool: datagrams are handled concurrently, and stop() ends the handlers") {
  auto pool = std::make_shared<grove::Pool>(4);
  int running = 0, most = 0;
  bool unwound = false;
  grove::net::DatagramServer server(
      Address::parse("127.0.0.1:0"),
      [&](Socket& s, std::string_view d, const Address& from) {
        ++running;
        most = std::max(most, running);
        struct Leave {
          int& r;
          ~Leave() { --r; }
        } leave{running};
        if (d == "park") {
          struct Mark {
            bool& b;
            ~Mark() { b = true; }
          } m{unwound};
          grove::sleep(60s);
        }
        grove::sleep(20ms);  // the data stays valid across a park
        s.sendto(d.data(), d.size(), from);
      },
      {.pool = pool});
  server.start();
  Socket c = Socket::udp();
  c.settimeout(5s);
  for (const char* m : {"one", "two", "three"}) c.sendto(m, std::strlen(m), server.address());
  std::vector<std::string> got;
  char buf[16];
  Address from;
  for (int i = 0; i < 3; ++i) got.emplace_back(buf, c.recvfrom(buf, sizeof buf, from));
  std::sort(got.begin(), got.end());
  CHECK(got == std::vector<std::string>{"one", "three", "two"});
  CHECK(most == 3);  // all three parked at once
  c.sendto("park", 4, server.address());
  for (int i = 0; i < 500 && pool->size() == 0; ++i) grove::sleep(1ms);
  CHECK(pool->size() == 1);
  server.stop(20ms);
  CHECK(unwound);
  CHECK(pool->size() == 0);
}

GROVE_TEST("DatagramServer with a pool: destroying the server ends a handler that would reply later") {
  auto pool = std::make_shared<grove::Pool>(2);
  std::error_code reply_ec;
  bool replied = false;
  Socket c = Socket::udp();
  c.bind(Address::parse("127.0.0.1:0"));
  {
    grove::net::DatagramServer server(Address::parse("127.0.0.1:0"),
                                      [&](Socket& s, std::string_view d, const Address& from) {
                                        grove::sleep(30ms);
                                        s.sendto(d.data(), d.size(), from, reply_ec);
                                        replied = true;
                                      },
                                      {.pool = pool});
    server.start();
    c.sendto("ping", 4, server.address());
    for (int i = 0; i < 500 && pool->size() == 0; ++i) grove::sleep(1ms);
    REQUIRE(pool->size() == 1);
  }  // ~DatagramServer kills the handler: it never sends through a socket that is gone
  grove::sleep(60ms);
  CHECK_FALSE(replied);
  CHECK(pool->size() == 0);
}
