// fd_hooks.cpp: creating, closing, duplicating fds and their flags.
//
// fds created here while sockets are patched are tracked (fd_table.hpp); grove sets
// O_NONBLOCK on them lazily, the first time a green thread would block on one, and
// keeps the user's own view of O_NONBLOCK for fcntl(F_GETFL) and FIONBIO.
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <ctime>
#include <cstdarg>
#include <optional>

#include "io.hpp"
#include "real.hpp"

using namespace grove::monkey::detail;

#define GROVE_HOOK extern "C" __attribute__((visibility("default")))

namespace {

std::uint8_t new_flags(bool user_nonblocking, bool stream, bool socket) {
  return static_cast<std::uint8_t>((user_nonblocking ? FdState::kUserNb : 0) | (stream ? FdState::kStream : 0) |
                                   (socket ? FdState::kSocket : FdState::kPipe));
}

// `socket`: a socket (else a pipe).
void track_new(int fd, bool user_nonblocking, bool stream, bool socket) {
  if (fd >= 0 && sockets_patched()) track(fd, new_flags(user_nonblocking, stream, socket));
}

bool stream_type(int type) { return (type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) == SOCK_STREAM; }

// Waits for a non-blocking connect to finish, the blocking way; returns its result.
// After each wake the real connect is called again, as the kernel's blocking connect
// ends: 0 the first time it sees the connection made (later calls then fail with
// EISCONN, as on Linux), the connection's error if it failed, or EALREADY while the
// handshake still runs (then wait again). `timeout_errno` is what the real call
// answered before waiting: the blocking call's error when SO_SNDTIMEO runs out
// (EINPROGRESS for a new connect, EALREADY for one already in progress). On success
// errno is `entry_errno` again: a call that succeeds leaves errno alone.
int finish_connect(int fd, FdState& st, grove::detail::Hub* hub, const sockaddr* addr, socklen_t len,
                   int timeout_errno, int entry_errno) {
  const double t = hub ? fd_timeout(fd, st, false) : 0;
  const double deadline = t > 0 ? mono_now() + t : -1;
  for (;;) {
    if (hub) {
      const Wait w = wait_fd(*hub, &st, fd, EV_WRITE, deadline, "monkey: connect");
      if (w != Wait::kReady) {
        set_wait_errno(*hub, w, timeout_errno);
        return -1;
      }
    } else if (!block_until_ready(fd, st, POLLOUT)) {
      errno = timeout_errno;
      return -1;
    }
    // 0, or EISCONN from a protocol that reports the made connection so.
    if (real().connect(fd, addr, len) == 0 || errno == EISCONN) {
      errno = entry_errno;
      return 0;
    }
    if (errno != EALREADY && errno != EINPROGRESS) return -1;
  }
}

// A blocking connect to a Unix listener whose queue is full waits for room; on the
// non-blocking socket grove made of it the kernel says EAGAIN instead, and nothing
// signals when room appears. So retry after a short sleep (1 ms, doubling to 50 ms)
// until it is accepted into the queue or SO_SNDTIMEO runs out (EAGAIN, as the real
// call's timeout). Parks a green thread; blocks a thread without a hub.
int retry_unix_connect(int fd, FdState& st, grove::detail::Hub* hub, const sockaddr* addr, socklen_t len) {
  const double t = fd_timeout(fd, st, false);
  const double deadline = t > 0 ? mono_now() + t : -1;
  double pause = 0.001;
  for (;;) {
    double wait = pause;
    if (deadline >= 0) {
      const double left = deadline - mono_now();
      if (left <= 0) {
        errno = EAGAIN;
        return -1;
      }
      wait = std::fmin(wait, left);
    }
    if (hub) {
      if (const int e = park_sleep(*hub, wait, "monkey: connect (listener's queue full)")) {
        errno = e;
        return -1;
      }
    } else {
      const timespec ts{static_cast<time_t>(wait), static_cast<long>((wait - static_cast<double>(static_cast<time_t>(wait))) * 1e9)};
      real().nanosleep(&ts, nullptr);
    }
    pause = std::fmin(pause * 2, 0.05);
    const int r = real().connect(fd, addr, len);
    if (r == 0 || errno != EAGAIN) return r;
  }
}

int do_accept(int fd, sockaddr* addr, socklen_t* len, int flags, const char* what) {
  // No per-call form: a listener a green thread accepts on keeps grove's O_NONBLOCK
  // (cleared for a program the process execs: exec_hooks.cpp).
  const HookedFd h(fd);
  const int nfd = fd_io(
      h, true, what, [&](PerCall) { return real().accept4(fd, addr, len, flags); }, 0, false);
  if (nfd < 0) return nfd;
  const std::uint8_t listener = h.flags();  // still tracked: the new fd inherits its kind
  if (listener & FdState::kTracked) track_new(nfd, flags & SOCK_NONBLOCK, listener & FdState::kStream, true);
  return nfd;
}

}  // namespace

GROVE_HOOK int socket(int domain, int type, int protocol) {
  const int fd = real().socket(domain, type, protocol);
  track_new(fd, type & SOCK_NONBLOCK, stream_type(type), true);
  return fd;
}

GROVE_HOOK int socketpair(int domain, int type, int protocol, int sv[2]) {
  const int r = real().socketpair(domain, type, protocol, sv);
  if (r == 0) {
    track_new(sv[0], type & SOCK_NONBLOCK, stream_type(type), true);
    track_new(sv[1], type & SOCK_NONBLOCK, stream_type(type), true);
  }
  return r;
}

GROVE_HOOK int pipe(int fds[2]) {
  const int r = real().pipe(fds);
  if (r == 0) {
    track_new(fds[0], false, true, false);
    track_new(fds[1], false, true, false);
  }
  return r;
}

GROVE_HOOK int pipe2(int fds[2], int flags) {
  const int r = real().pipe2(fds, flags);
  if (r == 0) {
    track_new(fds[0], flags & O_NONBLOCK, !(flags & O_DIRECT), false);  // O_DIRECT: packet mode
    track_new(fds[1], flags & O_NONBLOCK, !(flags & O_DIRECT), false);
  }
  return r;
}

GROVE_HOOK int accept(int fd, sockaddr* addr, socklen_t* len) { return do_accept(fd, addr, len, 0, "monkey: accept"); }

GROVE_HOOK int accept4(int fd, sockaddr* addr, socklen_t* len, int flags) {
  return do_accept(fd, addr, len, flags, "monkey: accept4");
}

GROVE_HOOK int connect(int fd, const sockaddr* addr, socklen_t len) {
  const HookedFd h(fd);
  // A new connection (a TCP socket may connect again after a failed attempt) starts
  // its readiness afresh: the failure's hang-up, sticky in the owner's epoll set
  // (coop.hpp, wait_stream), must not end the new connection's waits at once.
  if (h.st && h.st->owner.load(std::memory_order_relaxed)) h.st->stale.store(true, std::memory_order_release);
  const Route route = h.route(h.flags());
  if (route == Route::kPlain) return real().connect(fd, addr, len);
  FdState* st = h.st;
  grove::detail::Hub* hub = route == Route::kPark ? h.hub : nullptr;
  // No per-call form: grove's O_NONBLOCK is on the description while a green thread
  // connects, and off again after.
  std::optional<ScopedNonblock> nonblocking;
  if (hub && !nonblocking.emplace(fd, *st).ok()) return real().connect(fd, addr, len);
  const int entry_errno = errno;
  int r = real().connect(fd, addr, len);
  if (r < 0 && errno == EAGAIN && addr && addr->sa_family == AF_UNIX) r = retry_unix_connect(fd, *st, hub, addr, len);
  // EALREADY: an earlier connect on this socket is still in progress (one whose
  // SO_SNDTIMEO ran out); the blocking call waits for it as for a new one.
  if (r == 0 || (errno != EINPROGRESS && errno != EALREADY)) return r;
  return finish_connect(fd, *st, hub, addr, len, errno, entry_errno);
}

// Wakes this OS thread's green threads parked on fd (they fail with EBADF), forgets
// the fd, then closes it.
GROVE_HOOK int close(int fd) {
  forget(fd);
  return real().close(fd);
}

// close_range and closefrom close fds without calling close(): forget the tracked
// ones first, as close() does, so that a new fd given the same number starts clean.
// A call that closes nothing (bad arguments, or CLOSE_RANGE_CLOEXEC, which only marks
// the fds) forgets nothing.
GROVE_HOOK int close_range(unsigned int first, unsigned int last, int flags) {
  const int known = CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC;
  if (first <= last && (flags & ~known) == 0 && (flags & CLOSE_RANGE_CLOEXEC) == 0) forget_range(first, last);
  return real().close_range(first, last, flags);
}

GROVE_HOOK void closefrom(int lowfd) {
  forget_range(lowfd < 0 ? 0U : static_cast<unsigned int>(lowfd), ~0U);
  real().closefrom(lowfd);
}

GROVE_HOOK int shutdown(int fd, int how) { return real().shutdown(fd, how); }

GROVE_HOOK int dup(int fd) {
  const int nfd = real().dup(fd);
  if (nfd >= 0) track_dup(fd, nfd);
  return nfd;
}

// The real call first: if it fails (a bad fd, bad flags) fd2 is untouched, so its
// parked green threads and its state must be too. On success fd2 was closed and now
// names fd's file: wake what waited on the old one, then track it as a dup.
GROVE_HOOK int dup2(int fd, int fd2) {
  const int r = real().dup2(fd, fd2);
  if (r >= 0 && fd != fd2) {
    forget(fd2);
    track_dup(fd, r);
  }
  return r;
}

GROVE_HOOK int dup3(int fd, int fd2, int flags) {
  const int r = real().dup3(fd, fd2, flags);
  if (r >= 0) {
    forget(fd2);
    track_dup(fd, r);
  }
  return r;
}

namespace {

int do_fcntl(int (*fn)(int, int, ...), int fd, int cmd, unsigned long arg) {
  FdState* st = tracked(fd);
  switch (cmd) {
    case F_GETFL: {
      const int r = fn(fd, cmd);
      if (r < 0 || !st || !st->has(FdState::kGroveNb)) return r;
      return st->has(FdState::kUserNb) ? (r | O_NONBLOCK) : (r & ~O_NONBLOCK);
    }
    case F_SETFL: {
      if (!st) return fn(fd, cmd, static_cast<int>(arg));
      const RingLock lock;  // grove's first wait through a dup cannot slip in between
      int flags = static_cast<int>(arg);
      const bool user_nb = flags & O_NONBLOCK;
      if (st->has(FdState::kGroveNb)) flags |= O_NONBLOCK;
      const int r = fn(fd, cmd, flags);
      if (r == 0) {
        if (user_nb) set_shared_locked(lock, fd, FdState::kUserNb);
        else clear_shared_locked(lock, fd, FdState::kUserNb);
      }
      return r;
    }
    case F_DUPFD:
    case F_DUPFD_CLOEXEC: {
      const int r = fn(fd, cmd, static_cast<int>(arg));
      if (r >= 0) track_dup(fd, r);
      return r;
    }
    default:
      return fn(fd, cmd, arg);
  }
}

}  // namespace

// Every fcntl argument is an int, a pointer or absent; on x86-64 and aarch64 all of
// them travel in one register read as unsigned long, which is what glibc does too.
// The asm names pin the symbols: with _FILE_OFFSET_BITS=64 the header renames fcntl.
GROVE_HOOK int grove_monkey_fcntl(int fd, int cmd, ...) __asm__("fcntl");
GROVE_HOOK int grove_monkey_fcntl64(int fd, int cmd, ...) __asm__("fcntl64");

GROVE_HOOK int grove_monkey_fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  const unsigned long arg = va_arg(ap, unsigned long);
  va_end(ap);
  return do_fcntl(real().fcntl, fd, cmd, arg);
}

GROVE_HOOK int grove_monkey_fcntl64(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  const unsigned long arg = va_arg(ap, unsigned long);
  va_end(ap);
  return do_fcntl(real().fcntl64, fd, cmd, arg);
}

GROVE_HOOK int ioctl(int fd, unsigned long request, ...) {
  va_list ap;
  va_start(ap, request);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  FdState* st = tracked(fd);
  if (request == FIONBIO && st && arg) {
    const RingLock lock;  // as for F_SETFL
    const bool user_nb = *static_cast<const int*>(arg) != 0;
    int r = 0;
    // While grove keeps the description non-blocking, clearing it is only recorded.
    if (user_nb || !st->has(FdState::kGroveNb)) r = real().ioctl(fd, request, arg);
    if (r == 0) {
      if (user_nb) set_shared_locked(lock, fd, FdState::kUserNb);
      else clear_shared_locked(lock, fd, FdState::kUserNb);
    }
    return r;
  }
  return real().ioctl(fd, request, arg);
}

GROVE_HOOK int setsockopt(int fd, int level, int name, const void* val, socklen_t len) {
  const int r = real().setsockopt(fd, level, name, val, len);
  if (r == 0 && level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO)) {
    // Cleared and re-read from the kernel at the next wait: it knows the exact value
    // (and the timeval layout this caller used). The dups of fd share the socket.
    if (tracked(fd)) reset_timeout_shared(fd, name == SO_RCVTIMEO);
  }
  if (r == 0 && level == SOL_SOCKET && name == SO_RCVLOWAT && val && len >= static_cast<socklen_t>(sizeof(int)) &&
      *static_cast<const int*>(val) > 1) {
    // With a low-water mark, epoll reports the socket readable only at the mark while
    // a blocking read of fewer bytes returns at once: a read must never park before
    // trying (io.hpp's short-read hint).
    if (tracked(fd)) set_shared(fd, FdState::kLowat);
  }
  return r;
}

GROVE_HOOK int getsockopt(int fd, int level, int name, void* val, socklen_t* len) {
  return real().getsockopt(fd, level, name, val, len);
}
