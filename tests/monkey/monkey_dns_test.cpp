// monkey_dns_test.cpp: with dns patched, name lookups from a green thread run in
// grove's thread pool while only the caller parks.
//
// How a test sees that a call parked: a probe green thread spawned just before it is
// queued; it runs only if the caller parks, and then sees the caller's thread-pool job
// pending. A call that does not park (unpatched, numeric) leaves the probe unrun.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include <grove/monkey.hpp>

#include "grove_test.hpp"

namespace {

// The hub and its thread-pool inbox (an eventfd) exist before the first case, so its
// "same fds before and after" check counts neither.
const bool primed = (grove::current(), grove::run_in_thread([] {}), true);

struct Probe {
  int seen_pending = -1;  // -1: the probe did not run while the call was in progress
  grove::GreenThread<void> g;
  Probe() {
    g = grove::spawn([this] { seen_pending = static_cast<int>(grove::hub_stats().pending_jobs); });
  }
  ~Probe() { g.join(); }
};

addrinfo tcp_hints() {
  addrinfo h{};
  h.ai_family = AF_INET;
  h.ai_socktype = SOCK_STREAM;
  return h;
}

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return sa;
}

}  // namespace

GROVE_TEST("getaddrinfo of a name runs in the thread pool and gives the real answer") {
  grove::monkey::patch_dns();
  addrinfo hints = tcp_hints();
  addrinfo* res = nullptr;
  Probe probe;
  const int rc = ::getaddrinfo("localhost", "80", &hints, &res);
  REQUIRE(rc == 0);
  REQUIRE(res != nullptr);
  CHECK(reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_port == htons(80));
  ::freeaddrinfo(res);
  CHECK(probe.seen_pending == 1);
}

GROVE_TEST("getaddrinfo of an IP literal needs no lookup and does not park") {
  grove::monkey::patch_dns();
  addrinfo hints = tcp_hints();
  addrinfo* res = nullptr;
  Probe probe;
  REQUIRE(::getaddrinfo("127.0.0.1", "7", &hints, &res) == 0);
  ::freeaddrinfo(res);
  CHECK(probe.seen_pending == -1);
}

GROVE_TEST("getaddrinfo errors are the real ones") {
  grove::monkey::patch_dns();
  addrinfo hints = tcp_hints();
  addrinfo* res = nullptr;
  hints.ai_flags = AI_NUMERICSERV;
  CHECK(::getaddrinfo("localhost", "not-a-port", &hints, &res) == EAI_NONAME);
}

GROVE_TEST("gethostbyname and gethostbyname_r run in the thread pool") {
  grove::monkey::patch_dns();
  {
    Probe probe;
    hostent* he = ::gethostbyname("localhost");
    REQUIRE(he != nullptr);
    CHECK(he->h_addrtype == AF_INET);
    CHECK(probe.seen_pending == 1);
  }
  {
    Probe probe;
    hostent he{}, *result = nullptr;
    char buf[2048];
    int herr = 0;
    CHECK(::gethostbyname_r("localhost", &he, buf, sizeof buf, &result, &herr) == 0);
    CHECK(result == &he);
    CHECK(probe.seen_pending == 1);
  }
}

GROVE_TEST("gethostbyaddr and getnameinfo resolve 127.0.0.1 in the thread pool") {
  grove::monkey::patch_dns();
  {
    Probe probe;
    in_addr a{};
    a.s_addr = htonl(INADDR_LOOPBACK);
    hostent* he = ::gethostbyaddr(&a, sizeof a, AF_INET);
    REQUIRE(he != nullptr);
    CHECK(std::strlen(he->h_name) > 0);
    CHECK(probe.seen_pending == 1);
  }
  {
    Probe probe;
    sockaddr_in sa = loopback(80);
    char host[256];
    CHECK(::getnameinfo(reinterpret_cast<sockaddr*>(&sa), sizeof sa, host, sizeof host, nullptr, 0, NI_NAMEREQD) == 0);
    CHECK(std::strlen(host) > 0);
    CHECK(probe.seen_pending == 1);
  }
}

GROVE_TEST("a Timeout that expires during a lookup stays pending: the next lookup fails with ETIMEDOUT") {
  grove::monkey::patch_dns();
  addrinfo hints = tcp_hints();
  addrinfo* res = nullptr;
  {
    grove::Timeout t(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // blocks: the timer is due, not yet fired
    // This lookup parks; the hub fires the timer meanwhile. C code is never thrown
    // through: the lookup completes, and the TimeoutError stays pending.
    REQUIRE(::getaddrinfo("localhost", "80", &hints, &res) == 0);
    ::freeaddrinfo(res);
    CHECK(t.expired());
    // With the interrupt pending, the next lookup fails at once, as documented.
    errno = 0;
    CHECK(::getaddrinfo("localhost", "80", &hints, &res) == EAI_SYSTEM);
    CHECK(errno == ETIMEDOUT);
    CHECK(::gethostbyname("localhost") == nullptr);
    CHECK(errno == ETIMEDOUT);
    // The next grove call that may throw raises it.
    CHECK_THROWS_AS(grove::sleep(std::chrono::milliseconds(0)), grove::TimeoutError);
  }
}

GROVE_TEST("unpatched, getaddrinfo is the plain blocking call") {
  grove::monkey::unpatch_all();
  addrinfo hints = tcp_hints();
  addrinfo* res = nullptr;
  Probe probe;
  REQUIRE(::getaddrinfo("localhost", "80", &hints, &res) == 0);
  ::freeaddrinfo(res);
  CHECK(probe.seen_pending == -1);
}
