// grove/timeout.hpp: scoped deadlines.
//
//   {
//     grove::Timeout t(2s);      // starts now, on the calling green thread
//     sock.recv(buf);            // TimeoutError here if still waiting after 2 s
//   }                            // leaving the scope cancels it
//
// When the deadline passes, the first blocking call the green thread is in (or makes
// next) throws TimeoutError whose source() is this Timeout; it throws once. With
// nested Timeouts the one that fired is the one that throws (if several fired before
// the green thread could run, the outermost). To handle only your own deadline, check
// `e.is(t)` and rethrow otherwise, or use with_timeout(), which does exactly that, so
// an outer deadline is never swallowed by an inner handler.
//
// In clean-up code that runs while an exception unwinds the green thread (a
// destructor, during a kill's GreenletExit or any other exception), a Timeout made
// there belongs to that unwinding: it fires in it, and its TimeoutError is meant to be
// caught inside the destructor (with_timeout does). A Timeout made before the
// unwinding began that expires meanwhile stays pending until the unwinding is over
// (its handler lies outside the destructor: throwing there would std::terminate).
#pragma once

#include <optional>
#include <type_traits>
#include <utility>

#include <grove/duration.hpp>
#include <grove/errors.hpp>
#include <grove/export.hpp>

namespace grove {

namespace detail {
struct GreenThreadState;
}

// A deadline for the calling green thread, armed while the object is in scope (see the
// comment at the top of grove/timeout.hpp). Create and destroy it in the same green
// thread, as a local variable; it is neither copyable nor movable.
class GROVE_API Timeout {
 public:
  // Starts a deadline `d` from now for the calling green thread. Does not park.
  // UsageError on the hub. A `d` of zero or less expires at the hub's next poll.
  explicit Timeout(Duration d);
  // Cancels it (see cancel()) and unlinks it from the green thread's Timeouts.
  ~Timeout();
  Timeout(const Timeout&) = delete;
  Timeout& operator=(const Timeout&) = delete;

  // Stops the timer. Called by the green thread that owns it, a fired-but-not-yet-
  // raised TimeoutError from it is dropped. Called by another green thread after the
  // deadline passed, it cannot take the error back: the owner was already woken out
  // of its wait and still gets its TimeoutError. Idempotent; never parks.
  void cancel() noexcept;
  // True once the deadline has passed (whether or not its error was raised yet).
  bool expired() const noexcept { return fired_; }

 private:
  friend struct TimeoutAccess;
  alignas(8) unsigned char timer_[64];  // an ev_timer, kept opaque (ev.h stays private)
  Duration duration_;
  detail::GreenThreadState* owner_ = nullptr;
  Timeout* outer_ = nullptr;  // the chain of live Timeouts on owner_, innermost first
  // std::uncaught_exceptions() when it was made: it may be raised while the owner
  // unwinds only at this depth (see the comment at the top of grove/timeout.hpp).
  unsigned unwinding_ = 0;
  bool active_ = false;
  bool fired_ = false;
  bool raised_ = false;
};

// Runs fn() under a Timeout of `d`. Returns its value (true for void functions), or
// std::nullopt (false) if this deadline expired; any other exception, including an
// outer Timeout's TimeoutError, propagates. Parks only where fn parks; UsageError on
// the hub. When the deadline expires, fn has been unwound by the TimeoutError, so
// what it left behind is what its own destructors leave.
template <class F>
auto with_timeout(Duration d, F&& fn) {
  using R = std::invoke_result_t<F>;
  Timeout t(d);
  if constexpr (std::is_void_v<R>) {
    try {
      std::forward<F>(fn)();
      return true;
    } catch (const TimeoutError& e) {
      if (!e.is(t)) throw;
      return false;
    }
  } else {
    try {
      return std::optional<R>(std::forward<F>(fn)());
    } catch (const TimeoutError& e) {
      if (!e.is(t)) throw;
      return std::optional<R>();
    }
  }
}

}  // namespace grove
