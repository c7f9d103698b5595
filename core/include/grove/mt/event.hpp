// grove/mt/event.hpp: grove::mt::Event, a flag that green threads on any hub and
// plain OS threads can wait for.
//
// set() wakes every waiter (a green thread parks only itself; a plain OS thread
// blocks); wait() returns at once while it is set. grove::Event (grove/event.hpp) is
// the hub-bound, lock-free one.
#pragma once

#include <mutex>
#include <optional>

#include <grove/detail/cross_wait.hpp>
#include <grove/duration.hpp>
#include <grove/export.hpp>

namespace grove::mt {

// A flag awaited from any hub or OS thread (see the comment at the top of
// grove/mt/event.hpp). Neither copyable nor movable.
class GROVE_API Event {
 public:
  Event() = default;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  // Sets the flag and wakes every waiter. Never waits; any OS thread.
  void set();
  // Clears the flag. Any OS thread.
  void clear();
  // True while set.
  bool is_set() const;
  // Waits until set; returns whether it was set before `timeout`. GreenletExit /
  // TimeoutError if the waiting green thread is interrupted; UsageError on the hub.
  bool wait(std::optional<Duration> timeout = std::nullopt);

 private:
  mutable std::mutex mu_;
  bool set_ = false;
  detail::CrossWaitList waiters_;
};

}  // namespace grove::mt
