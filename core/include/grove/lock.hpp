// grove/lock.hpp: Lock and RLock, mutual exclusion between green threads.
//
//   grove::Lock mu;
//   { std::lock_guard g(mu); ... }          // or grove::LockGuard g(mu);
//
// Waiting is FIFO. Both are owned by the green thread that acquired them.
#pragma once

#include <cstddef>
#include <optional>

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
  Lock() = default;
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

  // Parks until the lock is free and takes it; false if `timeout` passed first.
  // GreenletExit / TimeoutError if interrupted while waiting (lock not taken).
  bool acquire(std::optional<Duration> timeout = std::nullopt);
  bool try_acquire();
  // Releases it and hands it to the oldest waiter, if any. Does not park.
  void release();
  bool locked() const noexcept { return owner_ != nullptr; }

  void lock() { acquire(); }
  void unlock() { release(); }
  bool try_lock() { return try_acquire(); }

 private:
  detail::GreenThreadState* owner_ = nullptr;
  detail::WaitQueue waiters_;
};

// A recursive lock: its owner may acquire it again; it is free after as many
// releases. Releasing from a green thread that does not own it is a UsageError.
class GROVE_API RLock {
 public:
  RLock() = default;
  RLock(const RLock&) = delete;
  RLock& operator=(const RLock&) = delete;

  bool acquire(std::optional<Duration> timeout = std::nullopt);
  bool try_acquire();
  void release();
  bool locked() const noexcept { return owner_ != nullptr; }
  std::size_t depth() const noexcept { return depth_; }

  void lock() { acquire(); }
  void unlock() { release(); }
  bool try_lock() { return try_acquire(); }

 private:
  detail::GreenThreadState* owner_ = nullptr;
  std::size_t depth_ = 0;
  detail::WaitQueue waiters_;
};

// RAII guard for any of the above (std::lock_guard works too).
template <class L>
class LockGuard {
 public:
  explicit LockGuard(L& l) : l_(l) { l_.lock(); }
  ~LockGuard() { l_.unlock(); }
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;

 private:
  L& l_;
};

}  // namespace grove
