// grove/fork.hpp: fork() with a live hub (gevent.fork).
//
//   pid_t pid = grove::fork();
//   if (pid == 0) { ...child: this green thread only... }
//
// In the child process:
//   - Only the calling green thread goes on. Every other green thread of its hub (main
//     too, if fork() was called elsewhere) does not exist there: it never runs again
//     and its destructors do not run (as at thread exit). The part of its stack below
//     its frames is given back at once; the frames themselves stay mapped (shared
//     copy-on-write with the parent), because the calling green thread may still
//     refer into them: a [&] lambda capturing another green thread's locals, a
//     Channel or Socket declared in its frame. join() / kill() / get() of one raise
//     UsageError ("abandoned at fork").
//   - The hub goes on with the libev loop re-initialised (ev_loop_fork: a new epoll set
//     of the child's own, so nothing the child does touches the parent's sockets'
//     registrations), a thread pool that starts new workers at first use (the parent's
//     workers and the jobs in flight there do not exist in the child; the parent's jobs
//     complete in the parent), and a new blocked-hub monitor if GROVE_MAX_BLOCKING_MS is set.
//   - Called from a green thread other than main: the child process ends when that
//     green thread does, with status 0, or 1 if it ended with an exception or was
//     killed (stdio flushed, then _exit: the parent's atexit handlers and static
//     destructors do not run). From main: main goes on as usual.
//   - Other OS threads do not exist in the child, nor their hubs: only this OS
//     thread's hub is kept. grove's signal handlers and waiters (grove/signal.hpp)
//     registered on other OS threads are dropped.
// The parent is unaffected: its green threads, sockets and thread-pool jobs go on.
//
// A plain ::fork() (a C library's, or one under grove's monkey patching) does the same
// to the child: grove's pthread_atfork handler does all of the above. grove::fork() adds
// only a stdio flush first (so output buffered in the parent is not written twice) and
// its checks. Not handled: a lock held at the fork by another OS thread stays held in
// the child, as with any fork() of a threaded process; grove::Lock / Semaphore permits
// held by an abandoned green thread are never released there. core/src/fork.cpp has the
// mechanism.
#pragma once

#include <sys/types.h>

#include <grove/export.hpp>

namespace grove {

// fork(2) for a process running grove (see the comment at the top of grove/fork.hpp):
// returns the child's pid in the parent, 0 in the child. std::system_error if fork(2)
// fails; UsageError on the hub (in a libev callback).
GROVE_API pid_t fork();

}  // namespace grove
