// shared_stack.hpp: one stack per hub on which deep library calls run, so that a
// green thread's own stack keeps only its own frames.
//
// Why: a green thread's stack keeps every page it has ever touched (the stack pool
// reuses slots warm, stack_pool.hpp). OpenSSL's record and handshake code runs deep:
// SSL_read and SSL_write alone reach a page further down than a plaintext echo's
// frames do, so every TLS connection held one more stack page, touched once and
// never used again while it sat idle. Run there instead, those frames use one stack
// per hub, and an idle TLS connection keeps 4 KiB less (bench/README.md, "TLS", idle
// connections).
//
// The rule that makes it safe: a call made here must not switch green threads while
// it runs (OpenSSL's calls do not: grove's BIO returns "retry" and the stream parks
// after the call has returned, tls_stream.cpp). One that does anyway (a user's
// callback from inside OpenSSL that parks: the SNI select_context) keeps the stack
// until it returns; meanwhile `busy` is set and every other call runs on its caller's
// own stack, as it would without this file. So nothing breaks, only less is shared.
//
// How: a plain call with the stack pointer moved to the top of a slot of the hub's
// stack pool (made on first use, with its guard region like any green thread's),
// and moved back when it returns: grove_call_on_stack, nine instructions of
// assembly with the usual frame-pointer unwind information (the caller's frame is
// found through %rbp; gdb's backtrace from inside OpenSSL may still stop there, with
// "previous frame inner to this frame", when the caller's stack lies below). No
// context is saved (nothing switches), no allocation, no system call after the
// first. x86-64 only; elsewhere the call is made in place. Under AddressSanitizer
// the move is announced as a fiber switch, both ways.
#pragma once

#include <cstddef>

#include <grove/detail/green_thread_state.hpp>

namespace grove::detail {

class Hub;

// The hub's part: its slot and whether a call holds it.
struct SharedStack {
  StackSlot slot{};   // empty until first used
  bool busy = false;  // a call is running there (or parked there: see above)
};

inline constexpr std::size_t kSharedStackBytes = 256 * 1024;

// Runs fn(arg) on the running hub's shared stack, or on the caller's own stack when
// there is no hub, the shared one is busy or cannot be mapped, or this is not
// x86-64. fn must not throw (it runs below a noexcept frame). on_shared_stack
// (shared_stack_call.hpp) is the inline way in; this is its slow path.
void call_on_shared_stack(void (*fn)(void*), void* arg) noexcept;

#if defined(__x86_64__)
// Calls fn(arg) with the stack pointer at `top` (16-byte aligned), then puts it back
// (shared_stack.cpp).
extern "C" void grove_call_on_stack(void (*fn)(void*), void* arg, void* top) noexcept;
#endif

// Gives the hub's shared stack back to its pool (~Hub), unless a call holds it.
void release_shared_stack(Hub& hub) noexcept;

// A canary-guarded shared stack (stack_pool.hpp) was found overwritten: aborts.
[[noreturn]] void shared_stack_overflowed() noexcept;

}  // namespace grove::detail
