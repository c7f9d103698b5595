// readiness_test.cpp: sockets wait in their hub's edge-triggered epoll set
// (core/src/hub.cpp, "Socket readiness"). An edge comes only when something arrives,
// so these check the cases where a wrong rule would lose a wake-up and hang: each
// socket has a timeout, so a lost wake-up fails as timed_out instead of hanging.
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "net_test.hpp"

using namespace net_test;

GROVE_TEST("the end of stream that came with the data is seen by the read after it") {
  // Both arrive before the reader runs: one event says readable and hung up; the
  // reader's recv takes the data (a short read), and its next recv, which parks
  // first after a short read, must still learn of the end.
  for (int round = 0; round < 20; ++round) {
    auto [a, b] = Socket::pair();
    b.settimeout(2s);
    std::string got;
    std::error_code ec;
    auto r = grove::spawn([&] {
      char buf[64];
      for (;;) {
        const std::size_t n = b.recv_into(buf, sizeof buf, ec);
        if (ec || n == 0) return;
        got.append(buf, n);
      }
    });
    grove::yield();  // the reader parks first
    a.sendall("abc");
    a.close();
    r.join();
    CHECK(!ec);
    CHECK(got == "abc");
  }
}

GROVE_TEST("the end of stream that came while nobody waited is seen after the data") {
  // The fd is in the epoll set (its reader parked once), then data and the end arrive
  // while no one waits: the next wait takes that report, the read after it is short
  // (data only), and the read after that, which parks first, must learn of the end:
  // no new edge comes for an end already reported.
  for (int round = 0; round < 5; ++round) {
    auto [a, b] = Socket::pair();
    b.settimeout(2s);
    char buf[256];
    auto w = grove::spawn([&] {
      grove::sleep(1ms);
      a.sendall("first");
    });
    CHECK(b.recv_into(buf, sizeof buf) == 5);  // parked first: b is in the epoll set
    w.join();
    a.sendall(std::string(100, 'y'));
    a.shutdown(grove::net::ShutdownHow::kWrite);
    grove::sleep(5ms);  // the hub polls: data and end reported while nobody waits
    CHECK(b.recv_into(buf, sizeof buf) == 100);
    std::error_code ec;
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(b.recv_into(buf, sizeof buf, ec) == 0);
    CHECK(!ec);
    CHECK(std::chrono::steady_clock::now() - t0 < 1s);
  }
}

GROVE_TEST("data that comes while the woken reader has not run yet is read, not lost") {
  auto [a, b] = Socket::pair();
  b.settimeout(2s);
  std::string got;
  std::error_code ec;
  auto r = grove::spawn([&] {
    char buf[1];  // one byte at a time: every read is full, never short
    while (got.size() < 3) {
      const std::size_t n = b.recv_into(buf, sizeof buf, ec);
      if (ec || n == 0) return;
      got.append(buf, n);
      grove::sleep(1ms);  // polls happen while this reader is away
    }
  });
  grove::yield();
  a.sendall("x");
  grove::sleep(1ms);  // a poll
  a.sendall("y");
  grove::sleep(1ms);  // another, while the reader may be woken and not yet run, or away
  a.sendall("z");
  r.join();
  CHECK(!ec);
  CHECK(got == "xyz");
}

GROVE_TEST("a writer parked on a full socket wakes when the reader drains it") {
  auto [a, b] = Socket::pair();
  a.settimeout(5s);
  b.settimeout(5s);
  const std::string big(4 << 20, 'w');
  std::error_code wec;
  std::size_t sent = 0;
  auto w = grove::spawn([&] { sent = a.sendall(big.data(), big.size(), wec); });
  std::size_t total = 0;
  char buf[65536];
  std::error_code rec;
  while (total < big.size()) {
    const std::size_t n = b.recv_into(buf, sizeof buf, rec);
    if (rec || n == 0) break;
    total += n;
  }
  w.join();
  CHECK(!wec);
  CHECK(!rec);
  CHECK(sent == big.size());
  CHECK(total == big.size());
}

GROVE_TEST("many connections ping-pong without a lost wake-up") {
  constexpr int kPairs = 64, kRounds = 200;
  std::vector<std::pair<Socket, Socket>> pairs;
  for (int i = 0; i < kPairs; ++i) pairs.push_back(Socket::pair());
  int done = 0, failed = 0;
  std::vector<grove::GreenThread<void>> gs;
  for (auto& [a, b] : pairs) {
    a.settimeout(5s);
    b.settimeout(5s);
    gs.push_back(grove::spawn([&a = a, &failed] {  // echo side
      char c;
      std::error_code ec;
      while (a.recv_into(&c, 1, ec) == 1 && !ec) {
        a.sendall(&c, 1, ec);
        if (ec) break;
      }
      if (ec) ++failed;
    }));
    gs.push_back(grove::spawn([&b = b, &done, &failed] {
      std::error_code ec;
      for (int i = 0; i < kRounds; ++i) {
        char c = static_cast<char>('a' + i % 26), back = 0;
        b.sendall(&c, 1, ec);
        if (!ec) b.recv_into(&back, 1, ec);
        if (ec || back != c) {
          ++failed;
          return;
        }
      }
      b.shutdown(grove::net::ShutdownHow::kWrite);
      ++done;
    }));
  }
  for (auto& g : gs) g.join();
  CHECK(failed == 0);
  CHECK(done == kPairs);
}

GROVE_TEST("a socket whose fd lives on in a dup is out of the epoll set once closed") {
  // The dup keeps the file open, so the kernel would keep reporting it; the closed
  // socket's state must not be reached again (ASan would see a use after free).
  auto [a, b] = Socket::pair();
  b.settimeout(2s);
  std::error_code ec;
  auto r = grove::spawn([&] {
    char c;
    b.recv_into(&c, 1, ec);
  });
  grove::yield();  // registered and parked
  a.sendall("1");
  r.join();
  const int keep = ::dup(b.fd());
  REQUIRE(keep >= 0);
  b.close();
  a.sendall("more data for the dup");  // an edge for the still-open file
  grove::sleep(5ms);                    // polls
  auto [c, d] = Socket::pair();         // a new socket may reuse the state's memory
  d.settimeout(2s);
  c.sendall("ok");
  char buf[2];
  CHECK(d.recv_exactly(buf, 2) == 2);
  ::close(keep);
  CHECK(!ec);
}

GROVE_TEST("a writer whose peer stopped writing waits for room instead of spinning") {
  // The peer's shutdown of its writing is a hang-up for reading only: the peer may
  // still read, so a writer parked on its full buffer must wait for room.
  auto [a, b] = Socket::pair();
  auto r = grove::spawn([&a = a] {
    char c;
    CHECK(a.recv_into(&c, 1) == 0);
  });
  grove::yield();  // parked in a's read: a is in the epoll set, and writable
  b.shutdown(grove::net::ShutdownHow::kWrite);
  r.join();  // woken by the end of b's stream, in a report that also said writable
  a.settimeout(100ms);
  const std::string big(8 << 20, 'x');
  const auto cpu = [] {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  };
  const double cpu0 = cpu();
  std::error_code ec;
  const std::size_t n = a.sendall(big.data(), big.size(), ec);
  const double used = cpu() - cpu0;
  MESSAGE("cpu " << used << " s over the 100 ms timeout");
  CHECK(ec == std::errc::timed_out);  // b never reads: the buffer stays full
  CHECK(n < big.size());
  // Parked, the 100 ms cost next to no CPU; a wait that returns at once spins on send.
  CHECK(used < 0.03);
}
