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

class GROVE_API Pool : public Group {
 public:
  // size > 0, else UsageError.
  explicit Pool(std::size_t size);
  ~Pool() override;

  std::size_t capacity() const noexcept { return capacity_; }
  // Slots free right now (neither a member nor promised to a waiting spawn()).
  std::size_t free_count() const noexcept;
  bool full() const noexcept { return free_count() == 0; }

  // Parks until at least one slot is free (without taking it) and returns how many
  // are; returns 0 if `timeout` passed first. GreenletExit / TimeoutError if the
  // caller is interrupted.
  std::size_t wait_available(std::optional<Duration> timeout = std::nullopt);

 protected:
  void acquire_slot(std::optional<Duration> timeout) override;
  void slot_taken() noexcept override { --reserved_; }
  void release_slot() noexcept override;
  void on_member_left() noexcept override;

 private:
  void hand_over_free_slot() noexcept;

  std::size_t capacity_;
  std::size_t reserved_ = 0;  // slots promised to spawn()/add() callers, not yet members
  detail::WaitQueue slot_waiters_;
  detail::WaitQueue available_waiters_;
};

}  // namespace grove
