// emfile_test.cpp: running out of fds at accept. Its own executable (a process of
// its own) because it lowers RLIMIT_NOFILE.
#include <fcntl.h>
#include <sys/resource.h>

#include <memory>
#include <sstream>
#include <vector>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <grove/log.hpp>
#include <grove/net/stream_server.hpp>

#include "net_test.hpp"

using namespace net_test;

namespace {

void echo(Socket& s, const Address&) {
  char buf[256];
  std::error_code ec;
  while (std::size_t n = s.recv_into(buf, sizeof buf, ec)) s.sendall(buf, n, ec);
}

bool echoes(Socket& c, const std::string& m) {
  std::error_code ec;
  c.sendall(m.data(), m.size(), ec);
  char buf[64];
  const std::size_t n = c.recv_exactly(buf, m.size(), ec);
  return !ec && std::string(buf, n) == m;
}

double cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

}  // namespace

GROVE_TEST("out of fds at accept: logged once, no spin, existing connections served, recovers") {
  static std::ostringstream log_text;  // outlives the logger that writes to it
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log_text);
  grove::set_logger(std::make_shared<spdlog::logger>("grove", sink));

  rlimit old{};
  ::getrlimit(RLIMIT_NOFILE, &old);
  rlimit low = old;
  low.rlim_cur = static_cast<rlim_t>(grove::test::open_fds().size() + 40);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
  {
    grove::net::StreamServer server(Address::parse("127.0.0.1:0"), echo);
    server.start();
    std::vector<Socket> clients;
    int spare = ::open("/dev/null", O_RDONLY | O_CLOEXEC);  // an fd kept for the waiting client
    REQUIRE(spare >= 0);
    // Connect until this process has no fd left; each served connection uses two.
    for (;;) {
      Socket c;
      try {
        c = Socket::tcp();
      } catch (const std::system_error& e) {
        REQUIRE(e.code().value() == EMFILE);
        break;
      }
      std::error_code ec;
      c.connect(server.address(), 2s, ec);
      REQUIRE_FALSE(ec);
      clients.push_back(std::move(c));
      grove::sleep(1ms);  // let the acceptor take it while it can
    }
    // Trade one served connection for one that waits in the backlog: the acceptor is
    // out of fds (accept4 fails with EMFILE even when nothing is queued).
    REQUIRE(clients.size() > 12);
    ::close(spare);
    Socket waiting = Socket::tcp();
    waiting.connect(server.address(), 2s);
    clients.insert(clients.begin(), std::move(waiting));
    grove::sleep(50ms);
    const std::size_t served = server.connection_count();
    CHECK(echoes(clients[2], "still served"));
    const double cpu0 = cpu_seconds();
    grove::sleep(300ms);
    CHECK(cpu_seconds() - cpu0 < 0.15);  // backing off, not spinning
    CHECK(echoes(clients[1], "still served too"));
    CHECK(server.connection_count() == served);  // the waiting one was not accepted
    // Free fds: the acceptor accepts the queued connection again.
    for (std::size_t i = 2; i < 12; ++i) clients[i].close();
    clients[0].settimeout(3s);
    CHECK(echoes(clients[0], "accepted after recovery"));
    server.stop();
  }
  ::setrlimit(RLIMIT_NOFILE, &old);
  const std::string text = log_text.str();
  std::size_t fails = 0;
  for (std::size_t p = 0; (p = text.find("accept failed", p)) != std::string::npos; ++p) ++fails;
  CHECK(fails == 1);
  CHECK(text.find("Too many open files") != std::string::npos);
  CHECK_MESSAGE(text.find("accepting connections again") != std::string::npos, text);
}
