// socket_lifetime_test.cpp: a Socket destroyed or moved while another green thread
// is parked in it, and Socket calls made from an OS thread other than the socket's.
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <grove/errors.hpp>

#include "net_test.hpp"

using namespace net_test;
using grove::net::Family;
using grove::net::SocketType;

namespace {

// What a green thread parked in a Socket call may get when the socket is closed or
// destroyed under it.
bool closed_error(const std::error_code& ec) {
  return ec.category() == std::system_category() && (ec.value() == ECANCELED || ec.value() == EBADF);
}

// Fills `s`'s send buffer without parking, so that the next send parks. Returns the
// bytes sent.
std::size_t fill_send_buffer(Socket& s) {
  s.settimeout(grove::Duration::zero());
  const std::string chunk(64 * 1024, 'f');
  std::size_t sent = 0;
  std::error_code ec;
  for (std::size_t size : {chunk.size(), std::size_t{1}}) {
    ec.clear();
    for (int i = 0; i < 100000 && !ec; ++i) sent += s.send(chunk.data(), size, ec);
    REQUIRE(ec == std::errc::resource_unavailable_try_again);
  }
  s.settimeout(std::nullopt);
  return sent;
}

// One parking call, made through the error_code overload (returns its ec) or the
// throwing one (returns the code of the std::system_error it throws; the message
// must name the operation). Returns {} if the call succeeded.
using Call = std::function<void(Socket&, std::error_code*)>;

std::error_code run_call(const Call& call, Socket& s, bool throwing, const char* op) {
  if (!throwing) {
    std::error_code ec;
    call(s, &ec);
    return ec;
  }
  try {
    call(s, nullptr);
  } catch (const std::system_error& e) {
    CHECK(std::string(e.what()).find(op) != std::string::npos);
    return e.code();
  }
  return {};
}

// Parks a green thread in `call` on the heap-held `*holder`, destroys the Socket,
// and returns what the parked green thread got.
std::error_code destroy_while_parked(std::unique_ptr<Socket> holder, const Call& call, bool throwing,
                                     const char* op) {
  Socket* sock = holder.get();
  bool returned = false;
  auto g = grove::spawn([&] {
    const std::error_code ec = run_call(call, *sock, throwing, op);
    returned = true;
    return ec;
  });
  grove::sleep(5ms);
  REQUIRE_FALSE(returned);  // it is parked
  holder.reset();           // e.g. a server erasing a client from its map
  return g.get();
}

}  // namespace

GROVE_TEST("destroying a Socket while a green thread is parked in a read wakes it with ECANCELED, either overload") {
  struct Read {
    const char* op;
    Call call;
  };
  const std::vector<Read> reads = {
      {"recv", [](Socket& s, std::error_code* ec) {
         char buf[8];
         ec ? s.recv_into(buf, sizeof buf, *ec) : s.recv_into(buf, sizeof buf);
       }},
      {"recv_exactly", [](Socket& s, std::error_code* ec) {
         char buf[8];
         ec ? s.recv_exactly(buf, sizeof buf, *ec) : s.recv_exactly(buf, sizeof buf);
       }},
      {"recvfrom", [](Socket& s, std::error_code* ec) {
         char buf[8];
         Address from;
         ec ? s.recvfrom(buf, sizeof buf, from, *ec) : s.recvfrom(buf, sizeof buf, from);
       }},
  };
  for (const Read& r : reads) {
    for (bool throwing : {false, true}) {
      INFO(std::string(r.op));
      CAPTURE(throwing);
      auto [a, b] = tcp_pair();
      const std::error_code ec = destroy_while_parked(std::make_unique<Socket>(std::move(a)), r.call, throwing, r.op);
      CHECK(closed_error(ec));
    }
  }
}

GROVE_TEST("destroying a Socket while a green thread is parked in a write wakes it with ECANCELED, either overload") {
  const std::string big(1 << 20, 'x');
  struct Write {
    const char* op;
    Call call;
  };
  const std::vector<Write> writes = {
      {"send", [&](Socket& s, std::error_code* ec) {
         ec ? s.send(big.data(), big.size(), *ec) : s.send(big.data(), big.size());
       }},
      {"sendall", [&](Socket& s, std::error_code* ec) {
         if (ec) {
           s.sendall(big.data(), big.size(), *ec);
         } else {
           s.sendall(big.data(), big.size());
         }
       }},
  };
  for (const Write& w : writes) {
    for (bool throwing : {false, true}) {
      INFO(std::string(w.op));
      CAPTURE(throwing);
      auto [a, b] = Socket::pair();
      auto holder = std::make_unique<Socket>(std::move(a));
      fill_send_buffer(*holder);
      const std::error_code ec = destroy_while_parked(std::move(holder), w.call, throwing, w.op);
      CHECK(closed_error(ec));
    }
  }
}

GROVE_TEST("destroying a listening Socket while a green thread is parked in accept wakes it with ECANCELED") {
  const Call accept = [](Socket& s, std::error_code* ec) { ec ? s.accept(*ec) : s.accept(); };
  for (bool throwing : {false, true}) {
    CAPTURE(throwing);
    const std::error_code ec = destroy_while_parked(std::make_unique<Socket>(listener()), accept, throwing, "accept");
    CHECK(closed_error(ec));
  }
}

GROVE_TEST("the throwing recv of a Socket destroyed while parked says it was closed while waiting") {
  auto [a, b] = tcp_pair();
  auto holder = std::make_unique<Socket>(std::move(a));
  Socket* sock = holder.get();
  auto g = grove::spawn([sock]() -> std::string {
    char buf[8];
    try {
      sock->recv_into(buf, sizeof buf);
    } catch (const std::system_error& e) {
      return e.what();
    }
    return "no error";
  });
  grove::sleep(5ms);
  holder.reset();
  const std::string what = g.get();
  MESSAGE(what);
  CHECK(what.find("grove::net::Socket::recv") != std::string::npos);
  CHECK(what.find("closed while waiting") != std::string::npos);
}

GROVE_TEST("a green thread parked in a Socket of a std::vector that grows keeps waiting in the moved socket") {
  // socket.hpp: moving a socket while a green thread is parked in it is fine. The
  // waiter stays parked in the socket's state, which the moved-to Socket owns: data
  // that comes afterwards reaches it, in both directions.
  auto [r, r_peer] = tcp_pair();
  auto [w, w_peer] = tcp_pair();
  const std::size_t filled = fill_send_buffer(w);
  std::vector<Socket> v;
  v.push_back(std::move(r));
  v.push_back(std::move(w));
  const std::string big(256 * 1024, 'y');
  auto reader = grove::spawn([&v] {
    char buf[4];
    const std::size_t n = v[0].recv_exactly(buf, sizeof buf);  // v[0] is freed while parked
    return std::string(buf, n);
  });
  auto writer = grove::spawn([&v, &big] { v[1].sendall(big.data(), big.size()); });
  grove::sleep(5ms);
  r_peer.sendall("ab");
  grove::sleep(5ms);  // the reader took "ab" and parks again for the rest
  const Socket* old_storage = v.data();
  for (int i = 0; i < 16; ++i) v.emplace_back();  // reallocates: v[0], v[1] move, the old storage is freed
  REQUIRE(v.data() != old_storage);
  r_peer.sendall("cd");
  CHECK(reader.get() == "abcd");
  // Drain the writer's peer: the parked sendall then finishes in the moved socket.
  std::string all(filled + big.size(), '\0');
  w_peer.settimeout(5s);
  CHECK(w_peer.recv_exactly(all.data(), all.size()) == all.size());
  CHECK(all.compare(filled, big.size(), big) == 0);
  writer.get();
  CHECK(v[1].is_open());
}

GROVE_TEST("a timeout or a close after a std::vector<Socket> grew is reported cleanly to the green thread parked in it") {
  // The error path must not read the moved-from Socket (freed with the old storage):
  // the timeout's message still names the peer, from the socket's state.
  for (bool close_it : {false, true}) {
    CAPTURE(close_it);
    auto [a, b] = tcp_pair();
    a.settimeout(close_it ? 5s : 20ms);
    std::vector<Socket> v;
    v.push_back(std::move(a));
    auto reader = grove::spawn([&v]() -> std::pair<std::error_code, std::string> {
      char buf[8];
      try {
        v[0].recv_into(buf, sizeof buf);
      } catch (const std::system_error& e) {
        return {e.code(), e.what()};
      }
      return {};
    });
    grove::sleep(2ms);
    const Socket* old_storage = v.data();
    for (int i = 0; i < 16; ++i) v.emplace_back();  // the old storage, with the Socket parked in, is freed
    REQUIRE(v.data() != old_storage);
    if (close_it) v[0].close();
    auto [ec, what] = reader.get();
    MESSAGE(what);
    if (close_it) {
      CHECK(ec.value() == ECANCELED);
    } else {
      CHECK(ec == std::errc::timed_out);
      CHECK(what.find("(peer 127.0.0.1:") != std::string::npos);
    }
  }
}

GROVE_TEST("destroying a Unix datagram Socket while its sendto waits for a full receiver wakes it with ECANCELED") {
  Socket rx(Family::kUnix, SocketType::kDatagram);
  const Address where = Address::parse("@grove-lifetime-" + std::to_string(::getpid()));
  rx.bind(where);
  auto tx = std::make_unique<Socket>(Family::kUnix, SocketType::kDatagram);
  tx->settimeout(grove::Duration::zero());
  std::error_code full;
  for (int i = 0; i < 100000 && !full; ++i) tx->sendto("x", 1, where, full);
  REQUIRE(full == std::errc::resource_unavailable_try_again);
  tx->settimeout(std::nullopt);
  // sendto parks, wakes (its own buffer has room), still gets EAGAIN and then backs
  // off by sleeping, 1 ms doubling to 50 ms: destroy the socket in the middle of that.
  const Call sendto = [&](Socket& s, std::error_code* ec) { s.sendto("y", 1, where, *ec); };
  const auto t0 = std::chrono::steady_clock::now();
  const std::error_code ec = destroy_while_parked(std::move(tx), sendto, false, "sendto");
  CHECK(closed_error(ec));
  CHECK(elapsed_s(t0) < 1.0);
}

namespace {

int this_tid() { return static_cast<int>(::syscall(SYS_gettid)); }

// Runs fn on a new OS thread and returns the UsageError message it threw ("" if it
// threw nothing, "other: ..." for another exception).
std::string usage_error_on_other_thread(const std::function<void()>& fn, int* tid = nullptr) {
  std::string out;
  std::thread t([&] {
    if (tid) *tid = this_tid();
    try {
      fn();
    } catch (const grove::UsageError& e) {
      out = e.what();
    } catch (const std::exception& e) {
      out = std::string("other: ") + e.what();
    }
  });
  t.join();
  return out;
}

}  // namespace

GROVE_TEST("every Socket call that may wait refuses another OS thread with UsageError, even when it would not wait") {
  // Everything below would succeed at once on the socket's own thread (data queued, a
  // connection pending, room to send): the check must not depend on having to wait.
  auto [a, b] = Socket::pair();
  b.sendall("queued");
  Socket l = listener();
  Socket pending = Socket::tcp();
  pending.connect(l.local_address(), 2s);
  const std::string path = "/tmp/grove-lifetime-" + std::to_string(::getpid()) + ".sock";
  ::unlink(path.c_str());
  Socket ul(Family::kUnix, SocketType::kStream);
  ul.bind(Address::unix_path(path));
  ul.listen(4);
  Socket uc(Family::kUnix, SocketType::kStream);
  auto [da, db] = Socket::pair(SocketType::kDatagram);
  db.send("d", 1);

  struct Misuse {
    const char* op;
    std::function<void()> call;
  };
  char buf[16];
  Address from;
  std::error_code ec;
  const std::vector<Misuse> calls = {
      {"grove::net::Socket::recv", [&] { a.recv_into(buf, sizeof buf, ec); }},
      {"grove::net::Socket::recv", [&] { a.recv_into(buf, sizeof buf); }},
      {"grove::net::Socket::recv", [&] { a.recv(4); }},
      {"grove::net::Socket::recv_exactly", [&] { a.recv_exactly(buf, 2, ec); }},
      {"grove::net::Socket::recvfrom", [&] { da.recvfrom(buf, sizeof buf, from, ec); }},
      {"grove::net::Socket::send", [&] { a.send("x", 1, ec); }},
      {"grove::net::Socket::send", [&] { a.send("x"); }},
      {"grove::net::Socket::sendall", [&] { a.sendall("x", 1, ec); }},
      {"grove::net::Socket::sendto", [&] { da.sendto("x", 1, Address::parse("127.0.0.1:9"), ec); }},
      {"grove::net::Socket::accept", [&] { l.accept(ec); }},
      {"grove::net::Socket::connect", [&] { uc.connect(Address::unix_path(path), std::nullopt, ec); }},
      {"grove::net::Socket::release", [&] { (void)a.release(); }},
  };
  const int my_tid = this_tid();
  for (const Misuse& m : calls) {
    INFO(std::string(m.op));
    int other_tid = 0;
    const std::string msg = usage_error_on_other_thread(m.call, &other_tid);
    INFO(msg);
    CHECK(msg.find(m.op) != std::string::npos);
    CHECK(msg.find("another OS thread") != std::string::npos);
    CHECK(msg.find("OS thread " + std::to_string(other_tid)) != std::string::npos);
    CHECK(msg.find("OS thread " + std::to_string(my_tid)) != std::string::npos);
  }
  // Nothing was consumed or changed: the sockets work on their own thread.
  CHECK(a.is_open());
  CHECK(a.recv(16) == "queued");
  CHECK(da.recv(16) == "d");
  CHECK(l.accept().socket.is_open());
  uc.connect(Address::unix_path(path), 2s);
  CHECK(ul.accept().socket.is_open());
  ::unlink(path.c_str());
}

GROVE_TEST("recv from another OS thread with nothing to read is a UsageError and the socket stays usable") {
  auto [a, b] = Socket::pair();
  std::error_code ec;
  for (bool throwing : {false, true}) {
    CAPTURE(throwing);
    const std::string msg = usage_error_on_other_thread([&] {
      char buf[16];
      throwing ? a.recv_into(buf, sizeof buf) : a.recv_into(buf, sizeof buf, ec);
    });
    CHECK(msg.find("grove::net::Socket::recv") != std::string::npos);
    CHECK(msg.find("another OS thread") != std::string::npos);
  }
  // A green thread of the socket's own hub parks in it and gets what comes next.
  auto r = grove::spawn([&] { return a.recv(16); });
  grove::sleep(2ms);
  b.sendall("hi");
  CHECK(r.get() == "hi");
}

GROVE_TEST("a connect parked in a Socket of a std::vector that grows completes in the moved socket") {
  // A listener whose accept queue is full drops the next SYN, so that connect parks
  // until the client retransmits it (about 1 s) after accept() made room.
  Socket l = listener(grove::net::Family::kIPv4, 0);
  Socket first = Socket::tcp();
  first.connect(l.local_address(), 2s);  // fills the queue
  std::vector<Socket> v;
  v.push_back(Socket::tcp());
  bool connected = false;
  auto c = grove::spawn([&] {
    std::error_code ec;
    v[0].connect(l.local_address(), 5s, ec);  // v[0] is freed while parked
    connected = !ec;
    return ec;
  });
  grove::sleep(20ms);
  if (c.ready()) {
    MESSAGE("connect did not park on a full accept queue here: " << c.get().message());
    return;
  }
  const Socket* old_storage = v.data();
  for (int i = 0; i < 16; ++i) v.emplace_back();
  REQUIRE(v.data() != old_storage);
  CHECK(l.accept().socket.is_open());  // makes room; the retransmitted SYN gets in
  CHECK_FALSE(c.get());
  CHECK(connected);
  CHECK(v[0].peer_address() == l.local_address());
  CHECK(l.accept().socket.is_open());
}
