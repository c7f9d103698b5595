// sync_park.cpp: the waiter table of the threads area's locks. See sync_park.hpp.
#include "sync_park.hpp"

#include <cerrno>
#include <climits>
#include <cstdarg>
#include <cstdlib>
#include <new>

#include "real.hpp"
#include "thread_identity.hpp"

namespace grove::monkey::detail {

using grove::detail::GreenThreadState;
using grove::detail::Hub;
using grove::detail::HubInbox;
using grove::detail::ParkTimer;
using grove::detail::WakeReason;

namespace {

// The stub each pointer of g_sync_real starts at: resolves the table, then calls the
// real function (through the pointer it just stored).
template <auto Slot>
struct Lazy;
template <class R, class... A, R (*SyncReal::*Slot)(A...)>
struct Lazy<Slot> {
  static R call(A... a) {
    resolve_sync_real();
    return (g_sync_real.*Slot)(a...);
  }
};

long lazy_syscall(long number, ...) {
  va_list ap;
  va_start(ap, number);
  long a[6];
  for (long& x : a) x = va_arg(ap, long);
  va_end(ap);
  resolve_sync_real();
  return g_sync_real.syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

template <class T>
void load_sym(T& slot, const char* name) noexcept {
  // Atomic stores: a hook on another thread may read the slot meanwhile, and sees
  // either the stub (which resolves again: idempotent) or the real function.
  __atomic_store_n(&slot, reinterpret_cast<T>(real_symbol(name)), __ATOMIC_RELEASE);
}

}  // namespace

#define GROVE_LAZY(f) .f = &Lazy<&SyncReal::f>::call
SyncReal g_sync_real{
    GROVE_LAZY(mutex_lock),         GROVE_LAZY(mutex_trylock),      GROVE_LAZY(mutex_timedlock),
    GROVE_LAZY(mutex_clocklock),    GROVE_LAZY(mutex_unlock),       GROVE_LAZY(cond_wait),
    GROVE_LAZY(cond_timedwait),     GROVE_LAZY(cond_clockwait),     GROVE_LAZY(cond_signal),
    GROVE_LAZY(cond_broadcast),     GROVE_LAZY(cond_destroy),       GROVE_LAZY(rwlock_rdlock),
    GROVE_LAZY(rwlock_wrlock),      GROVE_LAZY(rwlock_tryrdlock),   GROVE_LAZY(rwlock_trywrlock),
    GROVE_LAZY(rwlock_timedrdlock), GROVE_LAZY(rwlock_timedwrlock), GROVE_LAZY(rwlock_clockrdlock),
    GROVE_LAZY(rwlock_clockwrlock), GROVE_LAZY(rwlock_unlock),      GROVE_LAZY(barrier_wait),
    GROVE_LAZY(spin_lock),          GROVE_LAZY(spin_trylock),       GROVE_LAZY(sem_wait),
    GROVE_LAZY(sem_trywait),        GROVE_LAZY(sem_timedwait),      GROVE_LAZY(sem_clockwait),
    GROVE_LAZY(sem_post),           .syscall = &lazy_syscall,
};
#undef GROVE_LAZY

void resolve_sync_real() noexcept {
  // Idempotent: threads that race here store the same pointers.
  SyncReal& r = g_sync_real;
  load_sym(r.mutex_lock, "pthread_mutex_lock");
  load_sym(r.mutex_trylock, "pthread_mutex_trylock");
  load_sym(r.mutex_timedlock, "pthread_mutex_timedlock");
  load_sym(r.mutex_clocklock, "pthread_mutex_clocklock");
  load_sym(r.mutex_unlock, "pthread_mutex_unlock");
  // dlsym finds the default versions (GLIBC_2.3.2 for the condition variable, not
  // the old LinuxThreads-compatible one), as the program's own references do.
  load_sym(r.cond_wait, "pthread_cond_wait");
  load_sym(r.cond_timedwait, "pthread_cond_timedwait");
  load_sym(r.cond_clockwait, "pthread_cond_clockwait");
  load_sym(r.cond_signal, "pthread_cond_signal");
  load_sym(r.cond_broadcast, "pthread_cond_broadcast");
  load_sym(r.cond_destroy, "pthread_cond_destroy");
  load_sym(r.rwlock_rdlock, "pthread_rwlock_rdlock");
  load_sym(r.rwlock_wrlock, "pthread_rwlock_wrlock");
  load_sym(r.rwlock_tryrdlock, "pthread_rwlock_tryrdlock");
  load_sym(r.rwlock_trywrlock, "pthread_rwlock_trywrlock");
  load_sym(r.rwlock_timedrdlock, "pthread_rwlock_timedrdlock");
  load_sym(r.rwlock_timedwrlock, "pthread_rwlock_timedwrlock");
  load_sym(r.rwlock_clockrdlock, "pthread_rwlock_clockrdlock");
  load_sym(r.rwlock_clockwrlock, "pthread_rwlock_clockwrlock");
  load_sym(r.rwlock_unlock, "pthread_rwlock_unlock");
  load_sym(r.barrier_wait, "pthread_barrier_wait");
  load_sym(r.spin_lock, "pthread_spin_lock");
  load_sym(r.spin_trylock, "pthread_spin_trylock");
  load_sym(r.sem_wait, "sem_wait");
  load_sym(r.sem_trywait, "sem_trywait");
  load_sym(r.sem_timedwait, "sem_timedwait");
  load_sym(r.sem_clockwait, "sem_clockwait");
  load_sym(r.sem_post, "sem_post");
  load_sym(r.syscall, "syscall");
}

// ---------------------------------------------------------------- who calls

Hub* sync_hub(const void* ret) noexcept {
  Hub* h = coop_hub(kThreads);
  if (!h || called_from_grove(ret)) return nullptr;
  return h;
}

namespace {

thread_local int t_tid __attribute__((tls_model("initial-exec"))) = 0;

}  // namespace

int sync_tid() noexcept {
  int t = t_tid;
  if (t == 0) [[unlikely]] t = t_tid = static_cast<int>(::gettid());
  return t;
}

// ---------------------------------------------------------------- futex

long futex_raw(void* addr, int op, std::uint32_t val, const timespec* ts, std::uint32_t val3) noexcept {
  const long r = sync_real().syscall(SYS_futex, addr, op, val, ts, nullptr, val3);
  return r < 0 ? -errno : r;
}

long futex_wait_abs(std::atomic<std::uint32_t>* word, std::uint32_t expected, clockid_t clock, const timespec* abs,
                    bool shared) noexcept {
  const int priv = shared ? 0 : FUTEX_PRIVATE_FLAG;
  const int saved = errno;
  long r;
  if (!abs) {
    r = futex_raw(word, FUTEX_WAIT | priv, expected, nullptr, 0);
  } else {
    const int op = FUTEX_WAIT_BITSET | priv | (clock == CLOCK_REALTIME ? FUTEX_CLOCK_REALTIME : 0);
    r = futex_raw(word, op, expected, abs, FUTEX_BITSET_MATCH_ANY);
  }
  errno = saved;
  return r;
}

long futex_wake(std::atomic<std::uint32_t>* word, int n, bool shared) noexcept {
  const int saved = errno;
  const long r = futex_raw(word, FUTEX_WAKE | (shared ? 0 : FUTEX_PRIVATE_FLAG), static_cast<std::uint32_t>(n),
                           nullptr, 0);
  errno = saved;
  return r < 0 ? 0 : r;
}

double seconds_until(clockid_t clock, const timespec& abs) noexcept {
  timespec now{};
  ::clock_gettime(clock, &now);
  return static_cast<double>(abs.tv_sec - now.tv_sec) + static_cast<double>(abs.tv_nsec - now.tv_nsec) * 1e-9;
}

// ---------------------------------------------------------------- the table

namespace {

// One bucket of the waiter table. Its lock is a three-state futex lock (0 free, 1
// held, 2 held with sleepers) that spins briefly first: it is held for a few list
// operations (and an inbox post), never across a park.
struct alignas(64) Bucket {
  std::atomic<std::uint32_t> lock{0};
  std::atomic<std::uint32_t> count{0};  // linked waiters
  SyncWaiter* head = nullptr;
  SyncWaiter* tail = nullptr;
};

constexpr unsigned kBucketBits = 8;
Bucket g_buckets[1u << kBucketBits];

// Which buckets are in use: all of them, unless GROVE_MONKEY_SYNC_BUCKETS=N (a power of
// two, 1 to 256) narrows the table to its first N, read once at load. Nothing may
// depend on two addresses landing in different buckets (a waker holds one bucket's
// lock while it posts to an inbox, whose own lock must never reach the table:
// core/src/sync/kernel_mutex.hpp); tests/monkey runs the area's tests with one bucket,
// where every wait shares it.
std::uint64_t g_bucket_mask = (1u << kBucketBits) - 1;

void read_bucket_count() noexcept {
  const char* v = std::getenv("GROVE_MONKEY_SYNC_BUCKETS");
  if (!v || !*v) return;
  char* end = nullptr;
  const unsigned long n = std::strtoul(v, &end, 10);
  if (*end != '\0' || n < 1 || n > (1u << kBucketBits) || (n & (n - 1)) != 0) return;
  for (const Bucket& b : g_buckets) {
    if (b.count.load(std::memory_order_relaxed) != 0) return;  // a wait from an earlier constructor
  }
  g_bucket_mask = n - 1;
}

Bucket& bucket_of(const void* key) noexcept {
  const std::uint64_t h = (reinterpret_cast<std::uintptr_t>(key) >> 2) * 0x9E3779B97F4A7C15ull;
  return g_buckets[(h >> (64 - kBucketBits)) & g_bucket_mask];
}

void lock_bucket(Bucket& b) noexcept {
  std::uint32_t z = 0;
  if (b.lock.compare_exchange_strong(z, 1, std::memory_order_acquire)) [[likely]] return;
  for (int i = 0; i < 100; ++i) {
    __builtin_ia32_pause();
    z = 0;
    if (b.lock.load(std::memory_order_relaxed) == 0 &&
        b.lock.compare_exchange_strong(z, 1, std::memory_order_acquire)) {
      return;
    }
  }
  while (b.lock.exchange(2, std::memory_order_acquire) != 0) futex_wait_abs(&b.lock, 2, CLOCK_MONOTONIC, nullptr);
}

void unlock_bucket(Bucket& b) noexcept {
  if (b.lock.exchange(0, std::memory_order_release) == 2) futex_wake(&b.lock, 1);
}

void link(Bucket& b, SyncWaiter* w) noexcept {
  w->prev = b.tail;
  w->link_next = nullptr;
  if (b.tail) b.tail->link_next = w; else b.head = w;
  b.tail = w;
  w->linked = true;
}

void unlink(Bucket& b, SyncWaiter* w) noexcept {
  if (!w->linked) return;
  if (w->prev) w->prev->link_next = w->link_next; else b.head = w->link_next;
  if (w->link_next) w->link_next->prev = w->prev; else b.tail = w->prev;
  w->prev = w->link_next = nullptr;
  w->linked = false;
  b.count.fetch_sub(1, std::memory_order_relaxed);
}

// In a fork() child only the forking thread exists: a bucket lock another thread held
// at the fork would never be released. Waiters of other threads' hubs stay linked;
// their inboxes are gone by fork, so unpark() skips them.
void after_fork_child() noexcept {
  for (Bucket& b : g_buckets) b.lock.store(0, std::memory_order_relaxed);
  t_tid = 0;
}
const int g_sync_atfork = ::pthread_atfork(nullptr, nullptr, after_fork_child);

// At load, before main() and before any thread the program starts.
__attribute__((constructor(101))) void sync_area_at_load() {
  resolve_sync_real();
  read_bucket_count();
}

}  // namespace

void SyncWaiter::run() noexcept {
  // On gt's hub (the inbox drains on its own OS thread).
  if (Hub* h = Hub::current()) h->wake(gt);
}

bool may_have_green_waiters(const void* word) noexcept {
  return bucket_of(word).count.load(std::memory_order_seq_cst) != 0;
}

Parked park_on(Hub& hub, const std::atomic<std::uint32_t>* word, std::uint32_t expected, double seconds, bool hold,
               const char* what) noexcept {
  GreenThreadState* me = hub.running();
  SyncWaiter w;
  w.key = word;
  w.gt = me;
  w.hub_serial = hub.serial();
  try {
    w.inbox = HubInbox::of_this_thread();
  } catch (...) {
    // No memory for this hub's inbox: nobody on another OS thread could wake us.
    // Let the caller retry after a turn of the others (a wait that may spin, rather
    // than one that never ends).
    park_sleep(hub, 0, what);
    return Parked::kWoken;
  }
  Bucket& b = bucket_of(word);
  lock_bucket(b);
  // The count first, then the word (both sequentially consistent): a waker that
  // changes the word and then finds the count 0 did so before we looked.
  b.count.fetch_add(1, std::memory_order_seq_cst);
  if (word->load(std::memory_order_seq_cst) != expected) {
    b.count.fetch_sub(1, std::memory_order_relaxed);
    unlock_bucket(b);
    return Parked::kMismatch;
  }
  if (seconds == 0 || (seconds > 0 && seconds < 1e-9)) {
    b.count.fetch_sub(1, std::memory_order_relaxed);
    unlock_bucket(b);
    return Parked::kTimedOut;
  }
  link(b, &w);
  unlock_bucket(b);
  if (hold) w.inbox->hold();
  Parked result;
  {
    ParkTimer* timer = nullptr;
    alignas(ParkTimer) unsigned char timer_space[sizeof(ParkTimer)];
    if (seconds > 0) timer = new (timer_space) ParkTimer(hub, me, seconds);
    for (;;) {
      hub.park_nothrow(what);
      const WakeReason why = me->wake_reason;
      lock_bucket(b);
      if (w.woken) {
        unlock_bucket(b);
        // A timeout or kill may have woken it first, while the wake entry was still
        // queued in the inbox, pointing at this stack: take it out before leaving.
        if (w.queued) w.inbox->cancel(&w);
        result = Parked::kWoken;
        break;
      }
      if (why == WakeReason::kTimedOut || why == WakeReason::kInterrupted) {
        unlink(b, &w);
        unlock_bucket(b);
        result = why == WakeReason::kTimedOut ? Parked::kTimedOut : Parked::kInterrupted;
        break;
      }
      unlock_bucket(b);  // a stray wake: park again
    }
    if (timer) timer->~ParkTimer();
  }
  if (hold) w.inbox->release();
  return result;
}

int unpark(const void* word, int n) noexcept {
  Bucket& b = bucket_of(word);
  if (b.count.load(std::memory_order_seq_cst) == 0) return 0;
  Hub* cur = Hub::current();
  int woken = 0;
  lock_bucket(b);
  SyncWaiter* w = b.head;
  while (w && woken < n) {
    SyncWaiter* next = w->link_next;
    if (w->key == word) {
      unlink(b, w);
      w->woken = true;
      if (cur && cur->serial() == w->hub_serial) {
        cur->wake(w->gt);  // false if a kill or timeout woke it first: it still sees `woken`
        ++woken;
      } else if (w->inbox->post(w)) {
        // Under the bucket's lock, so that the waiter cannot be gone; post() takes the
        // inbox's own lock, which never reaches this table (kernel_mutex.hpp).
        ++woken;
      } else {
        w->woken = false;  // its hub exited: that green thread never runs again
      }
    }
    w = next;
  }
  unlock_bucket(b);
  return woken;
}

int wait_word(Hub* hub, std::atomic<std::uint32_t>* word, std::uint32_t expected, clockid_t clock,
              const timespec* abs, bool hold, const char* what) noexcept {
  if (hub) {
    double secs = -1;
    if (abs) {
      secs = seconds_until(clock, *abs);
      if (secs <= 0) secs = 0;
    }
    switch (park_on(*hub, word, expected, secs, hold, what)) {
      case Parked::kWoken:
      case Parked::kMismatch: return 0;
      case Parked::kTimedOut: return ETIMEDOUT;
      case Parked::kInterrupted: return EINTR;
    }
    return 0;
  }
  const long r = futex_wait_abs(word, expected, clock, abs);
  if (r == -ETIMEDOUT) return ETIMEDOUT;
  if (r == -EINTR) return EINTR;
  return 0;
}

}  // namespace grove::monkey::detail
