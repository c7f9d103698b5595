// check.cpp: tvg_check, an echo client that checks every byte, on plain epoll (no
// grove), for the proof that an unmodified thread-per-connection server runs on green
// threads (bench/threads_vs_green/run.py --proof, tests/monkey/threads_proof.py).
//
//   tvg_check --port P [--host 127.0.0.1] [--conns N] [--rounds R] [--size B]
//             [--server-pid PID] [--timeout S]
//
// Opens N connections at once (non-blocking connects). Each sends R messages of B
// bytes, one at a time, each different (a function of the connection, the round and
// the byte's position), and compares every byte that comes back before sending the
// next. Once every connection has had its first echo, all N are open in the server at
// the same time: then it reads the server's kernel thread count (Threads: in
// /proc/PID/status). Every connection stays open until every connection is done.
//
// Prints to stdout only what must be the same for any correct server:
//   conns: N
//   rounds: R
//   bytes_checked: N*R*B (each way)
//   mismatches: 0
// and to stderr the server's threads at that moment ("server_threads: T") and the
// time taken. Exits 1 on a mismatch, an error or the timeout (default 120 s).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Conn {
  int fd = -1;
  bool connected = false;
  std::uint32_t round = 0;  // messages completed
  std::size_t sent = 0;     // bytes of the current message written
  std::size_t got = 0;      // bytes of the current message read back and checked
};

std::size_t g_size = 64;

unsigned char byte_at(std::uint32_t conn, std::uint32_t round, std::size_t i) {
  std::uint64_t x = (static_cast<std::uint64_t>(conn) << 40) ^ (static_cast<std::uint64_t>(round) << 16) ^ i;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return static_cast<unsigned char>(x);
}

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "tvg_check: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

int server_threads(long pid) {
  if (pid <= 0) return -1;
  const std::string path = "/proc/" + std::to_string(pid) + "/status";
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return -1;
  char line[256];
  int n = -1;
  while (std::fgets(line, sizeof line, f)) {
    if (std::sscanf(line, "Threads: %d", &n) == 1) break;
  }
  std::fclose(f);
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  long port = -1, pid = -1;
  std::uint32_t nconns = 100, rounds = 20;
  double timeout_s = 120;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    const char* v = argv[i + 1];
    if (a == "--port") port = std::strtol(v, nullptr, 10);
    else if (a == "--host") host = v;
    else if (a == "--conns") nconns = static_cast<std::uint32_t>(std::strtoul(v, nullptr, 10));
    else if (a == "--rounds") rounds = static_cast<std::uint32_t>(std::strtoul(v, nullptr, 10));
    else if (a == "--size") g_size = std::strtoul(v, nullptr, 10);
    else if (a == "--server-pid") pid = std::strtol(v, nullptr, 10);
    else if (a == "--timeout") timeout_s = std::strtod(v, nullptr);
    else {
      std::fprintf(stderr, "tvg_check: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (port <= 0 || port > 65535 || nconns == 0 || rounds == 0 || g_size == 0 || g_size > 65536) {
    std::fprintf(stderr, "usage: tvg_check --port P [--conns N] [--rounds R] [--size B] [--server-pid PID]\n");
    return 2;
  }
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1) {
    std::fprintf(stderr, "tvg_check: bad host %s\n", host.c_str());
    return 2;
  }
  const auto t0 = std::chrono::steady_clock::now();
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");
  std::vector<Conn> conns(nconns);
  for (std::uint32_t i = 0; i < nconns; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0 && errno != EINPROGRESS) die("connect");
    conns[i].fd = fd;
    epoll_event ev{};
    ev.events = EPOLLOUT | EPOLLIN;
    ev.data.u32 = i;
    if (::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
  }
  std::uint64_t checked = 0, mismatches = 0;
  std::uint32_t first_echoes = 0, done = 0;
  int threads_all_open = -1;
  std::vector<unsigned char> buf(std::max<std::size_t>(g_size, 4096));
  std::vector<epoll_event> evs(1024);
  // Writes what is left of the current message; false on error.
  auto pump_write = [&](std::uint32_t i) {
    Conn& c = conns[i];
    while (c.sent < g_size) {
      unsigned char out[4096];
      const std::size_t n = std::min(g_size - c.sent, sizeof out);
      for (std::size_t k = 0; k < n; ++k) out[k] = byte_at(i, c.round, c.sent + k);
      const ssize_t w = ::send(c.fd, out, n, MSG_NOSIGNAL);
      if (w < 0) return errno == EAGAIN;
      c.sent += static_cast<std::size_t>(w);
    }
    return true;
  };
  while (done < nconns) {
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (elapsed > timeout_s) {
      std::fprintf(stderr, "tvg_check: timed out after %.0f s: %u of %u connections done, %u had an echo\n",
                   elapsed, done, nconns, first_echoes);
      return 1;
    }
    const int n = ::epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 1000);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int k = 0; k < n; ++k) {
      const std::uint32_t i = evs[k].data.u32;
      Conn& c = conns[i];
      if (c.round >= rounds) continue;
      if (!c.connected) {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
          errno = err;
          die("connect (SO_ERROR)");
        }
        if (!(evs[k].events & EPOLLOUT)) continue;
        c.connected = true;
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u32 = i;
        ::epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
        if (!pump_write(i)) die("send");
        continue;
      }
      if (evs[k].events & (EPOLLERR | EPOLLHUP) && !(evs[k].events & EPOLLIN)) {
        std::fprintf(stderr, "tvg_check: connection %u closed by the server in round %u\n", i, c.round);
        return 1;
      }
      for (;;) {
        const ssize_t r = ::recv(c.fd, buf.data(), buf.size(), 0);
        if (r < 0) {
          if (errno == EAGAIN) break;
          die("recv");
        }
        if (r == 0) {
          std::fprintf(stderr, "tvg_check: connection %u: end of file in round %u\n", i, c.round);
          return 1;
        }
        for (ssize_t b = 0; b < r; ++b) {
          if (c.got >= c.sent) {
            std::fprintf(stderr, "tvg_check: connection %u: more bytes than were sent\n", i);
            return 1;
          }
          if (buf[static_cast<std::size_t>(b)] != byte_at(i, c.round, c.got)) ++mismatches;
          ++c.got;
          ++checked;
        }
        if (c.got == g_size) {
          if (c.round == 0 && ++first_echoes == nconns) threads_all_open = server_threads(pid);
          ++c.round;
          c.sent = c.got = 0;
          if (c.round == rounds) {
            ++done;
            break;
          }
          if (!pump_write(i)) die("send");
        } else if (c.sent < g_size && !pump_write(i)) {
          die("send");
        }
      }
    }
  }
  for (Conn& c : conns) ::close(c.fd);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("conns: %u\nrounds: %u\nbytes_checked: %llu\nmismatches: %llu\n", nconns, rounds,
              static_cast<unsigned long long>(checked), static_cast<unsigned long long>(mismatches));
  std::fprintf(stderr, "server_threads: %d\nseconds: %.2f\n", threads_all_open, secs);
  return mismatches ? 1 : 0;
}
