#include <grove/errors.hpp>
#include <grove/lock.hpp>

#include "hub.hpp"

namespace grove {

namespace {
detail::GreenThreadState* me() { return detail::Hub::get().running(); }
}  // namespace

// ---- Lock
// Every entry checks the OS thread first (thread_): a green thread of another OS thread
// could only park where this thread's release() cannot wake it.

bool Lock::try_acquire() {
  thread_.check("grove::Lock::try_acquire");
  detail::GreenThreadState* self = me();
  if (owner_ == self) throw UsageError("grove::Lock: acquired twice by the same green thread (use RLock)");
  if (owner_) return false;  // release() hands the lock to a parked waiter directly
  owner_ = self;
  return true;
}

bool Lock::acquire(std::optional<Duration> timeout) {
  thread_.check("grove::Lock::acquire");
  if (try_acquire()) return true;
  // release() makes the granted waiter the owner before waking it.
  return waiters_.wait("Lock::acquire", timeout, me());
}

void Lock::release() {
  thread_.check("grove::Lock::release");
  if (owner_ == nullptr) throw UsageError("grove::Lock::release: the lock is not held");
  if (owner_ != me()) throw UsageError("grove::Lock::release: released by a green thread that does not hold it");
  owner_ = static_cast<detail::GreenThreadState*>(waiters_.wake_one_payload("grove::Lock::release"));
}

// ---- RLock

bool RLock::try_acquire() {
  thread_.check("grove::RLock::try_acquire");
  detail::GreenThreadState* self = me();
  if (owner_ == self) {
    ++depth_;
    return true;
  }
  if (owner_) return false;  // release() hands the lock to a parked waiter directly
  owner_ = self;
  depth_ = 1;
  return true;
}

bool RLock::acquire(std::optional<Duration> timeout) {
  thread_.check("grove::RLock::acquire");
  if (try_acquire()) return true;
  if (!waiters_.wait("RLock::acquire", timeout, me())) return false;
  depth_ = 1;
  return true;
}

void RLock::release() {
  thread_.check("grove::RLock::release");
  if (owner_ != me()) throw UsageError("grove::RLock::release: released by a green thread that does not hold it");
  if (--depth_ > 0) return;
  owner_ = static_cast<detail::GreenThreadState*>(waiters_.wake_one_payload("grove::RLock::release"));
}

}  // namespace grove
