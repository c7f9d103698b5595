// edge_case_test.cpp: Socket and StreamServer at their edges: partial counts,
// timeouts out of the ordinary range, Unix datagram peers, misuse messages, and the
// lifetime of a StreamServer stopped or destroyed while other green threads wait
// in it.
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>

#include <grove/errors.hpp>
#include <grove/event.hpp>
#include <grove/net/stream_server.hpp>

#include "captured_log.hpp"
#include "net_test.hpp"

using namespace net_test;
using grove::net::StreamServer;

// --- things checked that behave as documented (kept as guards) -----------------

GROVE_TEST("recv_exactly at end of file mid-way returns the partial count, no error") {
  auto [a, b] = Socket::pair();
  a.sendall("abc");
  a.shutdown(grove::net::ShutdownHow::kWrite);
  char buf[8];
  std::error_code ec;
  CHECK(b.recv_exactly(buf, sizeof buf, ec) == 3);
  CHECK(!ec);
}

GROVE_TEST("sendall reports the partial count on a socket timeout") {
  auto [a, b] = Socket::pair();
  a.settimeout(50ms);
  std::string big(8 << 20, 'x');
  std::error_code ec;
  const std::size_t n = a.sendall(big.data(), big.size(), ec);
  CHECK(ec == std::errc::timed_out);
  CHECK(n > 0);
  CHECK(n < big.size());
}

GROVE_TEST("close wakes a parked reader and a parked writer with ECANCELED") {
  auto [a, b] = Socket::pair();
  std::string big(8 << 20, 'x');
  std::error_code rec, wec;
  auto r = grove::spawn([&] { char c; a.recv_into(&c, 1, rec); });
  auto w = grove::spawn([&] { a.sendall(big.data(), big.size(), wec); });
  grove::sleep(10ms);
  a.close();
  r.join();
  w.join();
  CHECK(rec.value() == ECANCELED);
  CHECK(wec.value() == ECANCELED);
}

GROVE_TEST("a socket moved while a green thread is parked in it keeps working") {
  auto [a, b] = Socket::pair();
  std::string got;
  auto r = grove::spawn([&] { got = a.recv(16); });
  grove::sleep(5ms);
  Socket moved = std::move(a);
  b.sendall("hi");
  r.join();
  CHECK(got == "hi");
}

GROVE_TEST("unix datagram from an unnamed peer gives an empty address") {
  auto [a, b] = Socket::pair(grove::net::SocketType::kDatagram);
  a.send("x", 1);
  char c;
  Address from = Address::parse("127.0.0.1:1");
  CHECK(b.recvfrom(&c, 1, from) == 1);
  CHECK(from.empty());
}

// --- reproduced bugs ------------------------------------------------------------

GROVE_TEST("settimeout with a negative duration is an expired deadline, not non-blocking") {
  auto [a, b] = Socket::pair();
  a.settimeout(-1s);
  // gevent / Python reject a negative timeout (ValueError); Go treats a deadline in
  // the past as expired (timeout error). grove silently makes the socket non-blocking.
  CHECK(a.gettimeout() != std::optional<grove::Duration>(grove::Duration::zero()));
  char c;
  std::error_code ec;
  a.recv_into(&c, 1, ec);
  CHECK(ec == std::errc::timed_out);
}

GROVE_TEST("a second reader's UsageError names the operation it called (recv_exactly)") {
  auto [a, b] = Socket::pair();
  auto r = grove::spawn([&] { char buf[4]; std::error_code ec; a.recv_exactly(buf, 4, ec); });
  grove::sleep(5ms);
  std::string msg;
  try {
    char buf[4];
    std::error_code ec;
    a.recv_exactly(buf, 4, ec);
  } catch (const grove::UsageError& e) {
    msg = e.what();
  }
  MESSAGE(msg);
  CHECK(msg.find("recv_exactly") != std::string::npos);
  a.close();
  r.join();
}

GROVE_TEST("StreamServer given a bound but not listening socket does not log accept failures in a loop") {
  grove::test::CapturedLog log;
  Socket s = Socket::tcp();
  s.bind(Address::parse("127.0.0.1:0"));  // no listen()
  StreamServer server(std::move(s), [](Socket&, const Address&) {});
  bool threw = false;
  try {
    server.start();
  } catch (const std::exception&) {
    threw = true;  // an acceptable outcome: start() reports EINVAL
  }
  if (!threw) grove::sleep(200ms);
  server.stop(0s);
  const std::size_t fails = log.count("accept failed");
  MESSAGE("start threw: " << threw << ", 'accept failed' lines in 200 ms: " << fails);
  CHECK((threw || fails <= 1));
}

GROVE_TEST("a second stop() while a first one waits for handlers still waits for them") {
  grove::Event release;
  StreamServer server(Address::parse("127.0.0.1:0"), [&](Socket&, const Address&) { release.wait(); });
  server.start();
  Socket c = Socket::tcp();
  c.connect(server.address(), 2s);
  for (int i = 0; i < 200 && server.connection_count() == 0; ++i) grove::sleep(1ms);
  REQUIRE(server.connection_count() == 1);
  auto first = grove::spawn([&] { server.stop(10s); });
  grove::sleep(5ms);  // `first` is now parked, letting the handler finish
  server.stop(0s);    // documented: kills the rest and waits; afterwards no fd is open
  CHECK(server.connection_count() == 0);
  release.set();
  first.join();
}


namespace {
double cpu_now() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}
}  // namespace

GROVE_TEST("sendto on an unconnected Unix datagram socket to a full receiver parks instead of spinning") {
  Socket rx(grove::net::Family::kUnix, grove::net::SocketType::kDatagram);
  const Address where = Address::parse("@grove-edge-" + std::to_string(::getpid()));
  rx.bind(where);
  Socket tx(grove::net::Family::kUnix, grove::net::SocketType::kDatagram);
  tx.settimeout(100ms);
  // A watchdog: if the timeout is never enforced, close the sender after 2 s.
  bool watchdog_fired = false;
  auto dog = grove::spawn([&] {
    grove::sleep(2s);
    watchdog_fired = true;
    tx.close();
  });
  const double cpu0 = cpu_now();
  const std::uint64_t sw0 = grove::hub_stats().switches;
  const auto t0 = std::chrono::steady_clock::now();
  std::error_code ec;
  for (int i = 0; i < 100000 && !ec; ++i) tx.sendto("x", 1, where, ec);
  const double wall = elapsed_s(t0), cpu = cpu_now() - cpu0;
  const std::uint64_t switches = grove::hub_stats().switches - sw0;
  MESSAGE("ec=" << ec.message() << " wall=" << wall << "s cpu=" << cpu << "s switches=" << switches
                << " watchdog=" << watchdog_fired);
  CHECK(ec == std::errc::timed_out);
  // Parking until the 100 ms timeout takes a few switches; a busy loop takes thousands.
  CHECK(switches < 100);
  CHECK(!watchdog_fired);
  dog.kill();
}

GROVE_TEST("stop(timeout) from inside a handler kills the others and serve_forever returns") {
  StreamServer* srv = nullptr;
  int started = 0;
  StreamServer server(Address::parse("127.0.0.1:0"), [&](Socket& s, const Address&) {
    ++started;
    char c;
    if (s.recv_into(&c, 1) == 1 && c == 's') srv->stop(50ms);
    else grove::sleep(10s);
  });
  srv = &server;
  server.start();
  Socket idle = Socket::tcp();
  idle.connect(server.address(), 2s);
  for (int i = 0; i < 200 && started < 1; ++i) grove::sleep(1ms);
  auto serving = grove::spawn([&] { server.serve_forever(); });
  Socket c = Socket::tcp();
  c.connect(server.address(), 2s);
  c.sendall("s");
  serving.join();
  for (int i = 0; i < 200 && server.connection_count() > 0; ++i) grove::sleep(1ms);
  CHECK(server.connection_count() == 0);
  server.stop();  // twice: fine
}

GROVE_TEST("serve_forever interrupted by a Timeout leaves the server running") {
  StreamServer server(Address::parse("127.0.0.1:0"), [](Socket& s, const Address&) { s.sendall("ok"); });
  bool timed_out = false;
  try {
    grove::Timeout t(20ms);
    server.serve_forever();
  } catch (const grove::TimeoutError&) {
    timed_out = true;
  }
  CHECK(timed_out);
  Socket c = Socket::tcp();
  c.connect(server.address(), 2s);
  char buf[2];
  CHECK(c.recv_exactly(buf, 2) == 2);
  server.stop();
}

GROVE_TEST("accept on a Unix listener returns an unnamed peer; shutdown then send is EPIPE") {
  const Address where = Address::parse("@grove-edge-l-" + std::to_string(::getpid()));
  Socket l(grove::net::Family::kUnix, grove::net::SocketType::kStream);
  l.bind(where);
  l.listen(4);
  Socket c(grove::net::Family::kUnix, grove::net::SocketType::kStream);
  c.connect(where, 2s);
  grove::net::Accepted a = l.accept();
  CHECK(a.peer.family() == grove::net::Family::kUnix);
  CHECK(a.peer.to_string() == "unix:(unnamed)");
  c.shutdown(grove::net::ShutdownHow::kWrite);
  std::error_code ec;
  c.send("x", 1, ec);
  CHECK(ec.value() == EPIPE);
  char ch;
  CHECK(a.socket.recv_into(&ch, 1) == 0);
  c.shutdown(grove::net::ShutdownHow::kRead);
  CHECK(c.recv_into(&ch, 1) == 0);
}

GROVE_TEST("IPv6 scope ids parse and print") {
  const Address a = Address::parse("[fe80::1%1]:80");
  CHECK(a.to_string() == "[fe80::1%1]:80");
  CHECK(Address::parse(a.to_string()) == a);
}

GROVE_TEST("two StreamServers share a port with reuse_port") {
  grove::net::StreamServerOptions o;
  o.reuse_port = true;
  StreamServer a(Address::parse("127.0.0.1:0"), [](Socket& s, const Address&) { s.sendall("a"); }, o);
  a.start();
  StreamServer b(a.address(), [](Socket& s, const Address&) { s.sendall("b"); }, o);
  b.start();
  CHECK(b.address() == a.address());
  Socket c = Socket::tcp();
  c.connect(a.address(), 2s);
  char ch;
  CHECK(c.recv_into(&ch, 1) == 1);
  b.stop();
  a.stop();
}

GROVE_TEST("a huge socket timeout (Duration::max()) waits instead of timing out at once") {
  auto [a, b] = Socket::pair();
  a.settimeout(grove::Duration::max());
  CHECK(a.gettimeout().value_or(grove::Duration::zero()) > 24h);
  auto w = grove::spawn([&b = b] {
    grove::sleep(20ms);
    b.sendall("x");
  });
  char c;
  std::error_code ec;
  const std::size_t n = a.recv_into(&c, 1, ec);
  MESSAGE("ec=" << ec.message() << " n=" << n);
  CHECK(!ec);
  CHECK(n == 1);
  w.join();
}

GROVE_TEST("a Unix-path StreamServer can be started again on the same path after stop()") {
  const std::string path = "/tmp/grove-edge-" + std::to_string(::getpid()) + ".sock";
  ::unlink(path.c_str());
  {
    StreamServer first(Address::parse(path), [](Socket&, const Address&) {});
    first.start();
    first.stop();
  }
  StreamServer second(Address::parse(path), [](Socket&, const Address&) {});
  std::string err;
  try {
    second.start();
  } catch (const std::system_error& e) {
    err = e.what();
  }
  MESSAGE("second start: " << (err.empty() ? std::string("ok") : err));
  CHECK(err.empty());
  second.stop();
  ::unlink(path.c_str());
}

// A use-after-free, which may crash the process outside ASan.
GROVE_TEST("destroying a StreamServer while another green thread is in its serve_forever") {
  auto server = std::make_unique<StreamServer>(Address::parse("127.0.0.1:0"), [](Socket&, const Address&) {});
  StreamServer* raw = server.get();
  auto serving = grove::spawn([raw] { raw->serve_forever(); });
  grove::sleep(5ms);  // serve_forever has started the server and parked
  server.reset();     // ~StreamServer: stop(0) wakes serve_forever, then frees the state
  serving.join();     // serve_forever re-checks `stopped` in the freed state
  CHECK(serving.dead());
}

// Also a use-after-free.
GROVE_TEST("destroying a StreamServer while another green thread is in its stop(timeout)") {
  grove::Event release;
  auto server = std::make_unique<StreamServer>(Address::parse("127.0.0.1:0"),
                                               [&](Socket&, const Address&) { release.wait(); });
  server->start();
  Socket c = Socket::tcp();
  c.connect(server->address(), 2s);
  for (int i = 0; i < 200 && server->connection_count() == 0; ++i) grove::sleep(1ms);
  REQUIRE(server->connection_count() == 1);
  StreamServer* raw = server.get();
  auto stopper = grove::spawn([raw] { raw->stop(10s); });
  grove::sleep(5ms);  // the stopper is parked in stop(), waiting for the handler
  server.reset();     // ~StreamServer: stop(0) returns at once (already stopped)
  release.set();      // the handler ends and drops the last reference to the state
  stopper.join();     // the stopper wakes inside the freed state
  CHECK(stopper.dead());
}
