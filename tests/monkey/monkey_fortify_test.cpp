// monkey_fortify_test.cpp: built with -D_FORTIFY_SOURCE=2, so the calls below go to
// glibc's checked entry points (__read_chk, __recv_chk, __recvfrom_chk, __poll_chk,
// __ppoll_chk; the meson test monkey_fortify_symbols checks the binary imports them),
// and monkey's versions of those park the green thread.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>

#include <grove/monkey.hpp>

#include "monkey_util.hpp"

using namespace std::chrono_literals;
using grove::test::Pair;

namespace {

const bool g_started = [] {
  grove::monkey::patch_all();
  grove::current();
  return true;
}();

volatile std::size_t g_len = 1;   // unknown to the compiler: forces the _chk forms
volatile nfds_t g_nfds = 1;

void check_parks(const std::function<void()>& call, int writer) {
  bool other_ran = false, saw = false;
  auto g = grove::spawn([&] {
    call();
    saw = other_ran;
  });
  grove::sleep(30ms);
  other_ran = true;
  REQUIRE(::write(writer, "x", 1) == 1);
  g.join();
  CHECK(saw);
}

}  // namespace

GROVE_TEST("__read_chk parks the green thread") {
  Pair p;
  check_parks([&] {
    char buf[16];
    CHECK(::read(p.a, buf, g_len) == 1);
  }, p.b);
}

GROVE_TEST("__recv_chk parks the green thread") {
  Pair p;
  check_parks([&] {
    char buf[16];
    CHECK(::recv(p.a, buf, g_len, 0) == 1);
  }, p.b);
}

GROVE_TEST("__recvfrom_chk parks the green thread") {
  Pair p;
  check_parks([&] {
    char buf[16];
    CHECK(::recvfrom(p.a, buf, g_len, 0, nullptr, nullptr) == 1);
  }, p.b);
}

GROVE_TEST("__poll_chk parks the green thread") {
  Pair p;
  check_parks([&] {
    pollfd f[2] = {{p.a, POLLIN, 0}, {-1, 0, 0}};
    CHECK(::poll(f, g_nfds, 3000) == 1);
  }, p.b);
}

GROVE_TEST("__ppoll_chk parks the green thread") {
  Pair p;
  check_parks([&] {
    pollfd f[2] = {{p.a, POLLIN, 0}, {-1, 0, 0}};
    timespec ts{3, 0};
    CHECK(::ppoll(f, g_nfds, &ts, nullptr) == 1);
  }, p.b);
}
