// grove/pool.hpp: Pool, a Group with at most `size` members at once.
//
//   grove::Pool pool(100);                 // at most 100 concurrent fetches
//   for (auto& url : urls) pool.spawn(fetch, url);   // parks while 100 are running
//   pool.join();
//
// Slots are handed out in FIFO order: when a member dies, its slot goes to the green
// thread that has waited longest in spawn() / add(), never to a later arrival.
#pragma once

#include <cstddef>
#include <optional>

#include <grove/detail/wait_queue.hpp>
#include <grove/duration.hpp>
#include <grove/export.hpp>
#include <grove/group.hpp>

namespace grove {

// A Group with at most capacity() members at once (see the comment at the top of
// grove/pool.hpp): spawn() and add() park while it is full, and map() / imap() run at
// most capacity() calls at once.
class GROVE_API Pool : public Group {
 public:
  // A pool of `size` slots; size > 0, else UsageError.
  explicit Pool(std::size_t size);
  // As ~Group(): the members keep running.
  ~Pool() override;

  // The size given at construction.
  std::size_t capacity() const noexcept { return capacity_; }
  // Slots free right now (neither a member nor promised to a waiting spawn()).
  std::size_t free_count() const noexcept;
  // True if free_count() is 0: spawn() / add() would park.
  bool full() const noexcept { return free_count() == 0; }

  // Parks until at least one slot is free (without taking it) and returns how many
  // are; returns 0 if `timeout` passed first. GreenletExit / TimeoutError if the
  // caller is interrupted (nothing changes). UsageError if it would park on the hub.
  std::size_t wait_available(std::optional<Duration> timeout = std::nullopt);

 protected:
  // Reserves a free slot, or parks in FIFO order until one is handed over. Throws
  // TimeoutError (source() is nullptr) if `timeout` passes first; GreenletExit /
  // TimeoutError if interrupted. Nothing is reserved when it throws.
  void acquire_slot(std::optional<Duration> timeout) override;
  // The reservation became a member.
  void slot_taken() noexcept override { --reserved_; }
  // Drops an unused reservation and hands the slot to the oldest waiter, if any.
  void release_slot() noexcept override;
  // Hands the freed slot to the oldest waiter, if any, and wakes wait_available().
  void on_member_left() noexcept override;

 private:
  void hand_over_free_slot() noexcept;

  std::size_t capacity_;
  std::size_t reserved_ = 0;  // slots promised to spawn()/add() callers, not yet members
  detail::WaitQueue slot_waiters_;
  detail::WaitQueue available_waiters_;
};

}  // namespace grove
