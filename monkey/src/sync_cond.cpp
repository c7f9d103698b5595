// sync_cond.cpp: pthread_cond_* made hybrid (green threads park, OS threads sleep).
//
// glibc's condition variable (the G1/G2 group algorithm) sleeps on futexes inside
// glibc, where no hook can see them, and unlocks the caller's mutex with glibc's own
// internal call. So with threads patched, every private condition variable is this
// one instead, for every caller: a sequence word that each signal bumps, and a count
// of waiters.
//
//   wait:      (mutex held) read seq; waiters += 1; unlock; sleep while seq is what
//              was read (sync_park.hpp: park or futex); waiters -= 1; relock.
//   signal:    seq += 1; if waiters: wake one sleeper (a green one first).
//   broadcast: seq += 1; if waiters: wake every sleeper.
//
// A signal made after the waiter released the mutex changes seq after the waiter read
// it, so the waiter either sees the change before it sleeps or is woken; a signal
// that finds no waiter costs one increment and one load. Wake-ups may be spurious (a
// woken waiter re-checks its predicate, as POSIX requires of every caller).
//
// The layout: seq and waiters in the first two words, which glibc's initializer and
// pthread_cond_init zero; __wrefs keeps glibc's attribute bits (process-shared, and
// the clock of pthread_cond_timedwait), set by the real pthread_cond_init. A
// process-shared condition variable stays glibc's: its waiters may be in another
// process. So is one that still has glibc waiters (__wrefs counts them, in units of 8):
// threads that started waiting before the area was patched (a thread pool's idle
// workers, grove's own) sleep in glibc's futexes, where only glibc's signal reaches
// them, so every call on it is glibc's until they have all left; then it becomes this
// one. The two kinds of waiter never share the object: a waiter decides while it
// holds the mutex, and glibc's wait counts itself in __wrefs before it releases the
// mutex, so every later waiter sees it and goes to glibc too; the count reaches zero
// only in a leaving waiter's last access to the object (glibc's confirm_wakeup), after
// which glibc touches nothing here. Only waiters that break POSIX's rule (waiting
// without holding the mutex, or with two mutexes on one condition variable) could
// split between the two at that moment.
//
// Interrupts: a kill or grove::Timeout that lands while a green thread waits ends the
// wait as a spurious wake-up (0: the mutex is held again; ETIMEDOUT from a timed wait
// for a Timeout), told once as monkey tells C code everything; the interrupt stays
// pending for the next grove call. pthread_cond_destroy waits until every woken
// waiter has left the object, as glibc's does.
#include <pthread.h>
#include <sys/syscall.h>

#include <cerrno>
#include <climits>

#include "sync_mutex.hpp"
#include "sync_park.hpp"

using namespace grove::monkey::detail;
using grove::detail::Hub;

#include "thread_hook.hpp"  // GROVE_HOOK: exported except under ASan / TSan

namespace {

constexpr std::size_t kWrefs = 36;  // offsetof(__pthread_cond_s, __wrefs)
constexpr std::uint32_t kSharedBit = 1;
constexpr std::uint32_t kMonotonicBit = 2;

std::atomic<std::uint32_t>* seq_of(pthread_cond_t* c) noexcept { return word_at(c, 0); }
std::atomic<std::uint32_t>* waiters_of(pthread_cond_t* c) noexcept { return word_at(c, 4); }
std::uint32_t wrefs(pthread_cond_t* c) noexcept { return word_at(c, kWrefs)->load(std::memory_order_relaxed); }

constexpr std::uint32_t kGlibcWaiterShift = 3;  // __wrefs: glibc's waiters, from bit 3

bool cond_is_real(pthread_cond_t* c) noexcept {
  const std::uint32_t w = wrefs(c);
  return (w & kSharedBit) || (w >> kGlibcWaiterShift) != 0;
}
clockid_t cond_clock(pthread_cond_t* c) noexcept {
  return (wrefs(c) & kMonotonicBit) ? CLOCK_MONOTONIC : CLOCK_REALTIME;
}

int unlock_any(pthread_mutex_t* m, Hub* hub) noexcept {
  return mutex_is_real(m) ? sync_real().mutex_unlock(m) : mutex_unlock(m, hub);
}
void relock_any(pthread_mutex_t* m, Hub* hub) noexcept {
  if (mutex_is_real(m)) {
    sync_real().mutex_lock(m);
  } else {
    mutex_lock(m, hub, CLOCK_REALTIME, nullptr, false, false);
  }
}

int cond_wait(pthread_cond_t* c, pthread_mutex_t* m, Hub* hub, clockid_t clock, const timespec* abs) noexcept {
  if (bad_timespec(abs)) return EINVAL;
  std::atomic<std::uint32_t>* seq = seq_of(c);
  const std::uint32_t seen = seq->load(std::memory_order_seq_cst);
  waiters_of(c)->fetch_add(1, std::memory_order_seq_cst);
  const bool plain = !mutex_is_real(m);
  const unsigned depth = plain ? mutex_depth(m) : 1;
  if (depth > 1) mutex_set_depth(m, 1);  // released entirely, restored after
  if (const int e = unlock_any(m, hub)) {
    if (depth > 1) mutex_set_depth(m, depth);
    waiters_of(c)->fetch_sub(1, std::memory_order_seq_cst);
    return e;  // EPERM: an error-checking mutex the caller does not hold
  }
  const int r = wait_word(hub, seq, seen, clock, abs, true, abs ? "pthread_cond_timedwait" : "pthread_cond_wait");
  waiters_of(c)->fetch_sub(1, std::memory_order_seq_cst);
  relock_any(m, hub);
  if (depth > 1) mutex_set_depth(m, depth);
  if (r == ETIMEDOUT) return ETIMEDOUT;
  if (r == EINTR && hub) {
    const int e = take_interrupt_after(*hub, grove::detail::WakeReason::kInterrupted, "pthread_cond_wait");
    if (e == ETIMEDOUT && abs) return ETIMEDOUT;
  }
  return 0;
}

int cond_wake(pthread_cond_t* c, int n) noexcept {
  seq_of(c)->fetch_add(1, std::memory_order_seq_cst);
  if (waiters_of(c)->load(std::memory_order_seq_cst) == 0) return 0;
  wake_waiters(seq_of(c), n);
  return 0;
}

}  // namespace

GROVE_HOOK int pthread_cond_wait(pthread_cond_t* c, pthread_mutex_t* m) {
  if (!threads_on() || cond_is_real(c)) [[likely]] return sync_real().cond_wait(c, m);
  return cond_wait(c, m, sync_hub(__builtin_return_address(0)), CLOCK_REALTIME, nullptr);
}

GROVE_HOOK int pthread_cond_timedwait(pthread_cond_t* c, pthread_mutex_t* m, const timespec* abs) {
  if (!threads_on() || cond_is_real(c)) [[likely]] return sync_real().cond_timedwait(c, m, abs);
  return cond_wait(c, m, sync_hub(__builtin_return_address(0)), cond_clock(c), abs);
}

GROVE_HOOK int pthread_cond_clockwait(pthread_cond_t* c, pthread_mutex_t* m, clockid_t clock, const timespec* abs) {
  if (!threads_on() || cond_is_real(c)) [[likely]] return sync_real().cond_clockwait(c, m, clock, abs);
  if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC) return EINVAL;
  return cond_wait(c, m, sync_hub(__builtin_return_address(0)), clock, abs);
}

GROVE_HOOK int pthread_cond_signal(pthread_cond_t* c) {
  if (!threads_on() || cond_is_real(c)) [[likely]] return sync_real().cond_signal(c);
  return cond_wake(c, 1);
}

GROVE_HOOK int pthread_cond_broadcast(pthread_cond_t* c) {
  if (!threads_on() || cond_is_real(c)) [[likely]] return sync_real().cond_broadcast(c);
  return cond_wake(c, INT_MAX);
}

GROVE_HOOK int pthread_cond_destroy(pthread_cond_t* c) {
  if (threads_on() && !cond_is_real(c)) {
    // Woken waiters still decrement the count: wait for them to leave the object.
    Hub* hub = sync_hub(__builtin_return_address(0));
    while (waiters_of(c)->load(std::memory_order_acquire) != 0) {
      if (hub) {
        park_sleep(*hub, 0, "pthread_cond_destroy");
      } else {
        sync_real().syscall(SYS_sched_yield);
      }
    }
  }
  return sync_real().cond_destroy(c);  // glibc's, on an object with no glibc waiter: a no-op
}
