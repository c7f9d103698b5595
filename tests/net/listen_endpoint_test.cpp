// listen_endpoint_test.cpp: servers listening on "host:port" strings with a host
// name (resolved by the constructor), numeric hosts or Unix paths.
#include <unistd.h>

#include <functional>
#include <stdexcept>
#include <string>

#include <grove/net/buffered_stream.hpp>
#include <grove/net/datagram_server.hpp>
#include <grove/net/resolve.hpp>
#include <grove/net/stream_server.hpp>

#include "net_test.hpp"

using namespace net_test;
using grove::net::DatagramServer;
using grove::net::Family;
using grove::net::SocketType;
using grove::net::StreamServer;

namespace {
void echo_line(Socket& s, const Address&) {
  grove::net::BufferedStream io(s);
  io.write(io.read_line(100));
  io.flush();
}
std::string what_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }
std::string temp_path(const char* tag) { return "/tmp/grove-" + std::string(tag) + "-" + std::to_string(::getpid()) + ".sock"; }
}  // namespace

GROVE_TEST("a StreamServer listens on \"localhost:port\", preferring IPv4") {
  bool other_ran = false;
  auto other = grove::spawn([&] { other_ran = true; });
  StreamServer server("localhost:0", echo_line);  // the lookup parks only this green thread
  CHECK(other_ran);
  CHECK(server.address().empty());  // nothing bound before start()
  server.start();
  CHECK(server.address().family() == Family::kIPv4);  // Go's rule: the first IPv4 address
  CHECK(server.address().host() == "127.0.0.1");
  const std::string port = std::to_string(server.address().port());
  Socket c = grove::net::create_connection("localhost:" + port, 5s);
  c.sendall("by name\n");
  grove::net::BufferedStream io(c);
  CHECK(io.read_line(100) == "by name\n");
  server.stop();
}

GROVE_TEST("numeric and Unix endpoint strings need no lookup and mean what Address::parse says") {
  StreamServer v4("127.0.0.1:0", echo_line);
  v4.start();
  CHECK(v4.address().host() == "127.0.0.1");
  StreamServer v6("[::1]:0", echo_line);
  v6.start();
  CHECK(v6.address().host() == "::1");
  const std::string path = temp_path("endpoint-unix");
  ::unlink(path.c_str());
  StreamServer un("unix:" + path, echo_line);
  un.start();
  CHECK(un.address() == Address::unix_path(path));
  Socket c = grove::net::create_connection("unix:" + path, 5s);  // create_connection takes paths too
  c.sendall("u\n");
  CHECK(c.recv(8) == "u\n");
  v4.stop();
  v6.stop();
  un.stop();
}

GROVE_TEST("\":port\" listens on every IPv4 interface, as gevent's ('', port)") {
  StreamServer server(":0", echo_line);
  server.start();
  CHECK(server.address().host() == "0.0.0.0");
  Socket c = Socket::tcp();
  c.connect(Address::ip("127.0.0.1", server.address().port()), 5s);
  c.sendall("any\n");
  CHECK(c.recv(8) == "any\n");
  server.stop();
}

GROVE_TEST("a DatagramServer listens on \"localhost:port\" too") {
  DatagramServer server("localhost:0", [](Socket& s, std::string_view data, const Address& from) {
    s.sendto(data.data(), data.size(), from);
  });
  server.start();
  CHECK(server.address().host() == "127.0.0.1");
  Socket c = Socket::udp();
  c.settimeout(5s);
  c.sendto("ping", 4, server.address());
  char buf[16];
  Address from;
  CHECK(std::string(buf, c.recvfrom(buf, sizeof buf, from)) == "ping");
  server.stop();
}

GROVE_TEST("a name that does not resolve is an error naming it") {
  std::string what;
  try {
    StreamServer server("no-such-host.invalid:7001", echo_line);
    FAIL("no error");
  } catch (const std::system_error& e) {
    what = e.what();
    CHECK(e.code().category() == grove::net::resolver_category());
  }
  CHECK(contains(what, "grove::net::StreamServer"));
  CHECK(contains(what, "\"no-such-host.invalid\""));
  CHECK(contains(what_of([] {
                   DatagramServer udp("no-such-host.invalid:7001", [](Socket&, std::string_view, const Address&) {});
                 }),
                 "\"no-such-host.invalid\""));
}

GROVE_TEST("a malformed endpoint string is std::invalid_argument at construction, quoting it") {
  auto h = [](Socket&, const Address&) {};
  CHECK_THROWS_AS(StreamServer("localhost", h), std::invalid_argument);  // no port
  CHECK(contains(what_of([&] { StreamServer s("localhost", h); }), "\"localhost\""));
  CHECK(contains(what_of([&] { StreamServer s("localhost:99999", h); }), "out of range"));
  CHECK(contains(what_of([&] { StreamServer s("localhost:http", h); }), "not a number"));
  CHECK(contains(what_of([&] { StreamServer s("::1:80", h); }), "brackets"));
  CHECK(contains(what_of([&] { StreamServer s("", h); }), "empty"));
  CHECK_THROWS_AS(StreamServer(std::string("local\0host:80", 13), h), std::invalid_argument);
}
