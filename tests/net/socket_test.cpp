// socket_test.cpp: grove::net::Socket operations, timeouts, close and misuse.
#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "net_test.hpp"

using namespace net_test;
using grove::net::Family;
using grove::net::SocketType;

GROVE_TEST("connect, accept, send and recv move bytes over TCP") {
  auto [c, s] = tcp_pair();
  c.sendall("hello");
  char buf[16];
  CHECK(s.recv_exactly(buf, 5) == 5);
  CHECK(std::string(buf, 5) == "hello");
  CHECK(s.send("back", 4) == 4);
  CHECK(c.recv(16) == "back");
}

GROVE_TEST("recv parks until a peer green thread sends") {
  auto [c, s] = tcp_pair();
  auto g = grove::spawn([&] { return s.recv(100); });
  grove::sleep(20ms);
  CHECK_FALSE(g.ready());
  c.sendall("late");
  CHECK(g.get() == "late");
}

GROVE_TEST("end of file is a 0-byte read, not an error") {
  auto [c, s] = tcp_pair();
  c.close();
  std::error_code ec;
  char buf[8];
  CHECK(s.recv_into(buf, sizeof buf, ec) == 0);
  CHECK_FALSE(ec);
  CHECK(s.recv(8).empty());
}

GROVE_TEST("recv_exactly returns fewer bytes only at end of file") {
  auto [c, s] = tcp_pair();
  auto g = grove::spawn([&] {
    char buf[10];
    return s.recv_exactly(buf, sizeof buf);
  });
  c.sendall("abc");
  grove::sleep(10ms);
  c.sendall("de");
  c.shutdown(grove::net::ShutdownHow::kWrite);
  CHECK(g.get() == 5);
}

GROVE_TEST("sendall sends a buffer larger than the socket buffers") {
  auto [c, s] = tcp_pair();
  std::string big(4 << 20, 'x');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  auto reader = grove::spawn([&] {
    std::string got;
    char buf[8192];  // green thread stacks are 64 KiB by default
    while (std::size_t n = s.recv_into(buf, sizeof buf)) got.append(buf, n);
    return got;
  });
  c.sendall(big);
  c.shutdown(grove::net::ShutdownHow::kWrite);
  CHECK(reader.get() == big);
}

GROVE_TEST("a socket that waited to read first still wakes its writer when the peer drains a full buffer") {
  // The accepted side's first wait (a read) puts it in its hub's epoll set for
  // reading only; its write side joins there when a send first has to wait
  // (Hub::poll_arm), and must then be woken as the peer drains.
  auto [c, s] = tcp_pair();
  auto ping = grove::spawn([&] {
    grove::sleep(5ms);
    c.sendall("ping");
  });
  CHECK(s.recv(4) == "ping");  // parks: registered for reading
  ping.join();
  const int small = 16 * 1024;  // so that the writer's buffer fills at once
  REQUIRE(::setsockopt(s.fd(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small) == 0);
  REQUIRE(::setsockopt(c.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small) == 0);
  std::string big(2 << 20, 'y');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 23);
  auto reader = grove::spawn([&] {
    std::string got;
    char buf[8192];
    while (got.size() < big.size()) {
      grove::sleep(1ms);  // slower than the writer: its buffer fills and it parks
      const std::size_t n = c.recv_into(buf, sizeof buf);
      if (n == 0) break;
      got.append(buf, n);
    }
    return got;
  });
  grove::Timeout limit(30s);  // a lost wake-up fails here instead of hanging
  s.sendall(big);             // untimed: the per-message path
  CHECK(reader.get() == big);
}

GROVE_TEST("recv after the end of the stream returns 0 again at once, call after call") {
  auto [c, s] = tcp_pair();
  c.sendall("tail");
  c.close();
  char buf[64];
  CHECK(s.recv_into(buf, sizeof buf) == 4);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 5; ++i) CHECK(s.recv_into(buf, sizeof buf) == 0);
  CHECK(std::chrono::steady_clock::now() - t0 < 1s);
}

GROVE_TEST("recv with a socket timeout fails with timed_out after about that long") {
  auto [c, s] = tcp_pair();
  s.settimeout(50ms);
  CHECK(s.gettimeout() == std::optional<grove::Duration>(50ms));
  std::error_code ec;
  char buf[8];
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(s.recv_into(buf, sizeof buf, ec) == 0);
  CHECK(ec == std::errc::timed_out);
  CHECK(elapsed_s(t0) >= 0.045);
  CHECK(elapsed_s(t0) < 2.0);
}

GROVE_TEST("the throwing recv names the operation and the peer on timeout") {
  auto [c, s] = tcp_pair();
  s.settimeout(20ms);
  try {
    s.recv(8);
    FAIL("no exception");
  } catch (const std::system_error& e) {
    CHECK(e.code() == std::errc::timed_out);
    const std::string what = e.what();
    CHECK(what.find("recv") != std::string::npos);
    CHECK(what.find("127.0.0.1:") != std::string::npos);
  }
}

GROVE_TEST("a zero timeout makes calls non-blocking") {
  auto [c, s] = tcp_pair();
  s.settimeout(grove::Duration::zero());
  std::error_code ec;
  char buf[8];
  s.recv_into(buf, sizeof buf, ec);
  CHECK(ec == std::errc::resource_unavailable_try_again);
}

GROVE_TEST("a grove::Timeout interrupts a parked recv with TimeoutError") {
  auto [c, s] = tcp_pair();
  grove::Timeout t(30ms);
  std::error_code ec;
  char buf[8];
  CHECK_THROWS_AS(s.recv_into(buf, sizeof buf, ec), grove::TimeoutError);
}

GROVE_TEST("killing a green thread parked in recv unwinds it with GreenletExit") {
  auto [c, s] = tcp_pair();
  bool unwound = false;
  auto g = grove::spawn([&] {
    struct Mark {
      bool& b;
      ~Mark() { b = true; }
    } m{unwound};
    std::error_code ec;
    char buf[8];
    s.recv_into(buf, sizeof buf, ec);
  });
  grove::sleep(10ms);
  g.kill();
  CHECK(g.killed());
  CHECK(unwound);
  c.sendall("x");  // the socket still works afterwards
  CHECK(s.recv(8) == "x");
}

GROVE_TEST("close() wakes a green thread parked in recv with ECANCELED") {
  auto [c, s] = tcp_pair();
  auto g = grove::spawn([&] {
    std::error_code ec;
    char buf[8];
    s.recv_into(buf, sizeof buf, ec);
    return ec;
  });
  grove::sleep(10ms);
  s.close();
  CHECK(g.get() == std::error_code(ECANCELED, std::system_category()));
  std::error_code ec;
  char buf[8];
  s.recv_into(buf, sizeof buf, ec);
  CHECK(ec == std::error_code(EBADF, std::system_category()));
}

GROVE_TEST("close() wakes both a parked reader and a parked writer") {
  auto [c, s] = tcp_pair();
  std::string big(8 << 20, 'x');
  auto writer = grove::spawn([&] {
    std::error_code ec;
    const std::size_t n = s.sendall(big.data(), big.size(), ec);
    return std::make_pair(ec, n);
  });
  auto reader = grove::spawn([&] {
    std::error_code ec;
    char buf[8];
    s.recv_into(buf, sizeof buf, ec);
    return ec;
  });
  grove::sleep(20ms);
  s.close();
  CHECK(reader.get().value() == ECANCELED);
  auto [ec, n] = writer.get();
  CHECK(ec.value() == ECANCELED);
  CHECK(n > 0);
  CHECK(n < big.size());
}

GROVE_TEST("destroying a socket with a parked reader wakes it without touching freed memory") {
  auto holder = std::make_unique<std::pair<Socket, Socket>>(tcp_pair());
  auto g = grove::spawn([&] {
    std::error_code ec;
    char buf[8];
    holder->second.recv_into(buf, sizeof buf, ec);
    return ec.value();
  });
  grove::sleep(10ms);
  holder.reset();
  CHECK(g.get() == ECANCELED);
}

GROVE_TEST("two green threads reading one socket at once is a UsageError naming the misuse") {
  auto [c, s] = tcp_pair();
  auto first = grove::spawn([&] { return s.recv(8); });
  grove::sleep(5ms);
  try {
    s.recv(8);
    FAIL("no UsageError");
  } catch (const grove::UsageError& e) {
    CHECK(std::string(e.what()).find("already waiting to read") != std::string::npos);
  }
  c.sendall("ok");
  CHECK(first.get() == "ok");
}

GROVE_TEST("a read and a write may wait on one socket at the same time") {
  auto [c, s] = tcp_pair();
  auto r = grove::spawn([&] { return s.recv(8); });
  grove::sleep(5ms);
  s.sendall("ping");
  CHECK(c.recv(8) == "ping");
  c.sendall("pong");
  CHECK(r.get() == "pong");
}

GROVE_TEST("accept on a non-blocking listener with nobody connecting reports EAGAIN") {
  Socket l = listener();
  l.settimeout(grove::Duration::zero());
  std::error_code ec;
  l.accept(ec);
  CHECK(ec == std::errc::resource_unavailable_try_again);
}

GROVE_TEST("accept parks until a client connects") {
  Socket l = listener();
  auto g = grove::spawn([&] { return l.accept().peer; });
  grove::sleep(10ms);
  CHECK_FALSE(g.ready());
  Socket c = Socket::tcp();
  c.connect(l.local_address());
  CHECK(g.get() == c.local_address());
}

GROVE_TEST("IPv6 sockets connect and echo over ::1") {
  auto [c, s] = tcp_pair(Family::kIPv6);
  CHECK(c.local_address().family() == Family::kIPv6);
  c.sendall("v6");
  CHECK(s.recv(8) == "v6");
}

GROVE_TEST("Unix stream sockets listen, connect and accept by path") {
  const std::string path = "/tmp/grove-net-test-" + std::to_string(::getpid()) + ".sock";
  ::unlink(path.c_str());
  Socket l(Family::kUnix, SocketType::kStream);
  l.bind(Address::unix_path(path));
  l.listen();
  Socket c(Family::kUnix, SocketType::kStream);
  c.connect(Address::unix_path(path), 2s);
  auto a = l.accept();
  c.sendall("unix");
  CHECK(a.socket.recv(8) == "unix");
  ::unlink(path.c_str());
}

GROVE_TEST("socketpair gives two connected stream sockets") {
  auto [a, b] = Socket::pair();
  a.sendall("pair");
  CHECK(b.recv(8) == "pair");
}

GROVE_TEST("Unix datagram sockets keep message boundaries") {
  auto [a, b] = Socket::pair(SocketType::kDatagram);
  a.send("one", 3);
  a.send("two!", 4);
  CHECK(b.recv(100) == "one");
  CHECK(b.recv(100) == "two!");
}

GROVE_TEST("UDP sendto and recvfrom exchange datagrams and report the sender") {
  Socket a = Socket::udp();
  Socket b = Socket::udp();
  a.bind(Address::parse("127.0.0.1:0"));
  b.bind(Address::parse("127.0.0.1:0"));
  auto g = grove::spawn([&] {
    char buf[64];
    Address from;
    const std::size_t n = b.recvfrom(buf, sizeof buf, from);
    return std::make_pair(std::string(buf, n), from);
  });
  grove::sleep(5ms);
  a.sendto("dgram", 5, b.local_address());
  auto [data, from] = g.get();
  CHECK(data == "dgram");
  CHECK(from == a.local_address());
}

GROVE_TEST("UDP over IPv6 works") {
  Socket a = Socket::udp(Family::kIPv6);
  a.bind(Address::parse("[::1]:0"));
  Socket b = Socket::udp(Family::kIPv6);
  b.sendto("six", 3, a.local_address());
  Address from;
  char buf[8];
  CHECK(a.recvfrom(buf, sizeof buf, from) == 3);
  CHECK(from.family() == Family::kIPv6);
}

GROVE_TEST("socket options can be set and read back") {
  Socket s = Socket::tcp();
  s.set_reuse_address(true);
  CHECK(s.get_option(SOL_SOCKET, SO_REUSEADDR) != 0);
  s.set_nodelay(true);
  CHECK(s.get_option(IPPROTO_TCP, TCP_NODELAY) != 0);
  std::error_code ec;
  s.set_option(SOL_SOCKET, 12345, 1, ec);
  CHECK(ec);
}

GROVE_TEST("the option setters report errors through error_code or by throwing") {
  Socket udp = Socket::udp();
  std::error_code ec;
  udp.set_nodelay(true, ec);  // TCP_NODELAY on a UDP socket: the kernel refuses it
  CHECK(ec == std::error_code(ENOPROTOOPT, std::system_category()));
  CHECK_THROWS_AS(udp.set_nodelay(true), std::system_error);
  udp.set_reuse_address(true, ec);
  CHECK_FALSE(ec);
  udp.set_reuse_port(true, ec);
  CHECK_FALSE(ec);
  CHECK(udp.get_option(SOL_SOCKET, SO_REUSEPORT) != 0);
  Socket closed;
  closed.set_reuse_address(true, ec);
  CHECK(ec == std::error_code(EBADF, std::system_category()));
  closed.set_nodelay(false, ec);
  CHECK(ec == std::error_code(EBADF, std::system_category()));
  CHECK_THROWS_AS(closed.set_reuse_port(true), std::system_error);
}

GROVE_TEST("operations on a closed socket fail with EBADF") {
  Socket s;
  CHECK_FALSE(s.is_open());
  std::error_code ec;
  s.send("x", 1, ec);
  CHECK(ec.value() == EBADF);
  CHECK_THROWS_AS(s.recv(1), std::system_error);
}

GROVE_TEST("a moved-from socket is closed and the moved-to one works") {
  auto [c, s] = tcp_pair();
  Socket moved = std::move(s);
  CHECK_FALSE(s.is_open());
  c.sendall("m");
  CHECK(moved.recv(4) == "m");
}

GROVE_TEST("release gives the fd back without closing it") {
  auto [a, b] = Socket::pair();
  const int fd = a.release();
  CHECK_FALSE(a.is_open());
  CHECK(::write(fd, "r", 1) == 1);
  CHECK(b.recv(4) == "r");
  ::close(fd);
}

GROVE_TEST("wait_readable parks until a foreign fd is readable") {
  int p[2];
  REQUIRE(::pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
  auto g = grove::spawn([&] { grove::net::wait_readable(p[0], 2s); });
  grove::sleep(10ms);
  CHECK_FALSE(g.ready());
  CHECK(::write(p[1], "x", 1) == 1);
  g.get();
  ::close(p[0]);
  ::close(p[1]);
}

GROVE_TEST("wait_readable times out with timed_out") {
  int p[2];
  REQUIRE(::pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
  std::error_code ec;
  const auto t0 = std::chrono::steady_clock::now();
  grove::net::wait_readable(p[0], 30ms, ec);
  CHECK(ec == std::errc::timed_out);
  CHECK(elapsed_s(t0) >= 0.025);
  CHECK_THROWS_AS(grove::net::wait_readable(p[0], 1ms), std::system_error);
  ::close(p[0]);
  ::close(p[1]);
}

GROVE_TEST("wait_writable returns at once for a writable fd") {
  int p[2];
  REQUIRE(::pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
  grove::net::wait_writable(p[1], 1s);
  ::close(p[0]);
  ::close(p[1]);
}

GROVE_TEST("two green threads writing one socket at once is a UsageError naming the misuse") {
  auto [c, s] = tcp_pair();
  std::string big(16 << 20, 'w');
  auto first = grove::spawn([&] {
    std::error_code ec;
    c.sendall(big.data(), big.size(), ec);
    return ec;
  });
  // The misuse is reported when the second writer would park next to the first. Let
  // the first run until it is parked on full buffers; if room appeared meanwhile (the
  // first was woken but has not run yet), the second's few bytes simply go out: retry.
  bool misuse = false;
  for (int i = 0; i < 100 && !misuse; ++i) {
    grove::idle();
    try {
      c.sendall("second");
    } catch (const grove::UsageError& e) {
      misuse = true;
      CHECK(std::string(e.what()).find("already waiting to write") != std::string::npos);
    }
  }
  CHECK(misuse);
  c.close();
  CHECK(first.get().value() == ECANCELED);
}

GROVE_TEST("shutdown of the write side gives the peer end of file") {
  auto [c, s] = tcp_pair();
  c.shutdown(grove::net::ShutdownHow::kWrite);
  CHECK(s.recv(8).empty());
  s.sendall("still open the other way");
  CHECK(c.recv(64) == "still open the other way");
}

GROVE_TEST("local and peer addresses match across a connection") {
  auto [c, s] = tcp_pair();
  CHECK(c.local_address() == s.peer_address());
  CHECK(c.peer_address() == s.local_address());
}

GROVE_TEST("connect with a timeout succeeds well within it on loopback") {
  Socket l = listener();
  Socket c = Socket::tcp();
  c.connect(l.local_address(), 5s);  // throws TimeoutError if it did not connect in time
  CHECK(c.peer_address() == l.local_address());
}

namespace {
// Destroyed after main()'s hub (thread_local objects go before statics): its
// destructor must only close the fd.
Socket g_static_socket;
const bool g_static_socket_made = (g_static_socket = Socket::tcp(), true);
}  // namespace

GROVE_TEST("a socket in a static object is usable and may outlive the hub") {
  CHECK(g_static_socket_made);
  CHECK(g_static_socket.is_open());
  g_static_socket.bind(Address::parse("127.0.0.1:0"));
  CHECK(g_static_socket.local_address().port() != 0);
}

GROVE_TEST("after a short read, queued data wins over a grove::Timeout that expired while the caller ran") {
  auto [c, s] = tcp_pair();
  c.sendall("x");
  char buf[100];
  CHECK(s.recv_into(buf, sizeof buf) == 1);  // short: the next recv may park first
  c.sendall("hello");
  grove::sleep(10ms);  // the data is queued on s
  std::size_t n = 0;
  bool timed_out = false;
  try {
    grove::Timeout t(20ms);
    const auto t0 = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - t0 < 60ms) {
    }  // run past the Timeout without parking
    n = s.recv_into(buf, sizeof buf);  // a blocking recv with data queued returns it
    grove::sleep(5ms);                 // the expired Timeout is raised here
  } catch (const grove::TimeoutError&) {
    timed_out = true;
  }
  CHECK(n == 5);
  CHECK(timed_out);
}

GROVE_TEST("a Unix connect to a listener whose queue is full fails instead of pretending to connect") {
  const std::string path = "/tmp/grove-net-full-" + std::to_string(::getpid()) + ".sock";
  ::unlink(path.c_str());
  Socket l(Family::kUnix, SocketType::kStream);
  l.bind(Address::unix_path(path));
  l.listen(0);
  std::vector<Socket> clients;
  int connected = 0, refused = 0;
  for (int i = 0; i < 8; ++i) {
    Socket c(Family::kUnix, SocketType::kStream);
    std::error_code ec;
    c.connect(Address::unix_path(path), 1s, ec);
    if (ec) {
      CHECK(ec == std::errc::resource_unavailable_try_again);
      ++refused;
      continue;
    }
    std::error_code ec2;
    c.peer_address(ec2);  // a connect that reported success is really connected
    CHECK_FALSE(ec2);
    ++connected;
    clients.push_back(std::move(c));
  }
  CHECK(connected >= 1);
  CHECK(refused >= 1);
  ::unlink(path.c_str());
}

GROVE_TEST("closing a socket on another OS thread leaves it open instead of breaking the hub") {
  auto [a, b] = Socket::pair();
  b.sendall("x");
  CHECK(a.recv(1) == "x");  // a's read watcher is now started in this hub's loop
  const int fd = a.fd();
  grove::run_in_thread([s = std::move(a)]() mutable { s.close(); });  // a usage error
  CHECK(::fcntl(fd, F_GETFD) >= 0);  // left open (and its state leaked): nothing to reuse
  // Events on the abandoned socket find valid watchers (ASan checks), and new sockets
  // work as before.
  b.sendall("y");
  grove::sleep(20ms);
  auto [c, d] = Socket::pair();
  c.sendall("z");
  CHECK(d.recv(1) == "z");
  ::close(fd);  // the test harness counts fds; the leaked watcher's memory stays valid
}
