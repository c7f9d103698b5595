// sync_sem.cpp: unnamed semaphores (sem_init with pshared 0), barriers and spin locks
// from green threads.
//
// Semaphores keep glibc's layout and protocol (the value in the low word, the number
// of sleepers in the high word, `private` after them): sem_post adds one and, if it
// sees sleepers, wakes one (a green one first, sync_park.hpp); a waiter counts itself,
// then sleeps while the value is 0. sem_init, sem_getvalue and sem_destroy stay
// glibc's. Named semaphores (sem_open) and process-shared ones are glibc's too: their
// sleepers may be in other processes. A kill or grove::Timeout ends a green sem_wait
// with -1 and ECANCELED / ETIMEDOUT, told once, as the other hooks do (an OS thread's
// signal: EINTR, as glibc).
//
// Barriers use glibc's storage (count and pshared set by the real pthread_barrier_init)
// with an algorithm of their own over its first two words, updated together by one
// 64-bit compare-and-swap: the arrivals of this round and the round number. The last
// arrival starts the next round and wakes everyone; the others sleep while the round
// is the one they joined. Interrupts do not end a barrier wait.
//
// Spin locks stay glibc's, except that a green thread that finds one held lets the
// other green threads of its hub run between tries (a spin on one OS thread would
// otherwise never let the holder, parked on the same thread, release it).
#include <pthread.h>
#include <semaphore.h>

#include <cerrno>
#include <climits>

#include "sync_park.hpp"

using namespace grove::monkey::detail;
using grove::detail::Hub;

#include "thread_hook.hpp"  // GROVE_HOOK: exported except under ASan / TSan

namespace {

// ---------------------------------------------------------------- semaphores

std::atomic<std::uint32_t>* value_of(sem_t* s) noexcept { return word_at(s, 0); }
std::atomic<std::uint32_t>* sleepers_of(sem_t* s) noexcept { return word_at(s, 4); }
bool sem_is_real(sem_t* s) noexcept { return word_at(s, 8)->load(std::memory_order_relaxed) != 0; }

bool try_take(sem_t* s) noexcept {
  std::uint32_t v = value_of(s)->load(std::memory_order_relaxed);
  while (v > 0) {
    if (value_of(s)->compare_exchange_weak(v, v - 1, std::memory_order_acquire)) return true;
  }
  return false;
}

int sem_fail(int e) noexcept {
  errno = e;
  return -1;
}

int sem_wait_any(sem_t* s, Hub* hub, clockid_t clock, const timespec* abs) noexcept {
  if (try_take(s)) return 0;
  if (bad_timespec(abs) || (abs && clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC)) return sem_fail(EINVAL);
  sleepers_of(s)->fetch_add(1, std::memory_order_seq_cst);
  int result = 0;
  for (;;) {
    if (try_take(s)) break;
    const int r = wait_word(hub, value_of(s), 0, clock, abs, true, "sem_wait");
    if (r == ETIMEDOUT) {
      result = sem_fail(ETIMEDOUT);
      break;
    }
    if (r == EINTR) {
      const int e = hub ? take_interrupt_after(*hub, grove::detail::WakeReason::kInterrupted, "sem_wait") : EINTR;
      if (e) {
        result = sem_fail(e);
        break;
      }
    }
  }
  sleepers_of(s)->fetch_sub(1, std::memory_order_relaxed);
  return result;
}

int sem_post_any(sem_t* s) noexcept {
  std::uint32_t v = value_of(s)->load(std::memory_order_relaxed);
  do {
    if (v >= static_cast<std::uint32_t>(SEM_VALUE_MAX)) return sem_fail(EOVERFLOW);
  } while (!value_of(s)->compare_exchange_weak(v, v + 1, std::memory_order_seq_cst));
  if (sleepers_of(s)->load(std::memory_order_seq_cst) != 0) wake_waiters(value_of(s), 1);
  return 0;
}

// ---------------------------------------------------------------- barriers

constexpr std::size_t kBarrierCount = 8;
constexpr std::size_t kBarrierShared = 12;

int barrier_wait(pthread_barrier_t* b, Hub* hub) noexcept {
  auto* pair = reinterpret_cast<std::atomic<std::uint64_t>*>(b);  // in (low), round (high)
  std::atomic<std::uint32_t>* round_word = word_at(b, 4);
  const std::uint32_t count = word_at(b, kBarrierCount)->load(std::memory_order_relaxed);
  std::uint64_t v = pair->load(std::memory_order_acquire);
  std::uint32_t round;
  for (;;) {
    const auto in = static_cast<std::uint32_t>(v);
    round = static_cast<std::uint32_t>(v >> 32);
    if (in + 1 >= count) {
      const std::uint64_t next = static_cast<std::uint64_t>(round + 1) << 32;
      if (pair->compare_exchange_weak(v, next, std::memory_order_acq_rel)) {
        wake_waiters(round_word, INT_MAX);
        return PTHREAD_BARRIER_SERIAL_THREAD;
      }
    } else if (pair->compare_exchange_weak(v, v + 1, std::memory_order_acq_rel)) {
      break;
    }
  }
  while (round_word->load(std::memory_order_acquire) == round) {
    wait_word(hub, round_word, round, CLOCK_MONOTONIC, nullptr, true, "pthread_barrier_wait");
  }
  return 0;
}

}  // namespace

GROVE_HOOK int sem_wait(sem_t* s) {
  if (!threads_on() || sem_is_real(s)) [[likely]] return sync_real().sem_wait(s);
  return sem_wait_any(s, sync_hub(__builtin_return_address(0)), CLOCK_REALTIME, nullptr);
}
GROVE_HOOK int sem_trywait(sem_t* s) {
  if (!threads_on() || sem_is_real(s)) [[likely]] return sync_real().sem_trywait(s);
  return try_take(s) ? 0 : sem_fail(EAGAIN);
}
GROVE_HOOK int sem_timedwait(sem_t* s, const timespec* abs) {
  if (!threads_on() || sem_is_real(s)) [[likely]] return sync_real().sem_timedwait(s, abs);
  return sem_wait_any(s, sync_hub(__builtin_return_address(0)), CLOCK_REALTIME, abs);
}
GROVE_HOOK int sem_clockwait(sem_t* s, clockid_t clock, const timespec* abs) {
  if (!threads_on() || sem_is_real(s)) [[likely]] return sync_real().sem_clockwait(s, clock, abs);
  return sem_wait_any(s, sync_hub(__builtin_return_address(0)), clock, abs);
}
GROVE_HOOK int sem_post(sem_t* s) {
  if (!threads_on() || sem_is_real(s)) [[likely]] return sync_real().sem_post(s);
  return sem_post_any(s);
}

GROVE_HOOK int pthread_barrier_wait(pthread_barrier_t* b) {
  if (!threads_on() || word_at(b, kBarrierShared)->load(std::memory_order_relaxed) != 0) [[likely]] {
    return sync_real().barrier_wait(b);
  }
  return barrier_wait(b, sync_hub(__builtin_return_address(0)));
}

GROVE_HOOK int pthread_spin_lock(pthread_spinlock_t* l) {
  Hub* hub = threads_on() ? sync_hub(__builtin_return_address(0)) : nullptr;
  if (!hub) [[likely]] return sync_real().spin_lock(l);
  for (;;) {
    // glibc's own try (its encoding is per architecture: x86-64's free lock is 1).
    for (int i = 0; i < 100; ++i) {
      if (sync_real().spin_trylock(l) == 0) return 0;
      __builtin_ia32_pause();
    }
    park_sleep(*hub, 0, "pthread_spin_lock");  // let the holder (maybe on this OS thread) run
  }
}
