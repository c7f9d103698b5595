// sync_bench: hand-off through grove's sync primitives and thread-pool round trips,
// with a raw Boost.Context switch measured in the same run so figures read as ratios.
//
//   build/bench/sync/sync_bench            full run (about 20 s)
//   build/bench/sync/sync_bench --smoke    tiny counts, for CI
//
// Prints `name: value unit` lines:
//   raw_switch_ns          one-way jump_fcontext between two contexts
//   channel_handoff_ns     one-way hand-off: two green threads ping-ponging an int
//                          through two unbuffered Channels (Go's and gevent's definition)
//   semaphore_handoff_ns   the same ping-pong through two Semaphores (release / acquire)
//   queue_handoff_ns       the same through two Queue<int>s of capacity 1
//   run_in_thread_us       round trip of an empty function through run_in_thread
//                          (default pool), one caller at a time
//   run_in_thread_burst_us per call with 100 green threads calling at once
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include <grove/grove.hpp>

#include "../common/raw_context.hpp"

using bench::Clock;
using bench::elapsed_ns;
using bench::median;

namespace {

// One-way hand-off in ns: an echo green thread takes from `ping` and gives to `pong`
// while the caller gives to `ping` and takes from `pong`. put(ch, v) / get(ch) adapt
// each primitive.
template <class Ch, class Put, class Get>
double pingpong_ns(long iters, Ch& ping, Ch& pong, Put put, Get get) {
  auto echo = grove::spawn([&] {
    for (long i = 0; i < iters; ++i) put(pong, get(ping));
  });
  const auto t0 = Clock::now();
  for (long i = 0; i < iters; ++i) {
    put(ping, i);
    (void)get(pong);
  }
  const double dt = elapsed_ns(t0);
  echo.join();
  return dt / static_cast<double>(2 * iters);
}

double channel_handoff_ns(long iters) {
  grove::Channel<long> ping, pong;
  return pingpong_ns(iters, ping, pong, [](auto& ch, long v) { ch.put(v); }, [](auto& ch) { return ch.get(); });
}

double semaphore_handoff_ns(long iters) {
  grove::Semaphore ping(0), pong(0);
  return pingpong_ns(iters, ping, pong, [](auto& s, long) { s.release(); }, [](auto& s) { s.acquire(); return 0L; });
}

double queue_handoff_ns(long iters) {
  grove::Queue<long> ping(1), pong(1);
  return pingpong_ns(iters, ping, pong, [](auto& q, long v) { q.put(v); }, [](auto& q) { return q.get(); });
}

double run_in_thread_us(long iters) {
  const auto t0 = Clock::now();
  for (long i = 0; i < iters; ++i) grove::run_in_thread([] {});
  return elapsed_ns(t0) / 1000.0 / static_cast<double>(iters);
}

double run_in_thread_burst_us(long per_caller) {
  constexpr int kCallers = 100;
  std::vector<grove::GreenThreadHandle> callers;
  const auto t0 = Clock::now();
  for (int c = 0; c < kCallers; ++c) {
    callers.push_back(grove::spawn([per_caller] {
      for (long i = 0; i < per_caller; ++i) grove::run_in_thread([] {});
    }));
  }
  grove::joinall(callers);
  return elapsed_ns(t0) / 1000.0 / static_cast<double>(kCallers * per_caller);
}

}  // namespace

int main(int argc, char** argv) {
  const bool smoke = argc > 1 && std::strcmp(argv[1], "--smoke") == 0;
  const long iters = smoke ? 20000 : 5000000;
  const long pool_iters = smoke ? 200 : 50000;
  const int reps = smoke ? 3 : 5;
  grove::run_in_thread([] {});  // start the pool's workers outside the timed runs

  std::vector<double> raw, ch, sem, q, rit, burst;
  for (int r = 0; r < reps; ++r) {  // interleaved, so a noisy neighbour hits all alike
    raw.push_back(bench::raw_switch_ns(iters * 2));
    ch.push_back(channel_handoff_ns(iters));
    sem.push_back(semaphore_handoff_ns(iters));
    q.push_back(queue_handoff_ns(iters));
    rit.push_back(run_in_thread_us(pool_iters));
    burst.push_back(run_in_thread_burst_us(pool_iters / 100));
  }
  const double rs = median(raw), c = median(ch);
  std::printf("raw_switch_ns: %.2f ns\n", rs);
  std::printf("channel_handoff_ns: %.2f ns\n", c);
  std::printf("channel_handoff_vs_raw_switch: %.2f x\n", c / rs);
  std::printf("semaphore_handoff_ns: %.2f ns\n", median(sem));
  std::printf("queue_handoff_ns: %.2f ns\n", median(q));
  std::printf("run_in_thread_us: %.2f us\n", median(rit));
  std::printf("run_in_thread_burst_us: %.2f us\n", median(burst));
  return 0;
}
