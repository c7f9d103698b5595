// file_bench: reads of 1 MiB blocks from a file in the page cache, two ways in the
// same run:
//   direct_pread   pread(2) in a loop on the calling OS thread (the floor)
//   grove_file     grove::File::pread from a green thread: a block the page cache
//                  holds is read on the calling thread (preadv2 with RWF_NOWAIT),
//                  without the pool
//   pool_pread     pread as a job of the default thread pool, as File does for data
//                  not cached (a worker's pread, the completion through the hub's
//                  inbox, the caller woken): the cost of the round trip
// The two alternate in passes over the whole file (--pairs pairs), so that a noisy
// neighbour hits both alike. Each throughput is the median over passes;
// grove_vs_direct is the median of the per-pair ratios (target: at least 0.9).
// Prints `name: value unit`.
//
//   build/bench/files/file_bench [--pairs P] [--mib M] [--smoke]
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <grove/file.hpp>
#include <grove/grove.hpp>
#include <grove/thread_pool.hpp>

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kBlock = 1 << 20;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

double mib_per_s(Clock::time_point t0, std::size_t bytes) {
  return static_cast<double>(bytes) / (1 << 20) / std::chrono::duration<double>(Clock::now() - t0).count();
}

double direct_pass(int fd, std::size_t blocks, std::vector<char>& buf) {
  const auto t0 = Clock::now();
  for (std::size_t i = 0; i < blocks; ++i) {
    std::size_t got = 0;
    while (got < kBlock) {
      const ssize_t n = ::pread(fd, buf.data() + got, kBlock - got, static_cast<off_t>(i * kBlock + got));
      if (n <= 0) std::abort();
      got += static_cast<std::size_t>(n);
    }
  }
  return mib_per_s(t0, blocks * kBlock);
}

double grove_pass(grove::File& f, std::size_t blocks, std::vector<char>& buf) {
  const auto t0 = Clock::now();
  for (std::size_t i = 0; i < blocks; ++i) {
    if (f.pread(buf.data(), kBlock, i * kBlock) != kBlock) std::abort();
  }
  return mib_per_s(t0, blocks * kBlock);
}

double pool_pass(int fd, std::size_t blocks, std::vector<char>& buf) {
  const auto t0 = Clock::now();
  for (std::size_t i = 0; i < blocks; ++i) {
    const ssize_t n = grove::default_thread_pool().run(grove::JobKind::kFile, [&] {
      return ::pread(fd, buf.data(), kBlock, static_cast<off_t>(i * kBlock));
    });
    if (n != static_cast<ssize_t>(kBlock)) std::abort();
  }
  return mib_per_s(t0, blocks * kBlock);
}

}  // namespace

int main(int argc, char** argv) {
  int pairs = 15;
  std::size_t mib = 64;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--smoke")) {
      pairs = 3;
      mib = 4;
    } else if (!std::strcmp(argv[i], "--pairs") && i + 1 < argc) {
      pairs = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--mib") && i + 1 < argc) {
      mib = static_cast<std::size_t>(std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: %s [--pairs P] [--mib M] [--smoke]\n", argv[0]);
      return 2;
    }
  }
  if (pairs < 1 || mib < 1) return 2;

  char tmpl[] = "/tmp/grove-file-bench.XXXXXX";
  const int fd = ::mkstemp(tmpl);
  if (fd < 0) return 1;
  const std::string path = tmpl;
  ::unlink(tmpl);  // gone when the bench exits, whatever happens
  std::vector<char> buf(kBlock, 'g');
  for (std::size_t i = 0; i < mib; ++i) {
    if (::write(fd, buf.data(), kBlock) != static_cast<ssize_t>(kBlock)) return 1;
  }
  std::vector<double> direct, grove_rates, pool_rates, ratios, pool_ratios;
  grove::spawn([&] {
    grove::File f = grove::File::open("/proc/self/fd/" + std::to_string(fd));
    direct_pass(fd, mib, buf);  // warm: the page cache, the pool's workers
    grove_pass(f, mib, buf);
    for (int p = 0; p < pairs; ++p) {
      const double d = direct_pass(fd, mib, buf);
      const double g = grove_pass(f, mib, buf);
      const double q = pool_pass(fd, mib, buf);
      direct.push_back(d);
      grove_rates.push_back(g);
      pool_rates.push_back(q);
      ratios.push_back(g / d);
      pool_ratios.push_back(q / d);
    }
  }).join();
  ::close(fd);
  std::printf("direct_pread_1mib: %.0f MiB/s\n", median(direct));
  std::printf("grove_file_pread_1mib: %.0f MiB/s\n", median(grove_rates));
  std::printf("grove_vs_direct: %.3f ratio\n", median(ratios));
  std::printf("pool_pread_1mib: %.0f MiB/s\n", median(pool_rates));
  std::printf("pool_vs_direct: %.3f ratio\n", median(pool_ratios));
  return 0;
}
