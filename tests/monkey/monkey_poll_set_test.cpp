// monkey_poll_set_test.cpp: a stream fd's data calls wait in its owner hub's own
// edge-triggered epoll set (monkey/src/coop.cpp, wait_stream). The registration must
// follow the fd number's life exactly as the persistent watchers do: a number closed
// on another OS thread and reused, a second green thread on one direction, the owner's
// thread exiting, and a fork() child.
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include <grove/monkey.hpp>

#include "monkey_util.hpp"

namespace {

using namespace grove::test;

// Sockets only: std::thread stays an OS thread (a thread without a hub, or with one
// of its own).
const bool g_patched_at_start = [] {
  grove::monkey::patch_sockets();
  grove::current();
  return true;
}();

// Reads one byte on `fd` from a green thread (parking first), `b` written after 20 ms.
// Returns what read() returned.
ssize_t park_and_read(int fd, int b, char* got) {
  ssize_t r = -9;
  auto reader = grove::spawn([&] { r = ::read(fd, got, 1); });
  grove::sleep(20ms);
  REQUIRE(::write(b, "y", 1) == 1);
  reader.join();
  return r;
}

}  // namespace

namespace {

// Closed through close() on another OS thread, or behind monkey's back (a raw
// syscall, as fclose() on an fdopen()ed socket does).
void check_reused_number_wakes(bool raw_close) {
  Pair p;
  char c = 0;
  REQUIRE(park_and_read(p.a, p.b, &c) == 1);  // p.a is now in this hub's epoll set
  const int number = p.a;
  // Another OS thread (no hub) closes the number and gives it to a new socket: the
  // owner cannot be told at once, and its registration names the closed file.
  int other_end = -1;
  std::thread([&] {
    if (raw_close) ::syscall(SYS_close, number);
    else ::close(number);
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    if (sv[0] != number) {
      REQUIRE(::dup2(sv[0], number) == number);
      ::close(sv[0]);
    }
    other_end = sv[1];
  }).join();
  timeval tv{3, 0};  // a reader never woken fails here instead of hanging
  ::setsockopt(number, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const double t0 = now_s();
  CHECK(park_and_read(number, other_end, &c) == 1);
  CHECK(now_s() - t0 < 2);
  ::close(other_end);
}

}  // namespace

GROVE_TEST("a stream fd number closed on another OS thread and reused wakes its new reader") {
  check_reused_number_wakes(false);
}

GROVE_TEST("a stream fd number closed behind monkey's back on another OS thread and reused wakes its new reader") {
  check_reused_number_wakes(true);
}

GROVE_TEST("two green threads reading one stream fd each get a byte, and a close wakes both with EBADF") {
  Pair p;
  char c1 = 0, c2 = 0;
  ssize_t r1 = -9, r2 = -9;
  auto a = grove::spawn([&] { r1 = ::read(p.a, &c1, 1); });
  auto b = grove::spawn([&] { r2 = ::read(p.a, &c2, 1); });
  grove::sleep(20ms);
  REQUIRE(::write(p.b, "1", 1) == 1);
  grove::sleep(20ms);
  REQUIRE(::write(p.b, "2", 1) == 1);
  a.join();
  b.join();
  CHECK(r1 == 1);
  CHECK(r2 == 1);
  CHECK(c1 + c2 == '1' + '2');

  int e1 = 0, e2 = 0;
  r1 = r2 = -9;
  auto x = grove::spawn([&] {
    r1 = ::read(p.a, &c1, 1);
    e1 = errno;
  });
  auto y = grove::spawn([&] {
    r2 = ::read(p.a, &c2, 1);
    e2 = errno;
  });
  grove::sleep(20ms);
  ::close(p.a);
  p.a = -1;
  x.join();
  y.join();
  CHECK(r1 == -1);
  CHECK(e1 == EBADF);
  CHECK(r2 == -1);
  CHECK(e2 == EBADF);
}

GROVE_TEST("a stream fd whose owner's OS thread exited is waited on by another hub") {
  Pair p;
  // An OS thread with a hub of its own waits on p.a first (its hub owns the fd), then
  // exits: its registration goes with it.
  std::thread([&] {
    char c = 0;
    grove::spawn([&] { CHECK(park_and_read(p.a, p.b, &c) == 1); }).join();
  }).join();
  char c = 0;
  const double t0 = now_s();
  CHECK(park_and_read(p.a, p.b, &c) == 1);
  CHECK(now_s() - t0 < 2);  // SO_RCVTIMEO (3 s) would end a wait nothing wakes
}

GROVE_TEST("a fork() child's green thread waits on a stream fd its parent's hub registered") {
  Pair p;
  char c = 0;
  REQUIRE(park_and_read(p.a, p.b, &c) == 1);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::alarm(5);
    char got = 0;
    ssize_t r = -9;
    auto reader = grove::spawn([&] { r = ::read(p.a, &got, 1); });
    grove::sleep(20ms);
    const bool wrote = ::write(p.b, "z", 1) == 1;
    reader.join();
    ::_exit(wrote && r == 1 && got == 'z' ? 0 : 1);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  // The parent's registration still works.
  CHECK(park_and_read(p.a, p.b, &c) == 1);
}
