// io.hpp: the one shape every hooked fd call has (Go's: try; on EAGAIN park; retry).
#pragma once

#include <poll.h>

#include <cerrno>
#include <cstddef>
#include <sys/types.h>

#include "coop.hpp"

namespace grove::monkey::detail {

// Runs call() (the real syscall, returning -1 and errno on failure) on fd the way a
// blocking call behaves from the user's view:
//  - untracked fd: call() unchanged;
//  - not a green thread: call() unchanged, except that if grove made the fd
//    non-blocking behind a user who did not, EAGAIN is turned back into blocking
//    with the real poll() (honouring SO_RCVTIMEO / SO_SNDTIMEO);
//  - a green thread on a user-non-blocking fd: call() unchanged (EAGAIN at once);
//  - a green thread otherwise: on EAGAIN park on the fd's readiness and retry.
// Fast path (ready fd): two atomic loads and a TLS read; no lock, allocation or syscall.
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
inline auto fd_io(int fd, bool read, const char* what, Call&& call, std::size_t want = 0) -> decltype(call()) {
  FdState* st = tracked(fd);
  if (!st) return call();
  grove::detail::Hub* hub = coop_hub(kSockets);
  if (!hub) {
    if (!st->has(FdState::kGroveNb) || st->has(FdState::kUserNb)) return call();
    for (;;) {
      auto r = call();
      if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) return r;
      if (!block_until_ready(fd, *st, read ? POLLIN : POLLOUT)) return -1;
    }
  }
  if (st->has(FdState::kUserNb) || !ensure_grove_nonblock(fd, *st)) return call();
  const bool hint = want != 0 && (st->flags.load(std::memory_order_relaxed) & (FdState::kStream | FdState::kLowat)) ==
                                      FdState::kStream;
  bool tried = !(hint && st->drained.load(std::memory_order_relaxed) && !hub->running()->pending);
  double deadline = -1;
  bool deadline_known = false;
  for (;;) {
    if (tried) {
      auto r = call();
      if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
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
        auto r = call();
        if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) return r;
      }
      set_wait_errno(*hub, w, EAGAIN);
      return -1;
    }
    tried = true;
  }
}

// True if the fd's calls may block from the user's view (tracked, not user-non-blocking):
// then a stream write is completed in full like a blocking write.
inline bool blocking_view(int fd) noexcept {
  FdState* st = tracked(fd);
  return st && st->has(FdState::kGroveNb) && !st->has(FdState::kUserNb);
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
