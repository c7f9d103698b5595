// mutex_bench: std::mutex and std::condition_variable, written without grove, timed
// natively and under LD_PRELOAD=libgrove_monkey.so (run_mutex.py runs all three):
//
//   native        no preload: glibc's pthread functions
//   hooked, off   preloaded, GROVE_MONKEY unset: every hook is one load and a
//                 branch before glibc's function
//   patched       preloaded, GROVE_MONKEY=threads: the threads started below are
//                 green threads of one OS thread, and their locks grove's hybrid ones
//
// Prints `name: value unit` lines (median of 5 runs):
//   mutex_uncontended_ns   lock + unlock of a std::mutex nobody else wants, in a thread
//                          the program started (green when patched); that thread's CPU
//                          time, so that a busy machine does not count
//   mutex_handoff_ns       one-way hand-off between two threads: a ping-pong where each
//                          waits on a std::condition_variable for its turn under one
//                          std::mutex (two OS threads natively, two green threads of one
//                          OS thread when patched)
//   mutex_contended_ns     per lock + unlock, two threads each incrementing a shared
//                          counter under one std::mutex (natively true contention on two
//                          cores; green threads of one OS thread never overlap)
//
//   mutex_bench [--smoke]
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double ns_since(Clock::time_point t0, long ops) {
  return std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / static_cast<double>(ops);
}

// CPU time of the calling thread: the machine may be shared, and a loop that runs
// alone on its thread is measured best by the time it ran, not the time it waited.
double thread_cpu_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Run in a thread of the program's own, as a thread-per-connection server's code runs.
template <class F>
double in_thread(F f) {
  double r = 0;
  std::thread t([&] { r = f(); });
  t.join();
  return r;
}

double uncontended(long n) {
  return in_thread([n] {
    std::mutex mu;
    long x = 0;
    const double t0 = thread_cpu_ns();
    for (long i = 0; i < n; ++i) {
      mu.lock();
      x += i;
      mu.unlock();
    }
    asm volatile("" : : "r"(x));
    return (thread_cpu_ns() - t0) / static_cast<double>(n);
  });
}

double handoff(long rounds) {
  std::mutex mu;
  std::condition_variable cv;
  int turn = 0;
  const auto t0 = Clock::now();
  auto player = [&](int me) {
    std::unique_lock<std::mutex> lk(mu);
    for (long r = 0; r < rounds; ++r) {
      cv.wait(lk, [&] { return turn == me; });
      turn = 1 - me;
      cv.notify_one();
    }
  };
  std::thread a(player, 0), b(player, 1);
  a.join();
  b.join();
  return ns_since(t0, rounds * 2);
}

double contended(long n) {
  std::mutex mu;
  long counter = 0;
  const auto t0 = Clock::now();
  auto inc = [&] {
    for (long i = 0; i < n; ++i) {
      std::lock_guard<std::mutex> g(mu);
      ++counter;
    }
  };
  std::thread a(inc), b(inc);
  a.join();
  b.join();
  if (counter != 2 * n) std::fprintf(stderr, "counter %ld, want %ld\n", counter, 2 * n);
  return ns_since(t0, 2 * n);
}

}  // namespace

int main(int argc, char** argv) {
  const bool smoke = argc > 1 && std::strcmp(argv[1], "--smoke") == 0;
  const long n = smoke ? 100000 : 5000000;
  const long rounds = smoke ? 2000 : 50000;
  const long m = smoke ? 100000 : 2000000;
  std::vector<double> u, h, c;
  for (int i = 0; i < 5; ++i) {
    u.push_back(uncontended(n));
    h.push_back(handoff(rounds));
    c.push_back(contended(m));
  }
  std::printf("mutex_uncontended_ns: %.2f ns\n", median(u));
  std::printf("mutex_handoff_ns: %.1f ns\n", median(h));
  std::printf("mutex_contended_ns: %.2f ns\n", median(c));
  return 0;
}
