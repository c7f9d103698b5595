// exit_parked.cpp: a program that ends (main returns, or calls exit()) while its
// threads are still blocked: one in pthread_mutex_lock on a mutex main holds, one in
// a condition variable wait, one in recv() on a socket no one writes to, one in a long
// sleep, and (mode "unstarted") one created just before main returns. A native
// process just ends its threads, silently. Built without grove and run under
// LD_PRELOAD=libgrove_monkey.so GROVE_MONKEY=all (run_exit_parked.py), the threads
// are green threads parked on main's hub: the process must end the same way, with
// nothing on stderr and the program's own exit status.
//
// usage: exit_parked return|exit|unstarted
// Prints "threads N" (the kernel's thread count of the process, just before it ends).
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>

namespace {

std::atomic<int> blocking{0};  // threads about to block

int os_threads() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::atoi(line.c_str() + 8);
  }
  return -1;
}

void* raw_thread(void* fd) {
  char c;
  ++blocking;
  return reinterpret_cast<void*>(::recv(*static_cast<int*>(fd), &c, 1, 0));  // never returns
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "return";
  // Never destroyed (glibc's pthread_cond_destroy waits for the waiters to leave):
  // the process ends with them in use.
  std::mutex& held = *new std::mutex;
  held.lock();  // held until the process ends
  std::mutex& m = *new std::mutex;
  std::condition_variable& cv = *new std::condition_variable;
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 100;

  std::thread([&] {
    ++blocking;
    held.lock();
  }).detach();
  std::thread([&] {
    std::unique_lock<std::mutex> lk(m);
    ++blocking;
    cv.wait(lk, [] { return false; });
  }).detach();
  std::thread([] {
    ++blocking;
    std::this_thread::sleep_for(std::chrono::hours(1));
  }).detach();
  pthread_t joinable;  // never joined
  if (pthread_create(&joinable, nullptr, raw_thread, &sv[0]) != 0) return 101;

  // Let the four reach their blocking calls (bounded: 5 s).
  for (int i = 0; i < 500 && blocking.load() < 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (blocking.load() < 4) return 102;
  std::this_thread::sleep_for(std::chrono::milliseconds(20));

  std::printf("threads %d\n", os_threads());
  std::fflush(stdout);
  if (mode == "exit") std::exit(4);
  if (mode == "unstarted") {
    std::thread([&] { held.lock(); }).detach();  // green: never runs before the exit
    return 5;
  }
  return 3;
}
