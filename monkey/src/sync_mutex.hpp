// sync_mutex.hpp: the hybrid pthread mutex, for the condition variable's use.
//
// A mutex is glibc's own layout, used glibc's way: __lock is 0 (free), 1 (held) or 2
// (held, maybe with sleepers), __owner the holder's kernel thread id, __count the
// recursion depth, __nusers the holders (pthread_mutex_destroy's EBUSY). The two
// pointers of __list, which glibc uses only for robust mutexes (left to glibc here),
// name a green holder: the green thread and its hub's serial. See sync_mutex.cpp.
#pragma once

#include <pthread.h>
#include <time.h>

#include "hub.hpp"

namespace grove::monkey::detail {

// True if glibc keeps this mutex (process-shared, robust, priority-inheritance or
// -protection, or destroyed): the hooks call the real functions for it.
bool mutex_is_real(const pthread_mutex_t* m) noexcept;

// Locks `m` for the caller: a green thread of `hub`, or an OS thread (hub nullptr).
// `abs` on `clock`: an absolute deadline (nullptr: none). `try_only`: EBUSY instead
// of waiting. `interruptible`: LoopExit (a deadlock grove found) ends the wait with
// EDEADLK; without it the wait goes on whatever interrupt arrives. Returns 0 or the
// error number, as pthread_mutex_lock does.
int mutex_lock(pthread_mutex_t* m, grove::detail::Hub* hub, clockid_t clock, const timespec* abs, bool try_only,
               bool interruptible) noexcept;

// Unlocks `m` for the caller (see mutex_lock); 0 or EPERM.
int mutex_unlock(pthread_mutex_t* m, grove::detail::Hub* hub) noexcept;

// The recursion depth of a recursive mutex the caller holds (1 otherwise), and its
// restoration after a condition variable's wait: the wait releases it entirely.
unsigned mutex_depth(const pthread_mutex_t* m) noexcept;
void mutex_set_depth(pthread_mutex_t* m, unsigned depth) noexcept;

}  // namespace grove::monkey::detail
