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
#include <string>
#include <thread>
#include <vector>

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

GROVE_TEST("a Timeout that expires during a lookup stays pending: the next lookup fails with ETIMEDOUT, once") {
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
    // C code was told once: a lookup after that runs (it does not fail at once forever).
    CHECK(::gethostbyname("localhost") != nullptr);
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

// --------------------------------------------------------------- gethostbyname's storage

GROVE_TEST("gethostbyname() of a name longer than its first buffer answers as the real call does") {
  grove::monkey::patch_dns();
  // A name that starts with a digit is sized against the buffer before it is parsed,
  // so a long one makes gethostbyname_r say ERANGE first.
  const std::string name(6000, '1');
  int real_herr = -1;
  bool real_null = false;
  std::thread([&] {  // no hub: the real call
    hostent* he = ::gethostbyname(name.c_str());
    real_null = he == nullptr;
    real_herr = h_errno;
  }).join();
  int herr = -1;
  bool null = false;
  grove::spawn([&] {
    hostent* he = ::gethostbyname(name.c_str());
    null = he == nullptr;
    herr = h_errno;
  }).join();
  CHECK(null == real_null);
  CHECK(herr == real_herr);
}

GROVE_TEST("two green threads of one OS thread may be in gethostbyname() at once, one growing its buffer") {
  grove::monkey::patch_dns();
  // Storage per OS thread is shared by its green threads: a call that grows its
  // buffer must not free one another worker is still filling for the other call.
  // Under ASan such a race shows as a heap-use-after-free; here the answers must be
  // the real ones.
  const std::string long_name(6000, '1');
  int bad = 0;
  for (int i = 0; i < 200; ++i) {
    grove::spawn([&] {
      auto other = grove::spawn([&] {
        hostent* he = ::gethostbyname(long_name.c_str());
        if (he) ++bad;
      });
      hostent* he = ::gethostbyname("localhost");
      if (!he || std::strcmp(he->h_name, "localhost") != 0) ++bad;
      other.join();
    }).join();
  }
  CHECK(bad == 0);
}

GROVE_TEST("gethostbyname()'s answer is this OS thread's: lookups on another hub's thread leave it alone") {
  grove::monkey::patch_dns();
  hostent* mine = nullptr;
  grove::spawn([&] { mine = ::gethostbyname("localhost"); }).join();
  REQUIRE(mine != nullptr);
  REQUIRE(std::string(mine->h_name) == "localhost");
  // Another OS thread with its own hub: its lookups run on the same workers. Some
  // rounds of them, so that every worker has run one.
  for (int round = 0; round < 20 && std::string(mine->h_name) == "localhost"; ++round) {
    std::thread([&] {
      grove::spawn([&] {
        std::vector<grove::GreenThread<void>> gs;
        for (int i = 0; i < 40; ++i) gs.push_back(grove::spawn([] { ::gethostbyname("127.0.0.2"); }));
        for (auto& g : gs) g.join();
      }).join();
    }).join();
  }
  CHECK(std::string(mine->h_name) == "localhost");
}

GROVE_TEST("getaddrinfo from a green thread, an OS thread and after unpatch_all gives the same answer") {
  grove::monkey::patch_dns();
  auto count = [](const char* host) {
    addrinfo h{};
    h.ai_family = AF_INET;
    h.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    const int rc = ::getaddrinfo(host, "80", &h, &res);
    int n = 0;
    for (addrinfo* p = res; p; p = p->ai_next) ++n;
    if (rc == 0) ::freeaddrinfo(res);
    return rc == 0 ? n : -rc;
  };
  int os = -100, green = -100, unpatched = -100;
  std::thread([&] { os = count("localhost"); }).join();
  grove::spawn([&] { green = count("localhost"); }).join();
  grove::monkey::unpatch_all();
  grove::spawn([&] { unpatched = count("localhost"); }).join();
  grove::monkey::patch_dns();
  CHECK(os > 0);
  CHECK(green == os);
  CHECK(unpatched == os);
}
