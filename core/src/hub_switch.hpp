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

// The C++ runtime's per-thread exception state (caught exceptions, the count being
// thrown) belongs to the green thread: one that parks inside a catch block or in a
// destructor during unwinding must find it again, and no other may see it. Almost
// every switch happens with that state empty, so it is kept empty between green
// threads: a green thread that switches away with some saves it and empties it
// (eh_saved), and only such a one puts it back when it resumes. A switch then tests
// the state and a flag instead of copying it both ways (bench/README.md, "Hot path").
// errno is copied every time: it is rarely zero.
inline void Hub::restore_thread_state(GreenThreadState* me) noexcept {
  if (me->eh_saved) [[unlikely]] {
    eh_->caught = me->eh_caught;
    eh_->uncaught = me->eh_uncaught;
    me->eh_caught = nullptr;
    me->eh_uncaught = 0;
    me->eh_saved = false;
  }
  *errno_ = me->saved_errno;
}

// ++switches_ in one instruction. Only this hub's OS thread writes the counter; the
// blocked-hub monitor reads it (relaxed loads, monitor.cpp). On x86-64 an aligned
// 8-byte add is one load and one single-copy-atomic store, which is all a relaxed
// load and store would be, in three instructions; fetch_add would be a locked one,
// ten times slower. Elsewhere, and under TSan (which does not see inline asm), the
// relaxed load and store.
inline void Hub::count_switch() noexcept {
#if defined(__x86_64__) && !defined(GROVE_TSAN)
  static_assert(sizeof switches_ == sizeof(std::uint64_t) && decltype(switches_)::is_always_lock_free);
  __asm__("addq $1, %0" : "+m"(*reinterpret_cast<std::uint64_t*>(&switches_)));
#else
  switches_.store(switches_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
#endif
}

inline void Hub::switch_to(GreenThreadState* from, GreenThreadState* to) noexcept {
  from->saved_errno = *errno_;
  if (eh_->caught || eh_->uncaught) [[unlikely]] {
    from->eh_caught = eh_->caught;
    from->eh_uncaught = eh_->uncaught;
    from->eh_saved = true;
    eh_->caught = nullptr;
    eh_->uncaught = 0;
  }
  current_ = to;
  to->status = Status::kRunning;
  count_switch();
  running_.store(to, std::memory_order_release);
  GreenThreadState* prev = context::jump(from, to);
  // Resumed: `from` runs again.
  restore_thread_state(from);
  after_switch(prev);
}

inline void Hub::after_switch(GreenThreadState* prev) noexcept {
  // One test for both rare cases (set by start() for a canary-guarded stack, and by
  // finish()).
  if (!prev->check_after_switch) [[likely]] return;
  if (prev->stack.guard_kind == GuardKind::kCanary && !StackPool::canary_intact(prev->stack)) {
    report_canary_overflow(prev);
  }
  // Dead and no handle left (a handle dropped on another OS thread sets
  // kRefHandedToHub instead of reaching zero: free_handed() frees it then).
  if (prev->status == Status::kDead && prev->refs.load(std::memory_order_acquire) == 0) release(prev);
}

// `queued`: `me` may be in the ready queue itself (yield); a parked one is not.
template <bool queued>
inline void Hub::switch_next(GreenThreadState* me) {
  GreenThreadState* next;
  if (ready_head_ && budget_ > 0) {
    --budget_;
    next = pop_ready();
  } else {
    next = &hub_;
  }
  if (queued && next == me) {
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
  me->wait_what = what;  // wait_peer is null already (only park() sets it, and clears it)
  me->status = Status::kParked;
  me->wake_reason = WakeReason::kNone;
  me->parked_since = polled_at_;
  switch_next<false>(me);
  // wait_what stays: it is read only while the status says parked.
  if (me->wake_reason == WakeReason::kInterrupted) [[unlikely]] raise_pending(me);
}

// park_nothrow() inline (monkey's stream waits): the caller has checked it is not on
// the hub, and handles a pending interrupt itself.
inline void Hub::park_nothrow_inline(const char* what) noexcept {
  GreenThreadState* me = current_;
  me->status = Status::kParked;
  me->wake_reason = WakeReason::kNone;
  me->wait_what = what;  // wait_peer is null already (only park() sets it, and clears it)
  me->parked_since = polled_at_;
  switch_next<false>(me);
}

}  // namespace grove::detail
