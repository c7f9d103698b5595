// The thread pool: run a blocking function on an OS thread; only the caller waits.
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include <grove/grove.hpp>

using namespace std::chrono_literals;

// Stands for anything that blocks the OS thread: a regular-file read, a compression,
// a C library without a non-blocking API.
long slow_sum(long n) {
  std::this_thread::sleep_for(20ms);
  long s = 0;
  for (long i = 1; i <= n; ++i) s += i;
  return s;
}

int main() {
  int ticks = 0;
  auto ticker = grove::spawn([&] {
    for (int i = 0; i < 5; ++i) {
      ++ticks;
      grove::sleep(1ms);
    }
  });

  // gevent's threadpool.spawn(...).get(): parks main until the worker returns; the
  // ticker keeps running meanwhile. Exceptions come back to the caller.
  long sum = grove::run_in_thread([] { return slow_sum(1000); });
  std::printf("sum=%ld\n", sum);
  ticker.join();

  // A pool of your own, with two workers (the default pool has GROVE_THREADPOOL_SIZE, 10).
  grove::ThreadPool pool(2);
  std::string text = pool.run([] { return std::string("computed on a worker"); });
  std::printf("%s; ticks=%d\n", text.c_str(), ticks);
  return sum == 500500 && ticks == 5 ? 0 : 1;
}
