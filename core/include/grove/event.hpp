// grove/event.hpp: Event, a flag green threads can wait on.
//
//   grove::Event ready;
//   grove::spawn([&] { setup(); ready.set(); });
//   ready.wait();                  // parks until set()
//
// Only for the OS thread whose green threads use it (no locking): it belongs to the OS
// thread that first calls set(), clear() or wait() on it (or grove::wait / iwait), and
// those calls from any other OS thread (a run_in_thread worker, a std::thread) throw
// UsageError and change nothing, whether or not anyone waits (detail/thread_owner.hpp).
// is_set() / ready() are plain reads, not checked: from another OS thread their answer
// is a data race (undefined).
#pragma once

#include <optional>

#include <grove/detail/observer.hpp>
#include <grove/detail/thread_owner.hpp>
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
  // UsageError (nothing changes) if called from another OS thread than the Event's.
  void set();
  // Clears the flag; later wait() calls park again. Waiters already woken stay woken.
  // UsageError (nothing changes) from another OS thread than the Event's.
  void clear() {
    owner_.check("grove::Event::clear");
    set_ = false;
  }
  // True while the flag is set.
  bool is_set() const noexcept { return set_; }

  // Parks until the flag is set (returns at once if it is). Returns true if it was
  // set, false if `timeout` passed first. GreenletExit / TimeoutError if the caller is
  // killed or its Timeout expires (nothing is left behind). UsageError if it would
  // park on the hub, or from another OS thread than the Event's.
  bool wait(std::optional<Duration> timeout = std::nullopt);

  // Waitable: same as is_set().
  bool ready() const override { return set_; }
  // Waitable: notified by set(). UsageError from another OS thread than the Event's
  // (grove::wait / iwait register here).
  detail::ObserverList& observers() const override {
    owner_.check("grove::wait on a grove::Event");
    return observers_;
  }

 private:
  template <class T>
  friend class AsyncResult;
  // set(), naming `what` in the UsageError.
  void set_as(const char* what);
  // UsageError naming `what` if called from another OS thread than the Event's.
  void check_thread(const char* what) const { owner_.check(what); }

  detail::ThreadOwner owner_;
  bool set_ = false;
  detail::WaitQueue waiters_;
  mutable detail::ObserverList observers_;
};

}  // namespace grove
