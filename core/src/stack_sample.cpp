// stack_sample.cpp: see stack_sample.hpp.
#include "stack_sample.hpp"

#include <signal.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>

namespace grove::detail {

namespace {

enum SlotState : int { kIdle, kRequested, kWriting, kDone };

// Static storage: a late signal (after the monitor gave up) still finds it.
struct SampleSlot {
  std::atomic<int> state{kIdle};
  unwind::Frames frames;
};
SampleSlot slot;
std::mutex sampling;  // one sample at a time
struct sigaction previous_urg;

void on_sample_signal(int sig, siginfo_t* info, void* uctx) {
  if (info && info->si_code == SI_QUEUE && info->si_value.sival_ptr == &slot) {
    int expected = kRequested;
    if (slot.state.compare_exchange_strong(expected, kWriting, std::memory_order_acquire)) {
      const int saved_errno = errno;
      unwind::from_signal_context(uctx, slot.frames);
      errno = saved_errno;
      slot.state.store(kDone, std::memory_order_release);
    }
    return;
  }
  // Not ours: what was there before.
  if (previous_urg.sa_flags & SA_SIGINFO) {
    if (previous_urg.sa_sigaction) previous_urg.sa_sigaction(sig, info, uctx);
  } else if (previous_urg.sa_handler != SIG_DFL && previous_urg.sa_handler != SIG_IGN) {
    previous_urg.sa_handler(sig);
  }
}

void install_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = &on_sample_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGURG, &sa, &previous_urg);
  });
}

bool wait_for(int state, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (slot.state.load(std::memory_order_acquire) != state) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

}  // namespace

bool sample_thread_stack(pthread_t thread, unwind::Frames& out, int timeout_ms) {
  install_handler();
  std::lock_guard<std::mutex> lk(sampling);
  out.n = 0;
  if (slot.state.load(std::memory_order_acquire) != kIdle) return false;  // a handler never finished
  slot.state.store(kRequested, std::memory_order_release);
  union sigval value;
  value.sival_ptr = &slot;
  if (::pthread_sigqueue(thread, SIGURG, value) != 0) {
    slot.state.store(kIdle, std::memory_order_relaxed);
    return false;
  }
  if (!wait_for(kDone, timeout_ms)) {
    int expected = kRequested;
    // Not delivered yet: withdraw the request (a later signal then does nothing).
    if (slot.state.compare_exchange_strong(expected, kIdle, std::memory_order_acq_rel)) return false;
    // The handler is unwinding right now: it finishes in microseconds.
    if (!wait_for(kDone, 1000)) return false;
  }
  out = slot.frames;
  slot.state.store(kIdle, std::memory_order_release);
  return true;
}

}  // namespace grove::detail
