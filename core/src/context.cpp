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
//
// Under ThreadSanitizer each context is a TSan fiber (context.hpp): created on its first
// switch-in, the root's is the thread's own, and every switch calls
// __tsan_switch_to_fiber(target, 0) just before the jump. Flags 0 make the switch a
// synchronization, so green threads of one OS thread are ordered by their hand-offs,
// while what crosses OS threads must be synchronized for real (atomics, mutexes, the
// eventfd of an ev_async), as TSan checks. A dead context's fiber is destroyed by the
// context that resumes after it. None of this is compiled outside a TSan build.
#include "context.hpp"


namespace bctx = boost::context::detail;

#if defined(__x86_64__) && !defined(GROVE_NO_BALANCED_JUMP)
// grove_jump_fcontext(to, data): a call pushes a return-stack-buffer entry that only a
// ret pops. jump_fcontext ends with `jmp *%r8` to the resumed context's saved return
// address, so entering it with a call leaves one entry behind on every switch and
// each ret after the switch is predicted one frame off (two to three mispredicted
// returns per yield). Here the return address jump_fcontext saves is the `ret` below:
// the resumed context lands on it (always the same target, so the jmp predicts) and
// the ret pops the entry that the suspending side's call to this thunk pushed, which
// names the same call site whenever both sides switch from the same place.
// It jumps through jump_fcontext's GOT entry, not through the PLT: one jmp fewer.
// Exported (not .hidden): libgrove_monkey parks inline too (Hub::park_nothrow_inline,
// hub_switch.hpp); not a public API.
asm(R"(
    .text
    .globl  grove_jump_fcontext
    .type   grove_jump_fcontext, @function
    .p2align 4
grove_jump_fcontext:
    .cfi_startproc
    leaq    1f(%rip), %rax
    pushq   %rax
    .cfi_adjust_cfa_offset 8
    jmp     *jump_fcontext@GOTPCREL(%rip)
1:
    .cfi_adjust_cfa_offset -8
    ret
    .cfi_endproc
    .size   grove_jump_fcontext, .-grove_jump_fcontext
)");
#endif

namespace grove::detail::context {

void prepare(GreenThreadState* gt, char* lo, std::size_t size, Entry entry) noexcept {
  gt->fctx = bctx::make_fcontext(lo + size, size, entry);
  gt->asan_stack_bottom = lo;
  gt->asan_stack_size = size;
}

}  // namespace grove::detail::context
