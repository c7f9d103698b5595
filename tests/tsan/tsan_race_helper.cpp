// tsan_race_helper.cpp: a child process for tsan_live_test.cpp (ThreadSanitizer build
// only). Usage: tsan_race_helper MODE
//   race    two OS threads, each with its own hub, run one green thread each; both
//           green threads increment the same plain int with nothing ordering them:
//           a data race, which TSan reports (exit 66, or as halt_on_error says)
//   locked  the same, with the increments under a std::mutex: no race; exits 0
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>

#include <grove/grove.hpp>

namespace {

int counter = 0;
std::mutex counter_mutex;

// noinline: the report's stack names it, which the test checks.
[[gnu::noinline]] void racing_increment() { counter = counter + 1; }

[[gnu::noinline]] void locked_increment() {
  std::lock_guard<std::mutex> lock(counter_mutex);
  counter = counter + 1;
}

// Relaxed: counts arrivals without ordering anything, so TSan sees no synchronization.
std::atomic<int> incremented{0};

// Runs on an OS thread of its own: its hub runs `fn` on a green thread (not the
// root), after a switch or two, and joins it. The green thread then waits (bounded)
// until the other thread's increment is done too, so that neither hub is gone (its
// exit takes a mutex the other hub's creation took) before both increments happened:
// nothing but `fn` itself may order the two.
void on_a_green_thread(void (*fn)()) {
  grove::spawn([fn] {
    grove::yield();
    fn();
    incremented.fetch_add(1, std::memory_order_relaxed);
    for (int i = 0; i < 10000 && incremented.load(std::memory_order_relaxed) < 2; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }).join();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: tsan_race_helper race|locked\n");
    return 2;
  }
  void (*fn)() = nullptr;
  if (std::strcmp(argv[1], "race") == 0) fn = racing_increment;
  if (std::strcmp(argv[1], "locked") == 0) fn = locked_increment;
  if (!fn) {
    std::fprintf(stderr, "tsan_race_helper: unknown mode %s\n", argv[1]);
    return 2;
  }
  // Each thread is created and joined by main, which orders only main's accesses with
  // theirs: nothing orders the two increments but the mutex of "locked".
  std::thread a(on_a_green_thread, fn);
  std::thread b(on_a_green_thread, fn);
  a.join();
  b.join();
  std::fprintf(stderr, "tsan_race_helper: counter %d\n", counter);
  return 0;
}
