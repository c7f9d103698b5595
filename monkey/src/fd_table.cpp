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
  s->rcv_timeout_us.store(-1, std::memory_order_relaxed);
  s->snd_timeout_us.store(-1, std::memory_order_relaxed);
  s->drained.store(false, std::memory_order_relaxed);
  s->flags.store(static_cast<std::uint8_t>(FdState::kTracked | flags), std::memory_order_release);
}

void track_dup(int from, int to) noexcept {
  FdState* f = tracked(from);
  if (!f) {
    if (FdState* t = slot(to, false)) t->flags.store(0, std::memory_order_release);
    return;
  }
  FdState* t = slot(to, true);
  if (!t) return;
  t->rcv_timeout_us.store(f->rcv_timeout_us.load(std::memory_order_relaxed), std::memory_order_relaxed);
  t->snd_timeout_us.store(f->snd_timeout_us.load(std::memory_order_relaxed), std::memory_order_relaxed);
  t->drained.store(false, std::memory_order_relaxed);
  t->flags.store(f->flags.load(std::memory_order_relaxed), std::memory_order_release);
}

void forget(int fd) noexcept {
  FdState* s = slot(fd, false);
  if (!s || !s->flags.load(std::memory_order_relaxed)) return;
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
