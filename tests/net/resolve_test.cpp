// resolve_test.cpp: resolve() and create_connection().
#include <netdb.h>

#include <grove/net/resolve.hpp>

#include "net_test.hpp"

using namespace net_test;

GROVE_TEST("resolve turns an IP literal into one address without a lookup") {
  auto v = grove::net::resolve("127.0.0.1", 80);
  REQUIRE(v.size() == 1);
  CHECK(v[0].to_string() == "127.0.0.1:80");
  CHECK(grove::net::resolve("[::1]", 81).at(0).to_string() == "[::1]:81");
}

GROVE_TEST("resolve finds localhost through getaddrinfo, parking only the caller") {
  bool other_ran = false;
  auto g = grove::spawn([&] { other_ran = true; });
  auto v = grove::net::resolve("localhost", 7000, 10s);
  REQUIRE_FALSE(v.empty());
  CHECK(v[0].port() == 7000);
  CHECK(other_ran);
  g.join();
}

GROVE_TEST("a resolver failure carries getaddrinfo's message and names the host") {
  std::error_code ec;
  auto v = grove::net::resolve("no-such-host.invalid", 80, 10s, ec);
  CHECK(v.empty());
  REQUIRE(ec);
  CHECK(ec.category() == grove::net::resolver_category());
  CHECK(ec.message() == ::gai_strerror(ec.value()));
  try {
    grove::net::resolve("no-such-host.invalid", 80, 10s);
    FAIL("no error");
  } catch (const std::system_error& e) {
    CHECK(std::string(e.what()).find("no-such-host.invalid") != std::string::npos);
  }
}

GROVE_TEST("create_connection connects by name to a local listener") {
  Socket l = listener();
  Socket c = grove::net::create_connection("localhost", l.local_address().port(), 5s);
  auto a = l.accept();
  c.sendall("cc");
  CHECK(a.socket.recv(4) == "cc");
}

GROVE_TEST("create_connection to a closed port reports connection refused") {
  Address addr;
  {
    Socket l = listener();
    addr = l.local_address();
  }
  std::error_code ec;
  Socket c = grove::net::create_connection("127.0.0.1", addr.port(), 5s, ec);
  CHECK(ec == std::errc::connection_refused);
  CHECK_FALSE(c.is_open());
}

GROVE_TEST("create_connection takes one \"host:port\" string, as Go's net.Dial") {
  Socket l = listener();
  const std::string port = std::to_string(l.local_address().port());
  Socket c = grove::net::create_connection("localhost:" + port, 5s);
  auto a = l.accept();
  c.sendall("hp");
  CHECK(a.socket.recv(4) == "hp");
  Socket d = grove::net::create_connection("127.0.0.1:" + port);  // a literal: no lookup
  auto b = l.accept();
  CHECK(d.local_address() == b.socket.peer_address());
}

GROVE_TEST("create_connection(\"host:port\") names the host that does not resolve, and rejects a bad string") {
  std::error_code ec;
  Socket c = grove::net::create_connection("no-such-host.invalid:80", 10s, ec);
  CHECK(ec.category() == grove::net::resolver_category());
  CHECK_FALSE(c.is_open());
  try {
    grove::net::create_connection("no-such-host.invalid:80", 10s);
    FAIL("no error");
  } catch (const std::system_error& e) {
    CHECK(std::string(e.what()).find("no-such-host.invalid:80") != std::string::npos);
  }
  CHECK_THROWS_AS(grove::net::create_connection("localhost", 5s), std::invalid_argument);  // no port
  CHECK_THROWS_AS(grove::net::create_connection(":80", 5s), std::invalid_argument);       // no host
}
