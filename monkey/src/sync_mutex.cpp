// sync_mutex.cpp: pthread_mutex_* made hybrid: a green thread that waits parks,
// an OS thread that waits sleeps in the kernel, on the same mutex at once.
//
// The lock word is glibc's (__lock: 0 free, 1 held, 2 held and maybe contended), and
// so is the protocol: take it with a compare-and-swap 0 -> 1; a waiter swaps in 2
// and sleeps while it reads 2; whoever takes it after waiting leaves 2 behind; an
// unlock that swaps out a 2 wakes one sleeper. The only change is who sleeps where
// (sync_park.hpp): a green thread parks in the waiter table, an OS thread in the
// kernel, and the unlock wakes a green one first if there is one, else a kernel one.
// Since a woken waiter takes the lock with 2 in it, the next unlock wakes the next
// sleeper, of either kind. A mutex is therefore never "green" or "real": a green
// thread of one hub, a green thread of another and a plain OS thread (a pool worker,
// a library's own thread, a thread started before patching) share it safely, and a
// mutex locked by glibc's own code before the area was patched unlocks correctly.
//
// The uncontended path is glibc's: one compare-and-swap to lock, one swap to unlock,
// and a few plain stores naming the holder.
//
// Holder: __owner is the holding OS thread's tid (as glibc's), and for a green holder
// __list.__prev / __list.__next hold the green thread (nullptr for a hub's root, which
// is the OS thread itself) and its hub's serial (glibc uses __list only for robust
// mutexes, which stay glibc's). Error-checking and
// recursive mutexes compare both, so two green threads of one OS thread are two
// owners. A green thread that waits for a mutex another green thread of its own hub
// holds parks without holding its hub (sync_park.hpp): if nothing else can run, the
// hub's deadlock check raises LoopExit in the root naming every parked green thread,
// and a root that is itself parked in pthread_mutex_lock gets EDEADLK (the LoopExit
// stays pending for its next grove call). Waits for a holder on another OS thread
// hold the hub, which then waits for that thread.
//
// Interrupts: pthread_mutex_lock never fails for a signal, and C code does not expect
// it to; a kill or grove::Timeout that lands while a green thread waits for a mutex
// stays pending (raised at its next grove call) and the wait goes on. timedlock's own
// deadline is honoured (ETIMEDOUT).
#include "sync_mutex.hpp"

#include <cerrno>

#include "sync_park.hpp"

using namespace grove::monkey::detail;
using grove::detail::GreenThreadState;
using grove::detail::Hub;

#include "thread_hook.hpp"  // GROVE_HOOK: exported except under ASan / TSan

namespace grove::monkey::detail {

namespace {

// glibc's __kind bits (nptl/pthreadP.h).
constexpr int kKindMask = 3;  // PTHREAD_MUTEX_KIND_MASK_NP: normal, recursive, errorcheck, adaptive
constexpr int kRealBits = 16 | 32 | 64 | 128;  // robust, prio-inherit, prio-protect, pshared

int load_int(const int* p) noexcept { return __atomic_load_n(p, __ATOMIC_RELAXED); }
void store_int(int* p, int v) noexcept { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
void* load_ptr(void* const* p) noexcept { return __atomic_load_n(p, __ATOMIC_RELAXED); }
void store_ptr(void** p, void* v) noexcept { __atomic_store_n(p, v, __ATOMIC_RELAXED); }

std::atomic<std::uint32_t>* lock_word(pthread_mutex_t* m) noexcept { return word_at(m, 0); }

void** owner_gt_slot(pthread_mutex_t* m) noexcept { return reinterpret_cast<void**>(&m->__data.__list.__prev); }
void** owner_hub_slot(pthread_mutex_t* m) noexcept { return reinterpret_cast<void**>(&m->__data.__list.__next); }

// Who the caller is as a holder: the green thread, or nullptr for an OS thread and for
// a hub's root (the OS thread's own context: a mutex it locked before its hub existed
// is still its own after).
GreenThreadState* identity(Hub* hub) noexcept {
  if (!hub) return nullptr;
  GreenThreadState* gt = hub->running();
  return gt == hub->root() ? nullptr : gt;
}

bool caller_owns(pthread_mutex_t* m, GreenThreadState* gt) noexcept {
  return load_int(&m->__data.__owner) == sync_tid() && load_ptr(owner_gt_slot(m)) == gt;
}

void set_holder(pthread_mutex_t* m, Hub* hub, GreenThreadState* gt, int type) noexcept {
  store_int(&m->__data.__owner, sync_tid());
  store_ptr(owner_gt_slot(m), gt);
  store_ptr(owner_hub_slot(m), hub ? reinterpret_cast<void*>(hub->serial()) : nullptr);
  if (type == PTHREAD_MUTEX_RECURSIVE) m->__data.__count = 1;
  ++m->__data.__nusers;
}

constexpr const char* kWaitSameHub = "pthread_mutex_lock (held by a green thread of this OS thread)";
constexpr const char* kWaitOther = "pthread_mutex_lock (held by another OS thread)";

// The green thread's wait for the lock word (sync_park.hpp).
int lock_green(pthread_mutex_t* m, Hub& hub, clockid_t clock, const timespec* abs, bool interruptible) noexcept {
  std::atomic<std::uint32_t>* w = lock_word(m);
  GreenThreadState* me = hub.running();
  while (w->exchange(2, std::memory_order_acquire) != 0) {
    double secs = -1;
    if (abs) {
      secs = seconds_until(clock, *abs);
      if (secs <= 0) return ETIMEDOUT;
    }
    // A holder that is a green thread of this hub can only be released by this hub:
    // no hold, so that a deadlock among them is seen. Anyone else: hold.
    const bool same_hub = reinterpret_cast<std::uintptr_t>(load_ptr(owner_hub_slot(m))) == hub.serial();
    // A wait that must go on through a LoopExit (a condition variable's relock) holds
    // the hub once one came: the deadlock check would otherwise raise it again at once,
    // for ever.
    const bool hold = !same_hub || (!interruptible && (me->pending & grove::detail::kPendingLoopExit));
    const Parked p = park_on(hub, w, 2, secs, hold, same_hub ? kWaitSameHub : kWaitOther);
    if (p == Parked::kTimedOut) return ETIMEDOUT;
    if (p == Parked::kInterrupted && interruptible && (me->pending & grove::detail::kPendingLoopExit)) {
      // Nothing can ever release it. C code hears of it once (EDEADLK); the LoopExit
      // stays pending for the next grove call.
      if (take_interrupt_after(hub, grove::detail::WakeReason::kInterrupted, "pthread_mutex_lock")) return EDEADLK;
    }
  }
  return 0;
}

int lock_os(pthread_mutex_t* m, int type, clockid_t clock, const timespec* abs) noexcept {
  std::atomic<std::uint32_t>* w = lock_word(m);
  if (type == PTHREAD_MUTEX_ADAPTIVE_NP) {
    for (int i = 0; i < 100; ++i) {
      __builtin_ia32_pause();
      std::uint32_t z = 0;
      if (w->load(std::memory_order_relaxed) == 0 && w->compare_exchange_strong(z, 1, std::memory_order_acquire)) {
        return 0;
      }
    }
  }
  while (w->exchange(2, std::memory_order_acquire) != 0) {
    const long r = futex_wait_abs(w, 2, clock, abs);
    if (r == -ETIMEDOUT) return ETIMEDOUT;
  }
  return 0;
}

}  // namespace

bool mutex_is_real(const pthread_mutex_t* m) noexcept { return load_int(&m->__data.__kind) & kRealBits; }

int mutex_lock(pthread_mutex_t* m, Hub* hub, clockid_t clock, const timespec* abs, bool try_only,
               bool interruptible) noexcept {
  const int type = load_int(&m->__data.__kind) & kKindMask;
  GreenThreadState* gt = identity(hub);
  if (type == PTHREAD_MUTEX_RECURSIVE || type == PTHREAD_MUTEX_ERRORCHECK) {
    if (caller_owns(m, gt)) {
      if (type == PTHREAD_MUTEX_ERRORCHECK) return try_only ? EBUSY : EDEADLK;
      if (m->__data.__count + 1 == 0) return EAGAIN;
      ++m->__data.__count;
      return 0;
    }
  }
  std::uint32_t z = 0;
  if (!lock_word(m)->compare_exchange_strong(z, 1, std::memory_order_acquire)) {
    if (try_only) return EBUSY;
    if (bad_timespec(abs)) return EINVAL;
    if (abs && clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC) return EINVAL;
    const int e = hub ? lock_green(m, *hub, clock, abs, interruptible) : lock_os(m, type, clock, abs);
    if (e) return e;
  }
  set_holder(m, hub, gt, type);
  return 0;
}

int mutex_unlock(pthread_mutex_t* m, Hub* hub) noexcept {
  const int type = load_int(&m->__data.__kind) & kKindMask;
  if (type == PTHREAD_MUTEX_RECURSIVE || type == PTHREAD_MUTEX_ERRORCHECK) {
    if (!caller_owns(m, identity(hub)) || lock_word(m)->load(std::memory_order_relaxed) == 0) {
      return EPERM;
    }
    if (type == PTHREAD_MUTEX_RECURSIVE && --m->__data.__count != 0) return 0;
  }
  // Cleared before the release, so that a waiter reading a holder sees the one that
  // holds it now (or none).
  store_int(&m->__data.__owner, 0);
  store_ptr(owner_gt_slot(m), nullptr);
  store_ptr(owner_hub_slot(m), nullptr);
  --m->__data.__nusers;
  if (lock_word(m)->exchange(0, std::memory_order_release) > 1) wake_waiters(lock_word(m), 1);
  return 0;
}

unsigned mutex_depth(const pthread_mutex_t* m) noexcept {
  return (load_int(&m->__data.__kind) & kKindMask) == PTHREAD_MUTEX_RECURSIVE ? m->__data.__count : 1;
}

void mutex_set_depth(pthread_mutex_t* m, unsigned depth) noexcept {
  if ((load_int(&m->__data.__kind) & kKindMask) == PTHREAD_MUTEX_RECURSIVE) m->__data.__count = depth;
}

}  // namespace grove::monkey::detail

// ---------------------------------------------------------------- the hooks
//
// Off (threads not patched): one relaxed load and a branch, then glibc's function.

GROVE_HOOK int pthread_mutex_lock(pthread_mutex_t* m) {
  if (!threads_on() || mutex_is_real(m)) [[likely]] return sync_real().mutex_lock(m);
  return mutex_lock(m, sync_hub(__builtin_return_address(0)), CLOCK_REALTIME, nullptr, false, true);
}

GROVE_HOOK int pthread_mutex_trylock(pthread_mutex_t* m) {
  if (!threads_on() || mutex_is_real(m)) [[likely]] return sync_real().mutex_trylock(m);
  return mutex_lock(m, sync_hub(__builtin_return_address(0)), CLOCK_REALTIME, nullptr, true, true);
}

GROVE_HOOK int pthread_mutex_timedlock(pthread_mutex_t* m, const timespec* abs) {
  if (!threads_on() || mutex_is_real(m)) [[likely]] return sync_real().mutex_timedlock(m, abs);
  return mutex_lock(m, sync_hub(__builtin_return_address(0)), CLOCK_REALTIME, abs, false, true);
}

GROVE_HOOK int pthread_mutex_clocklock(pthread_mutex_t* m, clockid_t clock, const timespec* abs) {
  if (!threads_on() || mutex_is_real(m)) [[likely]] return sync_real().mutex_clocklock(m, clock, abs);
  if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC) return EINVAL;
  return mutex_lock(m, sync_hub(__builtin_return_address(0)), clock, abs, false, true);
}

GROVE_HOOK int pthread_mutex_unlock(pthread_mutex_t* m) {
  if (!threads_on() || mutex_is_real(m)) [[likely]] return sync_real().mutex_unlock(m);
  return mutex_unlock(m, sync_hub(__builtin_return_address(0)));
}
