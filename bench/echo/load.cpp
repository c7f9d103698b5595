// load.cpp: a closed-loop echo load generator on plain epoll (deliberately not built
// on grove, so it cannot hide grove's cost).
//
//   echo_load --port P [--host 127.0.0.1] [--conns N] [--size 64] [--seconds S]
//             [--warmup S] [--server-pid PID]
//
// Each connection sends one `size`-byte message, waits for all of it to come back,
// and sends the next. After the warm-up it measures for `seconds` and prints
//   msgs: N / msgs_per_sec: X / p50_us: X / p99_us: X
// and, with --server-pid, the server's CPU time over exactly the measured window,
// summed over its threads from /proc/PID/task/*/schedstat (field 1, ns on CPU):
//   server_cpu_ns: N / server_cpu_ns_per_msg: X
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Conn {
  int fd = -1;
  std::size_t got = 0;
  Clock::time_point sent_at;
};

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "echo_load: %s: %s\n", what, std::strerror(errno));
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

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  int port = 0, conns = 1, size = 64, server_pid = 0;
  double seconds = 5, warmup = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    const char* v = argv[i + 1];
    if (a == "--host") host = v;
    else if (a == "--port") port = std::atoi(v);
    else if (a == "--conns") conns = std::atoi(v);
    else if (a == "--size") size = std::atoi(v);
    else if (a == "--seconds") seconds = std::atof(v);
    else if (a == "--warmup") warmup = std::atof(v);
    else if (a == "--server-pid") server_pid = std::atoi(v);
    else {
      std::fprintf(stderr, "echo_load: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (port <= 0 || conns <= 0 || size <= 0) {
    std::fprintf(stderr, "usage: echo_load --port P [--host H] [--conns N] [--size B] [--seconds S] "
                         "[--warmup S] [--server-pid PID]\n");
    return 2;
  }
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1) die("bad --host (IPv4 literal)");

  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");
  std::vector<Conn> cs(static_cast<std::size_t>(conns));
  std::vector<char> msg(static_cast<std::size_t>(size), 'x');
  std::vector<char> buf(65536);
  for (int i = 0; i < conns; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) die("connect");
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    cs[i].fd = fd;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<uint32_t>(i);
    if (::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
  }
  auto send_msg = [&](Conn& c) {
    c.got = 0;
    c.sent_at = Clock::now();
    if (::send(c.fd, msg.data(), msg.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(msg.size())) die("send");
  };
  for (auto& c : cs) send_msg(c);

  const auto t0 = Clock::now();
  const auto measure_from = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(warmup));
  const auto measure_to =
      measure_from + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  bool measuring = false;
  unsigned long long msgs = 0, cpu0 = 0;
  std::vector<uint32_t> lat_ns;
  lat_ns.reserve(1 << 20);
  std::vector<epoll_event> evs(1024);
  Clock::time_point started_at;
  for (;;) {
    const int n = ::epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 100);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    const auto now = Clock::now();
    if (!measuring && now >= measure_from) {
      measuring = true;
      started_at = now;
      cpu0 = server_cpu_ns(server_pid);
    }
    if (now >= measure_to) break;
    for (int i = 0; i < n; ++i) {
      Conn& c = cs[evs[i].data.u32];
      const ssize_t r = ::recv(c.fd, buf.data(), buf.size(), 0);
      if (r == 0) {
        std::fprintf(stderr, "echo_load: the server closed a connection\n");
        return 1;
      }
      if (r < 0) {
        if (errno == EAGAIN) continue;
        die("recv");
      }
      c.got += static_cast<std::size_t>(r);
      if (c.got < msg.size()) continue;
      if (measuring) {
        ++msgs;
        lat_ns.push_back(static_cast<uint32_t>(
            std::min<long long>(std::chrono::duration_cast<std::chrono::nanoseconds>(now - c.sent_at).count(),
                                UINT32_MAX)));
      }
      send_msg(c);
    }
  }
  const unsigned long long cpu1 = server_cpu_ns(server_pid);
  const double secs = std::chrono::duration<double>(Clock::now() - started_at).count();
  std::sort(lat_ns.begin(), lat_ns.end());
  auto pct = [&](double p) -> double {
    if (lat_ns.empty()) return 0;
    return lat_ns[std::min(lat_ns.size() - 1, static_cast<std::size_t>(p * lat_ns.size()))] / 1000.0;
  };
  std::printf("msgs: %llu\nmsgs_per_sec: %.0f\np50_us: %.1f\np99_us: %.1f\n", msgs, msgs / secs, pct(0.50),
              pct(0.99));
  if (server_pid > 0 && msgs > 0) {
    std::printf("server_cpu_ns: %llu\nserver_cpu_ns_per_msg: %.1f\n", cpu1 - cpu0,
                static_cast<double>(cpu1 - cpu0) / static_cast<double>(msgs));
  }
  for (auto& c : cs) ::close(c.fd);
  ::close(ep);
  return 0;
}
