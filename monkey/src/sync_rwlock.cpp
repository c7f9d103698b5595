// sync_rwlock.cpp: pthread_rwlock_* (std::shared_mutex) made hybrid.
//
// glibc's rwlock sleeps on futexes inside glibc, so with threads patched every
// private rwlock is this one, for every caller, in glibc's storage (zeros from
// PTHREAD_RWLOCK_INITIALIZER and from the real pthread_rwlock_init):
//
//   word 0  state: kWriter, or the number of readers (in units of kOneReader)
//   word 1  waiters: callers sleeping (or about to)
//   word 2  seq: bumped by an unlock that finds waiters; sleepers wait on it
//   __cur_writer and __pad2: the writing OS thread's tid and green thread (EDEADLK)
//   __shared: a process-shared rwlock stays glibc's
//
// Word 0 is laid out as glibc's __readers (readers from bit 3, WRLOCKED in bit 1), and
// glibc's other two bits (WRPHASE, RWAITING) are ignored: a rwlock that glibc's own
// code used before the area was patched (a library's constructor, OpenSSL's global
// locks) is left with one of them set while free, and must read as free here.
//
// Readers are preferred, as glibc's default (PTHREAD_RWLOCK_PREFER_READER_NP) does:
// a reader enters whenever no writer holds it. A waiter counts itself, reads seq, then
// re-checks the state, and an unlock changes the state before it reads the count, so
// an unlock that sees no waiter happened before the waiter looked. Every wake wakes
// all sleepers (they re-check; readers all get in). An interrupt (kill, grove::Timeout)
// does not end a wait; a timed one's deadline does (ETIMEDOUT).
#include <pthread.h>

#include <cerrno>
#include <climits>

#include "sync_park.hpp"

using namespace grove::monkey::detail;
using grove::detail::GreenThreadState;
using grove::detail::Hub;

#include "thread_hook.hpp"  // GROVE_HOOK: exported except under ASan / TSan

namespace {

constexpr std::uint32_t kWriter = 2;        // glibc's PTHREAD_RWLOCK_WRLOCKED
constexpr std::uint32_t kOneReader = 8;     // glibc's 1 << PTHREAD_RWLOCK_READER_SHIFT
constexpr std::uint32_t kGlibcBits = 1 | 4; // WRPHASE, RWAITING: glibc's leftovers, ignored
constexpr std::uint32_t kMaxReaders = 0xfffffff8u;  // the reader count's field, full
// The state without glibc's leftovers: 0 when free.
std::uint32_t held(std::uint32_t s) noexcept { return s & ~kGlibcBits; }
constexpr std::size_t kCurWriter = 24;
constexpr std::size_t kShared = 28;
constexpr std::size_t kWriterGt = 40;

std::atomic<std::uint32_t>* state_of(pthread_rwlock_t* l) noexcept { return word_at(l, 0); }
std::atomic<std::uint32_t>* waiters_of(pthread_rwlock_t* l) noexcept { return word_at(l, 4); }
std::atomic<std::uint32_t>* seq_of(pthread_rwlock_t* l) noexcept { return word_at(l, 8); }
void** writer_gt(pthread_rwlock_t* l) noexcept {
  return reinterpret_cast<void**>(reinterpret_cast<char*>(l) + kWriterGt);
}

bool rw_is_real(pthread_rwlock_t* l) noexcept { return word_at(l, kShared)->load(std::memory_order_relaxed) != 0; }

GreenThreadState* identity(Hub* hub) noexcept {
  if (!hub) return nullptr;
  GreenThreadState* gt = hub->running();
  return gt == hub->root() ? nullptr : gt;
}

bool caller_writes(pthread_rwlock_t* l, Hub* hub) noexcept {
  return static_cast<int>(word_at(l, kCurWriter)->load(std::memory_order_relaxed)) == sync_tid() &&
         __atomic_load_n(writer_gt(l), __ATOMIC_RELAXED) == identity(hub);
}

// Takes it for reading (write=false) or writing; 0, EBUSY, EDEADLK, EAGAIN,
// ETIMEDOUT or EINVAL.
int rw_lock(pthread_rwlock_t* l, bool write, Hub* hub, clockid_t clock, const timespec* abs, bool try_only) noexcept {
  std::atomic<std::uint32_t>* st = state_of(l);
  for (;;) {
    std::uint32_t s = st->load(std::memory_order_relaxed);
    if (write) {
      if (held(s) == 0 && st->compare_exchange_weak(s, kWriter, std::memory_order_acquire)) break;
    } else if (!(s & kWriter)) {
      if ((s & kMaxReaders) == kMaxReaders) return EAGAIN;
      if (st->compare_exchange_weak(s, s + kOneReader, std::memory_order_acquire)) return 0;
      continue;
    }
    if ((s & kWriter) && caller_writes(l, hub)) return try_only ? EBUSY : EDEADLK;
    if (try_only) return EBUSY;
    if (bad_timespec(abs) || (abs && clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC)) return EINVAL;
    waiters_of(l)->fetch_add(1, std::memory_order_seq_cst);
    const std::uint32_t seen = seq_of(l)->load(std::memory_order_seq_cst);
    s = st->load(std::memory_order_seq_cst);
    int r = 0;
    if (write ? held(s) != 0 : (s & kWriter) != 0) {
      r = wait_word(hub, seq_of(l), seen, clock, abs, true, write ? "pthread_rwlock_wrlock" : "pthread_rwlock_rdlock");
    }
    waiters_of(l)->fetch_sub(1, std::memory_order_relaxed);
    if (r == ETIMEDOUT) return ETIMEDOUT;
  }
  word_at(l, kCurWriter)->store(static_cast<std::uint32_t>(sync_tid()), std::memory_order_relaxed);
  __atomic_store_n(writer_gt(l), identity(hub), __ATOMIC_RELAXED);
  return 0;
}

int rw_unlock(pthread_rwlock_t* l) noexcept {
  std::atomic<std::uint32_t>* st = state_of(l);
  const std::uint32_t s = st->load(std::memory_order_relaxed);
  if (held(s) == 0) return EPERM;
  if (s & kWriter) {
    word_at(l, kCurWriter)->store(0, std::memory_order_relaxed);
    __atomic_store_n(writer_gt(l), nullptr, __ATOMIC_RELAXED);
    st->exchange(0, std::memory_order_seq_cst);
  } else if (held(st->fetch_sub(kOneReader, std::memory_order_seq_cst)) != kOneReader) {
    return 0;  // other readers remain: nobody waiting can enter yet
  }
  if (waiters_of(l)->load(std::memory_order_seq_cst) != 0) {
    seq_of(l)->fetch_add(1, std::memory_order_seq_cst);
    wake_waiters(seq_of(l), INT_MAX);
  }
  return 0;
}

#define GROVE_RW_HUB sync_hub(__builtin_return_address(0))

}  // namespace

GROVE_HOOK int pthread_rwlock_rdlock(pthread_rwlock_t* l) {
  if (!threads_on() || rw_is_real(l)) [[likely]] return sync_real().rwlock_rdlock(l);
  return rw_lock(l, false, GROVE_RW_HUB, CLOCK_REALTIME, nullptr, false);
}
GROVE_HOOK int pthread_rwlock_wrlock(pthread_rwlock_t* l) {
  if (!threads_on() || rw_is_real(l)) [[likely]] return sync_real().rwlock_wrlock(l);
  return rw_lock(l, true, GROVE_RW_HUB, CLOCK_REALTIME, nullptr, false);
}
GROVE_HOOK int pthread_rwlock_tryrdlock(pthread_rwlock_t* l) {
  if (!threads_on() || rw_is_real(l)) [[likely]] return sync_real().rwlock_tryrdlock(l);
  return rw_lock(l, false, GROVE_RW_HUB, CLOCK_REALTIME, nullptr, true);
}
GROVE_HOOK int pthread_rwlock_trywrlock(pthread_rwlock_t* l) {
  if (!threads_on() || rw_is_real(l)) [[likely]] return sync_real().rwlock_trywrlock(l);
  return rw_lock(l, true, GROVE_RW_HUB, CLOCK_REALTIME, nullptr, true);
}
GROVE_HOOK int pthread_rwlock_timedrdlock(pthread_rwlock_t* l, const timespec* abs) {
  if (!threads_on() || rw_is_real(l)) [[likely]] return sync_real().rwlock_timedrdlock(l, abs);
  return rw_lock(l, false, GROVE_RW_HUB, CLOCK_REALTIME, abs, false);
}
GROVE_HOOK int pthread_rwlock_timedwrlock(pthread_rwlock_t* l, const timespec* abs) {
  if (!threads_on() || rw_is_real(l)) [[likely]] return sync_real().rwlock_timedwrlock(l, abs);
  return rw_lock(l, true, GROVE_RW_HUB, CLOCK_REALTIME, abs, false);
}
GROVE_HOOK int pthread_rwlock_clockrdlock(pthread_rwlock_t* l, clockid_t clock, const timespec* abs) {
  if (!threads_on() || rw_is_real(l)) [[likely]] return sync_real().rwlock_clockrdlock(l, clock, abs);
  return rw_lock(l, false, GROVE_RW_HUB, clock, abs, false);
}
GROVE_HOOK int pthread_rwlock_clockwrlock(pthread_rwlock_t* l, clockid_t clock, const timespec* abs) {
  if (!threads_on() || rw_is_real(l)) [[likely]] return sync_real().rwlock_clockwrlock(l, clock, abs);
  return rw_lock(l, true, GROVE_RW_HUB, clock, abs, false);
}
GROVE_HOOK int pthread_rwlock_unlock(pthread_rwlock_t* l) {
  if (!threads_on() || rw_is_real(l)) [[likely]] return sync_real().rwlock_unlock(l);
  return rw_unlock(l);
}
