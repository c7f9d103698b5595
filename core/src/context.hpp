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

namespace grove::detail::context {

// Makes `gt` start, on its first switch-in, in green_thread_entry(prev) (hub.cpp) on
// the stack [lo, lo + size) (size counts down from the top, lo + size).
void prepare(GreenThreadState* gt, char* lo, std::size_t size) noexcept;

// Suspends `from` (the running context) and resumes `to`. Returns, once something
// switches back to `from`, the context that did so; its fctx has been saved. When
// `from` is dead it never resumes, and its sanitizer fake stack is released.
inline GreenThreadState* jump(GreenThreadState* from, GreenThreadState* to) noexcept {
#if GROVE_ASAN
  __sanitizer_start_switch_fiber(from->status == Status::kDead ? nullptr : &from->asan_fake_stack,
                                 to->asan_stack_bottom, to->asan_stack_size);
#endif
  boost::context::detail::transfer_t t = boost::context::detail::jump_fcontext(to->fctx, from);
  auto* prev = static_cast<GreenThreadState*>(t.data);
  prev->fctx = t.fctx;
#if GROVE_ASAN
  __sanitizer_finish_switch_fiber(from->asan_fake_stack, &prev->asan_stack_bottom, &prev->asan_stack_size);
#endif
  return prev;
}

}  // namespace grove::detail::context

namespace grove::detail {
// The first code a new context runs (defined in hub.cpp). Never returns.
[[noreturn]] void green_thread_entry(GreenThreadState* prev) noexcept;
}  // namespace grove::detail
