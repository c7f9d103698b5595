// coop.hpp: when a hook may park, and how it parks.
//
// A hook is cooperative only when (1) its area is patched, (2) the calling OS thread
// already has a hub (never created here), and (3) the caller is a green thread (the
// root counts), not the hub itself. Thread-pool workers and other threads have no hub.
//
// Parking never throws: a kill or an expired grove::Timeout that lands while parked
// (or is pending when the call would park) makes the hook fail with ECANCELED /
// ETIMEDOUT and leaves the interrupt pending, to be raised at the next grove call
// that may throw (Hub::park_nothrow).
#pragma once

#include <atomic>
#include <cstdint>

#include "fd_table.hpp"
#include "hub.hpp"

namespace grove::monkey::detail {

enum Area : unsigned { kSockets = 1, kTime = 2, kDns = 4 };
extern std::atomic<unsigned> g_patched;

// The hub to park on, or nullptr: call the real function unchanged.
inline grove::detail::Hub* coop_hub(unsigned area) noexcept {
  if (!(g_patched.load(std::memory_order_relaxed) & area)) [[likely]] return nullptr;
  grove::detail::Hub* h = grove::detail::Hub::current();
  if (!h || h->on_hub()) return nullptr;
  return h;
}

inline bool sockets_patched() noexcept { return g_patched.load(std::memory_order_relaxed) & kSockets; }

// The errno a hook fails with for the running green thread's pending interrupt, or 0.
int interrupt_errno(grove::detail::Hub& hub) noexcept;

// Monotonic time in seconds.
double mono_now() noexcept;

// Outcome of one wait. kReady may be spurious: retry the call.
enum class Wait { kReady, kTimedOut, kClosed, kInterrupted };

// Parks the running green thread until fd is ready for `events` (EV_READ/EV_WRITE),
// the absolute monotonic `deadline` (< 0: none) passes, the fd is closed on this OS
// thread, or an interrupt lands. `st` may be null (untracked fd: close cannot wake).
Wait wait_fd(grove::detail::Hub& hub, FdState* st, int fd, int events, double deadline, const char* what) noexcept;

// Sets errno for a wait that did not end ready (timeout_errno for kTimedOut).
void set_wait_errno(grove::detail::Hub& hub, Wait w, int timeout_errno) noexcept;

// Makes sure grove's O_NONBLOCK is on the file description (once per fd).
// Returns false if it could not be set (then call the real function unchanged).
bool ensure_grove_nonblock(int fd, FdState& st) noexcept;

// The SO_RCVTIMEO (read) / SO_SNDTIMEO (write) of fd in seconds, 0 for none.
double fd_timeout(int fd, FdState& st, bool read) noexcept;

// For callers that are not green threads, on an fd grove made non-blocking but the
// user did not: blocks in the real poll() until ready or the SO_*TIMEO passes.
// Returns false on timeout (errno = EAGAIN).
bool block_until_ready(int fd, FdState& st, short pollevents) noexcept;

// Parks for `seconds` (<= 0: a yield that lets others run). Returns 0, or the errno
// of a pending/landing interrupt (the sleep then ended early).
int park_sleep(grove::detail::Hub& hub, double seconds, const char* what) noexcept;

}  // namespace grove::monkey::detail
