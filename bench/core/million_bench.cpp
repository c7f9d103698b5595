// million_bench: a million green threads parked at once on one OS thread: how long it
// takes to spawn and finish them, the memory and mappings they take, and that every
// one of them finishes. The test suite checks the same at 100,000
// (tests/core/parked_100k_test.cpp); this run needs about 9 GB of memory at its peak.
//
//   build/bench/core/million_bench            full run (1,000,000 green threads; ~9 GB)
//   build/bench/core/million_bench --smoke    10,000 green threads, for CI
//
// Prints `name: value unit` lines:
//   parked_green_threads             N, the number parked at once in each phase
//   sleep_spawn_ns                   spawn of one green thread that then parks in sleep, per N
//   sleep_parked_bytes_per_green_thread  (VmRSS + VmPTE) growth / N while parked in sleep
//   sleep_parked_maps_lines          lines of /proc/self/maps while they are parked
//   sleep_all_done_ms                from the first spawn until all N have returned
//   waitable_wake_all_ns             N parked on one Waitable: set() until all returned, per N
//   peak_rss_mib                     VmHWM of the process at the end
// Exits 1 (after printing) if a green thread did not finish or the mappings grew with N
// (more than 1 line per 1,000 green threads above the count before spawning).
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <grove/grove.hpp>

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

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

// Something N green threads can wait on: ready once set().
struct Gate final : grove::Waitable {
  bool ready() const override { return open; }
  grove::detail::ObserverList& observers() const override { return list; }
  void set() {
    open = true;
    list.notify_all();
  }
  bool open = false;
  mutable grove::detail::ObserverList list;
};

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

bool ok = true;

void expect(bool cond, const char* what) {
  if (!cond) {
    std::fprintf(stderr, "million_bench: FAILED: %s\n", what);
    ok = false;
  }
}

void sleep_phase(long n) {
  grove::spawn([] { grove::sleep(1ms); }).join();  // warm the hub and the allocator
  const long maps_before = maps_lines();
  const long mem_before = status_kb("VmRSS:") + status_kb("VmPTE:");
  long done = 0;
  std::vector<grove::GreenThreadHandle> handles;
  handles.reserve(static_cast<std::size_t>(n));
  const auto t0 = Clock::now();
  for (long i = 0; i < n; ++i) handles.push_back(grove::spawn([&done] {
    grove::sleep(500ms);
    ++done;
  }));
  const double spawn_ms = ms_since(t0);
  grove::yield();  // every one of them runs up to its sleep and parks
  const long mem_after = status_kb("VmRSS:") + status_kb("VmPTE:");
  const long maps = maps_lines();
  expect(grove::hub_stats().live_green_threads == static_cast<std::size_t>(n), "not all green threads were live");
  expect(done == 0, "a green thread finished its sleep early");
  expect(maps - maps_before <= n / 1000, "/proc/self/maps grew by more than 1 line per 1,000 green threads");
  expect(grove::joinall(handles, 300s), "joinall timed out");
  const double all_ms = ms_since(t0);
  expect(done == n, "not every green thread finished");
  std::printf("parked_green_threads: %ld count\n", n);
  std::printf("sleep_spawn_ns: %.1f ns\n", spawn_ms * 1e6 / static_cast<double>(n));
  std::printf("sleep_parked_bytes_per_green_thread: %.0f bytes\n",
              static_cast<double>(mem_after - mem_before) * 1024.0 / static_cast<double>(n));
  std::printf("sleep_parked_maps_lines: %ld lines\n", maps);
  std::printf("sleep_all_done_ms: %.0f ms\n", all_ms);
  std::fflush(stdout);
}

void waitable_phase(long n) {
  Gate gate;
  long done = 0;
  for (long i = 0; i < n; ++i) grove::spawn([&] {
    grove::wait({&gate});
    ++done;
  });
  grove::yield();
  expect(grove::hub_stats().live_green_threads == static_cast<std::size_t>(n), "not all waiters were live");
  const auto t0 = Clock::now();
  gate.set();
  for (int i = 0; i < 300000 && grove::hub_stats().live_green_threads > 0; ++i) grove::sleep(1ms);
  const double wake_ms = ms_since(t0);
  expect(done == n, "not every waiter woke and finished");
  std::printf("waitable_wake_all_ns: %.1f ns\n", wake_ms * 1e6 / static_cast<double>(n));
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const bool smoke = argc > 1 && std::strcmp(argv[1], "--smoke") == 0;
  const long n = smoke ? 10000 : 1000000;
  sleep_phase(n);
  waitable_phase(n);
  std::printf("peak_rss_mib: %.0f MiB\n", static_cast<double>(status_kb("VmHWM:")) / 1024.0);
  return ok ? 0 : 1;
}
