// fd_table.cpp: the two-level fd state table. See fd_table.hpp.
#include "fd_table.hpp"

#include <linux/kcmp.h>
#include <pthread.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <new>

namespace grove::monkey::detail {

std::atomic<FdState*> g_chunks[kChunkCount];

namespace {

constexpr int kChunkBits = 10;
constexpr int kChunk = 1 << kChunkBits;
constexpr int kChunks = 1 << 14;
static_assert(kChunk == static_cast<int>(kSlotsPerChunk) && kChunks == static_cast<int>(kChunkCount));

std::mutex g_grow;
// Guards every FdState::next_dup (the rings of dups) and the changes that belong to a
// file description, so a flag set through one fd cannot miss a dup made meanwhile.
// Taken through RingLock only. Lock order: g_rings, then g_grow.
std::mutex g_rings;
thread_local bool t_ring_held __attribute__((tls_model("initial-exec"))) = false;

// fork() in one thread while another holds a lock would leave it locked forever in
// the child, whose first dup2 / close (before exec) takes it: the prepare handler
// takes both locks and the others release them in parent and child. A fork() in a
// signal handler takes only the locks its thread does not own already (it may be
// waiting for one: its holder releases it), and leaves those it owns to the code it
// interrupted.
thread_local bool t_ring_locked __attribute__((tls_model("initial-exec"))) = false;  // owns g_rings
thread_local bool t_grow_held __attribute__((tls_model("initial-exec"))) = false;    // owns g_grow
thread_local unsigned t_fork_state __attribute__((tls_model("initial-exec"))) = 0;
constexpr unsigned kForkOwnedRings = 1, kForkOwnedGrow = 2, kForkWasHeld = 4;

void atfork_prepare() noexcept {
  const unsigned st = (t_ring_locked ? kForkOwnedRings : 0u) | (t_grow_held ? kForkOwnedGrow : 0u) |
                      (t_ring_held ? kForkWasHeld : 0u);
  t_fork_state = st;
  t_ring_held = true;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  if (!(st & kForkOwnedRings)) g_rings.lock();
  if (!(st & kForkOwnedGrow)) g_grow.lock();
}
void atfork_release() noexcept {
  const unsigned st = t_fork_state;
  t_fork_state = 0;
  if (!(st & kForkOwnedGrow)) g_grow.unlock();
  if (!(st & kForkOwnedRings)) g_rings.unlock();
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t_ring_held = (st & kForkWasHeld) != 0;
}
const int g_atfork_registered = ::pthread_atfork(atfork_prepare, atfork_release, atfork_release);

FdState* slot(int fd, bool create) noexcept {
  if (fd < 0) return nullptr;
  const unsigned hi = static_cast<unsigned>(fd) >> kChunkBits;
  if (hi >= static_cast<unsigned>(kChunks)) return nullptr;
  FdState* chunk = g_chunks[hi].load(std::memory_order_acquire);
  if (!chunk) {
    if (!create) return nullptr;
    g_grow.lock();
    t_grow_held = true;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    chunk = g_chunks[hi].load(std::memory_order_relaxed);
    if (!chunk) {
      chunk = new (std::nothrow) FdState[kChunk];
      if (chunk) g_chunks[hi].store(chunk, std::memory_order_release);
    }
    std::atomic_signal_fence(std::memory_order_seq_cst);
    t_grow_held = false;
    g_grow.unlock();
    if (!chunk) return nullptr;
  }
  return &chunk[fd & (kChunk - 1)];
}

// Rings are a handful of fds; a walk stops after this many (a ring left inconsistent
// by a racing program, a dup and a close of one fd at once, cannot make it run away).
// Dups of one description beyond it are not reached by a change.
constexpr int kMaxRing = 4096;

// Takes fd out of whatever ring it is in (a stale ring too: an fd closed through a
// path monkey does not see keeps its links until its number is tracked again).
void unlink_locked(int fd, FdState* s) noexcept {
  const int next = s->next_dup.load(std::memory_order_relaxed);
  s->next_dup.store(-1, std::memory_order_relaxed);
  if (next < 0 || next == fd) return;
  int p = next;
  for (int steps = 0; steps < kMaxRing; ++steps) {
    FdState* ps = slot(p, false);
    const int pn = ps ? ps->next_dup.load(std::memory_order_relaxed) : -1;
    if (pn < 0) return;  // not a ring: nothing more to mend
    if (pn == fd) {
      ps->next_dup.store(next, std::memory_order_relaxed);
      return;
    }
    p = pn;
    if (p == next) return;  // a ring that does not pass through fd: leave it
  }
}

// Whether fds a and b name the same file description. A ring member closed through a
// path monkey does not see (fclose on fdopen, close_range, syscall) may since name
// another file; such members are dropped from the ring rather than changed.
bool same_description(int a, int b) noexcept {
  static std::atomic<bool> no_kcmp{false};
  const int saved_errno = errno;
  bool same = false;
  if (!no_kcmp.load(std::memory_order_relaxed)) {
    const long r = ::syscall(SYS_kcmp, ::getpid(), ::getpid(), KCMP_FILE, a, b);
    if (r >= 0) {
      errno = saved_errno;
      return r == 0;
    }
    if (errno == ENOSYS || errno == EPERM || errno == EACCES) no_kcmp.store(true, std::memory_order_relaxed);
  }
  // Without kcmp (a seccomp filter may refuse it): the same open file at least.
  struct stat sa {};
  struct stat sb {};
  same = ::fstat(a, &sa) == 0 && ::fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  errno = saved_errno;
  return same;
}

// Calls fn(state) for fd and every fd of its ring that still shares its description;
// the others leave the ring. Under g_rings.
template <class F>
void for_each_dup_locked(int fd, FdState* s, F&& fn) {
  fn(*s);
  {
    // fd itself may be the member that names another file now: if no other member
    // shares its description, fd leaves the ring and the others keep theirs.
    bool any_same = false;
    int g = s->next_dup.load(std::memory_order_relaxed);
    for (int steps = 0; g >= 0 && g != fd && steps < kMaxRing; ++steps) {
      FdState* gs = slot(g, false);
      if (!gs) break;
      if (same_description(fd, g)) {
        any_same = true;
        break;
      }
      g = gs->next_dup.load(std::memory_order_relaxed);
    }
    const int first = s->next_dup.load(std::memory_order_relaxed);
    if (!any_same && first >= 0 && first != fd) {
      unlink_locked(fd, s);
      s->next_dup.store(fd, std::memory_order_relaxed);
      return;
    }
  }
  int prev = fd;
  int f = s->next_dup.load(std::memory_order_relaxed);
  for (int steps = 0; f >= 0 && f != fd && steps < kMaxRing; ++steps) {
    FdState* fs = slot(f, false);
    FdState* ps = slot(prev, false);
    if (!fs || !ps) return;
    const int next = fs->next_dup.load(std::memory_order_relaxed);
    if (same_description(fd, f)) {
      fn(*fs);
      prev = f;
    } else {
      ps->next_dup.store(next == f ? fd : next, std::memory_order_relaxed);
      fs->next_dup.store(fs->has(FdState::kTracked) ? f : -1, std::memory_order_relaxed);
      if (next == f) return;  // a self-linked member: what followed it is unreachable
    }
    f = next;
  }
}

}  // namespace

FdState* slot_at(std::size_t chunk, std::size_t index) noexcept {
  if (chunk >= kChunkCount || index >= kSlotsPerChunk) return nullptr;
  FdState* c = g_chunks[chunk].load(std::memory_order_acquire);
  return c ? &c[index] : nullptr;
}

void FdState::lock_waiters_slow() noexcept {
  do ::sched_yield();
  while (lock.test_and_set(std::memory_order_acquire));
}

RingLock::RingLock() noexcept : owns_(!t_ring_held) {
  if (!owns_) return;
  t_ring_held = true;  // before locking: a signal handler on this thread must not wait for it
  std::atomic_signal_fence(std::memory_order_seq_cst);
  g_rings.lock();
  t_ring_locked = true;
  std::atomic_signal_fence(std::memory_order_seq_cst);
}

RingLock::~RingLock() {
  if (!owns_) return;
  t_ring_locked = false;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  g_rings.unlock();
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t_ring_held = false;
}

void track(int fd, std::uint8_t flags) noexcept {
  FdState* s = slot(fd, true);
  if (!s) return;
  // A new fd is in no ring, unless its number was closed through a path monkey does
  // not see: only then is the ring lock needed (accept's fast path takes no lock).
  const int old = s->next_dup.load(std::memory_order_relaxed);
  bool linked = false;
  if (old >= 0 && old != fd) {
    RingLock lock;
    if (lock.owns()) unlink_locked(fd, s);
    else linked = true;  // left in the old ring: its next walk drops fd (kcmp)
  }
  if (!linked) s->next_dup.store(fd, std::memory_order_relaxed);
  s->rcv_timeout_us.store(-1, std::memory_order_relaxed);
  s->snd_timeout_us.store(-1, std::memory_order_relaxed);
  s->drained.store(false, std::memory_order_relaxed);
  // A number closed behind monkey's back (fclose on fdopen, a raw syscall) may still be
  // registered with its old owner: the owner registers it again before its next wait.
  if (s->owner.load(std::memory_order_relaxed)) s->stale.store(true, std::memory_order_release);
  s->flags.store(static_cast<std::uint8_t>(FdState::kTracked | flags), std::memory_order_release);
}

void track_dup(int from, int to) noexcept {
  if (from == to) return;
  // Made before the lock: a chunk allocation must not run under it (fork handlers).
  if (tracked(from) && !slot(to, true)) return;
  RingLock lock;
  FdState* f = tracked(from);
  if (!f) {
    if (FdState* t = slot(to, false)) {
      if (lock.owns()) unlink_locked(to, t);
      t->flags.store(0, std::memory_order_release);
    }
    return;
  }
  FdState* t = slot(to, true);
  if (!t) return;
  t->rcv_timeout_us.store(f->rcv_timeout_us.load(std::memory_order_relaxed), std::memory_order_relaxed);
  t->snd_timeout_us.store(f->snd_timeout_us.load(std::memory_order_relaxed), std::memory_order_relaxed);
  t->drained.store(false, std::memory_order_relaxed);
  if (lock.owns()) {
    unlink_locked(to, t);
    // A `from` whose number was reused behind monkey's back leaves its old ring first,
    // so the new dup joins only the fds that share its file.
    for_each_dup_locked(from, f, [](FdState&) {});
    if (f->next_dup.load(std::memory_order_relaxed) < 0) f->next_dup.store(from, std::memory_order_relaxed);
    t->next_dup.store(f->next_dup.load(std::memory_order_relaxed), std::memory_order_relaxed);
    f->next_dup.store(to, std::memory_order_relaxed);
  } else if (t->next_dup.load(std::memory_order_relaxed) < 0) {
    // A dup made by a signal handler that interrupted a ring change on this thread:
    // tracked with the description's flags as they are now, but in no ring.
    t->next_dup.store(to, std::memory_order_relaxed);
  }
  t->flags.store(f->flags.load(std::memory_order_relaxed), std::memory_order_release);
}

void set_shared_locked(const RingLock& lock, int fd, std::uint8_t flag) noexcept {
  FdState* s = tracked(fd);
  if (!s) return;
  if (lock.owns()) for_each_dup_locked(fd, s, [flag](FdState& d) { d.set(flag); });
  else s->set(flag);
}

void clear_shared_locked(const RingLock& lock, int fd, std::uint8_t flag) noexcept {
  FdState* s = tracked(fd);
  if (!s) return;
  if (lock.owns()) for_each_dup_locked(fd, s, [flag](FdState& d) { d.clear(flag); });
  else s->clear(flag);
}

void set_shared(int fd, std::uint8_t flag) noexcept {
  RingLock lock;
  set_shared_locked(lock, fd, flag);
}

void reset_timeout_shared(int fd, bool read) noexcept {
  RingLock lock;
  FdState* s = tracked(fd);
  if (!s) return;
  const auto reset = [read](FdState& d) {
    (read ? d.rcv_timeout_us : d.snd_timeout_us).store(-1, std::memory_order_relaxed);
  };
  if (lock.owns()) for_each_dup_locked(fd, s, reset);
  else reset(*s);
}

void forget(int fd) noexcept {
  FdState* s = slot(fd, false);
  if (!s || !s->flags.load(std::memory_order_relaxed)) return;
  const int next = s->next_dup.load(std::memory_order_relaxed);
  if (next >= 0 && next != fd) {
    RingLock lock;  // only an fd with dups takes it
    if (lock.owns()) unlink_locked(fd, s);
  } else {
    s->next_dup.store(-1, std::memory_order_relaxed);
  }
  s->flags.store(0, std::memory_order_release);
  grove::detail::Hub* me = grove::detail::Hub::current();
  s->lock_waiters();
  for (FdWaiter* w = s->waiters; w; w = w->next) {
    // Green threads of other OS threads are not ours to touch; like a thread blocked
    // in the kernel on an fd another thread closes, they keep waiting.
    if (w->hub != me) continue;
    w->closed = true;
    if (w->active) {
      if (!w->persistent) ev_io_stop(w->hub->loop(), &w->io);
      w->active = false;
      w->hub->watcher_stopped();
    }
    w->hub->wake(w->gt);
  }
  grove::detail::Hub* owner = s->owner.load(std::memory_order_acquire);
  if (owner && owner == me) {
    // The waiters parked on the epoll set's sides (coop.cpp, wait_stream) are not in
    // the list: only the owner's thread reaches them.
    for (grove::detail::PollSide* side : {&s->rd, &s->wr}) {
      grove::detail::FdWaiter* w = side->waiter;
      if (!w) continue;
      side->waiter = nullptr;
      w->closed = true;
      me->watcher_stopped();
      me->wake(w->gt);
    }
    drop_polled(*me, *s);  // before the real close: no event may name the fd's old file
    if (s->pio_started) ev_io_stop(me->loop(), &s->pio);
    s->pio_started = false;
    s->stale.store(false, std::memory_order_relaxed);
    s->owner.store(nullptr, std::memory_order_release);
  } else if (owner) {
    s->stale.store(true, std::memory_order_release);
  }
  s->unlock_waiters();
}

void forget_range(unsigned int first, unsigned int last) noexcept {
  // Only the chunks ever allocated can hold a tracked fd; most of a range like
  // [3, ~0U] is skipped a chunk at a time.
  const std::size_t last_chunk = std::min<std::size_t>(last / kSlotsPerChunk, kChunkCount - 1);
  for (std::size_t c = first / kSlotsPerChunk; c <= last_chunk; ++c) {
    if (!slot_at(c, 0)) continue;
    for (std::size_t i = 0; i < kSlotsPerChunk; ++i) {
      const std::size_t fd = c * kSlotsPerChunk + i;
      if (fd < first || fd > last) continue;
      if (slot_at(c, i)->flags.load(std::memory_order_relaxed)) forget(static_cast<int>(fd));
    }
  }
}

void release_persistent(grove::detail::Hub* hub) noexcept {
  for_each_slot([hub](FdState& s) {
    if (s.owner.load(std::memory_order_acquire) != hub) return;
    s.lock_waiters();
    drop_polled(*hub, s);
    if (s.pio_started) ev_io_stop(hub->loop(), &s.pio);
    s.pio_started = false;
    s.owner.store(nullptr, std::memory_order_release);
    s.unlock_waiters();
  });
}

void drop_polled(grove::detail::Hub& owner, FdState& st) noexcept {
  if (st.polled.registered) owner.poll_remove(st.polled);
  // A waiter still parked (the number was closed on another thread) is no longer
  // reached by readiness, like a thread blocked on an fd another thread closes; it
  // leaves by its timeout or an interrupt (its own accounting).
  st.rd.waiter = st.wr.waiter = nullptr;
  st.rd.edge = st.rd.hangup = false;
  st.wr.edge = st.wr.hangup = false;
  st.poll_refused = false;
}

}  // namespace grove::monkey::detail
