// monkey_close_range_test.cpp: fds closed by close_range() and closefrom(), which
// close without calling close(): monkey forgets them, so a new fd given the same
// number (here an eventfd, which monkey does not track) is left to libc untouched.
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

#include <grove/monkey.hpp>

#include "monkey_util.hpp"

namespace {

const bool g_patched_at_start = [] {
  grove::monkey::patch_all();
  grove::current();  // the hub's own fds exist before any case counts open fds
  return true;
}();

// A tracked socket (made by a hooked call). A stale entry for its number would make
// monkey take a later fd of that number for a tracked one and set O_NONBLOCK on it at
// its first blocking read from a green thread.
int tracked_socket() {
  const int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
  REQUIRE(s >= 0);
  return s;
}

// An eventfd given fd number `number` (which monkey does not see: a raw dup3) is read
// by a green thread as libc would: its flags stay as created (blocking), and the
// value is read.
void check_new_eventfd_untouched(int number) {
  int e = ::eventfd(0, 0);
  REQUIRE(e >= 0);
  if (e != number) {
    REQUIRE(::syscall(SYS_dup3, e, number, 0) == number);
    ::syscall(SYS_close, e);
    e = number;
  }
  const std::uint64_t one = 1;
  REQUIRE(::write(e, &one, sizeof one) == static_cast<ssize_t>(sizeof one));
  std::uint64_t v = 0;
  grove::spawn([&] { CHECK(::read(e, &v, sizeof v) == static_cast<ssize_t>(sizeof v)); }).join();
  CHECK(v == 1);
  CHECK((::syscall(SYS_fcntl, e, F_GETFL) & O_NONBLOCK) == 0);
  ::close(e);
}

}  // namespace

GROVE_TEST("close_range() forgets the tracked fds it closes") {
  const int s = tracked_socket();
  REQUIRE(::close_range(static_cast<unsigned>(s), static_cast<unsigned>(s), 0) == 0);
  check_new_eventfd_untouched(s);
}

GROVE_TEST("closefrom() forgets every tracked fd from its bound up") {
  const int s = tracked_socket();
  const int high = ::fcntl(s, F_DUPFD, 900);  // a tracked dup above every other open fd
  REQUIRE(high >= 900);
  ::close(s);
  ::closefrom(high);
  check_new_eventfd_untouched(high);
}

GROVE_TEST("close_range(CLOSE_RANGE_CLOEXEC) closes nothing, and its fds stay cooperative") {
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  REQUIRE(::close_range(static_cast<unsigned>(sv[0]), static_cast<unsigned>(sv[0]), CLOSE_RANGE_CLOEXEC) == 0);
  // A blocking read still parks only its green thread: another one runs meanwhile.
  bool other_ran = false;
  auto reader = grove::spawn([&] {
    char c = 0;
    CHECK(::read(sv[0], &c, 1) == 1);
    CHECK(c == 'y');
  });
  auto writer = grove::spawn([&] {
    other_ran = true;
    CHECK(::write(sv[1], "y", 1) == 1);
  });
  reader.join();
  writer.join();
  CHECK(other_ran);
  CHECK((::fcntl(sv[0], F_GETFD) & FD_CLOEXEC) != 0);
  ::close(sv[0]);
  ::close(sv[1]);
}
