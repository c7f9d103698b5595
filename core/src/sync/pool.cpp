#include <grove/pool.hpp>

#include <chrono>

#include <grove/duration.hpp>
#include <grove/errors.hpp>

namespace grove {

Pool::Pool(std::size_t size) : capacity_(size) {
  if (size == 0) throw UsageError("grove::Pool: size must be at least 1");
}

Pool::~Pool() = default;

std::size_t Pool::free_count() const noexcept {
  const std::size_t used = size() + reserved_;
  return used >= capacity_ ? 0 : capacity_ - used;
}

void Pool::acquire_slot(std::optional<Duration> timeout) {
  // Take a free slot only if nobody waits before us (FIFO); otherwise queue. A
  // granted wait means the slot was reserved for us by hand_over_free_slot().
  if (free_count() > 0 && slot_waiters_.empty()) {
    ++reserved_;
    return;
  }
  if (!slot_waiters_.wait("grove::Pool::spawn", timeout)) {
    throw TimeoutError(nullptr, "grove::Pool: timed out waiting for a free slot");
  }
}

void Pool::release_slot() noexcept {
  --reserved_;
  hand_over_free_slot();
}

void Pool::on_member_left() noexcept { hand_over_free_slot(); }

void Pool::hand_over_free_slot() noexcept {
  while (free_count() > 0) {
    ++reserved_;
    if (!slot_waiters_.wake_one_nothrow("grove::Pool (a slot became free)")) {
      --reserved_;
      break;
    }
  }
  if (free_count() > 0) available_waiters_.wake_all_nothrow("grove::Pool (a slot became free)");
}

std::size_t Pool::wait_available(std::optional<Duration> timeout) {
  check_thread("grove::Pool::wait_available");
  if (!timeout) {
    while (free_count() == 0) available_waiters_.wait("grove::Pool::wait_available");
    return free_count();
  }
  const auto deadline = grove::detail::deadline_after(std::chrono::steady_clock::now(), *timeout);
  while (free_count() == 0) {
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= Duration::zero()) return 0;
    available_waiters_.wait("grove::Pool::wait_available", std::chrono::duration_cast<Duration>(left));
  }
  return free_count();
}

}  // namespace grove
