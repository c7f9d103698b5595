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
//
// C code is told of an interrupt once. C code that ignores the error and calls again
// (a retry loop) must not spin the OS thread on hooks that fail at once: from then on
// the green thread's hooked calls block as usual (a warning is logged once per green
// thread), while the interrupt stays pending for grove. A new interrupt (another kill,
// another Timeout) is reported to C code again. See take_interrupt().
#pragma once

#include <atomic>
#include <cstdint>

#include "fd_table.hpp"
#include "hub.hpp"
#include "hub_switch.hpp"

namespace grove::monkey::detail {

enum Area : unsigned { kSockets = 1, kTime = 2, kDns = 4, kFiles = 8, kThreads = 16 };
extern std::atomic<unsigned> g_patched;

// The hub to park on, or nullptr: call the real function unchanged.
inline grove::detail::Hub* coop_hub(unsigned area) noexcept {
  if (!(g_patched.load(std::memory_order_relaxed) & area)) [[likely]] return nullptr;
  grove::detail::Hub* h = grove::detail::Hub::current();
  if (!h || h->on_hub()) return nullptr;
  return h;
}

inline bool sockets_patched() noexcept { return g_patched.load(std::memory_order_relaxed) & kSockets; }

// The errno (ECANCELED for a kill or LoopExit, ETIMEDOUT for a Timeout) a hook about
// to park fails with for an interrupt of the running green thread that C code was not
// told of yet; marks it told. 0: none, park as usual (an interrupt C code was told of
// stays pending for grove; the first time C code calls again after it, one warning
// naming `what` is logged for the green thread). Called before every park: costs a
// branch unless the green thread has an interrupt pending or grove::local values.
int take_interrupt_slow(grove::detail::Hub& hub, bool woken_by_interrupt, const char* what) noexcept;
inline int take_interrupt(grove::detail::Hub& hub, const char* what) noexcept {
  const grove::detail::GreenThreadState* me = hub.running();
  if (!me->pending && !me->locals) [[likely]] return 0;
  return take_interrupt_slow(hub, false, what);
}
// take_interrupt() after a park that ended with `why`: a wake by an interrupt is a new
// one (a second kill), told to C code even if one of its kind was before.
inline int take_interrupt_after(grove::detail::Hub& hub, grove::detail::WakeReason why, const char* what) noexcept {
  if (why == grove::detail::WakeReason::kInterrupted) return take_interrupt_slow(hub, true, what);
  return take_interrupt(hub, what);
}

// Monotonic time in seconds.
double mono_now() noexcept;

// Outcome of one wait. kReady may be spurious: retry the call.
enum class Wait { kReady, kTimedOut, kClosed, kInterrupted };

// Parks the running green thread until fd is ready for `events` (EV_READ/EV_WRITE),
// the absolute monotonic `deadline` (< 0: none) passes, the fd is closed on this OS
// thread, or an interrupt lands. `st` may be null (untracked fd: close cannot wake).
Wait wait_fd(grove::detail::Hub& hub, FdState* st, int fd, int events, double deadline, const char* what) noexcept;

// wait_fd for a data call on a tracked fd (fd_io): a byte stream waits in its owner
// hub's own edge-triggered epoll set (fd_table.hpp, FdState::polled; "Socket
// readiness" in core/src/hub.cpp), so readiness wakes the green thread without libev;
// other fds, other hubs and a second waiter on one direction go through wait_fd.
// Edge-triggered is safe for fd_io's callers: they park only after EAGAIN or a short
// read, and an event that finds nobody parked is kept for the next wait (`edge`).
// The fast path (the fd registered, owned by this hub and not stale, nobody else on
// its side, no deadline, nothing pending) is inline; everything else is
// wait_stream_slow, and a park that did not end in a plain wake leaves through
// wait_stream_leave.
Wait wait_stream_slow(grove::detail::Hub& hub, FdState& st, int fd, bool read, double deadline,
                      const char* what) noexcept;
Wait wait_stream_leave(grove::detail::Hub& hub, FdState& st, grove::detail::PollSide& side, FdWaiter& w,
                       const char* what) noexcept;
inline Wait wait_stream(grove::detail::Hub& hub, FdState& st, int fd, bool read, double deadline,
                        const char* what) noexcept {
  grove::detail::PollSide& side = read ? st.rd : st.wr;
  grove::detail::GreenThreadState* me = hub.running();
  if (st.owner.load(std::memory_order_acquire) != &hub || !side.armed || side.waiter || deadline >= 0 ||
      me->pending || me->locals || st.stale.load(std::memory_order_relaxed) ||
      (st.flags.load(std::memory_order_relaxed) & FdState::kLowat)) [[unlikely]] {
    return wait_stream_slow(hub, st, fd, read, deadline, what);
  }
  if (side.edge) {  // reported ready since the last wait: the caller's retry finds out
    side.edge = side.hangup;  // after a hang-up, every wait (PollSide)
    return Wait::kReady;
  }
  FdWaiter w;
  w.polled.gt = me;
  side.waiter = &w.polled;
  hub.watcher_started();
  hub.park_nothrow_inline(what);  // not on the hub: coop_hub() said so
  if (w.listed || w.polled.closed || me->wake_reason != grove::detail::WakeReason::kWoken || me->pending ||
      me->locals) [[unlikely]] {
    return wait_stream_leave(hub, st, side, w, what);
  }
  if (side.waiter == &w.polled) side.waiter = nullptr;
  hub.watcher_stopped();
  return Wait::kReady;
}
// On the owner's OS thread: if another thread closed, reused or reconnected the fd
// number since (FdState::stale), drops its registrations so that the next wait makes
// them afresh.
void refresh_if_stale(grove::detail::Hub& hub, FdState& st) noexcept;

// Sets errno for a wait that did not end ready (timeout_errno for kTimedOut; for
// kInterrupted, what the take_interrupt() that ended the wait returned).
void set_wait_errno(grove::detail::Hub& hub, Wait w, int timeout_errno) noexcept;

// How a hooked data call is made non-blocking for one call, without touching the file
// description's O_NONBLOCK, which a child process shares (docs/monkey.md):
enum class PerCall : unsigned char {
  kNone,    // no per-call form: grove's O_NONBLOCK must be on the description
  kSocket,  // recv / send / recvmsg / sendmsg with MSG_DONTWAIT
  kPipe,    // preadv2 / pwritev2 with RWF_NOWAIT (Linux 5.9+ for pipes)
};

// False once a pipe refused RWF_NOWAIT (an older kernel): pipes then use O_NONBLOCK.
extern std::atomic<bool> g_pipe_nowait;

// The per-call form for a data call on this fd (flags: FdState::flags).
inline PerCall per_call_form(std::uint8_t flags) noexcept {
  if (flags & FdState::kSocket) return PerCall::kSocket;
  if ((flags & FdState::kPipe) && g_pipe_nowait.load(std::memory_order_relaxed)) return PerCall::kPipe;
  return PerCall::kNone;
}

// True if a call made in form `pc` failed with `err` because the fd does not take that
// form (a pipe on a kernel without RWF_NOWAIT for pipes, or an fd number monkey took
// for a socket that now names something else): the caller retries with O_NONBLOCK.
bool per_call_refused(PerCall pc, int err) noexcept;

// Makes sure grove's O_NONBLOCK is on the file description (once per fd), for calls
// with no per-call form (accept on a listener) and pipes without RWF_NOWAIT. Returns
// false if it could not be set (then call the real function unchanged).
bool ensure_grove_nonblock(int fd, FdState& st) noexcept;

// grove's O_NONBLOCK for the span of one call with no per-call form (connect,
// sendfile): set by the constructor if it was not on, taken off again by the
// destructor (errno is kept). ok() is false if it could not be set.
class ScopedNonblock {
 public:
  ScopedNonblock(int fd, FdState& st) noexcept;
  ~ScopedNonblock();
  ScopedNonblock(const ScopedNonblock&) = delete;
  ScopedNonblock& operator=(const ScopedNonblock&) = delete;
  bool ok() const noexcept { return ok_; }

 private:
  int fd_;
  FdState& st_;
  bool ok_ = false;
  bool set_here_ = false;
};

// The SO_RCVTIMEO (read) / SO_SNDTIMEO (write) of fd in seconds, 0 for none. Asks the
// kernel the first time only (fd_timeout_slow); after that, one load, inline.
double fd_timeout_slow(int fd, FdState& st, bool read) noexcept;
inline double fd_timeout(int fd, FdState& st, bool read) noexcept {
  const std::int64_t us = (read ? st.rcv_timeout_us : st.snd_timeout_us).load(std::memory_order_relaxed);
  if (us < 0) [[unlikely]] return fd_timeout_slow(fd, st, read);
  return static_cast<double>(us) * 1e-6;
}

// For callers that are not green threads, on an fd grove made non-blocking but the
// user did not: blocks in the real poll() until ready or the SO_*TIMEO passes.
// Returns false on timeout (errno = EAGAIN).
bool block_until_ready(int fd, FdState& st, short pollevents) noexcept;

// Parks for `seconds` (<= 0: a yield that lets others run). Returns 0, or the errno
// of an interrupt taken by take_interrupt() (the sleep then ended early).
int park_sleep(grove::detail::Hub& hub, double seconds, const char* what) noexcept;

}  // namespace grove::monkey::detail
