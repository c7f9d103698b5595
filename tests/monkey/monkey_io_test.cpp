// monkey_io_test.cpp: every fd hook parks a green thread instead of the OS thread,
// and keeps the real call's semantics (linked-in form: patch_all() is called here).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <grove/monkey.hpp>

#include "monkey_util.hpp"

using namespace std::chrono_literals;
using grove::test::Listener;
using grove::test::now_s;
using grove::test::Pair;

namespace {

// Patch and create the hub before the first case, so every case starts patched with
// the hub's own fds already open.
const bool g_patched_at_start = [] {
  grove::monkey::patch_all();
  grove::current();
  return true;
}();

}  // namespace

namespace {

struct Patched {
  Patched() { grove::monkey::patch_all(); }
};

// Runs `call` in a green thread; meanwhile the root sleeps, marks that it ran, then
// runs `unblock`. Checks that `call` returned only after the root ran, i.e. that the
// call parked its green thread rather than the OS thread.
void check_parks(const std::function<void()>& call, const std::function<void()>& unblock) {
  Patched patched;
  bool other_ran = false;
  bool saw = false;
  auto g = grove::spawn([&] {
    call();
    saw = other_ran;
  });
  grove::sleep(30ms);
  other_ran = true;
  unblock();
  g.join();
  CHECK(saw);
}

// Fills the socket's send buffer so the next write would block.
void fill(int fd) {
  std::vector<char> junk(65536, 'j');
  while (::send(fd, junk.data(), junk.size(), MSG_DONTWAIT) > 0) {
  }
  REQUIRE(errno == EAGAIN);
}

// Reads everything currently queued on fd.
std::size_t drain(int fd) {
  std::vector<char> buf(65536);
  std::size_t n = 0;
  ssize_t r;
  while ((r = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT)) > 0) n += static_cast<std::size_t>(r);
  return n;
}

}  // namespace

// --------------------------------------------------------------- reads

GROVE_TEST("read() parks the green thread until data arrives") {
  Pair p;
  check_parks([&] {
    char c = 0;
    CHECK(::read(p.a, &c, 1) == 1);
    CHECK(c == 'x');
  }, [&] { REQUIRE(::write(p.b, "x", 1) == 1); });
}

GROVE_TEST("readv() parks the green thread until data arrives") {
  Pair p;
  check_parks([&] {
    char a[2], b[2];
    iovec iov[2] = {{a, 2}, {b, 2}};
    CHECK(::readv(p.a, iov, 2) == 4);
  }, [&] { REQUIRE(::write(p.b, "abcd", 4) == 4); });
}

GROVE_TEST("recv() parks the green thread until data arrives") {
  Pair p;
  check_parks([&] {
    char buf[8];
    CHECK(::recv(p.a, buf, sizeof buf, 0) == 3);
  }, [&] { REQUIRE(::send(p.b, "abc", 3, 0) == 3); });
}

GROVE_TEST("recvfrom() parks the green thread until a datagram arrives") {
  Pair p(SOCK_DGRAM);
  check_parks([&] {
    char buf[8];
    CHECK(::recvfrom(p.a, buf, sizeof buf, 0, nullptr, nullptr) == 2);
  }, [&] { REQUIRE(::send(p.b, "hi", 2, 0) == 2); });
}

GROVE_TEST("recvmsg() parks the green thread until data arrives") {
  Pair p;
  check_parks([&] {
    char buf[8];
    iovec iov{buf, sizeof buf};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    CHECK(::recvmsg(p.a, &m, 0) == 2);
  }, [&] { REQUIRE(::send(p.b, "hi", 2, 0) == 2); });
}

GROVE_TEST("recvmmsg() parks the green thread until a datagram arrives") {
  Pair p(SOCK_DGRAM);
  check_parks([&] {
    char buf[8];
    iovec iov{buf, sizeof buf};
    mmsghdr m{};
    m.msg_hdr.msg_iov = &iov;
    m.msg_hdr.msg_iovlen = 1;
    CHECK(::recvmmsg(p.a, &m, 1, 0, nullptr) == 1);
    CHECK(m.msg_len == 2);
  }, [&] { REQUIRE(::send(p.b, "hi", 2, 0) == 2); });
}

GROVE_TEST("read() on a pipe parks the green thread") {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  check_parks([&] {
    char c;
    CHECK(::read(fds[0], &c, 1) == 1);
  }, [&] { REQUIRE(::write(fds[1], "x", 1) == 1); });
  ::close(fds[0]);
  ::close(fds[1]);
}

GROVE_TEST("read() on a pipe2() pipe parks the green thread") {
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  check_parks([&] {
    char c;
    CHECK(::read(fds[0], &c, 1) == 1);
  }, [&] { REQUIRE(::write(fds[1], "x", 1) == 1); });
  ::close(fds[0]);
  ::close(fds[1]);
}

// --------------------------------------------------------------- writes

GROVE_TEST("write() parks while the socket buffer is full and writes every byte") {
  Pair p;
  fill(p.a);
  std::size_t got = 0;
  const std::string big(200000, 'w');
  check_parks([&] { CHECK(::write(p.a, big.data(), big.size()) == static_cast<ssize_t>(big.size())); }, [&] {
    // Read until the writer is done: the buffered junk plus every byte of `big`.
    while (got < big.size()) {
      got += drain(p.b);
      grove::sleep(1ms);
    }
  });
  drain(p.b);
}

// A socket with no SO_RCVTIMEO / SO_SNDTIMEO takes read()'s and write()'s fast paths
// (monkey/src/io_hooks.cpp); Pair's default guard timeouts would send every call the
// general way. Writes of every size from 1 byte to past the buffer (whole, partial,
// EAGAIN on a full buffer) and reads of other sizes (short reads, the drained hint,
// EAGAIN after a wake) must move every byte once, in order, and end at end of file.
GROVE_TEST("read() and write() between green threads on a socket move every byte in order") {
  Patched patched;
  {
    Pair p(SOCK_STREAM, 0);
    constexpr std::size_t kTotal = 3u << 20;
    const auto byte_at = [](std::size_t i) { return static_cast<char>((i * 131 + i / 4099) & 0xff); };
    std::size_t written = 0;
    std::size_t read_ok = 0;
    bool mismatch = false, short_write = false, read_error = false;
    auto writer = grove::spawn([&] {
      std::vector<char> chunk;
      std::size_t step = 1;
      while (written < kTotal) {
        const std::size_t n = std::min(kTotal - written, step);
        chunk.resize(n);
        for (std::size_t i = 0; i < n; ++i) chunk[i] = byte_at(written + i);
        const ssize_t r = ::write(p.b, chunk.data(), n);
        if (r != static_cast<ssize_t>(n)) {  // a blocking write writes it all
          short_write = true;
          break;
        }
        written += n;
        step = step * 7 % 400009 + 1;  // 1 byte to ~400 KB, the buffer's size and past it
      }
      ::shutdown(p.b, SHUT_WR);  // always: the reader ends at end of file
    });
    auto reader = grove::spawn([&] {
      std::vector<char> buf(300000);
      std::size_t want = 1;
      for (;;) {
        const ssize_t r = ::read(p.a, buf.data(), want);
        if (r <= 0) {
          read_error = r < 0;
          break;
        }
        for (ssize_t i = 0; i < r; ++i) {
          if (buf[static_cast<std::size_t>(i)] != byte_at(read_ok + static_cast<std::size_t>(i))) mismatch = true;
        }
        read_ok += static_cast<std::size_t>(r);
        want = want * 5 % buf.size() + 1;
      }
    });
    writer.join();
    reader.join();
    CHECK_FALSE(short_write);
    CHECK_FALSE(read_error);
    CHECK(written == kTotal);
    CHECK(read_ok == kTotal);
    CHECK_FALSE(mismatch);
  }
}

GROVE_TEST("writev() parks while the socket buffer is full") {
  Pair p;
  fill(p.a);
  check_parks([&] {
    char a[] = "ab";
    iovec iov{a, 2};
    CHECK(::writev(p.a, &iov, 1) == 2);
  }, [&] { drain(p.b); });
  drain(p.b);
}

GROVE_TEST("send() parks while the socket buffer is full") {
  Pair p;
  fill(p.a);
  check_parks([&] { CHECK(::send(p.a, "ab", 2, 0) == 2); }, [&] { drain(p.b); });
  drain(p.b);
}

GROVE_TEST("sendto() parks while the socket buffer is full") {
  Pair p;
  fill(p.a);
  check_parks([&] { CHECK(::sendto(p.a, "ab", 2, 0, nullptr, 0) == 2); }, [&] { drain(p.b); });
  drain(p.b);
}

GROVE_TEST("sendmsg() parks while the socket buffer is full") {
  Pair p;
  fill(p.a);
  check_parks([&] {
    char a[] = "ab";
    iovec iov{a, 2};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    CHECK(::sendmsg(p.a, &m, 0) == 2);
  }, [&] { drain(p.b); });
  drain(p.b);
}

GROVE_TEST("sendmmsg() parks while the socket buffer is full") {
  Pair p;
  fill(p.a);
  check_parks([&] {
    char a[] = "ab";
    iovec iov{a, 2};
    mmsghdr m{};
    m.msg_hdr.msg_iov = &iov;
    m.msg_hdr.msg_iovlen = 1;
    CHECK(::sendmmsg(p.a, &m, 1, 0) == 1);
  }, [&] { drain(p.b); });
  drain(p.b);
}

GROVE_TEST("sendfile() parks while the socket buffer is full") {
  Pair p;
  const int file = ::memfd_create("grove-monkey", 0);
  REQUIRE(file >= 0);
  REQUIRE(::write(file, "file", 4) == 4);
  fill(p.a);
  check_parks([&] {
    off_t off = 0;
    CHECK(::sendfile(p.a, file, &off, 4) == 4);
  }, [&] { drain(p.b); });
  drain(p.b);
  ::close(file);
}

// --------------------------------------------------------------- accept and connect

GROVE_TEST("accept() parks the green thread until a client connects") {
  Patched patched;
  Listener l;
  int client = -1;
  check_parks([&] {
    const int c = ::accept(l.fd, nullptr, nullptr);
    CHECK(c >= 0);
    ::close(c);
  }, [&] { client = l.connect_blocking(); });
  ::close(client);
}

GROVE_TEST("accept4() parks the green thread and honours SOCK_NONBLOCK on the new fd") {
  Patched patched;
  Listener l;
  int client = -1;
  check_parks([&] {
    const int c = ::accept4(l.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    REQUIRE(c >= 0);
    CHECK((::fcntl(c, F_GETFL) & O_NONBLOCK) != 0);
    char ch;
    CHECK(::read(c, &ch, 1) == -1);
    CHECK(errno == EAGAIN);
    ::close(c);
  }, [&] { client = l.connect_blocking(); });
  ::close(client);
}

GROVE_TEST("many green threads may accept() on one listener at once") {
  Patched patched;
  Listener l;
  constexpr int kN = 10;
  int accepted = 0;
  std::vector<grove::GreenThread<void>> gs;
  for (int i = 0; i < kN; ++i) {
    gs.push_back(grove::spawn([&] {
      const int c = ::accept(l.fd, nullptr, nullptr);
      if (c >= 0) {
        ++accepted;
        ::close(c);
      }
    }));
  }
  grove::sleep(20ms);
  std::vector<int> clients;
  for (int i = 0; i < kN; ++i) clients.push_back(l.connect_blocking());
  for (auto& g : gs) g.join();
  CHECK(accepted == kN);
  for (int c : clients) ::close(c);
}

GROVE_TEST("connect() parks the green thread while the listener's queue is full") {
  Patched patched;
  Listener l(0);
  // Fill the accept queue so the kernel drops further SYNs (the client retries ~1 s later).
  std::vector<int> queued;
  for (int i = 0; i < 8; ++i) {
    const int c = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ::connect(c, reinterpret_cast<const sockaddr*>(&l.addr), sizeof l.addr);
    queued.push_back(c);
  }
  grove::sleep(50ms);
  const int c = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{5, 0};
  ::setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  std::vector<int> accepted;
  double took = 0;
  check_parks([&] {
    const double t0 = now_s();
    CHECK(::connect(c, reinterpret_cast<const sockaddr*>(&l.addr), sizeof l.addr) == 0);
    took = now_s() - t0;
  }, [&] {
    // Make room: accept everything queued so far.
    for (int i = 0; i < 40; ++i) {
      pollfd pf{l.fd, POLLIN, 0};
      while (::poll(&pf, 1, 0) == 1) accepted.push_back(::accept(l.fd, nullptr, nullptr));
      grove::sleep(50ms);
      if (took > 0) break;
    }
  });
  MESSAGE("connect waited " << took << " s");
  ::close(c);
  for (int q : queued) ::close(q);
  for (int a : accepted) ::close(a);
}

GROVE_TEST("connect() from a green thread to a closed port fails with ECONNREFUSED") {
  Patched patched;
  sockaddr_in addr{};
  {
    Listener l;
    addr = l.addr;
  }
  int r = 0, e = 0;
  grove::spawn([&] {
    const int c = ::socket(AF_INET, SOCK_STREAM, 0);
    r = ::connect(c, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    e = errno;
    ::close(c);
  }).join();
  CHECK(r == -1);
  CHECK(e == ECONNREFUSED);
}
