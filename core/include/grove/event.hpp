// grove/event.hpp: Event, a flag green threads can wait on.
//
//   grove::Event ready;
//   grove::spawn([&] { setup(); ready.set(); });
//   ready.wait();                  // parks until set()
//
// Only for the OS thread whose green threads use it (no locking): set() from another
// OS thread (a run_in_thread worker) while green threads wait is a UsageError.
#pragma once

#include <optional>

#include <grove/detail/observer.hpp>
#include <grove/detail/wait_queue.hpp>
#include <grove/duration.hpp>
#include <grove/export.hpp>
#include <grove/waitable.hpp>

namespace grove {

// A flag green threads can wait on (see the comment at the top of grove/event.hpp):
// set() wakes every waiter. A Waitable. Neither copyable nor movable.
class GROVE_API Event : public Waitable {
 public:
  // Not set.
  Event() = default;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  // Sets the flag and wakes every waiter (and grove::wait / iwait on it). Does not park.
  // UsageError (nothing changes) if called from an OS thread other than the one whose
  // green threads wait in wait(); if only grove::wait / iwait of another OS thread
  // watch it, the program stops with a message instead (it cannot be undone there).
  void set();
  // Clears the flag; later wait() calls park again. Waiters already woken stay woken.
  void clear() noexcept { set_ = false; }
  // True while the flag is set.
  bool is_set() const noexcept { return set_; }

  // Parks until the flag is set (returns at once if it is). Returns true if it was
  // set, false if `timeout` passed first. GreenletExit / TimeoutError if the caller is
  // killed or its Timeout expires (nothing is left behind). UsageError if it would
  // park on the hub.
  bool wait(std::optional<Duration> timeout = std::nullopt);

  // Waitable: same as is_set().
  bool ready() const override { return set_; }
  // Waitable: notified by set().
  detail::ObserverList& observers() const override { return observers_; }

 private:
  template <class T>
  friend class AsyncResult;
  // set(), naming `what` in the UsageError.
  void set_as(const char* what);

  bool set_ = false;
  detail::WaitQueue waiters_;
  mutable detail::ObserverList observers_;
};

}  // namespace grove
