// kernel_mutex.hpp: a mutex that stays glibc's when monkey patches the threads area.
//
// With grove::monkey::patch_threads(), a private pthread mutex becomes hybrid (green
// waiters park, OS waiters sleep in the kernel), and the unlock of a contended one
// looks in monkey's waiter table for green waiters, under the lock of the table's
// bucket for that address (monkey/src/sync_park.hpp). The hub inbox's lock is taken
// *inside* such a bucket lock: a waker on another OS thread posts a parked green
// thread's wake entry while it holds the bucket, so that the waiter cannot leave
// meanwhile. Were the inbox's lock hybrid too, its contended unlock would take a
// bucket lock in turn, and whenever the two addresses share a bucket (1 in 256) one OS
// thread waits for itself, or two wait for each other: the waker sleeps on the inbox
// lock while holding the bucket, and the hub, unlocking the inbox, waits for the
// bucket before it wakes the waker.
//
// A process-shared mutex is one monkey leaves to glibc (sync_mutex.hpp,
// mutex_is_real), so this one never reaches the table. Uncontended it costs what
// std::mutex costs (one compare-and-swap to lock, one swap to unlock); a contended
// wait sleeps on a shared futex, which the kernel keys by page (a little more work per
// sleep, after the callers' own spin: spin_then_lock.hpp).
#pragma once

#include <pthread.h>

namespace grove::detail {

class KernelMutex {
 public:
  KernelMutex() noexcept { init(); }
  KernelMutex(const KernelMutex&) = delete;
  KernelMutex& operator=(const KernelMutex&) = delete;
  ~KernelMutex() { ::pthread_mutex_destroy(&m_); }

  void lock() noexcept { ::pthread_mutex_lock(&m_); }
  bool try_lock() noexcept { return ::pthread_mutex_trylock(&m_) == 0; }
  void unlock() noexcept { ::pthread_mutex_unlock(&m_); }

  // In a fork() child: a new, unlocked mutex (another OS thread may have held this one
  // at the fork, and it does not exist in the child).
  void reinit_after_fork() noexcept { init(); }

 private:
  void init() noexcept {
    pthread_mutexattr_t a;
    ::pthread_mutexattr_init(&a);
    ::pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    ::pthread_mutex_init(&m_, &a);
    ::pthread_mutexattr_destroy(&a);
  }

  pthread_mutex_t m_;
};

}  // namespace grove::detail
