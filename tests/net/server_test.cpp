// server_test.cpp: StreamServer.
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include <grove/net/datagram_server.hpp>
#include <grove/net/stream_server.hpp>

#include "captured_log.hpp"
#include "net_test.hpp"

using namespace net_test;
using grove::net::StreamServer;

namespace {
void echo(Socket& s, const Address&) {
  char buf[4096];
  while (std::size_t n = s.recv_into(buf, sizeof buf)) s.sendall(buf, n);
}
std::string roundtrip(const Address& a, const std::string& msg) {
  Socket c = Socket::tcp(a.family());
  c.connect(a, 2s);
  c.sendall(msg);
  c.shutdown(grove::net::ShutdownHow::kWrite);
  std::string got;
  char buf[4096];
  while (std::size_t n = c.recv_into(buf, sizeof buf)) got.append(buf, n);
  return got;
}
}  // namespace

GROVE_TEST("a StreamServer runs one handler per connection") {
  StreamServer server(Address::parse("127.0.0.1:0"), echo);
  server.start();
  CHECK(server.address().port() != 0);
  std::vector<grove::GreenThread<std::string>> clients;
  for (int i = 0; i < 20; ++i) {
    clients.push_back(grove::spawn([&, i] { return roundtrip(server.address(), "msg " + std::to_string(i)); }));
  }
  for (int i = 0; i < 20; ++i) CHECK(clients[i].get() == "msg " + std::to_string(i));
  server.stop();
}

GROVE_TEST("a handler exception closes only that connection and the server keeps serving") {
  StreamServer server(Address::parse("127.0.0.1:0"), [](Socket& s, const Address& p) {
    char c;
    s.recv_exactly(&c, 1);
    if (c == '!') throw std::runtime_error("boom");
    echo(s, p);
  });
  server.start();
  CHECK(roundtrip(server.address(), "!").empty());
  CHECK(roundtrip(server.address(), "xok") == "ok");
  server.stop();
}

// A connection's SocketState lives in the top page of its handler's stack (with no
// heap block per connection): a Socket moved out of the handler keeps that stack,
// even after the handler returned and other green threads reused pooled stacks.
GROVE_TEST("a connection's Socket moved out of its handler outlives the handler") {
  std::vector<Socket> kept;
  StreamServer server(Address::parse("127.0.0.1:0"), [&](Socket& s, const Address&) { kept.push_back(std::move(s)); });
  server.start();
  Socket c = Socket::tcp(grove::net::Family::kIPv4);
  c.connect(server.address(), 2s);
  for (int i = 0; i < 2000 && (kept.empty() || server.connection_count() != 0); ++i) grove::sleep(1ms);
  REQUIRE(kept.size() == 1);
  REQUIRE(server.connection_count() == 0);  // the handler has returned
  // Green threads that write over their whole stack top, as a reused stack would.
  std::vector<grove::GreenThreadHandle> scribblers;
  for (int i = 0; i < 64; ++i) {
    scribblers.push_back(grove::spawn([] {
      volatile char buf[3000];
      for (std::size_t k = 0; k < sizeof buf; ++k) buf[k] = static_cast<char>(0xa5);
    }));
  }
  grove::joinall(scribblers);
  Socket& s = kept[0];
  CHECK(s.is_open());
  CHECK(s.peer_address() == c.local_address());
  c.sendall("ping");
  char buf[4];
  s.recv_exactly(buf, 4);
  CHECK(std::string(buf, 4) == "ping");
  s.sendall("pong");
  c.recv_exactly(buf, 4);
  CHECK(std::string(buf, 4) == "pong");
  server.stop();
  CHECK(s.is_open());  // not the server's any more
  s.close();
  CHECK(c.recv_into(buf, 4) == 0);
  kept.clear();
}

GROVE_TEST("stop lets handlers finish within the timeout") {
  bool finished = false;
  grove::Event started;
  StreamServer server(Address::parse("127.0.0.1:0"), [&](Socket&, const Address&) {
    started.set();
    grove::sleep(30ms);
    finished = true;
  });
  server.start();
  Socket c = Socket::tcp();
  c.connect(server.address());
  // Not a sleep shorter than the handler's: on a loaded machine both timers can expire
  // before one poll and fire in either order (always possible under a schedule seed).
  started.wait();
  CHECK(server.connection_count() == 1);
  server.stop(2s);
  CHECK(finished);
}

GROVE_TEST("stop kills handlers still running after the timeout and closes their sockets") {
  StreamServer server(Address::parse("127.0.0.1:0"), echo);
  server.start();
  Socket c = Socket::tcp();
  c.connect(server.address());
  c.sendall("x");
  CHECK(c.recv(4) == "x");
  const auto t0 = std::chrono::steady_clock::now();
  server.stop(50ms);
  CHECK(elapsed_s(t0) >= 0.045);
  CHECK(server.connection_count() == 0);
  CHECK(c.recv(4).empty());  // the server closed our connection
}

GROVE_TEST("serve_forever returns once another green thread calls stop") {
  StreamServer server(Address::parse("127.0.0.1:0"), echo);
  auto stopper = grove::spawn([&] {
    grove::sleep(20ms);
    CHECK(roundtrip(server.address(), "sf") == "sf");
    server.stop();
  });
  server.serve_forever();
  stopper.get();
}

GROVE_TEST("max_connections caps concurrent handlers") {
  grove::net::StreamServerOptions o;
  o.max_connections = 2;
  int running = 0, peak = 0;
  StreamServer server(Address::parse("127.0.0.1:0"), [&](Socket& s, const Address&) {
    peak = std::max(peak, ++running);
    grove::sleep(20ms);
    --running;
    s.sendall("done");
  }, o);
  server.start();
  std::vector<grove::GreenThread<std::string>> cs;
  for (int i = 0; i < 6; ++i) cs.push_back(grove::spawn([&] { return roundtrip(server.address(), ""); }));
  for (auto& g : cs) CHECK(g.get() == "done");
  CHECK(peak == 2);
  server.stop();
}

GROVE_TEST("handlers run in the Pool given in the options, which caps them and stops the accepting") {
  auto pool = std::make_shared<grove::Pool>(2);
  grove::net::StreamServerOptions o;
  o.pool = pool;
  int running = 0, peak = 0, finished = 0;
  std::size_t pool_members = 0;
  grove::Event two_done, give_back;
  StreamServer server(Address::parse("127.0.0.1:0"), [&](Socket& s, const Address&) {
    peak = std::max(peak, ++running);
    grove::sleep(10ms);
    pool_members = std::max(pool_members, pool->size());
    --running;
    if (++finished == 2) two_done.set();
    s.sendall("done");
  }, o);
  server.start();
  // The pool is shared: other work holds one slot, so handlers run one at a time
  // until it gives the slot back.
  auto other = pool->spawn([&] { give_back.wait(); });
  std::vector<grove::GreenThread<std::string>> cs;
  for (int i = 0; i < 6; ++i) cs.push_back(grove::spawn([&] { return roundtrip(server.address(), ""); }));
  REQUIRE(two_done.wait(10s));
  CHECK(peak == 1);
  give_back.set();
  for (auto& g : cs) CHECK(g.get() == "done");
  other.join();
  CHECK(peak == 2);
  CHECK(pool_members == 2);
  server.stop();
  CHECK(pool->join(5s));
  CHECK(pool->size() == 0);
}

GROVE_TEST("a connection accepted while other work took the Pool's last slot waits for a slot, then runs in the Pool") {
  auto pool = std::make_shared<grove::Pool>(1);
  grove::net::StreamServerOptions o;
  o.pool = pool;
  grove::Event handled, give_back;
  bool member = false, other_done = false;
  StreamServer server(Address::parse("127.0.0.1:0"), [&](Socket& s, const Address&) {
    member = pool->contains(grove::current());
    other_done = other_done || give_back.is_set();
    handled.set();
    s.sendall("ok");
  }, o);
  server.start();
  grove::yield();  // the acceptor saw a free slot and parks in accept()
  auto other = pool->spawn([&] { give_back.wait(); });  // takes the only slot
  auto client = grove::spawn([&] { return roundtrip(server.address(), ""); });
  CHECK_FALSE(handled.wait(50ms));  // accepted, but no slot: the handler has not run
  give_back.set();
  CHECK(client.get() == "ok");
  CHECK(member);
  CHECK(other_done);
  CHECK(other.join(5s));
  server.stop();
  CHECK(pool->join(5s));
}

GROVE_TEST("stop() ends a server whose acceptor waits for a slot of a full Pool") {
  auto pool = std::make_shared<grove::Pool>(1);
  grove::Event give_back;
  auto other = pool->spawn([&] { give_back.wait(); });
  grove::net::StreamServerOptions o;
  o.pool = pool;
  bool handled = false;
  StreamServer server(Address::parse("127.0.0.1:0"), [&](Socket&, const Address&) { handled = true; }, o);
  server.start();
  grove::yield();  // the acceptor runs and parks: the pool is full
  server.stop();
  CHECK_FALSE(handled);
  CHECK(pool->size() == 1);  // only the other work; the pool is left as it was
  give_back.set();
  CHECK(other.join(5s));
  CHECK(pool->size() == 0);
}

GROVE_TEST("a StreamServer on an address in use fails to start with EADDRINUSE") {
  Socket l = listener();
  grove::net::StreamServerOptions o;
  o.reuse_address = false;
  StreamServer server(l.local_address(), echo, o);
  try {
    server.start();
    FAIL("no error");
  } catch (const std::system_error& e) {
    CHECK(e.code() == std::errc::address_in_use);
  }
}

GROVE_TEST("SO_REUSEPORT lets two servers share a port") {
  grove::net::StreamServerOptions o;
  o.reuse_port = true;
  StreamServer a(Address::parse("127.0.0.1:0"), echo, o);
  a.start();
  StreamServer b(a.address(), echo, o);
  b.start();
  CHECK(roundtrip(a.address(), "rp") == "rp");
  a.stop();
  b.stop();
}

GROVE_TEST("a StreamServer serves IPv6 and Unix-domain listeners") {
  StreamServer v6(Address::parse("[::1]:0"), echo);
  v6.start();
  CHECK(roundtrip(v6.address(), "six") == "six");
  v6.stop();
  const std::string path = "/tmp/grove-net-srv-" + std::to_string(::getpid()) + ".sock";
  ::unlink(path.c_str());
  StreamServer un(Address::unix_path(path), echo);
  un.start();
  CHECK(roundtrip(un.address(), "unix") == "unix");
  un.stop();
  ::unlink(path.c_str());
}

GROVE_TEST("a handler may stop its own server") {
  StreamServer* self = nullptr;
  StreamServer server(Address::parse("127.0.0.1:0"), [&](Socket& s, const Address& p) {
    char c;
    if (s.recv_exactly(&c, 1) == 1 && c == '!') {
      self->stop(100ms);
      s.sendall("bye");
      return;
    }
    echo(s, p);
  });
  self = &server;
  server.start();
  Socket other = Socket::tcp();  // a connection the stop kills
  other.connect(server.address());
  other.sendall("x");
  grove::sleep(10ms);
  CHECK(roundtrip(server.address(), "!") == "bye");
  CHECK(other.recv(4).empty());
  CHECK(server.connection_count() == 0);
}

GROVE_TEST("handlers killed before they first run give their connection slots back") {
  auto pool = std::make_shared<grove::Pool>(10);
  grove::net::StreamServerOptions o;
  o.max_connections = 2;
  o.pool = pool;
  int started = 0;
  StreamServer server(Address::parse("127.0.0.1:0"), [&](Socket& s, const Address&) {
    ++started;
    s.sendall("served");
  }, o);
  server.start();
  // Connect without parking (a parked connect would let the handlers run): loopback
  // completes the handshake at once, into the listener's queue.
  std::vector<int> first;
  for (int i = 0; i < 2; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    const int r = ::connect(fd, server.address().data(), server.address().size());
    REQUIRE((r == 0 || errno == EINPROGRESS));
    first.push_back(fd);
  }
  // Yield (bounded) until the acceptor has spawned both handlers: this green thread
  // runs again right after the acceptor, before the new handlers.
  for (int i = 0; i < 10000 && server.connection_count() < 2; ++i) grove::yield();
  REQUIRE(server.connection_count() == 2);
  REQUIRE(started == 0);
  pool->kill();
  CHECK(started == 0);
  CHECK(server.connection_count() == 0);
  for (int fd : first) {  // their sockets were closed: end of file
    grove::net::wait_readable(fd, 2s);
    char c;
    CHECK(::read(fd, &c, 1) == 0);
    ::close(fd);
  }
  // Both slots are free again: two new connections are served.
  std::vector<grove::GreenThread<std::string>> cs;
  for (int i = 0; i < 2; ++i) cs.push_back(grove::spawn([&] { return roundtrip(server.address(), ""); }));
  for (auto& g : cs) CHECK(g.get() == "served");
  CHECK(started == 2);
  server.stop();
}

// ---- stop(timeout) with handlers whose clean-up parks ----

namespace {
// A handler's goodbye on the way out, as in a graceful close: send "bye", then wait
// at most 50 ms for the peer's answer (a reset peer is no error here).
struct TimedGoodbye {
  Socket& s;
  ~TimedGoodbye() {
    char b[8];
    try {
      grove::with_timeout(50ms, [&] {
        s.sendall("bye\n", 4);
        s.recv_into(b, sizeof b);
      });
    } catch (const std::exception&) {
    }
  }
};

// A clean-up that reads until the peer closes, with no timeout of its own: a kill
// cannot cut it short (it is not raised while the handler unwinds).
struct DrainUntilClosed {
  Socket& s;
  bool& done;
  ~DrainUntilClosed() {
    char b[64];
    try {
      while (s.recv_into(b, sizeof b) > 0) {
      }
    } catch (const std::exception&) {
    }
    done = true;
  }
};
}  // namespace

GROVE_TEST("stop(timeout) returns promptly when a killed handler says a timed goodbye in its destructor") {
  StreamServer server(Address::parse("127.0.0.1:0"), [](Socket& s, const Address& p) {
    TimedGoodbye bye{s};
    echo(s, p);
  });
  server.start();
  Socket c = Socket::tcp();
  c.connect(server.address(), 2s);
  grove::sleep(10ms);  // the handler parks in recv; the client stays idle
  REQUIRE(server.connection_count() == 1);
  // Before the fix only the client closing ended the goodbye, and stop() with it.
  auto closer = grove::spawn([&] {
    grove::sleep(1500ms);
    c.close();
  });
  const auto t0 = std::chrono::steady_clock::now();
  server.stop(100ms);
  const double took = elapsed_s(t0);
  CHECK(took >= 0.095);
  CHECK(took < 0.9);  // 100 ms, the kill, the goodbye's 50 ms; well below the 1 s grace
  CHECK(server.connection_count() == 0);
  closer.kill();
  REQUIRE(c.is_open());
  CHECK(c.recv(16) == "bye\n");  // the goodbye was sent, then the connection closed
  CHECK(c.recv(16).empty());
}

GROVE_TEST("stop(timeout) returns after the grace when a killed handler's clean-up parks with no timeout") {
  grove::test::CapturedLog log;
  grove::net::StreamServerOptions o;
  o.stop_grace = 200ms;
  bool cleanup_done = false;
  auto server = std::make_unique<StreamServer>(Address::parse("127.0.0.1:0"), [&](Socket& s, const Address& p) {
    DrainUntilClosed drain{s, cleanup_done};
    echo(s, p);
  }, o);
  server->start();
  Socket c = Socket::tcp();
  c.connect(server->address(), 2s);
  grove::sleep(10ms);  // the handler parks in recv; the client stays idle
  REQUIRE(server->connection_count() == 1);
  // Before the fix stop() waited for the killed handler however long it took: only
  // the client closing ended it.
  auto closer = grove::spawn([&] {
    grove::sleep(1500ms);
    c.close();
  });
  auto t0 = std::chrono::steady_clock::now();
  server->stop(100ms);
  double took = elapsed_s(t0);
  CHECK(took >= 0.29);  // the timeout, then the grace
  CHECK(took < 1.0);
  CHECK_FALSE(cleanup_done);
  CHECK(server->connection_count() == 1);  // left running, detached
  CHECK(log.count("1 handler(s) still running") == 1);
  // Destroying the server: its stop waits one grace more, then leaves the straggler,
  // which keeps the server's shared state alive.
  t0 = std::chrono::steady_clock::now();
  server.reset();
  CHECK(elapsed_s(t0) < 1.0);
  closer.kill();
  CHECK_FALSE(cleanup_done);
  if (c.is_open()) c.close();  // the straggler's recv sees end of file and it ends
  for (int i = 0; i < 400 && !cleanup_done; ++i) grove::sleep(5ms);
  CHECK(cleanup_done);
  grove::sleep(5ms);  // it gives its slot back to the state the server left behind
}

GROVE_TEST("DatagramServer::stop(timeout) returns after the grace when a killed handler's clean-up parks with no timeout") {
  grove::test::CapturedLog log;
  grove::net::DatagramServerOptions o;
  o.stop_grace = 200ms;
  grove::Event release;  // the only thing that ends the clean-up
  bool cleanup_done = false;
  auto server = std::make_unique<grove::net::DatagramServer>(
      Address::parse("127.0.0.1:0"),
      [&](Socket&, std::string_view, const Address&) {
        struct WaitForRelease {
          grove::Event& release;
          bool& done;
          ~WaitForRelease() {
            release.wait();
            done = true;
          }
        } w{release, cleanup_done};
        grove::sleep(1h);
      },
      o);
  server->start();
  Socket c = Socket::udp();
  c.sendto("x", 1, server->address());
  for (int i = 0; i < 200 && grove::hub_stats().live_green_threads < 2; ++i) grove::sleep(1ms);
  grove::sleep(10ms);  // the handler parks in sleep(1h)
  auto releaser = grove::spawn([&] {  // before the fix, the only way stop() returned
    grove::sleep(1500ms);
    release.set();
  });
  auto t0 = std::chrono::steady_clock::now();
  server->stop(100ms);
  const double took = elapsed_s(t0);
  CHECK(took >= 0.29);
  CHECK(took < 1.0);
  CHECK_FALSE(cleanup_done);
  CHECK(log.count("1 handler(s) still running") == 1);
  server.reset();  // the receiver holds the shared state (and the socket) until it ends
  releaser.kill();
  release.set();
  for (int i = 0; i < 400 && !cleanup_done; ++i) grove::sleep(5ms);
  CHECK(cleanup_done);
  grove::sleep(5ms);
}
