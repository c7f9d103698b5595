// Lock and Semaphore: mutual exclusion and bounded concurrency across parking calls.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <vector>

#include <grove/grove.hpp>

using namespace std::chrono_literals;

int main() {
  // Lock: green threads run one at a time, but a read-park-write sequence still
  // needs a lock when it parks in the middle (std::lock_guard works with grove's locks).
  grove::Lock mu;
  int balance = 0;
  std::vector<grove::GreenThreadHandle> depositors;
  for (int i = 0; i < 10; ++i) {
    depositors.push_back(grove::spawn([&] {
      std::lock_guard guard(mu);
      int b = balance;
      grove::sleep(1ms);  // parks while holding the lock
      balance = b + 10;
    }));
  }
  grove::joinall(depositors);
  std::printf("balance: %d\n", balance);

  // Semaphore(2): at most two jobs inside at once (a buffered channel of tokens in Go).
  grove::Semaphore slots(2);
  int running = 0, peak = 0;
  std::vector<grove::GreenThreadHandle> jobs;
  for (int i = 0; i < 6; ++i) {
    jobs.push_back(grove::spawn([&] {
      std::lock_guard guard(slots);
      peak = std::max(peak, ++running);
      grove::sleep(2ms);
      --running;
    }));
  }
  grove::joinall(jobs);
  std::printf("peak concurrency: %d\n", peak);
  return balance == 100 && peak == 2 ? 0 : 1;
}
