// grove/detail/wait_queue.hpp: a FIFO of parked green threads, the one waiting
// mechanism under every sync primitive, queue and channel.
//
// wake_one() wakes the oldest waiter that is still parked and marks it granted: the
// caller then owes it whatever it was waiting for (a permit, an item, a slot), and the
// waiter's wait() returns true even if a kill or timeout lands before it runs again
// (that interrupt is raised at its next blocking call instead). A waiter that was
// already woken by a kill or its timeout is skipped, so nothing is ever handed to a
// green thread that is no longer waiting: no lost wake-ups.
//
// A queue serves the green threads of one OS thread: only that thread's hub can wake
// them. The primitives built on it refuse a call from another OS thread at their
// entry, whether or not anyone waits (detail/thread_owner.hpp). The queue checks
// again, per waiter, for what that cannot see (an object whose OS thread exited,
// used by a later thread that reuses its identity): before it unlinks a waiter, that
// the waiter belongs to the calling OS thread's hub (one pointer compare); otherwise
// UsageError, leaving the queue as it was, or, in the *_nothrow forms used on paths
// that cannot throw, the program stops with a message naming the primitive. `what`
// names the public operation for that message ("grove::Semaphore::release").
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
  // TimeoutError if interrupted before being granted; UsageError on the hub, or if
  // green threads of another OS thread wait in this queue.
  bool wait(const char* what, std::optional<Duration> timeout = std::nullopt, void* payload = nullptr);

  // Grants the oldest still-parked waiter. Returns false if there is none. UsageError
  // (nothing changes) if the waiters belong to another OS thread's hub.
  bool wake_one(const char* what);
  // As wake_one(), returning the granted waiter's payload (nullptr if none was granted;
  // use only with waiters that pass a non-null payload).
  void* wake_one_payload(const char* what);
  // Grants every still-parked waiter; returns how many. UsageError as wake_one().
  std::size_t wake_all(const char* what);
  // As wake_one() / wake_all(), for paths that cannot throw: a call from another OS
  // thread than the waiters' aborts the program with a message naming `what`.
  bool wake_one_nothrow(const char* what) noexcept;
  std::size_t wake_all_nothrow(const char* what) noexcept;
  // UsageError if green threads of another OS thread than the caller's wait here;
  // nothing otherwise (and nothing at all when nobody waits). For operations that
  // change their primitive before waking a waiter (Queue), so that a refused call
  // changes nothing.
  void check_caller(const char* what) const {
    if (!waiters_.empty()) check_front(what);
  }

  bool empty() const noexcept { return waiters_.empty(); }
  std::size_t size() const noexcept { return waiters_.size(); }

 private:
  struct Node;
  // Pops waiters until one is still parked, wakes and grants it; nullptr if none.
  // A waiter of another hub: UsageError (may_throw) or abort, before anything changes.
  Node* pop_parked(const char* what, bool may_throw);
  void check_front(const char* what) const;
  ObserverList waiters_;
};

}  // namespace grove::detail
