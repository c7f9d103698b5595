// shared_stack_call.hpp: on_shared_stack, the inline way onto the hub's shared stack
// (shared_stack.hpp says why and when). Its own header because it needs the Hub.
#pragma once

#include "context.hpp"  // GROVE_ASAN
#include "hub.hpp"
#include "shared_stack.hpp"

namespace grove::detail {

// Runs f() on the running hub's shared stack (as call_on_shared_stack does, which
// it falls back to for the first call, a busy stack, ASan and other machines):
//   int r; auto run = [&] { r = SSL_read_ex(...); }; on_shared_stack(run);
template <class F>
inline void on_shared_stack(F& f) noexcept {
  void (*const thunk)(void*) noexcept = [](void* p) noexcept { (*static_cast<F*>(p))(); };
#if defined(__x86_64__) && !GROVE_ASAN
  Hub* const hub = Hub::current();
  if (hub) {
    SharedStack& s = hub->shared_stack();
    if (!s.busy && s.slot.lo) {
      s.busy = true;
      grove_call_on_stack(thunk, &f, s.slot.lo + s.slot.size);
      s.busy = false;
      if (s.slot.guard_kind == GuardKind::kCanary && !StackPool::canary_intact(s.slot)) shared_stack_overflowed();
      return;
    }
  }
#endif
  call_on_shared_stack(thunk, &f);
}

}  // namespace grove::detail
