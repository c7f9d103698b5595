// context.hpp / context.cpp: the machine-context switch, the only code that touches
// Boost.Context, and the only place sanitizer fiber annotations live. jump() is
// defined here so the switch path inlines into the hub (one call less per switch).
#pragma once

#include <cstddef>

#include <boost/context/detail/fcontext.hpp>

#include <grove/detail/green_thread_state.hpp>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define GROVE_ASAN 1
#endif

#if defined(__SANITIZE_THREAD__)
#define GROVE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GROVE_TSAN 1
#endif
#endif
#if GROVE_TSAN
#include <sanitizer/tsan_interface.h>
#endif

#if defined(__x86_64__) && !defined(GROVE_NO_BALANCED_JUMP)
// jump_fcontext through a return-balanced thunk (context.cpp): same arguments, same
// result. x86-64's jump_fcontext resumes the other context with an indirect jmp, so
// the call that entered it is never matched by a ret and every later ret on the
// resumed side is predicted from the wrong return-stack entry. The thunk enters
// jump_fcontext with a jmp instead of a call and resumes with a ret.
extern "C" boost::context::detail::transfer_t grove_jump_fcontext(boost::context::detail::fcontext_t to,
                                                                 void* data) noexcept;
#define GROVE_JUMP_FCONTEXT grove_jump_fcontext
#else
#define GROVE_JUMP_FCONTEXT boost::context::detail::jump_fcontext
#endif

namespace grove::detail::context {

// The first code a new context runs: called (by a jmp, not a call) with the transfer
// from its first jump_fcontext; never returns. Call entered(t) first thing.
using Entry = void (*)(boost::context::detail::transfer_t);

// Makes `gt` start, on its first switch-in, in entry(t) on the stack [lo, lo + size)
// (size counts down from the top, lo + size).
void prepare(GreenThreadState* gt, char* lo, std::size_t size, Entry entry) noexcept;

#if GROVE_TSAN
// The context's ThreadSanitizer fiber. ASan and TSan never share a build, so under TSan
// the word ASan keeps its fake stack in holds the fiber instead: no field, no layout
// change in the public GreenThreadState.
inline void*& tsan_fiber(GreenThreadState* gt) noexcept { return gt->asan_fake_stack; }

// Tells TSan that `from` (the running context) switches to `to`, just before the jump.
// A context gets its fiber when it first runs; the OS thread's own context (the root,
// the first one ever to switch out) names the fiber TSan gave the thread. Flags 0: the
// switch synchronizes, so what `from` did happens before what `to` does next, as the
// hand-offs between green threads of one OS thread are ordered by the switch itself.
inline void tsan_switch(GreenThreadState* from, GreenThreadState* to) noexcept {
  if (!tsan_fiber(from)) tsan_fiber(from) = __tsan_get_current_fiber();
  if (!tsan_fiber(to)) tsan_fiber(to) = __tsan_create_fiber(0);
  __tsan_switch_to_fiber(tsan_fiber(to), 0);
}

// On the resumed side: a context that died on its way here never runs again, so its
// fiber goes (the green thread's memory is still there; the hub frees it after this).
inline void tsan_resumed_from(GreenThreadState* prev) noexcept {
  if (prev->status == Status::kDead && tsan_fiber(prev)) {
    __tsan_destroy_fiber(tsan_fiber(prev));
    tsan_fiber(prev) = nullptr;
  }
}
#endif

// A context that never runs again and is not the running one (a hub's own context,
// when ~Hub runs on the root): its TSan fiber goes, as a dead green thread's does in
// tsan_resumed_from. Nothing outside a TSan build.
inline void forget(GreenThreadState* gt) noexcept {
#if GROVE_TSAN
  if (tsan_fiber(gt)) {
    __tsan_destroy_fiber(tsan_fiber(gt));
    tsan_fiber(gt) = nullptr;
  }
#else
  (void)gt;
#endif
}

// Bookkeeping of a new context's first switch-in; returns the context we came from.
inline GreenThreadState* entered(boost::context::detail::transfer_t t) noexcept {
  auto* prev = static_cast<GreenThreadState*>(t.data);
  prev->fctx = t.fctx;
#if GROVE_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &prev->asan_stack_bottom, &prev->asan_stack_size);
#endif
#if GROVE_TSAN
  tsan_resumed_from(prev);
#endif
  return prev;
}

// Suspends `from` (the running context) and resumes `to`. Returns, once something
// switches back to `from`, the context that did so; its fctx has been saved. When
// `from` is dead it never resumes, and its sanitizer fake stack is released.
inline GreenThreadState* jump(GreenThreadState* from, GreenThreadState* to) noexcept {
#if GROVE_ASAN
  __sanitizer_start_switch_fiber(from->status == Status::kDead ? nullptr : &from->asan_fake_stack,
                                 to->asan_stack_bottom, to->asan_stack_size);
#endif
#if GROVE_TSAN
  tsan_switch(from, to);
#endif
  boost::context::detail::transfer_t t = GROVE_JUMP_FCONTEXT(to->fctx, from);
  auto* prev = static_cast<GreenThreadState*>(t.data);
  prev->fctx = t.fctx;
#if GROVE_ASAN
  __sanitizer_finish_switch_fiber(from->asan_fake_stack, &prev->asan_stack_bottom, &prev->asan_stack_size);
#endif
#if GROVE_TSAN
  tsan_resumed_from(prev);
#endif
  return prev;
}

// The last switch of a dying context (`from` never resumes). On x86-64 it enters
// jump_fcontext with a jmp: a context that dies pushed no return-stack entry that is
// still outstanding (its entry function, entered by a jmp, has everything up to here
// inlined), so the ret the resumed side lands on pops the entry its own call pushed.
[[noreturn]] inline void jump_dying(GreenThreadState* from, GreenThreadState* to) noexcept {
#if GROVE_ASAN
  __sanitizer_start_switch_fiber(nullptr, to->asan_stack_bottom, to->asan_stack_size);
#endif
#if GROVE_TSAN
  tsan_switch(from, to);
#endif
#if defined(__x86_64__) && !defined(GROVE_NO_BALANCED_JUMP)
  asm volatile("jmp jump_fcontext@PLT" : : "D"(to->fctx), "S"(from) : "memory");
  __builtin_unreachable();
#else
  boost::context::detail::jump_fcontext(to->fctx, from);
  __builtin_unreachable();
#endif
}

}  // namespace grove::detail::context
