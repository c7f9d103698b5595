// sync_park.hpp: how the threads area's locks wait, for green threads and OS threads.
//
// The pthread objects (mutexes, condition variables, rwlocks, barriers, unnamed
// semaphores) live in the program's own storage, so the hooks keep their state there,
// in words glibc's layout already has (a mutex's state is glibc's own lock word; see
// sync_mutex.cpp). Every wait is "sleep while this 32-bit word still holds the value I
// saw", the futex contract, and there are two kinds of sleepers on one word:
//
//   - an OS thread (no hub, a pool worker, the hub's own context, grove's own code)
//     sleeps in the kernel: futex(FUTEX_WAIT) on the word;
//   - a green thread parks on its hub, after linking a SyncWaiter (on its own stack)
//     into a bucket of a process-wide table keyed by the word's address, as a futex
//     waiter is queued in the kernel. Park and unpark check and link under the
//     bucket's lock, so a wake between "saw the value" and "parked" is never lost.
//
// Whoever changes the word and may have sleepers wakes both kinds: unpark() wakes
// green waiters (directly on the same hub, through the waiter's hub inbox from any
// other OS thread), and the kernel wakes the OS ones (futex_wake). A side table keyed
// by address (rather than waiter lists inside the object) keeps the objects' layout
// glibc's: a pthread_mutex_t initialized by PTHREAD_MUTEX_INITIALIZER (zeros) or by
// the real pthread_mutex_init is ready as it is, and a mutex locked before the area
// was patched is unlocked correctly after. A bucket keeps a count of its waiters, so
// a wake with no green waiter anywhere costs one load, not a lock.
//
// Deadlock: a green thread that waits for something only a green thread of its own
// hub can give (a mutex another green thread here holds) parks without a hold, so
// the hub's deadlock check sees it (LoopExit names every parked green thread). One
// that may be woken from another OS thread holds its hub's inbox (HubInbox::hold),
// as grove's cross-hub objects do: the hub then waits for that thread.
#pragma once

#include <linux/futex.h>
#include <pthread.h>
#include <semaphore.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <memory>

#include "coop.hpp"
#include "sync/hub_inbox.hpp"

namespace grove::monkey::detail {

// ---------------------------------------------------------------- the real functions

// The next definitions of the threads area's sync hooks. Each pointer starts at a stub
// that resolves the whole table and calls through it (a library's constructor may
// lock a mutex before monkey's constructors ran); a constructor resolves it at load.
// So a hook with the area off is one load of g_patched, a branch, and an indirect
// call, with no "resolved yet?" test.
struct SyncReal {
  int (*mutex_lock)(pthread_mutex_t*);
  int (*mutex_trylock)(pthread_mutex_t*);
  int (*mutex_timedlock)(pthread_mutex_t*, const timespec*);
  int (*mutex_clocklock)(pthread_mutex_t*, clockid_t, const timespec*);
  int (*mutex_unlock)(pthread_mutex_t*);
  int (*cond_wait)(pthread_cond_t*, pthread_mutex_t*);
  int (*cond_timedwait)(pthread_cond_t*, pthread_mutex_t*, const timespec*);
  int (*cond_clockwait)(pthread_cond_t*, pthread_mutex_t*, clockid_t, const timespec*);
  int (*cond_signal)(pthread_cond_t*);
  int (*cond_broadcast)(pthread_cond_t*);
  int (*cond_destroy)(pthread_cond_t*);
  int (*rwlock_rdlock)(pthread_rwlock_t*);
  int (*rwlock_wrlock)(pthread_rwlock_t*);
  int (*rwlock_tryrdlock)(pthread_rwlock_t*);
  int (*rwlock_trywrlock)(pthread_rwlock_t*);
  int (*rwlock_timedrdlock)(pthread_rwlock_t*, const timespec*);
  int (*rwlock_timedwrlock)(pthread_rwlock_t*, const timespec*);
  int (*rwlock_clockrdlock)(pthread_rwlock_t*, clockid_t, const timespec*);
  int (*rwlock_clockwrlock)(pthread_rwlock_t*, clockid_t, const timespec*);
  int (*rwlock_unlock)(pthread_rwlock_t*);
  int (*barrier_wait)(pthread_barrier_t*);
  int (*spin_lock)(pthread_spinlock_t*);
  int (*spin_trylock)(pthread_spinlock_t*);
  int (*sem_wait)(sem_t*);
  int (*sem_trywait)(sem_t*);
  int (*sem_timedwait)(sem_t*, const timespec*);
  int (*sem_clockwait)(sem_t*, clockid_t, const timespec*);
  int (*sem_post)(sem_t*);
  long (*syscall)(long, ...);
};
extern SyncReal g_sync_real;
void resolve_sync_real() noexcept;
inline const SyncReal& sync_real() noexcept { return g_sync_real; }

// Set when the threads area is first patched and never cleared (patch.cpp): the locks
// keep their own encoding in glibc's storage (a rwlock's or a condition variable's
// words differ from glibc's), so once a lock may hold it, every later call must read
// it the same way, even after unpatch_all(). With the area off they stay hybrid
// locks with no hub to park on: every caller sleeps as an OS thread (sync_hub()).
extern std::atomic<bool> g_locks_hybrid;

// True when the locks are the hybrid ones: one relaxed load (the hooks' off path).
inline bool threads_on() noexcept { return g_locks_hybrid.load(std::memory_order_relaxed); }

// The hub a sync hook may park the caller on, or nullptr: the caller sleeps as an OS
// thread. `ret` is the hook's return address: grove's own locks stay OS locks (they
// are held for a few instructions, never across a park, and the hub's own context
// takes some of them).
grove::detail::Hub* sync_hub(const void* ret) noexcept;

// This OS thread's kernel thread id (cached; reset in a fork() child).
int sync_tid() noexcept;

// ---------------------------------------------------------------- futex, raw

// The kernel's futex, through libc's syscall() itself (monkey's syscall hook would
// route it back here). Returns 0 or -errno.
long futex_raw(void* addr, int op, std::uint32_t val, const timespec* ts, std::uint32_t val3) noexcept;

// Sleeps while *word == expected, until woken, or until the absolute time `abs` on
// `clock` (nullptr: none). 0 (woken, maybe spuriously), -EAGAIN (the word differs),
// -ETIMEDOUT, -EINTR.
long futex_wait_abs(std::atomic<std::uint32_t>* word, std::uint32_t expected, clockid_t clock,
                    const timespec* abs, bool shared = false) noexcept;
// Wakes up to n OS threads sleeping on word. Returns how many.
long futex_wake(std::atomic<std::uint32_t>* word, int n, bool shared = false) noexcept;

// ---------------------------------------------------------------- green waiters

// A parked green thread's record, on its own stack; linked in its bucket while it
// waits. Also the inbox entry that wakes it from another OS thread.
struct SyncWaiter final : grove::detail::InboxEntry {
  const void* key = nullptr;
  SyncWaiter* prev = nullptr;
  SyncWaiter* link_next = nullptr;
  grove::detail::GreenThreadState* gt = nullptr;
  std::uint64_t hub_serial = 0;
  std::shared_ptr<grove::detail::HubInbox> inbox;  // its hub's (alive while it is linked)
  bool linked = false;
  bool woken = false;  // unpark() took it out and woke it (under the bucket's lock)
  void run() noexcept override;
  void drop() noexcept override {}
};

enum class Parked { kWoken, kMismatch, kTimedOut, kInterrupted };

// Parks the running green thread on `word` while it holds `expected` (checked under
// the bucket's lock), for at most `seconds` (< 0: no limit). `hold`: another OS thread
// may wake it (see the deadlock note above). kInterrupted: a kill, a Timeout or
// LoopExit woke it (nothing is taken; the interrupt stays pending). A kWoken may be
// spurious: callers re-check their condition.
Parked park_on(grove::detail::Hub& hub, const std::atomic<std::uint32_t>* word, std::uint32_t expected,
               double seconds, bool hold, const char* what) noexcept;

// Wakes up to n green threads parked on `word` (any hub); returns how many.
int unpark(const void* word, int n) noexcept;

// True if some green thread may be parked on `word` (one load of its bucket's count).
bool may_have_green_waiters(const void* word) noexcept;

// Wakes up to n sleepers of `word`, green ones first; returns how many.
inline int wake_waiters(std::atomic<std::uint32_t>* word, int n) noexcept {
  int woken = may_have_green_waiters(word) ? unpark(word, n) : 0;
  if (woken < n) woken += static_cast<int>(futex_wake(word, n - woken));
  return woken;
}

// Waits while *word == expected for a caller of either kind: parks a green thread
// (hub != nullptr), sleeps an OS thread in the kernel. `abs` on `clock` is an absolute
// deadline (nullptr: none). Returns 0 (woken or the word differs: re-check),
// ETIMEDOUT, or EINTR (a green thread's interrupt; an OS thread's signal).
int wait_word(grove::detail::Hub* hub, std::atomic<std::uint32_t>* word, std::uint32_t expected, clockid_t clock,
              const timespec* abs, bool hold, const char* what) noexcept;

// Seconds from now until the absolute time `abs` on `clock` (may be <= 0).
double seconds_until(clockid_t clock, const timespec& abs) noexcept;

// True if a timespec is not a valid absolute time (EINVAL for the timed calls).
inline bool bad_timespec(const timespec* ts) noexcept {
  return ts && (ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L);
}

// An atomic view of a 32-bit word of a pthread object's storage.
inline std::atomic<std::uint32_t>* word_at(void* obj, std::size_t offset) noexcept {
  return reinterpret_cast<std::atomic<std::uint32_t>*>(static_cast<char*>(obj) + offset);
}

}  // namespace grove::monkey::detail
