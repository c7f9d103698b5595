// deadlock.cpp: two std::threads that take two std::mutex in opposite orders, and a
// main that joins them. Natively it hangs for ever. Built without grove and run under
// LD_PRELOAD=libgrove_monkey.so GROVE_MONKEY=all (run_deadlock.py), it must end with
// grove's LoopExit naming both threads and the mutex waits.
#include <pthread.h>

#include <chrono>
#include <mutex>
#include <thread>

int main() {
  std::mutex m1, m2;
  std::thread a([&] {
    pthread_setname_np(pthread_self(), "lock-a-then-b");
    std::lock_guard<std::mutex> g1(m1);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::lock_guard<std::mutex> g2(m2);
  });
  std::thread b([&] {
    pthread_setname_np(pthread_self(), "lock-b-then-a");
    std::lock_guard<std::mutex> g2(m2);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::lock_guard<std::mutex> g1(m1);
  });
  a.join();
  b.join();
  return 0;
}
