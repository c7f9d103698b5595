// shared_stack.cpp: the hub's shared stack (the why and the rule: shared_stack.hpp).
#include "shared_stack.hpp"

#include <cstdio>
#include <cstdlib>
#include <exception>

#include "context.hpp"  // GROVE_ASAN and the sanitizer header
#include "hub.hpp"

#if defined(__x86_64__)
#define GROVE_SHARED_STACK 1
// grove_call_on_stack(fn, arg, top) (shared_stack.hpp). The caller's stack pointer
// waits in %rbp, which fn preserves (callee-saved); the CFI is a frame-pointer
// frame's, so an unwinder finds the caller through %rbp on the other stack (gdb
// declines to follow it when that stack lies below this one).
asm(R"(
    .text
    .globl  grove_call_on_stack
    .hidden grove_call_on_stack
    .type   grove_call_on_stack, @function
    .p2align 4
grove_call_on_stack:
    .cfi_startproc
    pushq   %rbp
    .cfi_def_cfa_offset 16
    .cfi_offset %rbp, -16
    movq    %rsp, %rbp
    .cfi_def_cfa_register %rbp
    movq    %rdx, %rsp
    movq    %rdi, %rax
    movq    %rsi, %rdi
    callq   *%rax
    movq    %rbp, %rsp
    popq    %rbp
    .cfi_def_cfa %rsp, 8
    ret
    .cfi_endproc
    .size   grove_call_on_stack, .-grove_call_on_stack
)");
#else
#define GROVE_SHARED_STACK 0
#endif

namespace grove::detail {

#if GROVE_SHARED_STACK && GROVE_ASAN
namespace {

// Under ASan the first frame on the shared stack announces the switch (both ways).
struct Call {
  void (*fn)(void*);
  void* arg;
  const void* caller_bottom = nullptr;
  std::size_t caller_size = 0;
};

void on_shared(void* p) noexcept {
  auto* c = static_cast<Call*>(p);
  __sanitizer_finish_switch_fiber(nullptr, &c->caller_bottom, &c->caller_size);
  c->fn(c->arg);
  __sanitizer_start_switch_fiber(nullptr, c->caller_bottom, c->caller_size);  // this "fiber" ends: no fake stack kept
}

}  // namespace
#endif

void call_on_shared_stack(void (*fn)(void*), void* arg) noexcept {
#if GROVE_SHARED_STACK
  Hub* const hub = Hub::current();
  if (!hub) {
    fn(arg);
    return;
  }
  SharedStack& s = hub->shared_stack_;
  if (s.busy) {
    fn(arg);
    return;
  }
  if (!s.slot.lo) {
    try {
      s.slot = hub->pool_.acquire(kSharedStackBytes);
    } catch (const std::exception&) {  // no memory for it now: the caller's stack will do
      fn(arg);
      return;
    }
  }
  s.busy = true;
#if GROVE_ASAN
  Call c{fn, arg};
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, s.slot.lo, s.slot.size);
  grove_call_on_stack(&on_shared, &c, s.slot.lo + s.slot.size);
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#else
  grove_call_on_stack(fn, arg, s.slot.lo + s.slot.size);
#endif
  s.busy = false;
  if (s.slot.guard_kind == GuardKind::kCanary && !StackPool::canary_intact(s.slot)) shared_stack_overflowed();
#else
  fn(arg);
#endif
}

// Only where the guard could not be mapped (stack_pool.hpp): found after the fact.
void shared_stack_overflowed() noexcept {
  std::fputs("grove: a call on the hub's shared stack overflowed it (its canary is overwritten)\n", stderr);
  std::abort();
}

void release_shared_stack(Hub& hub) noexcept {
  SharedStack& s = hub.shared_stack_;
  if (!s.slot.lo || s.busy) return;  // busy: a green thread parked there; the pool leaks it with the rest
  hub.pool_.release(s.slot);
  s = SharedStack{};
}

}  // namespace grove::detail
