// fd_table.hpp: what monkey knows about each fd it touched.
//
// Only fds created by a hooked call while sockets are patched (socket, socketpair,
// pipe, pipe2, accept, accept4, and dups of those) are tracked; every other fd is
// left alone and its calls go to libc unchanged.
//
// The table has two levels: a fixed array of chunk pointers, each chunk holding
// kChunk states, allocated the first time an fd in its range is tracked (under a
// mutex; fd creation is never a hook's fast path). Lookups take no lock: one atomic
// load of the chunk pointer. kChunks * kChunk = 16M fds, above the kernel's default
// nr_open (1M); an fd beyond it is simply untracked (calls go to libc unchanged).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "hub.hpp"

namespace grove::monkey::detail {

// A green thread parked on one fd (on its stack, linked into FdState::waiters so that
// close() can wake it with EBADF).
struct FdWaiter {
  // First member: a waiter on an epoll side (coop.cpp, wait_stream) is reached from
  // PollSide::waiter, which points here, when a second waiter moves it into `waiters`.
  // wait_stream sets only `polled` and `listed` (the rest is set by move_to_list), so
  // the members below have no initializers: wait_fd sets each one.
  grove::detail::FdWaiter polled;
  ev_io io;
  grove::detail::Hub* hub;
  grove::detail::GreenThreadState* gt;
  FdWaiter* next;
  FdWaiter* prev;
  int events;               // EV_READ / EV_WRITE waited for
  bool active;              // counted by hub->watcher_started() (and io started, unless persistent)
  bool persistent;          // woken by the fd's persistent watcher, not by io
  bool closed;              // close() ran on the fd while we waited
  bool listed = false;      // a wait_stream waiter moved from its epoll side into `waiters`
};

struct FdState {
  enum : std::uint8_t {
    kTracked = 1,    // created by a hooked call while patched
    kGroveNb = 2,    // grove set O_NONBLOCK on the file description
    kUserNb = 4,     // the user asked for O_NONBLOCK (SOCK_NONBLOCK, F_SETFL, FIONBIO)
    kStream = 8,     // a byte stream (SOCK_STREAM socket, pipe): a short read drains it
    kLowat = 16,     // SO_RCVLOWAT > 1: epoll's readiness is not a read's (no short-read hint)
    kSocket = 32,    // a socket: data calls go non-blocking per call (MSG_DONTWAIT)
    kPipe = 64,      // a pipe: data calls go non-blocking per call (RWF_NOWAIT) where the kernel can
  };
  std::atomic<std::uint8_t> flags{0};
  // SO_RCVTIMEO / SO_SNDTIMEO in microseconds; -1 = not known yet (ask the kernel).
  std::atomic<std::int64_t> rcv_timeout_us{-1};
  std::atomic<std::int64_t> snd_timeout_us{-1};
  // The last read on this stream fd returned less than asked for, so the kernel had
  // nothing more at that moment: the next read from a green thread parks first
  // instead of spending a syscall on EAGAIN (io.hpp). Only a hint: the fd's watcher
  // is level-triggered, so data that came in meanwhile wakes it at the next poll.
  std::atomic<bool> drained{false};
  // Green threads parked on this fd, any hub. Guarded by lock.
  std::atomic_flag lock = ATOMIC_FLAG_INIT;
  FdWaiter* waiters = nullptr;

  // The fd's owner: the first hub that waits on it. A stream fd's data calls wait in
  // the owner's own edge-triggered epoll set (coop.cpp, wait_stream: `polled`, with
  // its sides `rd` / `wr`, registered on the first wait and left there until close),
  // as grove's sockets do ("Socket readiness" in core/src/hub.cpp): no libev watcher,
  // no epoll_ctl per wait, readiness handed to the parked green thread directly.
  // Other waits on the owner (connect, datagrams, an fd with SO_RCVLOWAT, a second
  // waiter on a side) use the persistent libev watcher `pio`, left started between
  // waits for the same reason. Other hubs use a watcher of their own on their stack.
  // Only the owner's OS thread touches polled / rd / wr / pio / pio_started /
  // pio_mask; `stale` tells the owner that the fd number was closed, reused or
  // connected anew on another thread since (re-register before the next wait).
  std::atomic<grove::detail::Hub*> owner{nullptr};
  // O_NONBLOCK, SO_RCVLOWAT and the socket timeouts belong to the file description,
  // which every dup of an fd shares. The tracked fds made from one another by dup,
  // dup2, dup3 and F_DUPFD form a ring of fd numbers through next_dup (this fd's own
  // number when it has no dup; -1 when untracked), so a change made through one of
  // them reaches all (set_shared and friends). Changed only under RingLock, except for
  // an fd in no ring, which nothing else reaches (track, forget).
  std::atomic<int> next_dup{-1};
  std::atomic<bool> stale{false};
  ev_io pio;
  bool pio_started = false;
  bool poll_refused = false;  // the owner's epoll set refused the fd: its waits use pio
  int pio_mask = 0;
  grove::detail::PolledFd polled;
  grove::detail::PollSide rd;
  grove::detail::PollSide wr;

  bool has(std::uint8_t f) const noexcept { return flags.load(std::memory_order_relaxed) & f; }
  void set(std::uint8_t f) noexcept { flags.fetch_or(f, std::memory_order_relaxed); }
  void clear(std::uint8_t f) noexcept { flags.fetch_and(static_cast<std::uint8_t>(~f), std::memory_order_relaxed); }
  // A spin lock held for a few instructions; uncontended (the common case) it costs
  // one exchange, inline.
  void lock_waiters() noexcept {
    if (lock.test_and_set(std::memory_order_acquire)) [[unlikely]] lock_waiters_slow();
  }
  void unlock_waiters() noexcept { lock.clear(std::memory_order_release); }

 private:
  void lock_waiters_slow() noexcept;
};

constexpr std::size_t kSlotsPerChunk = 1024;
constexpr std::size_t kChunkCount = 1 << 14;
// The table: chunk pointers, each chunk allocated the first time an fd in its range is
// tracked and never freed, so an fd number's FdState never moves (fd_table.cpp).
extern std::atomic<FdState*> g_chunks[kChunkCount];

// The state of fd if it is tracked, else nullptr. No lock, no allocation: one atomic
// load of the chunk pointer and one of the flags, inline (every hooked data call
// starts here, once).
inline FdState* tracked(int fd) noexcept {
  const auto hi = static_cast<unsigned>(fd) / kSlotsPerChunk;  // a negative fd lands far past the end
  if (hi >= kChunkCount) return nullptr;
  FdState* chunk = g_chunks[hi].load(std::memory_order_acquire);
  if (!chunk) return nullptr;
  FdState* s = &chunk[static_cast<unsigned>(fd) % kSlotsPerChunk];
  return s->has(FdState::kTracked) ? s : nullptr;
}
// Starts tracking a new fd (fresh state: kTracked plus `flags`). No-op for fd < 0
// or beyond the table.
void track(int fd, std::uint8_t flags) noexcept;
// Tracks `to` as a dup of `from` (same file description: same flags and timeouts,
// joined to its ring of dups), or forgets `to` if `from` is untracked.
void track_dup(int from, int to) noexcept;
// The lock of the rings of dups, for a change that belongs to a file description:
// the check of the flags, the real call and the update of every dup happen under it,
// so two threads (or a dup and a change) cannot interleave. owns() is false when a
// signal handler interrupted this thread while it held the lock: the handler then
// leaves the rings alone (it changes its own fd only) rather than wait forever.
class RingLock {
 public:
  RingLock() noexcept;
  ~RingLock();
  RingLock(const RingLock&) = delete;
  RingLock& operator=(const RingLock&) = delete;
  bool owns() const noexcept { return owns_; }

 private:
  bool owns_;
};
// Sets / clears a flag that belongs to the file description (kGroveNb, kUserNb,
// kLowat) on fd and on every tracked dup that still shares it. Not for a fast path.
void set_shared_locked(const RingLock& lock, int fd, std::uint8_t f) noexcept;
void clear_shared_locked(const RingLock& lock, int fd, std::uint8_t f) noexcept;
void set_shared(int fd, std::uint8_t f) noexcept;  // takes the lock itself
// SO_RCVTIMEO (read) or SO_SNDTIMEO changed through fd: fd and every tracked dup of it
// ask the kernel again at their next wait.
void reset_timeout_shared(int fd, bool read) noexcept;
// Forgets fd (before the real close, so a new fd of the same number starts clean),
// and wakes every green thread of this OS thread parked on it, with EBADF.
void forget(int fd) noexcept;
// forget() for every tracked fd in [first, last] (close_range, closefrom).
void forget_range(unsigned int first, unsigned int last) noexcept;
// Calls fn(state) for every slot of the table that was ever allocated.
template <class F>
void for_each_slot(F&& fn);
FdState* slot_at(std::size_t chunk, std::size_t index) noexcept;  // nullptr past the end / unallocated
template <class F>
void for_each_slot(F&& fn) {
  for (std::size_t c = 0; c < kChunkCount; ++c) {
    if (!slot_at(c, 0)) continue;
    for (std::size_t i = 0; i < kSlotsPerChunk; ++i) fn(*slot_at(c, i));
  }
}
// Stops and releases every persistent watcher and epoll registration `hub` owns (its
// thread is exiting).
void release_persistent(grove::detail::Hub* hub) noexcept;
// Takes st out of its owner's epoll set and forgets what its sides were told. On the
// owner's OS thread only; the fd must still name the registered file (or be closed).
void drop_polled(grove::detail::Hub& owner, FdState& st) noexcept;

}  // namespace grove::monkey::detail
