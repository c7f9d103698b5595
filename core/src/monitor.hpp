// monitor.hpp: the blocked-hub monitor (GROVE_MAX_BLOCKING_MS).
//
// A hub timer cannot fire while the hub is blocked, so the monitor is an OS thread of
// its own. It samples the hub's switch counter every threshold/4: if the counter has
// not moved for longer than the threshold while the hub is not idle in epoll_wait, the
// running green thread is keeping every other one from running. The monitor logs a
// warning then (naming it, with its call stack: stack_sample.hpp samples the hub's
// OS thread), and again when it finally switches, with the total time.
#pragma once

#include <pthread.h>

#include <condition_variable>
#include <mutex>
#include <thread>

namespace grove::detail {

class Hub;

class Monitor {
 public:
  Monitor(Hub& hub, int max_blocking_ms);
  ~Monitor();
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

 private:
  void run();

  Hub& hub_;
  pthread_t hub_thread_;  // the OS thread the monitor is created on: the hub's
  int max_blocking_ms_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace grove::detail
