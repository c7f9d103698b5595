// context.hpp: the machine-context switch. context.cpp is the only file that touches
// Boost.Context, and the only place sanitizer fiber annotations live.
#pragma once

#include <cstddef>

#include <grove/detail/green_thread_state.hpp>

namespace grove::detail::context {

// Makes `gt` start, on its first switch-in, in green_thread_entry(prev) (hub.cpp) on
// the stack [lo, lo + size) (size counts down from the top, lo + size).
void prepare(GreenThreadState* gt, char* lo, std::size_t size) noexcept;

// Suspends `from` (the running context) and resumes `to`. Returns, once something
// switches back to `from`, the context that did so; its fctx has been saved. When
// `from` is dead it never resumes, and its sanitizer fake stack is released.
GreenThreadState* jump(GreenThreadState* from, GreenThreadState* to) noexcept;

}  // namespace grove::detail::context

namespace grove::detail {
// The first code a new context runs (defined in hub.cpp). Never returns.
[[noreturn]] void green_thread_entry(GreenThreadState* prev) noexcept;
}  // namespace grove::detail
