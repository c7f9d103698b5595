// stack_sample.hpp / stack_sample.cpp: the call stack of another OS thread, now.
//
// The blocked-hub monitor runs on an OS thread of its own while the hub's thread is
// busy in one green thread; registers of a running thread cannot be read from outside.
// So the monitor asks that thread to unwind itself: it sends it SIGURG with
// pthread_sigqueue (the value names grove's sample slot, so a SIGURG from anyone
// else goes to the handler that was there before, or is ignored as by default). The
// handler, on the busy thread, writes the interrupted stack into a static slot with
// async-signal-safe code only (unwind::from_signal_context) and the monitor names the
// frames afterwards, on its own thread. SIGURG, as Go's preemption uses: ignored by
// default, and rare in programs (TCP urgent data). The handler has SA_RESTART, but a
// call the kernel never restarts (nanosleep, epoll_wait) returns EINTR early, as with
// any signal: one per blocked episode, only with GROVE_MAX_BLOCKING_MS set.
#pragma once

#include <pthread.h>

#include "unwind.hpp"

namespace grove::detail {

// Fills `out` with `thread`'s stack at this moment. False if the thread did not
// answer within `timeout_ms` (a sanitizer may defer signals, or it blocks SIGURG).
// One sample at a time in the process (a mutex); never call it on `thread` itself.
bool sample_thread_stack(pthread_t thread, unwind::Frames& out, int timeout_ms);

}  // namespace grove::detail
