// io.hpp: the one shape every hooked fd call has (Go's: try; on EAGAIN park; retry).
#pragma once

#include <poll.h>

#include <cerrno>
#include <cstddef>
#include <sys/types.h>

#include "coop.hpp"

namespace grove::monkey::detail {

// Runs call(pc) (the real syscall, returning -1 and errno on failure) on fd the way a
// blocking call behaves from the user's view. `pc` says how call() must make the call
// non-blocking: PerCall::kNone as asked (the description's O_NONBLOCK decides),
// kSocket with MSG_DONTWAIT, kPipe with RWF_NOWAIT (coop.hpp).
//  - untracked fd: call(kNone) unchanged;
//  - not a green thread: call(kNone), except that if grove made the fd non-blocking
//    behind a user who did not, EAGAIN is turned back into blocking with the real
//    poll() (honouring SO_RCVTIMEO / SO_SNDTIMEO);
//  - a green thread on a user-non-blocking fd: call(kNone) (EAGAIN at once);
//  - a green thread otherwise: the call non-blocking per call where the fd has a form
//    for it (`per_call`: the hook's call has one; sockets and pipes do), else with
//    grove's O_NONBLOCK set on the description; on EAGAIN park on the fd's readiness
//    and retry.
// Fast path (ready fd): a few atomic loads (the fd slot, its flags) and a TLS read; no lock,
// allocation or syscall.
//
// `want` (reads of a byte stream only; 0 elsewhere) is the length asked for: a read
// that returns less drained the kernel's buffer, so the next read from a green thread
// parks before its first try rather than after an EAGAIN (as grove's own Socket
// does, and nginx with its short-read check): an echo loop then costs one read and
// one write per message, not two reads. Safe because the fd's watcher is
// level-triggered: data that arrived since the short read wakes the green thread at
// the next poll. Not with a kill or timeout pending (the call then behaves exactly as
// without the hint); and if a timeout or kill ends that first wait, the real call is
// still tried once, because a blocking read with data queued returns the data (a
// green thread that ran long before the poll must not turn queued data into EAGAIN).
template <class Call>
inline auto fd_io(int fd, bool read, const char* what, Call&& call, std::size_t want = 0, bool per_call = true)
    -> decltype(call(PerCall::kNone)) {
  FdState* st = tracked(fd);
  if (!st) return call(PerCall::kNone);
  grove::detail::Hub* hub = coop_hub(kSockets);
  const std::uint8_t flags = st->flags.load(std::memory_order_relaxed);
  if (!hub) {
    if (!(flags & FdState::kGroveNb) || (flags & FdState::kUserNb)) return call(PerCall::kNone);
    for (;;) {
      auto r = call(PerCall::kNone);
      if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) return r;
      if (!block_until_ready(fd, *st, read ? POLLIN : POLLOUT)) return -1;
    }
  }
  if (flags & FdState::kUserNb) return call(PerCall::kNone);
  PerCall pc = per_call ? per_call_form(flags) : PerCall::kNone;
  if (pc == PerCall::kNone && !ensure_grove_nonblock(fd, *st)) return call(PerCall::kNone);
  const bool hint = want != 0 && (flags & (FdState::kStream | FdState::kLowat)) == FdState::kStream;
  bool tried = !(hint && st->drained.load(std::memory_order_relaxed) && !hub->running()->pending);
  double deadline = -1;
  bool deadline_known = false;
  for (;;) {
    if (tried) {
      auto r = call(pc);
      if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
        if (r < 0 && pc != PerCall::kNone && per_call_refused(pc, errno)) [[unlikely]] {
          pc = PerCall::kNone;
          if (!ensure_grove_nonblock(fd, *st)) return call(PerCall::kNone);
          continue;
        }
        if (hint) st->drained.store(r > 0 && static_cast<std::size_t>(r) < want, std::memory_order_relaxed);
        return r;
      }
    }
    if (!deadline_known) {
      const double t = fd_timeout(fd, *st, read);
      deadline = t > 0 ? mono_now() + t : -1;
      deadline_known = true;
    }
    const Wait w = wait_fd(*hub, st, fd, read ? EV_READ : EV_WRITE, deadline, what);
    if (w != Wait::kReady) {
      if (hint) st->drained.store(false, std::memory_order_relaxed);
      if (!tried && w != Wait::kClosed) {
        auto r = call(pc);
        if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) return r;
      }
      set_wait_errno(*hub, w, EAGAIN);
      return -1;
    }
    tried = true;
  }
}

// True if the fd's calls may block from the user's view (tracked, not user-non-blocking)
// while grove makes them non-blocking (a green thread's call, or grove's O_NONBLOCK on
// the description): then a stream write is completed in full like a blocking write.
inline bool blocking_view(int fd) noexcept {
  FdState* st = tracked(fd);
  return st && !st->has(FdState::kUserNb) && (st->has(FdState::kGroveNb) || coop_hub(kSockets));
}

// Writes all n bytes through write_some(ptr, len) (each call via fd_io) as a blocking
// write does; on an error after some bytes, returns the count written.
template <class WriteSome>
inline ssize_t write_fully(int fd, const char* p, size_t n, WriteSome&& write_some) {
  size_t done = 0;
  for (;;) {
    const ssize_t r = write_some(p + done, n - done);
    if (r < 0) return done ? static_cast<ssize_t>(done) : -1;
    done += static_cast<size_t>(r);
    if (done >= n || r == 0 || !blocking_view(fd)) return static_cast<ssize_t>(done);
  }
}

}  // namespace grove::monkey::detail
