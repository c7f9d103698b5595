// fd_table.cpp: the two-level fd state table. See fd_table.hpp.
#include "fd_table.hpp"

#include <sched.h>

#include <mutex>
#include <new>

namespace grove::monkey::detail {

namespace {

constexpr int kChunkBits = 10;
constexpr int kChunk = 1 << kChunkBits;
constexpr int kChunks = 1 << 14;
static_assert(kChunk == static_cast<int>(kSlotsPerChunk) && kChunks == static_cast<int>(kChunkCount));

std::atomic<FdState*> g_chunks[kChunks];
std::mutex g_grow;
// Guards every FdState::next_dup (the rings of dups) and the copy of a description's
// flags into a new dup, so a flag set through one fd cannot miss a dup made meanwhile.
std::mutex g_rings;

FdState* slot(int fd, bool create) noexcept {
  if (fd < 0) return nullptr;
  const unsigned hi = static_cast<unsigned>(fd) >> kChunkBits;
  if (hi >= static_cast<unsigned>(kChunks)) return nullptr;
  FdState* chunk = g_chunks[hi].load(std::memory_order_acquire);
  if (!chunk) {
    if (!create) return nullptr;
    std::lock_guard<std::mutex> lock(g_grow);
    chunk = g_chunks[hi].load(std::memory_order_relaxed);
    if (!chunk) {
      chunk = new (std::nothrow) FdState[kChunk];
      if (!chunk) return nullptr;
      g_chunks[hi].store(chunk, std::memory_order_release);
    }
  }
  return &chunk[fd & (kChunk - 1)];
}

constexpr int kMaxRing = kChunks * kChunk;  // a bound no ring of fd numbers exceeds

// Takes fd out of whatever ring it is in (a stale ring too: an fd closed through a
// path monkey does not see keeps its links until its number is tracked again).
void unlink_locked(int fd, FdState* s) noexcept {
  const int next = s->next_dup.load(std::memory_order_relaxed);
  s->next_dup.store(-1, std::memory_order_relaxed);
  if (next < 0 || next == fd) return;
  int p = next;
  int steps = 0;
  for (;;) {
    FdState* ps = slot(p, false);
    const int pn = ps ? ps->next_dup.load(std::memory_order_relaxed) : -1;
    if (pn < 0) return;  // not a ring: nothing more to mend
    if (pn == fd) {
      ps->next_dup.store(next, std::memory_order_relaxed);
      return;
    }
    p = pn;
    if (p == next || ++steps > kMaxRing) return;  // not through fd: leave it
  }
}

// Calls fn(state) for fd and every fd in its ring. Under g_rings.
template <class F>
void for_each_dup_locked(int fd, FdState* s, F&& fn) {
  fn(*s);
  int steps = 0;
  for (int f = s->next_dup.load(std::memory_order_relaxed); f >= 0 && f != fd && ++steps <= kMaxRing;) {
    FdState* fs = slot(f, false);
    if (!fs) return;
    fn(*fs);
    f = fs->next_dup.load(std::memory_order_relaxed);
  }
}

}  // namespace

FdState* slot_at(std::size_t chunk, std::size_t index) noexcept {
  if (chunk >= kChunkCount || index >= kSlotsPerChunk) return nullptr;
  FdState* c = g_chunks[chunk].load(std::memory_order_acquire);
  return c ? &c[index] : nullptr;
}

void FdState::lock_waiters() noexcept {
  while (lock.test_and_set(std::memory_order_acquire)) ::sched_yield();
}

FdState* tracked(int fd) noexcept {
  FdState* s = slot(fd, false);
  return s && s->has(FdState::kTracked) ? s : nullptr;
}

void track(int fd, std::uint8_t flags) noexcept {
  FdState* s = slot(fd, true);
  if (!s) return;
  // A new fd is in no ring, unless its number was closed through a path monkey does
  // not see: only then is the ring lock needed (accept's fast path takes no lock).
  const int old = s->next_dup.load(std::memory_order_relaxed);
  if (old >= 0 && old != fd) {
    std::lock_guard<std::mutex> lock(g_rings);
    unlink_locked(fd, s);
  }
  s->next_dup.store(fd, std::memory_order_relaxed);
  s->rcv_timeout_us.store(-1, std::memory_order_relaxed);
  s->snd_timeout_us.store(-1, std::memory_order_relaxed);
  s->drained.store(false, std::memory_order_relaxed);
  s->flags.store(static_cast<std::uint8_t>(FdState::kTracked | flags), std::memory_order_release);
}

void track_dup(int from, int to) noexcept {
  if (from == to) return;
  std::lock_guard<std::mutex> lock(g_rings);
  FdState* f = tracked(from);
  if (!f) {
    if (FdState* t = slot(to, false)) {
      unlink_locked(to, t);
      t->flags.store(0, std::memory_order_release);
    }
    return;
  }
  FdState* t = slot(to, true);
  if (!t) return;
  unlink_locked(to, t);
  t->rcv_timeout_us.store(f->rcv_timeout_us.load(std::memory_order_relaxed), std::memory_order_relaxed);
  t->snd_timeout_us.store(f->snd_timeout_us.load(std::memory_order_relaxed), std::memory_order_relaxed);
  t->drained.store(false, std::memory_order_relaxed);
  if (f->next_dup.load(std::memory_order_relaxed) < 0) f->next_dup.store(from, std::memory_order_relaxed);
  t->next_dup.store(f->next_dup.load(std::memory_order_relaxed), std::memory_order_relaxed);
  f->next_dup.store(to, std::memory_order_relaxed);
  t->flags.store(f->flags.load(std::memory_order_relaxed), std::memory_order_release);
}

void set_shared(int fd, std::uint8_t flag) noexcept {
  std::lock_guard<std::mutex> lock(g_rings);
  if (FdState* s = tracked(fd)) for_each_dup_locked(fd, s, [flag](FdState& d) { d.set(flag); });
}

void clear_shared(int fd, std::uint8_t flag) noexcept {
  std::lock_guard<std::mutex> lock(g_rings);
  if (FdState* s = tracked(fd)) for_each_dup_locked(fd, s, [flag](FdState& d) { d.clear(flag); });
}

void reset_timeout_shared(int fd, bool read) noexcept {
  std::lock_guard<std::mutex> lock(g_rings);
  if (FdState* s = tracked(fd)) {
    for_each_dup_locked(fd, s, [read](FdState& d) {
      (read ? d.rcv_timeout_us : d.snd_timeout_us).store(-1, std::memory_order_relaxed);
    });
  }
}

void forget(int fd) noexcept {
  FdState* s = slot(fd, false);
  if (!s || !s->flags.load(std::memory_order_relaxed)) return;
  {
    std::lock_guard<std::mutex> lock(g_rings);
    unlink_locked(fd, s);
    s->flags.store(0, std::memory_order_release);
  }
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
    if (s->pio_started) ev_io_stop(me->loop(), &s->pio);
    s->pio_started = false;
    s->stale.store(false, std::memory_order_relaxed);
    s->owner.store(nullptr, std::memory_order_release);
  } else if (owner) {
    s->stale.store(true, std::memory_order_release);
  }
  s->unlock_waiters();
}

void release_persistent(grove::detail::Hub* hub) noexcept {
  for_each_slot([hub](FdState& s) {
    if (s.owner.load(std::memory_order_acquire) != hub) return;
    s.lock_waiters();
    if (s.pio_started) ev_io_stop(hub->loop(), &s.pio);
    s.pio_started = false;
    s.owner.store(nullptr, std::memory_order_release);
    s.unlock_waiters();
  });
}

}  // namespace grove::monkey::detail
