// core_bench: the core runtime's speed and memory figures, with a raw Boost.Context
// switch measured in the same run so the figures read as ratios on any machine.
//
//   build/bench/core/core_bench            full run (about a minute; 1,000,000 green threads)
//   build/bench/core/core_bench --smoke    tiny counts, for CI
//
// Prints `name: value unit` lines:
//   raw_switch_ns                  one-way jump_fcontext between two contexts
//   raw_fiber_spawn_join_ns        make_fcontext on a reused stack, jump in, jump back
//   yield_ns                       grove::yield(), two green threads alternating
//   spawn_join_ns                  grove::spawn of an empty function + join + drop handle
//   parked_bytes_per_green_thread  (VmRSS + VmPTE) growth / N with N green threads in sleep
//   parked_maps_lines              lines of /proc/self/maps while they are parked
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <grove/grove.hpp>

#include "../common/raw_context.hpp"

using bench::Clock;
using bench::median;
using namespace std::chrono_literals;

namespace {

// ---- grove

double yield_ns(long iters) {
  auto body = [iters] {
    for (long i = 0; i < iters; ++i) grove::yield();
  };
  auto a = grove::spawn(body);
  auto b = grove::spawn(body);
  const auto t0 = Clock::now();
  a.join();
  b.join();
  const auto dt = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
  return dt / static_cast<double>(2 * iters);
}

double spawn_join_ns(long iters) {
  const auto t0 = Clock::now();
  for (long i = 0; i < iters; ++i) grove::spawn([] {}).join();
  const auto dt = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
  return dt / static_cast<double>(iters);
}

long status_kb(const char* key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  const std::size_t n = std::strlen(key);
  while (std::getline(f, line)) {
    if (line.compare(0, n, key) == 0) return std::stol(line.substr(n + 1));
  }
  return 0;
}

long maps_lines() {
  std::ifstream f("/proc/self/maps");
  std::string line;
  long n = 0;
  while (std::getline(f, line)) ++n;
  return n;
}

void parked_memory(long n) {
  // Warm the allocator and the hub so their one-time costs are not counted.
  grove::spawn([] { grove::sleep(1ms); }).join();
  std::vector<grove::GreenThreadHandle> handles;
  handles.reserve(static_cast<std::size_t>(n));
  const long before = status_kb("VmRSS:") + status_kb("VmPTE:");
  for (long i = 0; i < n; ++i) handles.push_back(grove::spawn([] { grove::sleep(30s); }));
  grove::yield();  // every one of them runs up to its sleep and parks
  const long after = status_kb("VmRSS:") + status_kb("VmPTE:");
  const long maps = maps_lines();
  std::printf("parked_bytes_per_green_thread: %.0f bytes\n",
              static_cast<double>(after - before) * 1024.0 / static_cast<double>(n));
  std::printf("parked_maps_lines: %ld lines\n", maps);
  std::printf("parked_green_threads: %ld count\n", n);
  std::fflush(stdout);
  grove::killall(handles);
}

}  // namespace

int main(int argc, char** argv) {
  const bool smoke = argc > 1 && std::strcmp(argv[1], "--smoke") == 0;
  const long switch_iters = smoke ? 100000 : 20000000;
  const long spawn_iters = smoke ? 20000 : 5000000;
  const int reps = smoke ? 3 : 5;

  // Interleave raw and grove measurements so a noisy neighbour hits both alike.
  std::vector<double> raw_sw, yl, raw_sp, sp;
  for (int r = 0; r < reps; ++r) {
    raw_sw.push_back(bench::raw_switch_ns(switch_iters));
    yl.push_back(yield_ns(switch_iters / 2));
    raw_sp.push_back(bench::raw_fiber_spawn_join_ns(spawn_iters));
    sp.push_back(spawn_join_ns(spawn_iters));
  }
  const double rs = median(raw_sw), y = median(yl), rsp = median(raw_sp), s = median(sp);
  std::printf("raw_switch_ns: %.2f ns\n", rs);
  std::printf("yield_ns: %.2f ns\n", y);
  std::printf("yield_vs_raw_switch: %.2f x\n", y / rs);
  std::printf("raw_fiber_spawn_join_ns: %.2f ns\n", rsp);
  std::printf("spawn_join_ns: %.2f ns\n", s);
  std::printf("spawn_join_vs_raw_fiber: %.2f x\n", s / rsp);
  std::fflush(stdout);
  parked_memory(smoke ? 10000 : 1000000);
  return 0;
}
