// grove/lock.hpp: Lock and RLock, mutual exclusion between green threads.
//
//   grove::Lock mu;
//   { std::lock_guard g(mu); ... }          // or grove::LockGuard g(mu);
//
// Waiting is FIFO. Both are held by the green thread that acquired them, and serve the
// green threads of one OS thread: a lock belongs to the OS thread that first acquires
// it, and acquire(), try_acquire() and release() from any other OS thread throw
// UsageError and change nothing (locked() and depth() are plain reads, not checked:
// from another OS thread their answer is undefined).
#pragma once

#include <cstddef>
#include <optional>

#include <grove/detail/thread_owner.hpp>
#include <grove/detail/wait_queue.hpp>
#include <grove/duration.hpp>
#include <grove/export.hpp>

namespace grove {

namespace detail {
struct GreenThreadState;
}

// A non-recursive lock. Acquiring it again from the green thread that holds it, or
// releasing it from another green thread (or when not held), is a UsageError.
class GROVE_API Lock {
 public:
  // Free.
  Lock() = default;
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

  // Parks until the lock is free and takes it; false if `timeout` passed first.
  // GreenletExit / TimeoutError if interrupted while waiting (lock not taken).
  // UsageError if the caller holds it already, if it would park on the hub, or from
  // another OS thread than the lock's.
  bool acquire(std::optional<Duration> timeout = std::nullopt);
  // Takes the lock if it is free right now; never parks. UsageError if the caller
  // holds it already, or from another OS thread than the lock's.
  bool try_acquire();
  // Releases it and hands it to the oldest waiter, if any. Does not park.
  // UsageError if the caller does not hold it (or is on another OS thread).
  void release();
  // True while some green thread holds it.
  bool locked() const noexcept { return owner_ != nullptr; }

  // acquire() without a timeout, for std::lock_guard / std::unique_lock.
  void lock() { acquire(); }
  // release().
  void unlock() { release(); }
  // try_acquire().
  bool try_lock() { return try_acquire(); }

 private:
  detail::ThreadOwner thread_;
  detail::GreenThreadState* owner_ = nullptr;
  detail::WaitQueue waiters_;
};

// A recursive lock: its owner may acquire it again; it is free after as many
// releases. Releasing from a green thread that does not own it is a UsageError.
class GROVE_API RLock {
 public:
  // Free.
  RLock() = default;
  RLock(const RLock&) = delete;
  RLock& operator=(const RLock&) = delete;

  // Takes it again at once if the caller owns it (depth() + 1); otherwise parks
  // until it is free and takes it. False if `timeout` passed first. GreenletExit /
  // TimeoutError if interrupted while waiting (lock not taken). UsageError if it
  // would park on the hub, or from another OS thread than the lock's.
  bool acquire(std::optional<Duration> timeout = std::nullopt);
  // Takes it (or again, if the caller owns it) if possible right now; never parks.
  // UsageError from another OS thread than the lock's.
  bool try_acquire();
  // Undoes one acquire; at depth 0 the lock goes to the oldest waiter, if any. Does
  // not park. UsageError if the caller does not own it (or is on another OS thread).
  void release();
  // True while some green thread owns it.
  bool locked() const noexcept { return owner_ != nullptr; }
  // The owner's acquisitions not yet released (0 when free).
  std::size_t depth() const noexcept { return depth_; }

  // acquire() without a timeout, for std::lock_guard / std::unique_lock.
  void lock() { acquire(); }
  // release().
  void unlock() { release(); }
  // try_acquire().
  bool try_lock() { return try_acquire(); }

 private:
  detail::ThreadOwner thread_;
  detail::GreenThreadState* owner_ = nullptr;
  std::size_t depth_ = 0;
  detail::WaitQueue waiters_;
};

// RAII guard for any of the above (std::lock_guard works too).
template <class L>
class LockGuard {
 public:
  // Calls l.lock(): parks while another green thread holds it, with lock()'s errors
  // (if it throws, nothing is held and nothing will be released).
  explicit LockGuard(L& l) : l_(l) { l_.lock(); }
  // Calls l.unlock().
  ~LockGuard() { l_.unlock(); }
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;

 private:
  L& l_;
};

}  // namespace grove
