// hub_switch.hpp: the switch path of Hub (hub.cpp's "Who switches to whom"), in a
// header so that the per-message waits can park inline (park_inline in libgrove's
// sockets, park_nothrow_inline in libgrove_monkey's stream hooks): a read that parks
// on every echoed message then pays no call into park(), no second save of the
// registers its caller saved already, and no second on-hub test. What it reaches in
// libgrove (grove_jump_fcontext, report_canary_overflow, Hub's members) is exported
// for libgrove_monkey, which inlines it too; none of it is a public API.
#pragma once

#include "context.hpp"
#include "hub.hpp"
#include "overflow.hpp"
#include "stack_pool.hpp"

namespace grove::detail {

inline void Hub::restore_thread_state(GreenThreadState* me) noexcept {
  eh_->caught = me->eh_caught;
  eh_->uncaught = me->eh_uncaught;
  *errno_ = me->saved_errno;
}

inline void Hub::switch_to(GreenThreadState* from, GreenThreadState* to) noexcept {
  from->saved_errno = *errno_;
  from->eh_caught = eh_->caught;
  from->eh_uncaught = eh_->uncaught;
  current_ = to;
  to->status = Status::kRunning;
  switches_.store(switches_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  running_.store(to, std::memory_order_release);
  GreenThreadState* prev = context::jump(from, to);
  // Resumed: `from` runs again.
  restore_thread_state(from);
  after_switch(prev);
}

inline void Hub::after_switch(GreenThreadState* prev) noexcept {
  if (prev->stack.guard_kind == GuardKind::kCanary && !StackPool::canary_intact(prev->stack)) {
    report_canary_overflow(prev);
  }
  // Dead and no handle left (a handle dropped on another OS thread sets
  // kRefHandedToHub instead of reaching zero: free_handed() frees it then).
  if (prev->status == Status::kDead && prev->refs.load(std::memory_order_acquire) == 0) release(prev);
}

inline void Hub::switch_next(GreenThreadState* me) {
  GreenThreadState* next;
  if (ready_head_ && budget_ > 0) {
    --budget_;
    next = pop_ready();
  } else {
    next = &hub_;
  }
  if (next == me) {
    me->status = Status::kRunning;
    return;
  }
  switch_to(me, next);
}

// park() for a caller that has checked it is not on the hub (IoChannel::wait_untimed
// refuses that before it parks): the same steps, inline, with park()'s rare cases
// (an interrupt pending) left to park() itself.
inline void Hub::park_inline(const char* what) {
  GreenThreadState* me = current_;
  if (me->pending) [[unlikely]] return park(what);
  me->wait_what = what;
  me->wait_peer = nullptr;
  me->status = Status::kParked;
  me->wake_reason = WakeReason::kNone;
  me->parked_since = polled_at_;
  switch_next(me);
  me->wait_what = nullptr;
  if (me->wake_reason == WakeReason::kInterrupted) [[unlikely]] raise_pending(me);
}

// park_nothrow() inline (monkey's stream waits): the caller has checked it is not on
// the hub, and handles a pending interrupt itself.
inline void Hub::park_nothrow_inline(const char* what) noexcept {
  GreenThreadState* me = current_;
  me->status = Status::kParked;
  me->wake_reason = WakeReason::kNone;
  me->wait_what = what;
  me->wait_peer = nullptr;
  me->parked_since = polled_at_;
  switch_next(me);
  me->wait_what = nullptr;
}

}  // namespace grove::detail
