// load.cpp: a TLS load generator on plain epoll and OpenSSL (deliberately not built on
// grove, so it cannot hide grove's cost, and the same client for every server).
//
//   tls_load --port P [--mode echo|idle|https] [--plain] [--conns N] [--size 64]
//            [--seconds S] [--warmup S] [--resume] [--parallel N] [--server-pid PID]
//
// Every connection offers TLS 1.3 only, TLS_AES_128_GCM_SHA256 only and X25519 only,
// so any server negotiates exactly that; the certificate is not verified (the
// server's work is the same either way). Modes:
//   echo   each connection sends a `size`-byte message, waits for all of it to come
//          back, and sends the next (closed loop). Prints msgs, msgs_per_sec.
//   https  each connection slot loops: connect, handshake, "GET / HTTP/1.1" with
//          "Connection: close", read the response to the end, close. With --resume
//          every handshake after the first offers the newest session ticket received
//          (the other connections start once the first has brought one).
//          Prints handshakes, handshakes_per_sec, resumed (how many the server resumed).
//   idle   opens `conns` connections (at most --parallel being set up at once), does
//          the handshake and one `size`-byte echo on each, prints "ready N" and then
//          holds them, untouched, until its stdin closes.
// --plain: plain TCP, for the same work without TLS (echo, idle).
// With --server-pid, the server's CPU time over exactly the measured window (summed over
// its threads, /proc/PID/task/*/schedstat field 1, ns on CPU) and per message or
// handshake: server_cpu_ns, server_cpu_ns_per_op.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

enum class Mode { kEcho, kIdle, kHttps };
enum class State { kFree, kConnecting, kHandshake, kSend, kRecv, kIdle };

struct Conn {
  int fd = -1;
  SSL* ssl = nullptr;
  State state = State::kFree;
  std::size_t sent = 0;
  std::size_t got = 0;
  bool status_ok = false;
  uint32_t events = 0;
};

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "tls_load: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

[[noreturn]] void die_ssl(const char* what) {
  char buf[256] = "";
  ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
  std::fprintf(stderr, "tls_load: %s: %s\n", what, buf);
  std::exit(1);
}

unsigned long long server_cpu_ns(int pid) {
  if (pid <= 0) return 0;
  unsigned long long total = 0;
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return 0;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const std::string p = dir + "/" + e->d_name + "/schedstat";
    if (FILE* f = std::fopen(p.c_str(), "r")) {
      unsigned long long ns = 0;
      if (std::fscanf(f, "%llu", &ns) == 1) total += ns;
      std::fclose(f);
    }
  }
  ::closedir(d);
  return total;
}

struct Load {
  Mode mode = Mode::kEcho;
  bool plain = false;
  bool resume = false;
  sockaddr_in sa{};
  int ep = -1;
  SSL_CTX* ctx = nullptr;
  SSL_SESSION* ticket = nullptr;  // the newest one received (--resume)
  std::string out;                // what each connection sends
  std::size_t size = 64;
  std::vector<char> buf = std::vector<char>(65536);
  std::vector<Conn> cs;
  // Counted always; the measured window subtracts.
  unsigned long long done = 0, resumed = 0, ready = 0;
  bool printed_params = false;

  void watch(Conn& c, std::size_t i, uint32_t events) {
    if (c.events == events) return;
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = i;
    if (::epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev) < 0) die("epoll_ctl");
    c.events = events;
  }

  void open(std::size_t i) {
    Conn& c = cs[i];
    c = Conn{};
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (c.fd < 0) die("socket");
    const int one = 1;
    ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(c.fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) < 0 && errno != EINPROGRESS) die("connect");
    c.state = State::kConnecting;
    epoll_event ev{};
    ev.events = c.events = EPOLLOUT;
    ev.data.u64 = i;
    if (::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev) < 0) die("epoll_ctl");
  }

  void close(Conn& c) {
    if (c.ssl) {
      // Marked as shut down both ways, so OpenSSL keeps the session resumable.
      SSL_set_shutdown(c.ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
      SSL_free(c.ssl);
    }
    ::close(c.fd);  // also leaves the epoll set
    c = Conn{};
  }

  // How an SSL call that returned r <= 0 goes on: true to wait (the watch is set),
  // false for the end of the stream (close_notify or EOF).
  bool wait_for(Conn& c, std::size_t i, int r, const char* what) {
    switch (SSL_get_error(c.ssl, r)) {
      case SSL_ERROR_WANT_READ: watch(c, i, EPOLLIN); return true;
      case SSL_ERROR_WANT_WRITE: watch(c, i, EPOLLOUT); return true;
      case SSL_ERROR_ZERO_RETURN: return false;
      default: die_ssl(what);
    }
  }

  // Runs one connection as far as it goes without blocking.
  void step(std::size_t i) {
    Conn& c = cs[i];
    for (;;) {
      switch (c.state) {
        case State::kFree:
        case State::kIdle: return;
        case State::kConnecting: {
          int err = 0;
          socklen_t len = sizeof err;
          ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
          if (err != 0) {
            errno = err;
            die("connect");
          }
          if (plain) {
            c.state = State::kSend;
            break;
          }
          c.ssl = SSL_new(ctx);
          if (!c.ssl || !SSL_set_fd(c.ssl, c.fd)) die_ssl("SSL_new");
          SSL_set_connect_state(c.ssl);
          SSL_set_tlsext_host_name(c.ssl, "localhost");
          if (resume && ticket) SSL_set_session(c.ssl, ticket);
          c.state = State::kHandshake;
          break;
        }
        case State::kHandshake: {
          const int r = SSL_do_handshake(c.ssl);
          if (r != 1) {
            if (wait_for(c, i, r, "handshake")) return;
            std::fprintf(stderr, "tls_load: the server closed a connection mid-handshake\n");
            std::exit(1);
          }
          if (!printed_params) {
            printed_params = true;
            std::fprintf(stderr, "tls_load: %s %s group %s\n", SSL_get_version(c.ssl), SSL_get_cipher_name(c.ssl),
                         SSL_group_to_name(c.ssl, SSL_get_negotiated_group(c.ssl)));
          }
          c.state = State::kSend;
          break;
        }
        case State::kSend: {
          while (c.sent < out.size()) {
            if (plain) {
              const ssize_t r = ::send(c.fd, out.data() + c.sent, out.size() - c.sent, MSG_NOSIGNAL);
              if (r < 0) {
                if (errno != EAGAIN) die("send");
                watch(c, i, EPOLLOUT);
                return;
              }
              c.sent += static_cast<std::size_t>(r);
            } else {
              const int r = SSL_write(c.ssl, out.data() + c.sent, static_cast<int>(out.size() - c.sent));
              if (r <= 0) {
                if (wait_for(c, i, r, "SSL_write")) return;
                std::fprintf(stderr, "tls_load: the server closed a connection\n");
                std::exit(1);
              }
              c.sent += static_cast<std::size_t>(r);
            }
          }
          c.sent = 0;
          c.got = 0;
          c.state = State::kRecv;
          break;
        }
        case State::kRecv: {
          long r;
          bool end = false;
          if (plain) {
            r = ::recv(c.fd, buf.data(), buf.size(), 0);
            if (r < 0) {
              if (errno != EAGAIN) die("recv");
              watch(c, i, EPOLLIN);
              return;
            }
            end = r == 0;
          } else {
            r = SSL_read(c.ssl, buf.data(), static_cast<int>(buf.size()));
            if (r <= 0) {
              if (wait_for(c, i, static_cast<int>(r), "SSL_read")) return;
              end = true;
            }
          }
          if (!end) {
            if (c.got == 0 && mode == Mode::kHttps) c.status_ok = r >= 12 && std::memcmp(buf.data(), "HTTP/1.1 200", 12) == 0;
            c.got += static_cast<std::size_t>(r);
            if (mode == Mode::kHttps || c.got < size) break;
            if (mode == Mode::kEcho) {
              ++done;
              c.state = State::kSend;
            } else {
              ++ready;
              c.state = State::kIdle;
              watch(c, i, 0);
              return;
            }
            break;
          }
          if (mode != Mode::kHttps) {
            std::fprintf(stderr, "tls_load: the server closed a connection\n");
            std::exit(1);
          }
          if (!c.status_ok) {
            std::fprintf(stderr, "tls_load: a response that is not 'HTTP/1.1 200' (%zu bytes)\n", c.got);
            std::exit(1);
          }
          ++done;
          if (SSL_session_reused(c.ssl)) ++resumed;  // counted with the request: the same window
          if (resume) {
            if (SSL_SESSION* s = SSL_get1_session(c.ssl)) {
              if (ticket) SSL_SESSION_free(ticket);
              ticket = s;
            }
          }
          close(c);
          open(i);
          return;
        }
      }
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1", mode = "echo";
  int port = 0, conns = 1, server_pid = 0, parallel = 200;
  double seconds = 5, warmup = 1;
  Load L;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--plain") {
      L.plain = true;
      continue;
    }
    if (a == "--resume") {
      L.resume = true;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "tls_load: %s needs a value\n", a.c_str());
      return 2;
    }
    const char* v = argv[++i];
    if (a == "--host") host = v;
    else if (a == "--port") port = std::atoi(v);
    else if (a == "--mode") mode = v;
    else if (a == "--conns") conns = std::atoi(v);
    else if (a == "--size") L.size = static_cast<std::size_t>(std::atol(v));
    else if (a == "--seconds") seconds = std::atof(v);
    else if (a == "--warmup") warmup = std::atof(v);
    else if (a == "--parallel") parallel = std::atoi(v);
    else if (a == "--server-pid") server_pid = std::atoi(v);
    else {
      std::fprintf(stderr, "tls_load: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (mode == "echo") L.mode = Mode::kEcho;
  else if (mode == "idle") L.mode = Mode::kIdle;
  else if (mode == "https") L.mode = Mode::kHttps;
  else port = 0;
  if (port <= 0 || conns <= 0 || L.size == 0 || L.size > 65536 || parallel <= 0 ||
      (L.plain && L.mode == Mode::kHttps)) {
    std::fprintf(stderr, "usage: tls_load --port P [--mode echo|idle|https] [--plain] [--conns N] [--size B] "
                         "[--seconds S] [--warmup S] [--resume] [--parallel N] [--server-pid PID]\n");
    return 2;
  }
  L.sa.sin_family = AF_INET;
  L.sa.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &L.sa.sin_addr) != 1) {
    std::fprintf(stderr, "tls_load: bad --host (an IPv4 literal)\n");
    return 2;
  }
  if (!L.plain) {
    L.ctx = SSL_CTX_new(TLS_client_method());
    if (!L.ctx || !SSL_CTX_set_min_proto_version(L.ctx, TLS1_3_VERSION) ||
        !SSL_CTX_set_ciphersuites(L.ctx, "TLS_AES_128_GCM_SHA256") || !SSL_CTX_set1_groups_list(L.ctx, "X25519"))
      die_ssl("SSL_CTX");
    SSL_CTX_set_verify(L.ctx, SSL_VERIFY_NONE, nullptr);
    SSL_CTX_set_options(L.ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
  }
  L.out = L.mode == Mode::kHttps ? std::string("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                                 : std::string(L.size, 'x');
  L.ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (L.ep < 0) die("epoll_create1");
  L.cs.resize(static_cast<std::size_t>(conns));
  std::vector<epoll_event> evs(1024);
  auto poll_once = [&](int timeout_ms) {
    const int n = ::epoll_wait(L.ep, evs.data(), static_cast<int>(evs.size()), timeout_ms);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    for (int k = 0; k < n; ++k) L.step(evs[k].data.u64);
  };

  if (L.mode == Mode::kIdle) {
    std::size_t opened = 0;
    const auto deadline = Clock::now() + std::chrono::seconds(120);
    while (L.ready < static_cast<unsigned long long>(conns)) {
      while (opened < L.cs.size() && opened - L.ready < static_cast<std::size_t>(parallel)) L.open(opened++);
      poll_once(100);
      if (Clock::now() > deadline) {
        std::fprintf(stderr, "tls_load: only %llu of %d connections ready after 120 s\n", L.ready, conns);
        return 1;
      }
    }
    std::printf("ready %llu\n", L.ready);
    std::fflush(stdout);
    char c;
    while (::read(0, &c, 1) > 0) {
    }
    for (auto& c : L.cs) L.close(c);
    return 0;
  }

  std::size_t first = 0;
  if (L.resume) {  // one connection first, for a ticket the others can offer from the start
    L.open(first++);
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (!L.ticket) {
      poll_once(100);
      if (Clock::now() > deadline) {
        std::fprintf(stderr, "tls_load: no session ticket in 10 s\n");
        return 1;
      }
    }
  }
  for (std::size_t i = first; i < L.cs.size(); ++i) L.open(i);
  const auto t0 = Clock::now();
  const auto measure_from = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(warmup));
  const auto measure_to =
      measure_from + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  bool measuring = false;
  unsigned long long done0 = 0, resumed0 = 0, cpu0 = 0;
  Clock::time_point started_at;
  for (;;) {
    poll_once(100);
    const auto now = Clock::now();
    if (!measuring && now >= measure_from) {
      measuring = true;
      started_at = now;
      done0 = L.done;
      resumed0 = L.resumed;
      cpu0 = server_cpu_ns(server_pid);
    }
    if (now >= measure_to) break;
  }
  const unsigned long long cpu1 = server_cpu_ns(server_pid);
  const double secs = std::chrono::duration<double>(Clock::now() - started_at).count();
  const unsigned long long ops = L.done - done0;
  if (L.mode == Mode::kEcho) {
    std::printf("msgs: %llu\nmsgs_per_sec: %.0f\n", ops, ops / secs);
  } else {
    std::printf("handshakes: %llu\nhandshakes_per_sec: %.0f\nresumed: %llu\n", ops, ops / secs, L.resumed - resumed0);
  }
  if (server_pid > 0 && ops > 0) {
    std::printf("server_cpu_ns: %llu\nserver_cpu_ns_per_op: %.1f\n", cpu1 - cpu0,
                static_cast<double>(cpu1 - cpu0) / static_cast<double>(ops));
  }
  for (auto& c : L.cs)
    if (c.fd >= 0) L.close(c);
  return ops > 0 ? 0 : 1;
}
