// io.hpp: the one shape every hooked fd call has (Go's: try; on EAGAIN park; retry), and
// HookedFd, the call's fd looked up once at the hook's entry and handed down.
#pragma once

#include <poll.h>

#include <cerrno>
#include <cstddef>
#include <sys/types.h>

#include "coop.hpp"

namespace grove::monkey::detail {

// How a hooked call on an fd is made (HookedFd::route):
enum class Route : unsigned char {
  kPlain,  // libc's call unchanged: untracked fd, the user's O_NONBLOCK, or a caller
           // that is not a green thread on an fd grove did not make non-blocking
  kPoll,   // not a green thread, on an fd grove made non-blocking behind a user who
           // did not: EAGAIN is turned back into blocking with the real poll()
  kPark,   // a green thread: the call non-blocking, park on EAGAIN and retry
};

// A hooked call's fd: its state, looked up once at the hook's entry, and the hub the
// caller may park on. It is handed down to every decision of the call (fd_io,
// write_fully, the MSG_WAITALL loops) and to the park (wait_fd); nothing below the
// hook looks the fd up again. An fd number's FdState never moves (fd_table.hpp), so
// the pointer stays valid across parks; each decision reads its flags anew (a close
// or the user's F_SETFL may change them meanwhile), which costs one load.
struct HookedFd {
  int fd;
  FdState* st;               // the fd's state if it was tracked at entry, else nullptr
  grove::detail::Hub* hub;   // coop_hub(kSockets), asked only for a tracked fd

  explicit HookedFd(int f) noexcept : fd(f), st(tracked(f)), hub(st ? coop_hub(kSockets) : nullptr) {}

  // The fd's flags now (0 once it is no longer tracked).
  std::uint8_t flags() const noexcept { return st ? st->flags.load(std::memory_order_relaxed) : 0; }

  // The one place that decides how a call on this fd is made, from its flags now.
  Route route(std::uint8_t f) const noexcept {
    if (!(f & FdState::kTracked) || (f & FdState::kUserNb)) return Route::kPlain;
    if (hub) return Route::kPark;
    return f & FdState::kGroveNb ? Route::kPoll : Route::kPlain;
  }

  // True if the fd's calls may block from the user's view while grove makes them non-
  // blocking (a green thread's call, or grove's O_NONBLOCK on the description): then
  // a stream write is completed in full like a blocking write.
  bool blocking_view() const noexcept { return route(flags()) != Route::kPlain; }
};

// Runs call(pc) (the real syscall, returning -1 and errno on failure) on h.fd the way
// a blocking call behaves from the user's view. `pc` says how call() must make the
// call non-blocking: PerCall::kNone as asked (the description's O_NONBLOCK decides),
// kSocket with MSG_DONTWAIT, kPipe with RWF_NOWAIT (coop.hpp). By h.route():
//  - kPlain: call(kNone) unchanged;
//  - kPoll: call(kNone), and on EAGAIN the real poll() (honouring SO_RCVTIMEO /
//    SO_SNDTIMEO), then again;
//  - kPark: the call non-blocking per call where the fd has a form for it (`per_call`:
//    the hook's call has one; sockets and pipes do), else with grove's O_NONBLOCK set
//    on the description; on EAGAIN park on the fd's readiness and retry.
// Fast path (ready fd): the flags' load and a TLS read (the running green thread); no
// lock, allocation or syscall.
//
// `want` (reads of a byte stream only; 0 elsewhere) is the length asked for: a read
// that returns less drained the kernel's buffer, so the next read from a green thread
// parks before its first try rather than after an EAGAIN (as grove's own Socket
// does, and nginx with its short-read check): an echo loop then costs one read and
// one write per message, not two reads. Safe because data that arrived since the
// short read wakes the green thread at the next poll: libev's watchers are level-
// triggered, and the epoll set a stream waits in (wait_stream) reports every arrival
// and keeps one that found nobody parked for the next wait. Not with a kill or timeout pending (the call then behaves exactly as
// without the hint); and if a timeout or kill ends that first wait, the real call is
// still tried once, because a blocking read with data queued returns the data (a
// green thread that ran long before the poll must not turn queued data into EAGAIN).
//
// `wait_first`: the caller's own try just failed with EAGAIN (write()'s fast path), so
// on the park route the first step is the wait, not a second try (unless a kill or
// timeout is pending, as with the hint).
template <class Call>
inline auto fd_io(const HookedFd& h, bool read, const char* what, Call&& call, std::size_t want = 0,
                  bool per_call = true, bool wait_first = false) -> decltype(call(PerCall::kNone)) {
  const std::uint8_t flags = h.flags();
  const Route route = h.route(flags);
  if (route == Route::kPlain) return call(PerCall::kNone);
  FdState& st = *h.st;
  if (route == Route::kPoll) {
    for (;;) {
      auto r = call(PerCall::kNone);
      if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) return r;
      if (!block_until_ready(h.fd, st, read ? POLLIN : POLLOUT)) return -1;
    }
  }
  grove::detail::Hub& hub = *h.hub;
  PerCall pc = per_call ? per_call_form(flags) : PerCall::kNone;
  if (pc == PerCall::kNone && !ensure_grove_nonblock(h.fd, st)) return call(PerCall::kNone);
  const bool hint = want != 0 && (flags & (FdState::kStream | FdState::kLowat)) == FdState::kStream;
  bool tried = !((wait_first || (hint && st.drained.load(std::memory_order_relaxed))) && !hub.running()->pending);
  double deadline = -1;
  bool deadline_known = false;
  for (;;) {
    if (tried) {
      auto r = call(pc);
      if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
        if (r < 0 && pc != PerCall::kNone && per_call_refused(pc, errno)) [[unlikely]] {
          pc = PerCall::kNone;
          if (!ensure_grove_nonblock(h.fd, st)) return call(PerCall::kNone);
          continue;
        }
        if (hint) st.drained.store(r > 0 && static_cast<std::size_t>(r) < want, std::memory_order_relaxed);
        return r;
      }
    }
    if (!deadline_known) {
      deadline_known = true;
      // Most fds have no SO_RCVTIMEO / SO_SNDTIMEO: one load, and no clock read.
      if ((read ? st.rcv_timeout_us : st.snd_timeout_us).load(std::memory_order_relaxed) != 0) [[unlikely]] {
        const double t = fd_timeout(h.fd, st, read);
        if (t > 0) deadline = mono_now() + t;
      }
    }
    const Wait w = wait_stream(hub, st, h.fd, read, deadline, what);
    if (w != Wait::kReady) {
      if (hint) st.drained.store(false, std::memory_order_relaxed);
      if (!tried && w != Wait::kClosed) {
        auto r = call(pc);
        if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) return r;
      }
      set_wait_errno(hub, w, EAGAIN);
      return -1;
    }
    tried = true;
  }
}

// Writes all n bytes through write_some(ptr, len) (each call via fd_io on h) as a
// blocking write does; on an error after some bytes, returns the count written.
template <class WriteSome>
inline ssize_t write_fully(const HookedFd& h, const char* p, size_t n, WriteSome&& write_some) {
  size_t done = 0;
  for (;;) {
    const ssize_t r = write_some(p + done, n - done);
    if (r < 0) return done ? static_cast<ssize_t>(done) : -1;
    done += static_cast<size_t>(r);
    if (done >= n || r == 0 || !h.blocking_view()) return static_cast<ssize_t>(done);
  }
}

}  // namespace grove::monkey::detail
