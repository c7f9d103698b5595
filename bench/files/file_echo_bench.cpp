// file_echo_bench: the latency of an echo server on a grove hub, alone and while 1,000
// green threads of the same hub read small files with grove::read_file (each read a
// job of the default thread pool), in the same run.
//
// The echo server runs on the main OS thread's hub; the load is one client on a plain
// OS thread doing ping-pong of 64 bytes over loopback (TCP_NODELAY), timing each
// round trip. Phases alternate (--rounds rounds of --ms milliseconds each): echo
// alone, then echo with the file readers: each reads one of 100 files of 4 KiB with
// read_file, then sleeps --interval-ms (default 100: 1,000 readers ask for about
// 10,000 reads/s; 0: as fast as the hub and the pool go, which saturates both vCPUs
// of a small machine and measures that instead), until the phase ends. Each figure is the median over rounds; p99_ratio is the
// median of the per-round ratios (target: at most 1.2).
// Prints `name: value unit`.
//
//   build/bench/files/file_echo_bench [--rounds R] [--ms M] [--readers N] [--interval-ms I] [--smoke]
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <grove/file.hpp>
#include <grove/grove.hpp>
#include <grove/net/socket.hpp>

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kMsg = 64;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

// The client: blocking ping-pong on its own OS thread, for `ms` milliseconds.
std::vector<double> ping_pong(int fd, int ms) {
  std::vector<double> us;
  char buf[kMsg];
  std::memset(buf, 'p', sizeof buf);
  const auto end = Clock::now() + std::chrono::milliseconds(ms);
  while (Clock::now() < end) {
    const auto t0 = Clock::now();
    if (::send(fd, buf, kMsg, 0) != static_cast<ssize_t>(kMsg)) std::abort();
    std::size_t got = 0;
    while (got < kMsg) {
      const ssize_t n = ::recv(fd, buf + got, kMsg - got, 0);
      if (n <= 0) std::abort();
      got += static_cast<std::size_t>(n);
    }
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  return us;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 5, ms = 1000, readers = 1000, interval_ms = 100;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--smoke")) {
      rounds = 1;
      ms = 100;
      readers = 100;
      interval_ms = 10;
    } else if (!std::strcmp(argv[i], "--rounds") && i + 1 < argc) {
      rounds = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--ms") && i + 1 < argc) {
      ms = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--interval-ms") && i + 1 < argc) {
      interval_ms = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--readers") && i + 1 < argc) {
      readers = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--rounds R] [--ms M] [--readers N] [--interval-ms I] [--smoke]\n", argv[0]);
      return 2;
    }
  }
  if (rounds < 1 || ms < 1 || readers < 1 || interval_ms < 0) return 2;

  char dir_tmpl[] = "/tmp/grove-file-echo-bench.XXXXXX";
  const char* dir = ::mkdtemp(dir_tmpl);
  if (!dir) return 1;
  std::vector<std::string> files;
  for (int i = 0; i < 100; ++i) {
    files.push_back(std::string(dir) + "/f" + std::to_string(i));
    grove::write_file(files.back(), std::string(4096, static_cast<char>('a' + i % 26)));
  }

  grove::net::Socket listener = grove::net::Socket::tcp();
  listener.bind(grove::net::Address::parse("127.0.0.1:0"));
  listener.listen(16);
  const std::uint16_t port = listener.local_address().port();
  auto server = grove::spawn([&] {
    grove::net::Accepted a = listener.accept();
    grove::net::Socket s = std::move(a.socket);
    s.set_option(IPPROTO_TCP, TCP_NODELAY, 1);
    char buf[4096];
    for (;;) {
      std::error_code ec;
      const std::size_t n = s.recv_into(buf, sizeof buf, ec);
      if (ec || n == 0) return;
      s.sendall(buf, n);
    }
  });

  const int cfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int one = 1;
  ::setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

  std::vector<double> alone_p50, alone_p99, loaded_p50, loaded_p99, ratios, reads_per_s;
  // One phase: the client on a std::thread of its own, which the hub polls with
  // grove::sleep (not run_in_thread: the pool is the file readers').
  auto phase = [&](bool load) {
    std::atomic<bool> stop{false};
    std::atomic<long> reads{0};
    std::vector<grove::GreenThreadHandle> gs;
    if (load) {
      for (int i = 0; i < readers; ++i) {
        gs.push_back(grove::spawn([&, i] {
          for (std::size_t k = static_cast<std::size_t>(i); !stop.load(std::memory_order_relaxed); ++k) {
            if (grove::read_file(files[k % files.size()]).size() != 4096) std::abort();
            reads.fetch_add(1, std::memory_order_relaxed);
            if (interval_ms > 0) grove::sleep(std::chrono::milliseconds(interval_ms));
          }
        }));
      }
      grove::sleep(std::chrono::milliseconds(20 + interval_ms));  // the readers are going
    }
    std::vector<double> lat;
    std::atomic<bool> done{false};
    const auto t0 = Clock::now();
    std::thread client([&] {
      lat = ping_pong(cfd, ms);
      done = true;
    });
    while (!done.load()) grove::sleep(std::chrono::milliseconds(5));
    client.join();
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    stop = true;
    for (auto& g : gs) g.join();
    return std::make_pair(lat, static_cast<double>(reads.load()) / secs);
  };

  grove::spawn([&] {
    if (::connect(cfd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) std::abort();
    phase(false);  // warm-up
    for (int r = 0; r < rounds; ++r) {
      const std::vector<double> a = phase(false).first;
      auto [b, rate] = phase(true);
      alone_p50.push_back(percentile(a, 0.50));
      alone_p99.push_back(percentile(a, 0.99));
      loaded_p50.push_back(percentile(b, 0.50));
      loaded_p99.push_back(percentile(b, 0.99));
      ratios.push_back(percentile(b, 0.99) / percentile(a, 0.99));
      reads_per_s.push_back(rate);
    }
    ::shutdown(cfd, SHUT_WR);
  }).join();
  server.join();
  ::close(cfd);
  for (const std::string& f : files) ::unlink(f.c_str());
  ::rmdir(dir);

  std::printf("echo_alone_p50: %.1f us\n", median(alone_p50));
  std::printf("echo_alone_p99: %.1f us\n", median(alone_p99));
  std::printf("echo_with_file_readers_p50: %.1f us\n", median(loaded_p50));
  std::printf("echo_with_file_readers_p99: %.1f us\n", median(loaded_p99));
  std::printf("p99_ratio: %.3f ratio\n", median(ratios));
  std::printf("file_reads: %.0f reads/s\n", median(reads_per_s));
  return 0;
}
