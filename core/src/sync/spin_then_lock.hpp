// spin_then_lock.hpp: taking a mutex that another core holds for a few dozen
// instructions, and pausing in a spin loop (the cross-hub wake path).
//
// glibc's std::mutex blocks in futex_wait as soon as a lock finds it taken, and the
// holder's unlock then makes a futex_wake: two system calls and an OS wake-up, some
// microseconds, where the holder was about to let go within a hundred nanoseconds (a
// poster in a hub's inbox, a granter under a cross-hub object's mutex). Spinning a
// bounded number of try_locks first (as PTHREAD_MUTEX_ADAPTIVE_NP does) keeps a hub
// that spins for its inbox (HubInbox::spin_for_posts) from falling asleep right after.
#pragma once

#include <mutex>

namespace grove::detail {

// The CPU's spin-wait hint (x86 `pause`, Arm `yield`): lets the other hardware thread
// run and leaves the loop without a memory-order mis-speculation.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  asm volatile("yield" ::: "memory");
#endif
}

// Locks `mu` (a std::mutex, or a KernelMutex), trying a bounded number of times (a few
// microseconds at most) before blocking in mu.lock().
template <class Mutex>
inline void spin_then_lock(Mutex& mu) noexcept {
  for (int i = 0; i < 100; ++i) {
    if (mu.try_lock()) return;
    cpu_relax();
  }
  mu.lock();
}

// The same for a unique_lock that does not hold its mutex now.
inline void spin_then_lock(std::unique_lock<std::mutex>& lk) {
  for (int i = 0; i < 100; ++i) {
    if (lk.try_lock()) return;
    cpu_relax();
  }
  lk.lock();
}

}  // namespace grove::detail
