// grove/detail/thread_owner.hpp: which OS thread a sync object belongs to.
//
// grove's sync objects (Event, AsyncResult, Semaphore, Lock, RLock, Queue, Channel,
// Group, Pool) serve the green threads of one OS thread and use no locks. Each holds a
// ThreadOwner and checks it at the top of every call that changes it or waits on it:
// the object belongs to the OS thread that first makes such a call (not the one that
// constructed it, so an object built on one thread and handed to another before any
// use works), and the same call from any other OS thread throws UsageError naming the
// object's operation and both threads, before anything changes. The check is a
// relaxed load and a compare against the thread pointer (one `mov %fs:0` on x86-64):
// no lock, no atomic read-modify-write except the one that binds the first user.
//
// An OS thread's identity is its thread pointer, which the C library may hand to a
// thread created after this one exited: an object that outlives its OS thread may
// then pass as the new thread's. Green threads of the dead thread's hub still queued
// in it are caught by the wait queue's own check (detail/wait_queue.hpp).
#pragma once

#include <atomic>
#include <cstdint>

#include <grove/export.hpp>

namespace grove::detail {

#if defined(__has_builtin)
#if __has_builtin(__builtin_thread_pointer) && (defined(__x86_64__) || defined(__aarch64__))
#define GROVE_HAVE_THREAD_POINTER 1
#endif
#endif

// Elsewhere: the address of a thread_local in libgrove (one call).
GROVE_API std::uintptr_t this_thread_token_slow() noexcept;

// The calling OS thread's identity: its thread pointer, unique among running threads.
inline std::uintptr_t this_thread_token() noexcept {
#ifdef GROVE_HAVE_THREAD_POINTER
  return reinterpret_cast<std::uintptr_t>(__builtin_thread_pointer());
#else
  return this_thread_token_slow();
#endif
}

class GROVE_API ThreadOwner {
 public:
  ThreadOwner() = default;
  ThreadOwner(const ThreadOwner&) = delete;
  ThreadOwner& operator=(const ThreadOwner&) = delete;

  // Binds the object to the calling OS thread on its first call; afterwards
  // UsageError if called from another one. `what` names the operation
  // ("grove::Semaphore::release").
  void check(const char* what) const {
    if (owner_.load(std::memory_order_relaxed) != this_thread_token()) [[unlikely]] bind_or_refuse(what);
  }

 private:
  // Binds on first use (an atomic compare-and-swap, so that two threads racing for
  // the first use cannot both win); throws UsageError if another thread owns it.
  void bind_or_refuse(const char* what) const;

  mutable std::atomic<std::uintptr_t> owner_{0};
  mutable std::atomic<int> owner_tid_{0};  // for the error message only
};

}  // namespace grove::detail
