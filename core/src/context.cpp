// context.cpp: switching machine contexts with Boost.Context's fcontext primitives.
//
// jump_fcontext saves the callee-saved registers and the stack pointer of the running
// context and restores those of the target; the suspended context's handle is only
// known to whoever resumes next, so every switch passes `from` as the transfer data
// and the resumed side stores the handle into from->fctx.
//
// Under AddressSanitizer every switch is announced (Debian's Boost.Context is built for
// fcontext without sanitizer support): start_switch_fiber before the jump names the
// target stack, finish_switch_fiber after it records the stack we came from. This is
// how ASan learns the bounds of the OS thread's original stack too (the root green
// thread's, reported the first time something switches back from it).
#include "context.hpp"


namespace bctx = boost::context::detail;

namespace grove::detail::context {

namespace {

void trampoline(bctx::transfer_t t) noexcept {
  auto* prev = static_cast<GreenThreadState*>(t.data);
  prev->fctx = t.fctx;
#if GROVE_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &prev->asan_stack_bottom, &prev->asan_stack_size);
#endif
  green_thread_entry(prev);
}

}  // namespace

void prepare(GreenThreadState* gt, char* lo, std::size_t size) noexcept {
  gt->fctx = bctx::make_fcontext(lo + size, size, &trampoline);
  gt->asan_stack_bottom = lo;
  gt->asan_stack_size = size;
}

}  // namespace grove::detail::context
