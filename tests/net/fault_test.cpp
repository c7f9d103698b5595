// fault_test.cpp: peers that reset, half-close, vanish, refuse or never accept.
#include <signal.h>
#include <sys/socket.h>

#include <cerrno>
#include <string>

#include "net_test.hpp"

using namespace net_test;

namespace {
// Closing with SO_LINGER {1, 0} sends a RST instead of a FIN.
void reset(Socket& s) {
  struct linger lg{1, 0};
  ::setsockopt(s.fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  s.close();
}
}  // namespace

GROVE_TEST("a peer reset mid-transfer is ECONNRESET for the reader") {
  auto [c, s] = tcp_pair();
  c.sendall("partial");
  char buf[7];
  CHECK(s.recv_exactly(buf, 7) == 7);
  c.sendall("unread");  // unread data makes close() send a RST
  reset(c);
  grove::sleep(10ms);
  std::error_code ec;
  char more[64];
  std::size_t n = s.recv_into(more, sizeof more, ec);
  if (!ec && n > 0) n = s.recv_into(more, sizeof more, ec);  // data before the RST, if any
  CHECK(ec.value() == ECONNRESET);
}

GROVE_TEST("a half-closed peer still receives what we send after its EOF") {
  auto [c, s] = tcp_pair();
  c.sendall("req");
  c.shutdown(grove::net::ShutdownHow::kWrite);
  CHECK(s.recv(16) == "req");
  CHECK(s.recv(16).empty());  // EOF from the client
  s.sendall("reply after eof");
  s.close();
  std::string got;
  char buf[64];
  while (std::size_t n = c.recv_into(buf, sizeof buf)) got.append(buf, n);
  CHECK(got == "reply after eof");
}

GROVE_TEST("writing to a closed peer is EPIPE or ECONNRESET, never SIGPIPE") {
  struct sigaction old;
  ::sigaction(SIGPIPE, nullptr, &old);
  const bool default_disposition = old.sa_handler == SIG_DFL;
  REQUIRE(default_disposition);  // the default would kill the test process
  auto [c, s] = tcp_pair();
  s.close();
  grove::sleep(10ms);
  std::error_code ec;
  std::string chunk(65536, 'x');
  for (int i = 0; i < 100 && !ec; ++i) c.sendall(chunk.data(), chunk.size(), ec);
  CHECK((ec.value() == EPIPE || ec.value() == ECONNRESET));
  try {
    c.sendall(chunk);
    FAIL("no error");
  } catch (const grove::net::SendallError& e) {
    CHECK((e.code().value() == EPIPE || e.code().value() == ECONNRESET));
    CHECK(e.bytes_sent() == 0);
    CHECK(std::string(e.what()).find("sendall") != std::string::npos);
  }
}

GROVE_TEST("connecting to a closed port is refused") {
  Address addr;
  {
    Socket l = listener();
    addr = l.local_address();
  }
  Socket c = Socket::tcp();
  std::error_code ec;
  c.connect(addr, 2s, ec);
  CHECK(ec == std::errc::connection_refused);
  Socket c2 = Socket::tcp();
  try {
    c2.connect(addr, 2s);
    FAIL("no error");
  } catch (const std::system_error& e) {
    CHECK(std::string(e.what()).find(addr.to_string()) != std::string::npos);
  }
}

GROVE_TEST("connect times out against a listener whose backlog is full") {
  Socket l = listener(grove::net::Family::kIPv4, 0);
  const Address addr = l.local_address();
  // Fill the accept queue (backlog 0 still admits one or two); the listener never
  // accepts, so a later SYN is dropped and connect waits.
  std::vector<Socket> fill;
  std::error_code ec;
  for (int i = 0; i < 16; ++i) {
    Socket c = Socket::tcp();
    c.connect(addr, 200ms, ec);
    fill.push_back(std::move(c));
    if (ec) break;
  }
  REQUIRE(ec == std::errc::timed_out);
  Socket c = Socket::tcp();
  const auto t0 = std::chrono::steady_clock::now();
  c.connect(addr, 100ms, ec);
  CHECK(ec == std::errc::timed_out);
  CHECK(elapsed_s(t0) >= 0.09);
  CHECK(elapsed_s(t0) < 2.0);
}

GROVE_TEST("sendall reports how many bytes went out before a timeout") {
  auto [c, s] = tcp_pair();
  c.settimeout(50ms);
  std::string big(16 << 20, 'x');
  std::error_code ec;
  const std::size_t n = c.sendall(big.data(), big.size(), ec);
  CHECK(ec == std::errc::timed_out);
  CHECK(n > 0);
  CHECK(n < big.size());
}
