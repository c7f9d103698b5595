#include <grove/errors.hpp>
#include <grove/semaphore.hpp>

namespace grove {

bool Semaphore::try_acquire() noexcept {
  // No wait-list check: release() hands permits to parked waiters directly, so a free
  // permit never coexists with a parked waiter (only with one that timed out and has
  // not run yet).
  if (permits_ == 0) return false;
  --permits_;
  return true;
}

bool Semaphore::acquire(std::optional<Duration> timeout) {
  if (try_acquire()) return true;
  // Granted means release() handed its permit to us directly (the count was not raised).
  return waiters_.wait("Semaphore::acquire", timeout);
}

void Semaphore::release() {
  if (!waiters_.wake_one("grove::Semaphore::release")) ++permits_;
}

void BoundedSemaphore::release() {
  if (permits_ >= limit_) {  // a free permit means nobody is parked waiting for one
    throw UsageError("grove::BoundedSemaphore::release: released more times than acquired");
  }
  Semaphore::release();
}

}  // namespace grove
