// raw_context.hpp: the same-run peer every grove micro-benchmark prints beside its
// own figures (a raw Boost.Context switch, a raw fiber on a reused stack), and the
// median the benchmarks report. Header-only; bench programs only.
#pragma once

#include <sys/mman.h>

#include <algorithm>
#include <boost/context/detail/fcontext.hpp>
#include <chrono>
#include <vector>

namespace bench {

namespace bctx = boost::context::detail;
using Clock = std::chrono::steady_clock;

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

inline double elapsed_ns(Clock::time_point t0) {
  return std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
}

// One-way jump_fcontext between two contexts, in ns.
inline double raw_switch_ns(long iters) {
  const std::size_t size = 64 * 1024;
  void* stack = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  auto ping = [](bctx::transfer_t t) {
    for (;;) t = bctx::jump_fcontext(t.fctx, nullptr);
  };
  bctx::fcontext_t ctx = bctx::make_fcontext(static_cast<char*>(stack) + size, size, ping);
  bctx::transfer_t t = bctx::jump_fcontext(ctx, nullptr);
  const auto t0 = Clock::now();
  for (long i = 0; i < iters; ++i) t = bctx::jump_fcontext(t.fctx, nullptr);
  const double dt = elapsed_ns(t0);
  ::munmap(stack, size);
  return dt / static_cast<double>(2 * iters);  // two one-way switches per round trip
}

// make_fcontext on a reused stack, jump in, jump back, in ns.
inline double raw_fiber_spawn_join_ns(long iters) {
  const std::size_t size = 64 * 1024;
  void* stack = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  auto empty = [](bctx::transfer_t t) { bctx::jump_fcontext(t.fctx, nullptr); };
  const auto t0 = Clock::now();
  for (long i = 0; i < iters; ++i) {
    bctx::fcontext_t ctx = bctx::make_fcontext(static_cast<char*>(stack) + size, size, empty);
    bctx::jump_fcontext(ctx, nullptr);
  }
  const double dt = elapsed_ns(t0);
  ::munmap(stack, size);
  return dt / static_cast<double>(iters);
}

}  // namespace bench
