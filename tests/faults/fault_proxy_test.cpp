// fault_proxy_test.cpp: each fault of the test proxy does what it says, seen from
// the client and from the server behind it (both in this process, on loopback).
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <chrono>
#include <functional>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <grove/net/socket.hpp>
#include <grove/net/stream_server.hpp>

#include "fault_proxy.hpp"
#include "grove_test.hpp"

using namespace std::chrono_literals;
using faults::parse_fault_spec;
using grove::net::Address;
using grove::net::ShutdownHow;
using grove::net::Socket;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// A server (its handler given by the case) behind a proxy with the given paths.
struct Rig {
  std::unique_ptr<grove::net::StreamServer> server;
  std::unique_ptr<faults::FaultProxy> proxy;
  std::vector<faults::ProxyEvent> events;

  Rig(grove::net::StreamServer::Handler handler, const std::vector<std::string>& specs) {
    server = std::make_unique<grove::net::StreamServer>(Address::ip("127.0.0.1", 0), std::move(handler));
    server->start();
    std::vector<faults::FaultSpec> parsed;
    for (const auto& s : specs) parsed.push_back(parse_fault_spec(s));
    proxy = std::make_unique<faults::FaultProxy>(server->address(), parsed,
                                                 [this](const faults::ProxyEvent& e) {
                                                   if (std::getenv("FAULT_PROXY_EVENTS"))
                                                     std::fprintf(stderr, "%s\n", faults::format_event(e).c_str());
                                                   events.push_back(e);
                                                 });
    proxy->start();
  }
  ~Rig() { stop(); }

  Socket connect(std::size_t path = 0) {
    Socket s = Socket::tcp();
    s.settimeout(5s);
    s.connect(proxy->address(path));
    return s;
  }
  // The time of the first event that is `what`, or -1.
  double when(const std::string& what) const {
    for (const auto& e : events)
      if (e.what == what) return e.t_ms;
    return -1;
  }
  bool saw(const std::string& prefix) const {
    return std::any_of(events.begin(), events.end(), [&](const auto& e) { return e.what.rfind(prefix, 0) == 0; });
  }
  // Parks until the proxy has no connection left (at most 2 s).
  bool drained() {
    for (int i = 0; i < 200 && proxy->connection_count() > 0; ++i) grove::sleep(10ms);
    return proxy->connection_count() == 0;
  }
  void stop() {
    if (proxy) proxy->stop(1s);
    if (server) server->stop(1s);
    proxy.reset();
    server.reset();
  }
};

void echo(Socket& s, const Address&) {
  char buf[4096];
  std::error_code ec;
  for (;;) {
    const std::size_t n = s.recv_into(buf, sizeof buf, ec);
    if (ec || n == 0) return;
    s.sendall(buf, n, ec);
    if (ec) return;
  }
}

std::string read_to_eof(Socket& s, std::error_code& ec) {
  std::string got;
  std::string buf(65536, '\0');  // not on a green thread's 64 KiB stack
  for (;;) {
    const std::size_t n = s.recv_into(buf.data(), buf.size(), ec);
    if (ec || n == 0) return got;
    got.append(buf.data(), n);
  }
}

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

}  // namespace

TEST_CASE("a fault spec reads every key, with and without a direction") {
  const auto s = parse_fault_spec(
      "latency=20,jitter=5,down.rate=1000,up.split=1,stall=10:200,up.reset=7,down.halfclose=3,up.noread=9,"
      "rcvbuf=4096,seed=42");
  CHECK(s.up.latency_ms == 20);
  CHECK(s.down.latency_ms == 20);
  CHECK(s.down.jitter_ms == 5);
  CHECK(s.down.rate == 1000);
  CHECK(s.up.rate == 0);
  CHECK(s.up.split == 1);
  CHECK(s.down.split == 0);
  CHECK(s.up.stall_after == 10u);
  CHECK(s.down.stall_ms == 200);
  CHECK(s.up.reset_after == 7u);
  CHECK_FALSE(s.down.reset_after);
  CHECK(s.down.halfclose_after == 3u);
  CHECK(s.up.noread_after == 9u);
  CHECK(s.rcvbuf == 4096);
  CHECK(s.seed == 42);
  CHECK_FALSE(s.blackhole);
  CHECK(parse_fault_spec("blackhole").blackhole);
  CHECK(parse_fault_spec("clean").up == faults::DirectionFaults{});
  CHECK(parse_fault_spec("").down == faults::DirectionFaults{});
}

TEST_CASE("a bad fault spec is refused with a message naming what is wrong") {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"latency", "latency needs a value"},
      {"latency=", "latency needs a whole number"},
      {"latency=-1", "latency needs a whole number"},
      {"latency=10ms", "latency needs a whole number"},
      {"latency=999999999999", "too large"},
      {"lag=10", "unknown key 'lag'"},
      {"sideways.latency=10", "unknown key 'sideways.latency'"},
      {"up.seed=1", "seed takes no up./down. prefix"},
      {"blackhole,latency=5", "blackhole relays nothing"},
      {"blackhole=1", "blackhole takes no value"},
      {"split=0", "split must be at least 1"},
      {"rate=0", "rate must be at least 1"},
      {"stall=100", "stall needs BYTES:MS"},
      {"stall=a:5", "stall needs a whole number"},
      {"latency=5,,jitter=1", "empty item"},
      {"latency=5,", "empty item"},
      {"rcvbuf=0", "rcvbuf must be at least 1"},
  };
  for (const auto& [spec, message] : bad) {
    CAPTURE(spec);
    try {
      parse_fault_spec(spec);
      FAIL("accepted");
    } catch (const std::invalid_argument& e) {
      const std::string what = e.what();
      CHECK(what.find(message) != std::string::npos);
      CHECK(what.find("'" + spec + "'") != std::string::npos);
    }
  }
}

TEST_CASE("jitter is deterministic for a seed and stays within latency +- jitter") {
  const auto f = parse_fault_spec("latency=20,jitter=5").up;
  faults::DelaySource a(f, 7, 0, 1, 0), b(f, 7, 0, 1, 0), other_conn(f, 7, 0, 2, 0), other_seed(f, 8, 0, 1, 0);
  std::vector<std::int64_t> da, db, dc, dd;
  for (int i = 0; i < 1000; ++i) {
    da.push_back(a.next_ms());
    db.push_back(b.next_ms());
    dc.push_back(other_conn.next_ms());
    dd.push_back(other_seed.next_ms());
  }
  CHECK(da == db);
  CHECK(da != dc);
  CHECK(da != dd);
  CHECK(*std::min_element(da.begin(), da.end()) == 15);
  CHECK(*std::max_element(da.begin(), da.end()) == 25);
  const double mean = std::accumulate(da.begin(), da.end(), 0.0) / static_cast<double>(da.size());
  CHECK(mean == doctest::Approx(20).epsilon(0.03));
  faults::DelaySource wide(parse_fault_spec("latency=2,jitter=10").up, 1, 0, 1, 0);
  for (int i = 0; i < 100; ++i) CHECK(wide.next_ms() >= 0);
}

GROVE_TEST("a clean path relays every byte both ways and passes a half-close on") {
  std::string server_got;
  bool server_saw_eof = false;
  Rig rig(
      [&](Socket& s, const Address&) {
        std::error_code ec;
        server_got = read_to_eof(s, ec);
        server_saw_eof = !ec;
        s.sendall(std::string(server_got.rbegin(), server_got.rend()));  // after the client's EOF
      },
      {"clean"});
  const std::string data = random_bytes(1 << 20, 1);
  Socket c = rig.connect();
  auto sender = grove::spawn([&] {
    c.sendall(data);
    c.shutdown(ShutdownHow::kWrite);
  });
  std::error_code ec;
  const std::string back = read_to_eof(c, ec);
  sender.join();
  CHECK_FALSE(ec);
  CHECK(server_saw_eof);
  CHECK(server_got == data);
  CHECK(back == std::string(data.rbegin(), data.rend()));
  c.close();
  CHECK(rig.drained());
  CHECK(rig.saw("eof-sent up"));
  CHECK(rig.saw("eof-sent down"));
  CHECK(rig.saw("closed up=1048576 down=1048576"));
  CHECK_FALSE(rig.saw("closed up=1048576 down=1048576 reset"));
}

GROVE_TEST("latency delays each direction by its setting") {
  Rig rig(echo, {"latency=40", "up.latency=40"});
  for (std::size_t path : {0, 1}) {
    Socket c = rig.connect(path);
    char buf[8];
    std::vector<double> rtts;
    for (int i = 0; i < 3; ++i) {
      const auto t0 = Clock::now();
      c.sendall("ping");
      CHECK(c.recv_exactly(buf, 4) == 4);
      rtts.push_back(ms_since(t0));
    }
    const double want = path == 0 ? 80 : 40;
    for (double rtt : rtts) {
      CAPTURE(path);
      CHECK(rtt >= want - 1);
      CHECK(rtt <= want * 1.25 + 10);  // a loaded machine (ASan, 2 cores) wakes late
    }
  }
  CHECK(rig.drained());
}

GROVE_TEST("jitter varies the delay but keeps the bytes in order") {
  Rig rig(echo, {"up.latency=30,up.jitter=20,seed=3"});
  Socket c = rig.connect();
  std::vector<std::string> messages;
  std::string sent;
  for (int i = 0; i < 40; ++i) {
    messages.push_back("message " + std::to_string(i) + ";");
    sent += messages.back();
  }
  auto sender = grove::spawn([&] {
    for (const auto& m : messages) {
      c.sendall(m);
      grove::sleep(2ms);
    }
  });
  std::string got;
  std::vector<double> arrivals;
  const auto t0 = Clock::now();
  char buf[4096];
  while (got.size() < sent.size()) {
    const std::size_t n = c.recv_into(buf, sizeof buf);
    REQUIRE(n > 0);
    got.append(buf, n);
    arrivals.push_back(ms_since(t0));
  }
  sender.join();
  CHECK(got == sent);
  // 40 messages over ~80 ms, each delayed 10 to 50 ms: the first one comes after at
  // least 10 ms and the last within 2 ms * 40 + 50 ms (+ slack for a loaded machine).
  CHECK(arrivals.front() >= 9);
  CHECK(arrivals.back() <= 80 + 50 + 100);
  CHECK(rig.proxy->connection_count() == 1);  // still open
  c.close();
  CHECK(rig.drained());
}

GROVE_TEST("a rate limit holds the throughput to its setting within 10 %") {
  const std::string data = random_bytes(300000, 2);
  Rig rig(
      [&](Socket& s, const Address&) {
        s.sendall(data);
        s.shutdown(ShutdownHow::kWrite);
        char b[16];
        std::error_code ec;
        s.recv_into(b, sizeof b, ec);
      },
      {"down.rate=1000000"});
  Socket c = rig.connect();
  char buf[65536];
  std::string got;
  Clock::time_point first{};
  while (std::size_t n = c.recv_into(buf, sizeof buf)) {
    if (got.empty()) first = Clock::now();
    got.append(buf, n);
  }
  const double elapsed_s = ms_since(first) / 1000;
  CHECK(got == data);
  // The first piece (10 KB, a hundredth of the rate) goes at once, the others every
  // 10 ms: 290 ms for the 29 that follow.
  const double rate = static_cast<double>(data.size() - 10000) / elapsed_s;
  CAPTURE(elapsed_s);
  CHECK(rate == doctest::Approx(1000000).epsilon(0.1));
  c.close();
  CHECK(rig.drained());
}

GROVE_TEST("split=1 hands the server one byte per read") {
  std::vector<std::size_t> reads;
  Rig rig(
      [&](Socket& s, const Address&) {
        char buf[4096];
        std::error_code ec;
        while (std::size_t n = s.recv_into(buf, sizeof buf, ec)) reads.push_back(n);
      },
      {"up.split=1,up.rate=2000", "up.split=1"});
  const std::string msg = random_bytes(100, 3);
  for (std::size_t path : {0, 1}) {
    reads.clear();
    Socket c = rig.connect(path);
    c.sendall(msg);  // one send of 100 bytes
    c.shutdown(ShutdownHow::kWrite);
    char b[1];
    CHECK(c.recv_into(b, 1) == 0);  // the server closed after our EOF
    CAPTURE(path);
    CHECK(std::accumulate(reads.begin(), reads.end(), std::size_t{0}) == msg.size());
    CHECK(reads.size() >= 95);  // a loaded machine may let two pieces meet now and then
    c.close();
  }
  CHECK(rig.drained());
}

GROVE_TEST("a stall holds the bytes after its threshold back for its time") {
  std::vector<std::pair<double, std::string>> reads;
  Rig rig(
      [&](Socket& s, const Address&) {
        char buf[4096];
        const auto t0 = Clock::now();
        std::error_code ec;
        while (std::size_t n = s.recv_into(buf, sizeof buf, ec)) reads.emplace_back(ms_since(t0), std::string(buf, n));
      },
      {"up.stall=10:150"});
  Socket c = rig.connect();
  c.sendall("0123456789abcdefghij");
  c.shutdown(ShutdownHow::kWrite);
  char b[1];
  CHECK(c.recv_into(b, 1) == 0);
  REQUIRE(reads.size() == 2);
  CHECK(reads[0].second == "0123456789");
  CHECK(reads[1].second == "abcdefghij");
  const double gap = reads[1].first - reads[0].first;
  CHECK(gap >= 149);
  CHECK(gap <= 165);
  CHECK(rig.when("stall-end up") - rig.when("stall up") >= 149);
  c.close();
  CHECK(rig.drained());
}

GROVE_TEST("a reset after N bytes gives the client those bytes, then ECONNRESET, and resets the server") {
  std::error_code server_ec;
  grove::Event server_done;
  const std::string data = random_bytes(5000, 4);
  Rig rig(
      [&](Socket& s, const Address&) {
        s.sendall(data.data(), data.size(), server_ec);
        char buf[16];
        if (!server_ec) s.recv_into(buf, sizeof buf, server_ec);
        server_done.set();
      },
      {"down.reset=1000"});
  Socket c = rig.connect();
  std::error_code ec;
  const std::string got = read_to_eof(c, ec);
  CHECK(got == data.substr(0, 1000));
  CHECK(ec.value() == ECONNRESET);
  REQUIRE(server_done.wait(2s));
  CHECK(server_ec.value() == ECONNRESET);
  CHECK(rig.saw("reset down"));
  CHECK(rig.saw("closed up=0 down=1000 reset"));
  c.close();
  CHECK(rig.drained());
}

GROVE_TEST("a client's reset reaches the server as a reset") {
  std::error_code server_ec;
  grove::Event server_done;
  Rig rig(
      [&](Socket& s, const Address&) {
        char buf[16];
        s.recv_into(buf, sizeof buf, server_ec);
        if (!server_ec) s.recv_into(buf, sizeof buf, server_ec);
        server_done.set();
      },
      {"clean"});
  Socket c = rig.connect();
  c.sendall("x");
  grove::sleep(20ms);
  struct linger lg{1, 0};
  ::setsockopt(c.fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  c.close();
  REQUIRE(server_done.wait(2s));
  CHECK(server_ec.value() == ECONNRESET);
  CHECK(rig.saw("recv-error up"));
  CHECK(rig.drained());
}

GROVE_TEST("a half-close after N bytes ends the server's input there; its reply still arrives") {
  std::string server_got;
  Rig rig(
      [&](Socket& s, const Address&) {
        std::error_code ec;
        server_got = read_to_eof(s, ec);
        s.sendall("bye after " + server_got);
      },
      {"up.halfclose=5"});
  Socket c = rig.connect();
  c.sendall("helloworld");
  std::error_code ec;
  const std::string got = read_to_eof(c, ec);
  CHECK_FALSE(ec);
  CHECK(server_got == "hello");
  CHECK(got == "bye after hello");
  CHECK(rig.saw("halfclose up"));
  c.close();
  CHECK(rig.drained());
}

GROVE_TEST("a reader that stops leaves the server's writes blocked until the client goes") {
  std::error_code first_ec, second_ec;
  std::size_t sent = 0;
  grove::Event timed_out, done;
  Rig rig(
      [&](Socket& s, const Address&) {
        s.set_option(SOL_SOCKET, SO_SNDBUF, 8192);
        const std::string big(4 << 20, 'x');
        s.settimeout(200ms);
        sent = s.sendall(big.data(), big.size(), first_ec);
        timed_out.set();
        s.settimeout(2s);
        s.sendall(big.data(), big.size(), second_ec);
        done.set();
      },
      {"down.noread=1000,rcvbuf=4096"});
  Socket c = rig.connect();
  REQUIRE(timed_out.wait(3s));
  CHECK(first_ec == std::errc::timed_out);
  CHECK(sent >= 1000);
  CHECK(sent < (1u << 20));
  CHECK(rig.saw("stop-reading down"));
  std::string got;
  char buf[4096];
  c.settimeout(100ms);
  std::error_code ec;
  while (std::size_t n = c.recv_into(buf, sizeof buf, ec)) got.append(buf, n);
  CHECK(got.size() == 1000);  // what was read before the stop, nothing after
  c.close();  // the proxy closes the server's side with its bytes unread: a reset
  REQUIRE(done.wait(3s));
  CHECK((second_ec.value() == ECONNRESET || second_ec.value() == EPIPE));
  CHECK(rig.drained());
}

GROVE_TEST("a client that resets while both directions are stuck behind a stopped reader ends the connection") {
  std::error_code server_ec;
  grove::Event done;
  Rig rig(
      [&](Socket& s, const Address&) {  // an echo that notes how it ended
        std::string buf(4096, '\0');
        for (;;) {
          const std::size_t n = s.recv_into(buf.data(), buf.size(), server_ec);
          if (server_ec || n == 0) break;
          s.sendall(buf.data(), n, server_ec);
          if (server_ec) break;
        }
        done.set();
      },
      {"down.noread=0,rcvbuf=4096"});
  Socket c = rig.connect();
  const std::string chunk(65536, 'x');
  c.settimeout(200ms);
  std::error_code ec;
  for (int i = 0; i < 1000 && !ec; ++i) c.sendall(chunk.data(), chunk.size(), ec);
  REQUIRE(ec == std::errc::timed_out);  // the server echoes nothing out, so it reads nothing in
  CHECK_FALSE(done.is_set());
  // A plain close would queue its FIN behind the bytes the proxy does not take in.
  struct linger lg{1, 0};
  ::setsockopt(c.fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  c.close();
  REQUIRE(done.wait(2s));
  CHECK((server_ec.value() == ECONNRESET || server_ec.value() == EPIPE));
  CHECK((rig.saw("peer-gone up") || rig.saw("recv-error up")));  // the watch, or the reader if not stuck
  CHECK(rig.drained());
}

GROVE_TEST("a blackhole accepts and never answers, and the server sees a silent client") {
  std::error_code server_first, server_second;
  std::size_t server_second_n = 1;
  grove::Event done;
  Rig rig(
      [&](Socket& s, const Address&) {
        char buf[16];
        s.settimeout(150ms);
        s.recv_into(buf, sizeof buf, server_first);
        s.settimeout(2s);
        server_second_n = s.recv_into(buf, sizeof buf, server_second);
        done.set();
      },
      {"blackhole"});
  Socket c = rig.connect();
  c.sendall("anyone there?");
  c.settimeout(200ms);
  char buf[16];
  std::error_code ec;
  const auto t0 = Clock::now();
  c.recv_into(buf, sizeof buf, ec);
  CHECK(ec == std::errc::timed_out);
  CHECK(ms_since(t0) >= 199);
  CHECK(server_first == std::errc::timed_out);  // the client's bytes never reached it
  c.close();
  REQUIRE(done.wait(2s));
  CHECK_FALSE(server_second);
  CHECK(server_second_n == 0);  // the proxy closed its side when the client left
  CHECK(rig.saw("eof up"));
  CHECK(rig.drained());
}

GROVE_TEST("a server that closes behind a blackhole is reported, the client still hears nothing") {
  Rig rig([](Socket&, const Address&) { grove::sleep(50ms); }, {"blackhole"});
  Socket c = rig.connect();
  c.settimeout(200ms);
  char buf[16];
  std::error_code ec;
  c.recv_into(buf, sizeof buf, ec);
  CHECK(ec == std::errc::timed_out);
  CHECK(rig.saw("eof down"));
  c.close();
  CHECK(rig.drained());
}

GROVE_TEST("a server that refuses gives the client a reset") {
  Socket probe = Socket::tcp();
  probe.bind(Address::ip("127.0.0.1", 0));
  const Address dead = probe.local_address();  // bound, not listening: refused
  std::vector<faults::ProxyEvent> events;
  faults::FaultProxy proxy(dead, {parse_fault_spec("clean")},
                           [&](const faults::ProxyEvent& e) { events.push_back(e); });
  proxy.start();
  Socket c = Socket::tcp();
  c.settimeout(5s);
  std::error_code ec;
  c.connect(proxy.address(0), std::nullopt, ec);  // the reset may come before connect() returns
  char buf[16];
  if (!ec) c.recv_into(buf, sizeof buf, ec);
  CHECK(ec.value() == ECONNRESET);
  REQUIRE(events.size() >= 2);
  CHECK(events[1].what.rfind("connect-failed", 0) == 0);
  c.close();
  proxy.stop();
  probe.close();
}

GROVE_TEST("stop() ends the connections still open and leaves nothing behind") {
  Rig rig(echo, {"latency=10", "blackhole", "down.noread=0"});
  std::vector<Socket> clients;
  for (std::size_t path = 0; path < 3; ++path)
    for (int i = 0; i < 3; ++i) {
      clients.push_back(rig.connect(path));
      clients.back().sendall("hello");
    }
  grove::sleep(50ms);
  CHECK(rig.proxy->connection_count() == 9);
  rig.proxy->stop(100ms);
  CHECK(rig.proxy->connection_count() == 0);
  for (auto& c : clients) {  // every client sees its connection end
    c.settimeout(2s);
    std::error_code ec;
    char buf[16];
    std::size_t n = 0;
    do n = c.recv_into(buf, sizeof buf, ec);
    while (!ec && n > 0);
    CHECK((!ec || ec.value() == ECONNRESET));
    c.close();
  }
  rig.stop();
}
