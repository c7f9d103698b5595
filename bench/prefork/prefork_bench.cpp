// prefork_bench: the thundering herd of a prefork server, and what reuse_port does to it.
//
// A PreforkSupervisor (grove::net::prefork) of --workers workers serves a one-byte echo
// with StreamServer on 127.0.0.1; --clients OS threads of this process load it with a
// connection per request (connect, one byte each way, close with an RST so that no
// TIME_WAIT piles up) for --seconds. Two ways, alternating for --rounds rounds:
//   shared      one listener shared by every worker (the default): each worker's hub
//               watches it, so a connection wakes every idle worker
//   reuse_port  PreforkOptions::reuse_port: a socket per worker in one SO_REUSEPORT group
// Per connection it reports, from counters in memory the workers share with this process:
//   accept_calls / accept_eagain   accept4() calls made by the workers, and those that
//               found nothing (EAGAIN): counted by an accept4 defined in this program,
//               which libgrove's call binds to (the executable comes first in the
//               dynamic linker's search), before it makes the system call
//   wakeups     the workers' voluntary context switches (/proc/PID/status): how often a
//               worker went to sleep, i.e. was woken
// and connections per second. Each figure is the median over rounds, and
// reuse_port_vs_shared the median of the rounds' ratios. Prints `name: value unit`.
//
//   build/bench/prefork/prefork_bench [--workers N] [--clients C] [--seconds S] [--rounds R] [--smoke]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <grove/grove.hpp>
#include <grove/net/prefork.hpp>
#include <grove/net/stream_server.hpp>

#include "proc_status.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr int kMaxWorkers = 16;

struct WorkerStats {
  std::atomic<long> accept_calls, accept_eagain, served;
  std::atomic<int> pid, ready;
};
static_assert(std::atomic<long>::is_always_lock_free);

WorkerStats* g_stats = nullptr;     // shared with the workers (mmap before the fork)
WorkerStats* g_counting = nullptr;  // in a worker: its own entry

}  // namespace

// libgrove's ::accept4 binds to this one: counts, then makes the system call.
extern "C" int accept4(int fd, sockaddr* addr, socklen_t* len, int flags) {
  const long r = ::syscall(SYS_accept4, fd, addr, len, flags);
  if (WorkerStats* s = g_counting) {
    s->accept_calls.fetch_add(1, std::memory_order_relaxed);
    if (r < 0 && errno == EAGAIN) s->accept_eagain.fetch_add(1, std::memory_order_relaxed);
  }
  return static_cast<int>(r);
}

namespace {

void worker(grove::net::PreforkWorker& w) {
  WorkerStats& me = g_stats[w.index()];
  g_counting = &me;
  me.pid = ::getpid();
  grove::net::StreamServer server(std::move(w.listener()), [&me](grove::net::Socket& s, const grove::net::Address&) {
    char b;
    std::error_code ec;
    while (s.recv_into(&b, 1, ec) == 1 && !ec) {
      s.sendall(&b, 1, ec);
      if (ec) return;
      me.served.fetch_add(1, std::memory_order_relaxed);
    }
  });
  server.start();
  me.ready = 1;
  w.wait_for_stop();
  server.stop(2s);
}

// One client thread: a connection per request until `stop`; returns the count.
long client(const sockaddr_in& to, const std::atomic<bool>& stop) {
  long n = 0;
  while (!stop.load(std::memory_order_relaxed)) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) std::abort();
    char b = 'x';
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) == 0 && ::write(fd, &b, 1) == 1 &&
        ::read(fd, &b, 1) == 1) {
      ++n;
    }
    const linger lg{1, 0};  // an RST: no TIME_WAIT on either side
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    ::close(fd);
  }
  return n;
}

struct Result {
  double conn_per_s, accept_calls, accept_eagain, wakeups;
};

Result run(bool reuse_port, int workers, int clients, double seconds) {
  std::memset(static_cast<void*>(g_stats), 0, sizeof(WorkerStats) * kMaxWorkers);
  const int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuse_port) ::setsockopt(lfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  sockaddr_in at{};
  at.sin_family = AF_INET;
  at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof at;
  if (::bind(lfd, reinterpret_cast<sockaddr*>(&at), sizeof at) != 0 || ::listen(lfd, 1024) != 0 ||
      ::getsockname(lfd, reinterpret_cast<sockaddr*>(&at), &len) != 0) {
    std::perror("listener");
    std::exit(1);
  }
  std::fflush(nullptr);
  const pid_t sup = ::fork();
  if (sup == 0) {
    ::alarm(static_cast<unsigned>(seconds) + 30);
    grove::net::PreforkOptions o;
    o.workers = static_cast<std::size_t>(workers);
    o.reuse_port = reuse_port;
    o.stop_timeout = 2s;
    grove::net::prefork(grove::net::Socket::adopt(lfd), worker, o);
    std::fflush(nullptr);
    ::_exit(0);
  }
  ::close(lfd);
  for (int i = 0; i < 1000; ++i) {
    int ready = 0;
    for (int k = 0; k < workers; ++k) ready += g_stats[k].ready.load();
    if (ready == workers) break;
    std::this_thread::sleep_for(5ms);
  }
  std::this_thread::sleep_for(50ms);
  long calls0 = 0, eagain0 = 0, vcs0 = 0;
  for (int k = 0; k < workers; ++k) {
    calls0 += g_stats[k].accept_calls;
    eagain0 += g_stats[k].accept_eagain;
    vcs0 += voluntary_switches(g_stats[k].pid);
  }
  std::atomic<bool> stop{false};
  std::vector<long> counts(static_cast<std::size_t>(clients));
  std::vector<std::thread> threads;
  const auto t0 = Clock::now();
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] { counts[static_cast<std::size_t>(c)] = client(at, stop); });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  const double took = std::chrono::duration<double>(Clock::now() - t0).count();
  long calls = 0, eagain = 0, vcs = 0, conns = 0;
  for (int k = 0; k < workers; ++k) {
    calls += g_stats[k].accept_calls;
    eagain += g_stats[k].accept_eagain;
    vcs += voluntary_switches(g_stats[k].pid);
  }
  for (long n : counts) conns += n;
  ::kill(sup, SIGTERM);
  int st = 0;
  ::waitpid(sup, &st, 0);
  if (conns == 0) {
    std::fprintf(stderr, "prefork_bench: no connection was served\n");
    std::exit(1);
  }
  const double c = static_cast<double>(conns);
  return {c / took, static_cast<double>(calls - calls0) / c, static_cast<double>(eagain - eagain0) / c,
          static_cast<double>(vcs - vcs0) / c};
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  int workers = 2, clients = 4, rounds = 5;
  double seconds = 2;
  for (int i = 1; i < argc; ++i) {
    const bool more = i + 1 < argc;
    if (!std::strcmp(argv[i], "--smoke")) {
      rounds = 1;
      seconds = 0.3;
    } else if (more && !std::strcmp(argv[i], "--workers")) {
      workers = std::atoi(argv[++i]);
    } else if (more && !std::strcmp(argv[i], "--clients")) {
      clients = std::atoi(argv[++i]);
    } else if (more && !std::strcmp(argv[i], "--seconds")) {
      seconds = std::atof(argv[++i]);
    } else if (more && !std::strcmp(argv[i], "--rounds")) {
      rounds = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--workers N] [--clients C] [--seconds S] [--rounds R] [--smoke]\n", argv[0]);
      return 2;
    }
  }
  if (workers < 1 || workers > kMaxWorkers || clients < 1 || rounds < 1 || seconds <= 0) {
    std::fprintf(stderr, "prefork_bench: bad arguments\n");
    return 2;
  }
  void* mem = ::mmap(nullptr, sizeof(WorkerStats) * kMaxWorkers, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                     -1, 0);
  if (mem == MAP_FAILED) return 1;
  g_stats = static_cast<WorkerStats*>(mem);

  const char* names[2] = {"shared", "reuse_port"};
  std::vector<Result> res[2];
  for (int r = 0; r < rounds; ++r) {
    for (int m = 0; m < 2; ++m) res[m].push_back(run(m == 1, workers, clients, seconds));
  }
  std::printf("prefork_workers: %d workers\nprefork_clients: %d threads\n", workers, clients);
  for (int m = 0; m < 2; ++m) {
    auto pick = [&](double Result::*f) {
      std::vector<double> v;
      for (const Result& x : res[m]) v.push_back(x.*f);
      return median(v);
    };
    std::printf("prefork_%s_conn_per_s: %.0f conn/s\n", names[m], pick(&Result::conn_per_s));
    std::printf("prefork_%s_accept_calls_per_conn: %.3f calls\n", names[m], pick(&Result::accept_calls));
    std::printf("prefork_%s_accept_eagain_per_conn: %.3f calls\n", names[m], pick(&Result::accept_eagain));
    std::printf("prefork_%s_worker_wakeups_per_conn: %.3f wakeups\n", names[m], pick(&Result::wakeups));
  }
  // Each round ran both ways back to back: the ratio within a round is less noisy.
  std::vector<double> ratio;
  for (int r = 0; r < rounds; ++r) ratio.push_back(res[1][r].conn_per_s / res[0][r].conn_per_s);
  std::printf("prefork_reuse_port_vs_shared_conn_per_s: %.3f x\n", median(ratio));
  return 0;
}
