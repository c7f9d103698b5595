#include <grove/errors.hpp>
#include <grove/semaphore.hpp>

namespace grove {

namespace {

// No wait-list check: release() hands permits to parked waiters directly, so a free
// permit never coexists with a parked waiter (only with one that timed out and has
// not run yet).
inline bool take_free_permit(std::size_t& permits) noexcept {
  if (permits == 0) return false;
  --permits;
  return true;
}

}  // namespace

bool Semaphore::try_acquire() {
  owner_.check("grove::Semaphore::try_acquire");
  return take_free_permit(permits_);
}

bool Semaphore::acquire(std::optional<Duration> timeout) {
  owner_.check("grove::Semaphore::acquire");
  if (take_free_permit(permits_)) return true;
  // Granted means release() handed its permit to us directly (the count was not raised).
  return waiters_.wait("Semaphore::acquire", timeout);
}

void Semaphore::release() {
  owner_.check("grove::Semaphore::release");
  if (!waiters_.wake_one("grove::Semaphore::release")) ++permits_;
}

void BoundedSemaphore::release() {
  owner_.check("grove::BoundedSemaphore::release");
  if (permits_ >= limit_) {  // a free permit means nobody is parked waiting for one
    throw UsageError("grove::BoundedSemaphore::release: released more times than acquired");
  }
  Semaphore::release();
}

}  // namespace grove
