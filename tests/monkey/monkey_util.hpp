// monkey_util.hpp: small helpers shared by the monkey tests.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <chrono>

#include "grove_test.hpp"

namespace grove::test {

using namespace std::chrono_literals;

inline double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// A connected AF_UNIX stream pair, closed at scope exit. Both ends get SO_RCVTIMEO and
// SO_SNDTIMEO of `guard` seconds (0: none) so a hook that wrongly blocks the OS thread
// fails the test after that time instead of hanging it.
struct Pair {
  int a = -1, b = -1;
  explicit Pair(int type = SOCK_STREAM, double guard = 3) {
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, type, 0, sv) == 0);
    a = sv[0];
    b = sv[1];
    if (guard > 0) {
      timeval tv{static_cast<time_t>(guard),
                 static_cast<suseconds_t>((guard - static_cast<double>(static_cast<time_t>(guard))) * 1e6)};
      ::setsockopt(a, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      ::setsockopt(b, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      ::setsockopt(a, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      ::setsockopt(b, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
  }
  ~Pair() {
    if (a >= 0) ::close(a);
    if (b >= 0) ::close(b);
  }
  Pair(const Pair&) = delete;
  Pair& operator=(const Pair&) = delete;
};

// A loopback TCP listener on port 0.
struct Listener {
  int fd = -1;
  sockaddr_in addr{};
  explicit Listener(int backlog = 128) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    REQUIRE(::listen(fd, backlog) == 0);
  }
  ~Listener() { ::close(fd); }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  int connect_blocking() const {
    const int c = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(c >= 0);
    REQUIRE(::connect(c, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    return c;
  }
};

}  // namespace grove::test
