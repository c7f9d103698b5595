// multi_hub_server_test.cpp: StreamServer and DatagramServer with options.hubs > 1
// (every core): SO_REUSEPORT listeners, the Unix-path hand-off, stop with
// connections in flight, misuse. Every case also checks (GROVE_TEST) that the test's
// hub is clean and no fd is left; the server's hub threads are checked gone by
// counting the process's OS threads.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <grove/errors.hpp>
#include <grove/hub_ref.hpp>
#include <grove/net/datagram_server.hpp>
#include <grove/net/stream_server.hpp>

#include "net_test.hpp"

using namespace net_test;
using grove::net::DatagramServer;
using grove::net::DatagramServerOptions;
using grove::net::StreamServer;
using grove::net::StreamServerOptions;

namespace {

// OS threads of this process.
// The OS threads of this process. A thread that pthread_join has just waited for can
// still be listed for a moment (the kernel wakes the joiner when the thread clears its
// tid, before it leaves the thread group), so a count after a stop is checked with
// eventually().
std::size_t os_threads() {
  std::size_t n = 0;
  if (DIR* d = ::opendir("/proc/self/task")) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] != '.') ++n;
    }
    ::closedir(d);
  }
  return n;
}

// Which hub served each connection (or datagram), recorded by handlers on several OS
// threads at once.
struct HubTally {
  std::mutex mu;
  std::map<std::uint64_t, std::size_t> per_hub;  // hub serial -> connections
  void record() {
    const std::uint64_t hub = grove::this_hub().serial();
    std::lock_guard<std::mutex> lk(mu);
    ++per_hub[hub];
  }
  std::map<std::uint64_t, std::size_t> get() {
    std::lock_guard<std::mutex> lk(mu);
    return per_hub;
  }
};

// An echo handler that records its hub.
StreamServer::Handler echo_recording(HubTally& tally) {
  return [&tally](Socket& s, const Address&) {
    tally.record();
    char buf[4096];
    while (std::size_t n = s.recv_into(buf, sizeof buf)) s.sendall(buf, n);
  };
}

// Client `id`'s message `k`: distinct bytes of a length that varies (1 to 3,000).
std::string message(int id, int k) {
  const std::size_t len = 1 + static_cast<std::size_t>((id * 131 + k * 977) % 3000);
  std::string m(len, '\0');
  std::uint32_t x = static_cast<std::uint32_t>(id) * 2654435761u + static_cast<std::uint32_t>(k) * 40503u + 1;
  for (auto& c : m) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  return m;
}

// Connects, sends `messages` distinct messages one after the other and checks each
// echo byte by byte. Returns how many came back intact.
int echo_client(const Address& a, int id, int messages) {
  Socket c = Socket::tcp(a.family());
  c.settimeout(10s);
  c.connect(a);
  int ok = 0;
  for (int k = 0; k < messages; ++k) {
    const std::string m = message(id, k);
    c.sendall(m);
    std::string got(m.size(), '\0');
    if (c.recv_exactly(got.data(), got.size()) == m.size() && got == m) ++ok;
  }
  return ok;
}

// Runs `clients` echo clients at once (green threads of the test's hub), each sending
// `messages` messages; returns how many clients had every echo intact.
int run_clients(const Address& a, int clients, int messages) {
  std::vector<grove::GreenThread<int>> gs;
  gs.reserve(static_cast<std::size_t>(clients));
  for (int i = 0; i < clients; ++i) gs.push_back(grove::spawn([&a, i, messages] { return echo_client(a, i, messages); }));
  int all_ok = 0;
  for (auto& g : gs) all_ok += g.get() == messages ? 1 : 0;
  return all_ok;
}

std::string unix_path(const char* tag) {
  return "/tmp/grove-mh-" + std::to_string(::getpid()) + "-" + tag + ".sock";
}

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// Listening TCP sockets on `port` (/proc/net/tcp, state 0A), in this network namespace.
int tcp_listeners_on(std::uint16_t port) {
  std::ifstream f("/proc/net/tcp");
  std::string line;
  std::getline(f, line);  // header
  int n = 0;
  char want[8];
  std::snprintf(want, sizeof want, ":%04X", port);
  while (std::getline(f, line)) {
    std::istringstream in(line);
    std::string slot, local, remote, state;
    in >> slot >> local >> remote >> state;
    if (state == "0A" && local.size() >= 5 && local.compare(local.size() - 5, 5, want) == 0) ++n;
  }
  return n;
}

// Waits (bounded) until `pred` holds.
template <class Pred>
bool eventually(Pred pred, double seconds = 10) {
  const auto t0 = std::chrono::steady_clock::now();
  while (!pred()) {
    if (elapsed_s(t0) > seconds) return false;
    grove::sleep(2ms);
  }
  return true;
}

}  // namespace

GROVE_TEST("a StreamServer on 4 hubs serves 1,000 clients on several hubs, every byte checked, and leaves no "
           "thread or fd") {
  const std::size_t threads_before = os_threads();
  const std::set<int> fds_before = grove::test::open_fds();
  HubTally tally;
  StreamServerOptions o;
  o.hubs = 4;
  o.backlog = 1024;
  {
    StreamServer server(Address::parse("127.0.0.1:0"), echo_recording(tally), o);
    server.start();
    CHECK(os_threads() == threads_before + 3);
    CHECK(run_clients(server.address(), 1000, 3) == 1000);
    const auto per_hub = tally.get();
    std::size_t total = 0;
    for (const auto& [hub, n] : per_hub) total += n;
    CHECK(total == 1000);
    CHECK(per_hub.size() > 1);  // SO_REUSEPORT spread the connections
    CHECK(per_hub.count(grove::this_hub().serial()) == 1);  // the caller's hub serves too
    server.stop();
    CHECK(server.connection_count() == 0);
    CHECK(eventually([&] { return os_threads() == threads_before; }));  // see os_threads()
    CHECK(grove::test::open_fds() == fds_before);
  }
}

GROVE_TEST("a StreamServer on 3 hubs and a Unix path hands the connections to all 3 hubs in turn") {
  const std::string path = unix_path("rr");
  ::unlink(path.c_str());
  const std::size_t threads_before = os_threads();
  HubTally tally;
  StreamServerOptions o;
  o.hubs = 3;
  StreamServer server(Address::parse("unix:" + path), echo_recording(tally), o);
  server.start();
  CHECK(exists(path));
  CHECK(run_clients(server.address(), 60, 3) == 60);
  const auto per_hub = tally.get();
  REQUIRE(per_hub.size() == 3);
  for (const auto& [hub, n] : per_hub) CHECK(n == 20);  // round-robin: exactly one in three each
  server.stop();
  CHECK_FALSE(exists(path));  // the socket file the server made is removed
  CHECK(eventually([&] { return os_threads() == threads_before; }));  // see os_threads()
}

GROVE_TEST("a StreamServer on 2 hubs serving a listener passed in hands connections to both") {
  const std::size_t threads_before = os_threads();
  HubTally tally;
  StreamServerOptions o;
  o.hubs = 2;
  Socket l = listener(grove::net::Family::kIPv4, 128);  // 20 connects at once: no SYN retried
  const Address a = l.local_address();
  StreamServer server(std::move(l), echo_recording(tally), o);
  server.start();
  CHECK(server.address() == a);
  CHECK(run_clients(a, 20, 2) == 20);
  const auto per_hub = tally.get();
  REQUIRE(per_hub.size() == 2);
  for (const auto& [hub, n] : per_hub) CHECK(n == 10);
  server.stop();
  CHECK(eventually([&] { return os_threads() == threads_before; }));  // see os_threads()
}

GROVE_TEST("max_connections on several hubs caps each hub's share, ceil(max / hubs)") {
  const std::string path = unix_path("cap");
  ::unlink(path.c_str());
  StreamServerOptions o;
  o.hubs = 2;
  o.max_connections = 5;  // 3 per hub
  std::mutex mu;
  std::map<std::uint64_t, int> running, peak;
  StreamServer server(Address::parse("unix:" + path), [&](Socket& s, const Address&) {
    const std::uint64_t hub = grove::this_hub().serial();
    {
      std::lock_guard<std::mutex> lk(mu);
      peak[hub] = std::max(peak[hub], ++running[hub]);
    }
    grove::sleep(20ms);
    {
      std::lock_guard<std::mutex> lk(mu);
      --running[hub];
    }
    s.sendall("done");
  }, o);
  server.start();
  std::vector<grove::GreenThread<std::string>> cs;
  for (int i = 0; i < 16; ++i) {
    cs.push_back(grove::spawn([&] {
      Socket c = Socket::tcp(grove::net::Family::kUnix);
      c.settimeout(10s);
      c.connect(server.address());
      std::string got;
      char buf[16];
      while (std::size_t n = c.recv_into(buf, sizeof buf)) got.append(buf, n);
      return got;
    }));
  }
  for (auto& g : cs) CHECK(g.get() == "done");
  server.stop();
  std::lock_guard<std::mutex> lk(mu);
  REQUIRE(peak.size() == 2);
  for (const auto& [hub, p] : peak) CHECK(p == 3);
}

GROVE_TEST("stop on several hubs kills handlers parked in recv after the timeout and returns within timeout + "
           "grace") {
  const std::size_t threads_before = os_threads();
  HubTally tally;
  StreamServerOptions o;
  o.hubs = 3;
  o.stop_grace = 500ms;
  std::atomic<int> killed{0};
  StreamServer server(Address::parse("127.0.0.1:0"), [&](Socket& s, const Address&) {
    tally.record();
    try {
      char c;
      s.recv_into(&c, 1);  // the client never sends
    } catch (const grove::GreenletExit&) {
      ++killed;
      throw;
    }
  }, o);
  server.start();
  std::vector<Socket> clients;
  for (int i = 0; i < 30; ++i) {
    Socket c = Socket::tcp();
    c.connect(server.address(), 5s);
    clients.push_back(std::move(c));
  }
  REQUIRE(eventually([&] { return server.connection_count() == 30; }));
  CHECK(tally.get().size() > 1);
  const auto t0 = std::chrono::steady_clock::now();
  server.stop(100ms);
  const double took = elapsed_s(t0);
  CHECK(took >= 0.095);
  CHECK(took < 0.6 + 0.3);  // timeout + grace, and slack for a slow (sanitized) build
  CHECK(killed.load() == 30);
  CHECK(server.connection_count() == 0);
  CHECK(eventually([&] { return os_threads() == threads_before; }));  // see os_threads()
  for (auto& c : clients) {
    c.settimeout(2s);
    CHECK(c.recv(4).empty());  // the server closed each connection
  }
}

GROVE_TEST("serve_forever on several hubs returns after stop, and a server destroyed unstopped leaves nothing") {
  const std::size_t threads_before = os_threads();
  HubTally tally;
  StreamServerOptions o;
  o.hubs = 3;
  {
    StreamServer server(Address::parse("127.0.0.1:0"), echo_recording(tally), o);
    auto stopper = grove::spawn([&] {
      REQUIRE(eventually([&] { return server.started(); }));
      CHECK(run_clients(server.address(), 12, 2) == 12);
      server.stop();
    });
    server.serve_forever();
    CHECK(eventually([&] { return os_threads() == threads_before; }));  // see os_threads()  // serve_forever returned after the hubs were joined
    stopper.get();
  }
  {
    // Destroyed with connections open and its handlers parked: the destructor's
    // stop(0) kills them on every hub and joins the hub threads.
    std::vector<Socket> clients;  // outlive the server: its handlers stay parked in recv
    StreamServer server(Address::parse("127.0.0.1:0"), echo_recording(tally), o);
    server.start();
    for (int i = 0; i < 9; ++i) {
      Socket c = Socket::tcp();
      c.connect(server.address(), 5s);
      clients.push_back(std::move(c));
    }
    REQUIRE(eventually([&] { return server.connection_count() == 9; }));
  }
  CHECK(eventually([&] { return os_threads() == threads_before; }));  // see os_threads()
}

GROVE_TEST("a StreamServer on 2 hubs at port 0 binds both listeners to the same real port") {
  HubTally tally;
  StreamServerOptions o;
  o.hubs = 2;
  StreamServer server(Address::parse("127.0.0.1:0"), echo_recording(tally), o);
  server.start();
  const std::uint16_t port = server.address().port();
  REQUIRE(port != 0);
  CHECK(tcp_listeners_on(port) == 2);
  CHECK(run_clients(server.address(), 40, 1) == 40);
  CHECK(tally.get().size() == 2);  // both listeners took connections
  server.stop();
  CHECK(tcp_listeners_on(port) == 0);
}

GROVE_TEST("a DatagramServer on 2 hubs answers datagrams from many client sockets on both hubs") {
  const std::size_t threads_before = os_threads();
  HubTally tally;
  DatagramServerOptions o;
  o.hubs = 2;
  DatagramServer server(Address::parse("127.0.0.1:0"), [&](Socket& s, std::string_view data, const Address& from) {
    tally.record();
    s.sendto(data.data(), data.size(), from);
  }, o);
  server.start();
  CHECK(os_threads() == threads_before + 1);
  std::vector<grove::GreenThread<int>> cs;
  for (int i = 0; i < 40; ++i) {
    cs.push_back(grove::spawn([&, i] {
      Socket c = Socket::udp();
      c.settimeout(5s);
      c.bind(Address::parse("127.0.0.1:0"));
      int ok = 0;
      for (int k = 0; k < 3; ++k) {
        const std::string m = message(i, k).substr(0, 512);
        c.sendto(m.data(), m.size(), server.address());
        char buf[1024];
        Address from;
        const std::size_t n = c.recvfrom(buf, sizeof buf, from);
        if (std::string(buf, n) == m && from == server.address()) ++ok;
      }
      return ok;
    }));
  }
  for (auto& g : cs) CHECK(g.get() == 3);
  const auto per_hub = tally.get();
  std::size_t total = 0;
  for (const auto& [hub, n] : per_hub) total += n;
  CHECK(total == 120);
  CHECK(per_hub.size() == 2);
  server.stop();
  CHECK(eventually([&] { return os_threads() == threads_before; }));  // see os_threads()
}

GROVE_TEST("hubs 0, a pool with several hubs and a Unix datagram path with several hubs are usage errors") {
  StreamServerOptions zero;
  zero.hubs = 0;
  CHECK_THROWS_AS(StreamServer(Address::parse("127.0.0.1:0"), [](Socket&, const Address&) {}, zero),
                  grove::UsageError);
  DatagramServerOptions dzero;
  dzero.hubs = 0;
  CHECK_THROWS_AS(DatagramServer(Address::parse("127.0.0.1:0"), [](Socket&, std::string_view, const Address&) {}, dzero),
                  grove::UsageError);
  StreamServerOptions pooled;
  pooled.hubs = 2;
  pooled.pool = std::make_shared<grove::Pool>(4);
  CHECK_THROWS_WITH_AS(StreamServer(Address::parse("127.0.0.1:0"), [](Socket&, const Address&) {}, pooled),
                       doctest::Contains("a Pool belongs to one hub"), grove::UsageError);
  DatagramServerOptions dpooled;
  dpooled.hubs = 2;
  dpooled.pool = std::make_shared<grove::Pool>(4);
  CHECK_THROWS_AS(DatagramServer(Address::parse("127.0.0.1:0"), [](Socket&, std::string_view, const Address&) {}, dpooled),
                  grove::UsageError);
  DatagramServerOptions dunix;
  dunix.hubs = 2;
  CHECK_THROWS_WITH_AS(DatagramServer(Address::parse("unix:" + unix_path("dgram")),
                                      [](Socket&, std::string_view, const Address&) {}, dunix),
                       doctest::Contains("cannot be split between hubs"), grove::UsageError);
}

GROVE_TEST("a bind failure at start on several hubs throws and leaves no thread or fd") {
  const std::size_t threads_before = os_threads();
  Socket taken = listener();  // no SO_REUSEPORT: nobody else can bind its port
  const std::set<int> fds_before = grove::test::open_fds();
  StreamServerOptions o;
  o.hubs = 3;
  StreamServer server(taken.local_address(), [](Socket&, const Address&) {}, o);
  CHECK_THROWS_AS(server.start(), std::system_error);
  CHECK_FALSE(server.started());
  CHECK(eventually([&] { return os_threads() == threads_before; }));  // see os_threads()
  CHECK(grove::test::open_fds() == fds_before);

  Socket udp_taken = Socket::udp();
  udp_taken.bind(Address::parse("127.0.0.1:0"));
  DatagramServerOptions d;
  d.hubs = 2;
  DatagramServer dserver(udp_taken.local_address(), [](Socket&, std::string_view, const Address&) {}, d);
  CHECK_THROWS_AS(dserver.start(), std::system_error);
  CHECK(eventually([&] { return os_threads() == threads_before; }));  // see os_threads()
}

GROVE_TEST("start and stop of a StreamServer on several hubs from another OS thread are usage errors") {
  StreamServerOptions o;
  o.hubs = 2;
  StreamServer server(Address::parse("127.0.0.1:0"), [](Socket&, const Address&) {}, o);
  server.start();
  bool refused = false;
  std::thread t([&] {
    try {
      server.stop();
    } catch (const grove::UsageError&) {
      refused = true;
    }
  });
  t.join();
  CHECK(refused);
  server.stop();
}
