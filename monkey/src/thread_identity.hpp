// thread_identity.hpp: who is calling, for the threads area's hooks.
//
// With threads patched, pthread_create from a green thread (or from an OS thread with
// no hub yet, which then gets one, its caller becoming the root) makes a green thread,
// not an OS thread (thread_hooks.cpp). The hooks of the threads area (thread
// lifecycle, and the locks: mutexes, condition variables, ...) ask here:
//
//   threads_hub()       the hub to be cooperative on, or nullptr: call the real
//                       function (area off, no hub on this OS thread, on the hub).
//   is_green_pthread()  does a pthread_t name a green thread (made by the
//                       pthread_create hook) or a real OS thread?
//   green_self()        what pthread_self() returns to the caller.
//   called_from_grove() is a return address inside one of grove's own libraries?
//                       grove's own threads (thread pool, monitor, signal reader,
//                       HubThread) stay real, and so do grove's own locks.
//
// A green pthread_t is the address of its record (GreenPthread, thread_hooks.cpp) with
// the lowest bit set: never a real pthread_t (glibc's are addresses of an aligned
// struct pthread), so no lookup is needed to tell them apart, and pthread_equal (an
// inline comparison in glibc's header) stays right. The root green thread is the OS
// thread itself: its pthread_self() is the real one.
//
// This interface is kept stable for the other hooks of the area.
#pragma once

#include <pthread.h>

#include <cstdint>

#include "coop.hpp"

namespace grove::monkey::detail {

// The hub to park on for a threads-area hook, or nullptr: call the real function.
inline grove::detail::Hub* threads_hub() noexcept { return coop_hub(kThreads); }

// True if t names a green thread made by the pthread_create hook.
inline bool is_green_pthread(pthread_t t) noexcept { return (static_cast<std::uintptr_t>(t) & 1u) != 0; }

// What pthread_self() returns: the green pthread_t of a green thread made by the
// pthread_create hook, the real pthread_self() everywhere else (the root, green
// threads made by grove::spawn, OS threads).
pthread_t green_self() noexcept;

// The green thread that t names, while it runs, on the calling OS thread's hub; nullptr
// for a real pthread_t, one that finished, or one of another OS thread.
grove::detail::GreenThreadState* green_state(pthread_t t) noexcept;

// True if `addr` (a return address: __builtin_return_address(0)) lies in the code of
// one of grove's own shared libraries (libgrove, libgrove_net, libgrove_monkey, ...).
// Cheap after the first call (a few compares).
bool called_from_grove(const void* addr) noexcept;

}  // namespace grove::monkey::detail
