// grove/semaphore.hpp: Semaphore and BoundedSemaphore.
//
// acquire() parks while no permit is left; release() hands a permit straight to the
// oldest waiter (FIFO: the green thread that waited first is served first), so a
// green thread arriving later can never take it first.
#pragma once

#include <cstddef>
#include <optional>

#include <grove/detail/thread_owner.hpp>
#include <grove/detail/wait_queue.hpp>
#include <grove/duration.hpp>
#include <grove/export.hpp>

namespace grove {

// A counting semaphore with FIFO hand-off (see the comment at the top of
// grove/semaphore.hpp). For the green threads of one OS thread (no locking): it
// belongs to the OS thread that first acquires or releases it, and acquire(),
// try_acquire() and release() from any other OS thread throw UsageError and change
// nothing, whether or not anyone waits (value(), locked() and waiting() are plain
// reads, not checked: from another OS thread their answer is undefined). Neither
// copyable nor movable.
class GROVE_API Semaphore {
 public:
  // Starts with `permits` free permits.
  explicit Semaphore(std::size_t permits = 1) : permits_(permits) {}
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;
  // Virtual: BoundedSemaphore derives from it.
  virtual ~Semaphore() = default;

  // Takes a permit, parking while none is free. Returns false if `timeout` passed
  // first (no permit taken). GreenletExit / TimeoutError if interrupted while waiting
  // (no permit taken). UsageError if it would park on the hub, or from another OS
  // thread than the semaphore's.
  bool acquire(std::optional<Duration> timeout = std::nullopt);
  // Takes a permit if one is free right now; never parks. UsageError from another OS
  // thread than the semaphore's.
  bool try_acquire();
  // Returns a permit: to the oldest waiter if any, else to the count. Does not park.
  // UsageError (nothing changes) if called from another OS thread than the
  // semaphore's (a run_in_thread worker, a std::thread).
  virtual void release();

  // Permits free right now.
  std::size_t value() const noexcept { return permits_; }
  // True if acquire() would park.
  bool locked() const noexcept { return permits_ == 0; }
  // Green threads waiting in acquire() right now.
  std::size_t waiting() const noexcept { return waiters_.size(); }

  // BasicLockable, for std::lock_guard / std::unique_lock: acquire() without a timeout.
  void lock() { acquire(); }
  // release().
  void unlock() { release(); }
  // try_acquire().
  bool try_lock() { return try_acquire(); }

 protected:
  // The OS thread it belongs to (detail/thread_owner.hpp).
  detail::ThreadOwner owner_;
  // Permits free right now (0 whenever a green thread is parked in acquire()).
  std::size_t permits_;
  // The green threads parked in acquire(), oldest first.
  detail::WaitQueue waiters_;
};

// A Semaphore that may not be released more often than it was acquired: releasing
// beyond the initial count throws UsageError and changes nothing.
class GROVE_API BoundedSemaphore : public Semaphore {
 public:
  // Starts with `permits` free permits, which is also the most it may hold.
  explicit BoundedSemaphore(std::size_t permits = 1) : Semaphore(permits), limit_(permits) {}
  // As Semaphore::release(); UsageError (nothing changes) if every permit is free
  // already.
  void release() override;

 private:
  std::size_t limit_;
};

}  // namespace grove
