#include <grove/timeout.hpp>

#include <exception>
#include <string>

#include "hub.hpp"
#include "timeout_internal.hpp"

namespace grove {

struct TimeoutAccess {
  static ev_timer* timer(Timeout* t) { return reinterpret_cast<ev_timer*>(t->timer_); }

  static void on_timer(struct ev_loop*, ev_timer* w, int) noexcept {
    auto* t = static_cast<Timeout*>(w->data);
    detail::Hub& hub = *t->owner_->hub;
    t->active_ = false;
    hub.watcher_stopped();
    t->fired_ = true;
    ++t->owner_->fired_timeouts;
    hub.interrupt(t->owner_, detail::kPendingTimeout, t->unwinding_);
  }

  // Forget a fired timeout that was not raised (cancelled or out of scope).
  static void consume(Timeout* t) noexcept {
    if (t->fired_ && !t->raised_) {
      t->raised_ = true;
      if (--t->owner_->fired_timeouts == 0) {
        t->owner_->pending &= static_cast<std::uint8_t>(~detail::kPendingTimeout);
      }
    }
  }

  // See detail::raise_fired_timeout.
  static void raise(detail::GreenThreadState* gt, unsigned unwinding) {
    Timeout* pick = nullptr;
    bool any = false;  // a fired, unraised Timeout, of any depth
    for (Timeout* t = gt->timeouts; t; t = t->outer_) {
      if (!t->fired_ || t->raised_) continue;
      any = true;
      if (unwinding == 0 || t->unwinding_ == unwinding) pick = t;  // keep going: the outermost wins
    }
    if (!pick) {
      if (!any) {
        gt->fired_timeouts = 0;
        gt->pending &= static_cast<std::uint8_t>(~detail::kPendingTimeout);
      }
      return;  // else those left belong to another unwinding depth: still pending
    }
    consume(pick);
    throw TimeoutError(pick, "grove: timeout of " +
                                 std::to_string(std::chrono::duration<double>(pick->duration_).count()) +
                                 " s expired");
  }
};

Timeout::Timeout(Duration d) : duration_(d) {
  detail::Hub& hub = detail::Hub::get();
  hub.check_may_block("grove::Timeout");
  owner_ = hub.running();
  // The running green thread's own count: the hub swaps the C++ runtime's exception
  // globals on every switch.
  unwinding_ = static_cast<unsigned>(std::uncaught_exceptions());
  outer_ = owner_->timeouts;
  owner_->timeouts = this;
  static_assert(sizeof(ev_timer) <= sizeof(timer_), "grove::Timeout: timer storage too small");
  ev_timer* w = TimeoutAccess::timer(this);
  const double secs = detail::to_seconds(d);
  ev_timer_init(w, &TimeoutAccess::on_timer, secs > 0 ? secs : 0., 0.);
  w->data = this;
  detail::randomize_priority(hub.schedule_rng(), reinterpret_cast<ev_watcher*>(w));
  ev_now_update(hub.loop());  // count from now, not from the last poll (see ParkTimer)
  ev_timer_start(hub.loop(), w);
  hub.watcher_started();
  active_ = true;
}

void Timeout::cancel() noexcept {
  if (active_) {
    detail::Hub& hub = *owner_->hub;
    ev_timer_stop(hub.loop(), TimeoutAccess::timer(this));
    hub.watcher_stopped();
    active_ = false;
  }
  // Once the timer fired, the owner was interrupted: woken out of whatever it was
  // parked in, and a waker may already have passed it over for that reason (a
  // permit or an item went to the next waiter or back to the count). Only the owner
  // itself may drop the error then (it was not parked: e.g. it yielded and leaves
  // the Timeout's scope). Dropping it from another green thread would return the
  // owner into a wait it was already taken out of, next to what it was passed over for.
  if (owner_ == owner_->hub->running()) TimeoutAccess::consume(this);
}

Timeout::~Timeout() {
  cancel();
  Timeout** link = &owner_->timeouts;
  while (*link && *link != this) link = &(*link)->outer_;
  if (*link) *link = outer_;
}

namespace detail {
void raise_fired_timeout(GreenThreadState* gt, unsigned unwinding) { TimeoutAccess::raise(gt, unwinding); }
}  // namespace detail

}  // namespace grove
