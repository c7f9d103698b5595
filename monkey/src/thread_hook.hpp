// thread_hook.hpp: how the threads area's hooks (thread_hooks.cpp, sync_*.cpp) are
// defined.
//
// In a build with AddressSanitizer or ThreadSanitizer they are not exported, so they
// interpose nothing: the sanitizer runtimes call pthread_key_create, pthread_getspecific
// and friends while they start (before libgrove_monkey's constructors have run, and
// TSan before it can run instrumented code), and their pthread_create interceptors wait
// for the new thread to start on an OS thread of its own. Inside libgrove_monkey the
// definitions still bind its own calls; with the area off they go to libc at once, and
// patch_threads() does not turn the area on in such a build (patch.cpp).
#pragma once

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define GROVE_THREADS_AREA_AVAILABLE 0
#define GROVE_HOOK extern "C" __attribute__((visibility("hidden")))
#else
#define GROVE_THREADS_AREA_AVAILABLE 1
#define GROVE_HOOK extern "C" __attribute__((visibility("default")))
#endif
