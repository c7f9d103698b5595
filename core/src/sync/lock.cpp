#include <grove/errors.hpp>
#include <grove/lock.hpp>

#include <string>

#include "hub.hpp"

namespace grove {

namespace {
detail::GreenThreadState* me() { return detail::Hub::get().running(); }

// UsageError if the lock is held by a green thread of another OS thread: the caller
// could only park where that thread's release() cannot wake it.
void check_same_thread(const detail::GreenThreadState* owner, const detail::GreenThreadState* self,
                       const char* what) {
  if (owner && owner->hub != self->hub) {
    throw UsageError(std::string(what) +
                     ": used from another OS thread (held by a green thread of another OS thread's hub)");
  }
}
}  // namespace

// ---- Lock

bool Lock::try_acquire() {
  detail::GreenThreadState* self = me();
  if (owner_ == self) throw UsageError("grove::Lock: acquired twice by the same green thread (use RLock)");
  check_same_thread(owner_, self, "grove::Lock::acquire");
  if (owner_) return false;  // release() hands the lock to a parked waiter directly
  owner_ = self;
  return true;
}

bool Lock::acquire(std::optional<Duration> timeout) {
  if (try_acquire()) return true;
  // release() makes the granted waiter the owner before waking it.
  return waiters_.wait("Lock::acquire", timeout, me());
}

void Lock::release() {
  if (owner_ == nullptr) throw UsageError("grove::Lock::release: the lock is not held");
  if (owner_ != me()) throw UsageError("grove::Lock::release: released by a green thread that does not hold it");
  owner_ = static_cast<detail::GreenThreadState*>(waiters_.wake_one_payload("grove::Lock::release"));
}

// ---- RLock

bool RLock::try_acquire() {
  detail::GreenThreadState* self = me();
  if (owner_ == self) {
    ++depth_;
    return true;
  }
  check_same_thread(owner_, self, "grove::RLock::acquire");
  if (owner_) return false;  // release() hands the lock to a parked waiter directly
  owner_ = self;
  depth_ = 1;
  return true;
}

bool RLock::acquire(std::optional<Duration> timeout) {
  if (try_acquire()) return true;
  if (!waiters_.wait("RLock::acquire", timeout, me())) return false;
  depth_ = 1;
  return true;
}

void RLock::release() {
  if (owner_ != me()) throw UsageError("grove::RLock::release: released by a green thread that does not hold it");
  if (--depth_ > 0) return;
  owner_ = static_cast<detail::GreenThreadState*>(waiters_.wake_one_payload("grove::RLock::release"));
}

}  // namespace grove
