// dump_bench: how long grove::format_run_info() takes with 10,000 parked green
// threads, each listed with its call stack (unwound from its saved context by
// libunwind and symbolized, with file:line, by libdw).
//
//   build/bench/core/dump_bench            10,000 green threads, best of 5 dumps
//   build/bench/core/dump_bench --smoke    the same, one dump (CI)
//
// Prints `name: value unit` lines:
//   dump_green_threads    N, the number parked while dumping
//   dump_ms               the fastest format_run_info() of N green threads
//   dump_first_ms         the first one (libunwind loaded, its caches cold)
//   dump_bytes            the size of the text
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <grove/diagnostics.hpp>
#include <grove/event.hpp>
#include <grove/grove.hpp>

namespace {

volatile int sink = 0;

[[gnu::noinline]] void parked_here(grove::Event& ev) {
  ev.wait();
  sink = sink + 1;
}

}  // namespace

int main(int argc, char** argv) {
  const bool smoke = argc > 1 && std::strcmp(argv[1], "--smoke") == 0;
  constexpr int kThreads = 10000;
  grove::Event ev;
  std::vector<grove::GreenThread<void>> threads;
  threads.reserve(kThreads);
  for (int i = 0; i < kThreads; ++i) threads.push_back(grove::spawn([&] { parked_here(ev); }));
  grove::yield();

  double best = 1e9;
  double first = 0;
  std::size_t bytes = 0;
  for (int round = 0; round < (smoke ? 1 : 5); ++round) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::string info = grove::format_run_info();
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (round == 0) first = ms;
    if (ms < best) best = ms;
    bytes = info.size();
  }
  ev.set();
  for (auto& t : threads) t.join();
  std::printf("dump_green_threads: %d\n", kThreads);
  std::printf("dump_ms: %.1f ms\n", best);
  std::printf("dump_first_ms: %.1f ms\n", first);
  std::printf("dump_bytes: %zu bytes\n", bytes);
  return 0;
}
