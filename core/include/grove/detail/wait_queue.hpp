// grove/detail/wait_queue.hpp: a FIFO of parked green threads, the one waiting
// mechanism under every sync primitive, queue and channel.
//
// wake_one() wakes the oldest waiter that is still parked and marks it granted: the
// caller then owes it whatever it was waiting for (a permit, an item, a slot), and the
// waiter's wait() returns true even if a kill or timeout lands before it runs again
// (that interrupt is raised at its next blocking call instead). A waiter that was
// already woken by a kill or its timeout is skipped, so nothing is ever handed to a
// green thread that is no longer waiting: no lost wake-ups.
#pragma once

#include <optional>

#include <grove/detail/observer.hpp>
#include <grove/duration.hpp>
#include <grove/export.hpp>

namespace grove::detail {

struct GreenThreadState;

class GROVE_API WaitQueue {
 public:
  WaitQueue() = default;
  WaitQueue(const WaitQueue&) = delete;
  WaitQueue& operator=(const WaitQueue&) = delete;

  // Parks the calling green thread at the tail until a wake_one()/wake_all() grants
  // it (returns true) or `timeout` passes (returns false). `payload` is handed to the
  // waker by wake_one_payload() (a slot to fill or to take from). Throws GreenletExit /
  // TimeoutError if interrupted before being granted; UsageError on the hub.
  bool wait(const char* what, std::optional<Duration> timeout = std::nullopt, void* payload = nullptr);

  // Grants the oldest still-parked waiter. Returns false if there is none.
  bool wake_one() noexcept;
  // As wake_one(), returning the granted waiter's payload (nullptr if none was granted;
  // use only with waiters that pass a non-null payload).
  void* wake_one_payload() noexcept;
  // Grants every still-parked waiter; returns how many.
  std::size_t wake_all() noexcept;

  bool empty() const noexcept { return waiters_.empty(); }
  std::size_t size() const noexcept { return waiters_.size(); }

 private:
  struct Node;
  Node* pop_parked() noexcept;
  ObserverList waiters_;
};

}  // namespace grove::detail
