// io_hooks.cpp: read / write and the socket data calls, plus their fortified forms.
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "file_io.hpp"
#include "raw_io.hpp"
#include "io.hpp"
#include "real.hpp"

using namespace grove::monkey::detail;

extern "C" [[noreturn]] void __chk_fail(void);

#define GROVE_HOOK extern "C" __attribute__((visibility("default")))

namespace {

// The data calls in the form fd_io asks for (coop.hpp: PerCall). read() on a socket
// is recv() with no flags, readv() is recvmsg(); on a pipe, readv is preadv2 at the
// current position (-1). Inline: each is a branch on the form in front of the call
// (out of line, a call and a frame per message).
// The per-call forms on a socket are non-blocking, so they go to the kernel directly
// (core/src/raw_io.hpp: glibc's wrapper is a cancellation point with nothing to
// cancel here); a call that may block stays glibc's.
[[gnu::always_inline]] inline ssize_t read_as(PerCall pc, int fd, void* buf, size_t n) {
  if (pc == PerCall::kSocket) return grove::detail::sock_recv(fd, buf, n, MSG_DONTWAIT);
  if (pc == PerCall::kPipe) {
    iovec v{buf, n};
    return ::preadv2(fd, &v, 1, -1, RWF_NOWAIT);
  }
  return real().read(fd, buf, n);
}

[[gnu::always_inline]] inline ssize_t readv_as(PerCall pc, int fd, const iovec* iov, int cnt) {
  if (pc == PerCall::kSocket && cnt >= 0) {
    msghdr m{};
    m.msg_iov = const_cast<iovec*>(iov);
    m.msg_iovlen = static_cast<std::size_t>(cnt);
    return real().recvmsg(fd, &m, MSG_DONTWAIT);
  }
  if (pc == PerCall::kPipe) return ::preadv2(fd, iov, cnt, -1, RWF_NOWAIT);
  return real().readv(fd, iov, cnt);
}

[[gnu::always_inline]] inline ssize_t write_as(PerCall pc, int fd, const void* buf, size_t n) {
  if (pc == PerCall::kSocket) return grove::detail::sock_send(fd, buf, n, MSG_DONTWAIT);
  if (pc == PerCall::kPipe) {
    iovec v{const_cast<void*>(buf), n};
    return ::pwritev2(fd, &v, 1, -1, RWF_NOWAIT);
  }
  return real().write(fd, buf, n);
}

[[gnu::always_inline]] inline ssize_t writev_as(PerCall pc, int fd, const iovec* iov, int cnt) {
  if (pc == PerCall::kSocket && cnt >= 0) {
    msghdr m{};
    m.msg_iov = const_cast<iovec*>(iov);
    m.msg_iovlen = static_cast<std::size_t>(cnt);
    return real().sendmsg(fd, &m, MSG_DONTWAIT);
  }
  if (pc == PerCall::kPipe) return ::pwritev2(fd, iov, cnt, -1, RWF_NOWAIT);
  return real().writev(fd, iov, cnt);
}

// MSG_DONTWAIT for a socket call fd_io makes non-blocking (on a pipe the call fails
// with ENOTSOCK either way).
constexpr int dontwait(PerCall pc) { return pc == PerCall::kNone ? 0 : MSG_DONTWAIT; }

[[gnu::always_inline]] inline ssize_t recv_as(PerCall pc, int fd, void* buf, size_t n, int flags) {
  if (pc == PerCall::kSocket) return grove::detail::sock_recv(fd, buf, n, flags | MSG_DONTWAIT);
  return real().recv(fd, buf, n, flags | dontwait(pc));
}

// write() from byte `done` on, the general way; `full`: the fast path's send just found
// the buffer full, so the first fd_io waits before it tries (no second EAGAIN). Out of
// line, so the fast path builds none of this.
[[gnu::noinline]] ssize_t write_from(const HookedFd& h, const void* buf, size_t n, size_t done, bool full) {
  const int fd = h.fd;
  return write_fully(h, static_cast<const char*>(buf) + done, n - done, [&](const char* p, size_t len) {
    return fd_io(h, false, "monkey: write", [&](PerCall pc) { return write_as(pc, fd, p, len); }, 0, true,
                 std::exchange(full, false));
  });
}

// read() the general way (fd_io), out of line so that the fast path carries none of it.
[[gnu::noinline]] ssize_t read_general(const HookedFd& h, void* buf, size_t n) {
  const int fd = h.fd;
  return fd_io(h, true, "monkey: read", [&](PerCall pc) { return read_as(pc, fd, buf, n); }, n);
}

// read()'s fast path after a wait that did not end ready: what fd_io does then (the
// hint dropped, the call tried once unless the fd was closed, errno from the wait).
[[gnu::noinline]] ssize_t read_after_failed_wait(const HookedFd& h, void* buf, size_t n, Wait w) {
  h.st->drained.store(false, std::memory_order_relaxed);
  if (w != Wait::kClosed) {
    const ssize_t r = grove::detail::sock_recv(h.fd, buf, n, MSG_DONTWAIT);
    if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) return r;
  }
  set_wait_errno(*h.hub, w, EAGAIN);
  return -1;
}

[[gnu::always_inline]] inline ssize_t send_as(PerCall pc, int fd, const void* buf, size_t n, int flags) {
  if (pc == PerCall::kSocket) return grove::detail::sock_send(fd, buf, n, flags | MSG_DONTWAIT);
  return real().send(fd, buf, n, flags | dontwait(pc));
}

// The length for fd_io's short-read hint, or 0 for none: a peek leaves the data
// queued, so a short peek says nothing about the next read; urgent data (MSG_OOB) is
// reported by epoll as EPOLLPRI, not as readable, so it must never park first.
std::size_t stream_want(std::size_t n, int flags) { return flags & (MSG_PEEK | MSG_OOB) ? 0 : n; }

// recv with MSG_WAITALL on a byte stream that is blocking from the user's view: grove
// makes the call non-blocking (MSG_DONTWAIT from a green thread, or grove's O_NONBLOCK
// on the description), where the kernel returns what is there, so wait for the rest
// here. As the real call: n bytes, or fewer at end of file
// or on an error after some bytes. (A datagram socket returns one datagram either way.)
// Not on the fast path: only calls with MSG_WAITALL ask.
bool waits_for_all(const HookedFd& h, int flags) {
  if (!(flags & MSG_WAITALL) || (flags & MSG_PEEK)) return false;
  const std::uint8_t f = h.flags();
  return (f & FdState::kStream) && h.route(f) != Route::kPlain;
}

template <class RecvSome>
ssize_t recv_all(const HookedFd& h, char* p, size_t n, RecvSome&& recv_some) {
  size_t done = 0;
  for (;;) {
    const ssize_t r = recv_some(p + done, n - done);
    if (r < 0) return done ? static_cast<ssize_t>(done) : -1;
    done += static_cast<size_t>(r);
    if (r == 0 || done >= n || !waits_for_all(h, MSG_WAITALL)) return static_cast<ssize_t>(done);
  }
}

// recvmsg's form of recv_all, over the iovecs: the first call uses the caller's
// msghdr as is (a full read returns from it); after a short one, the rest is read into
// a copy of the iovecs advanced past the bytes received. The address is the first
// call's (a stream has one peer). Stops, like the kernel's MSG_WAITALL read, once a
// call brought ancillary data, so that the caller sees it; msg_controllen and
// msg_flags are the last call's.
ssize_t recvmsg_all(const HookedFd& h, msghdr* msg, int flags) {
  const int fd = h.fd;
  const std::size_t control_len = msg->msg_controllen;
  const ssize_t first =
      fd_io(h, true, "monkey: recvmsg", [&](PerCall pc) { return real().recvmsg(fd, msg, flags | dontwait(pc)); });
  std::size_t total = 0;
  for (std::size_t i = 0; i < msg->msg_iovlen; ++i) total += msg->msg_iov[i].iov_len;
  if (first <= 0 || static_cast<std::size_t>(first) >= total || msg->msg_controllen != 0 ||
      !waits_for_all(h, MSG_WAITALL)) {
    return first;
  }
  std::vector<iovec> iov(msg->msg_iov, msg->msg_iov + msg->msg_iovlen);
  std::size_t at = 0;  // the first iovec not yet full
  auto skip = [&](std::size_t n) {
    while (n > 0 && at < iov.size()) {
      const std::size_t k = std::min(n, iov[at].iov_len);
      iov[at].iov_base = static_cast<char*>(iov[at].iov_base) + k;
      iov[at].iov_len -= k;
      n -= k;
      if (iov[at].iov_len == 0) ++at;
    }
    while (at < iov.size() && iov[at].iov_len == 0) ++at;
  };
  std::size_t done = static_cast<std::size_t>(first);
  skip(done);
  for (;;) {
    msghdr m = *msg;
    m.msg_name = nullptr;
    m.msg_namelen = 0;
    m.msg_iov = iov.data() + at;
    m.msg_iovlen = iov.size() - at;
    m.msg_controllen = control_len;
    const ssize_t r =
        fd_io(h, true, "monkey: recvmsg", [&](PerCall pc) { return real().recvmsg(fd, &m, flags | dontwait(pc)); });
    if (r < 0) return static_cast<ssize_t>(done);
    msg->msg_controllen = m.msg_controllen;
    msg->msg_flags = m.msg_flags;
    done += static_cast<std::size_t>(r);
    skip(static_cast<std::size_t>(r));
    if (r == 0 || done >= total || m.msg_controllen != 0 || !waits_for_all(h, MSG_WAITALL)) {
      return static_cast<ssize_t>(done);
    }
  }
}

// sendfile to a blocking-view fd sends the whole count, as the blocking call does:
// fewer only at the end of in_fd or on an error after some bytes (then that count).
ssize_t sendfile_fully(const HookedFd& out, int in_fd, off_t* offset, size_t count) {
  size_t done = 0;
  for (;;) {
    const ssize_t r = fd_io(
        out, false, "monkey: sendfile",
        [&](PerCall) { return real().sendfile(out.fd, in_fd, offset, count - done); }, 0, false);
    if (r < 0) return done ? static_cast<ssize_t>(done) : -1;
    done += static_cast<size_t>(r);
    if (done >= count || r == 0 || !out.blocking_view()) return static_cast<ssize_t>(done);
  }
}

}  // namespace

// Each hook looks its fd up once (HookedFd) and hands that down.

GROVE_HOOK ssize_t read(int fd, void* buf, size_t n) {
  const HookedFd h(fd);
  if (!h.st && coop_hub(kFiles)) return file_read(fd, buf, n);  // off: a null test and a load
  // A green thread's read of a byte-stream socket with no SO_RCVTIMEO: fd_io's steps
  // for it (route kPark, per-call form kSocket, the short-read hint), without their
  // set-up, once per message of every blocking-style server. A wait that does not end
  // ready, EAGAIN after a wake and ENOTSOCK go on in fd_io, which behaves from there as
  // if it had made the steps itself.
  constexpr std::uint8_t kMask =
      FdState::kTracked | FdState::kUserNb | FdState::kSocket | FdState::kStream | FdState::kLowat;
  if (h.hub && n != 0 && (h.flags() & kMask) == (FdState::kTracked | FdState::kSocket | FdState::kStream) &&
      h.st->rcv_timeout_us.load(std::memory_order_relaxed) == 0) [[likely]] {
    FdState& st = *h.st;
    if (st.drained.load(std::memory_order_relaxed) && !h.hub->running()->pending) {
      const Wait w = wait_stream(*h.hub, st, fd, true, -1, "monkey: read");
      if (w != Wait::kReady) [[unlikely]] return read_after_failed_wait(h, buf, n, w);
    }
    const ssize_t r = grove::detail::sock_recv(fd, buf, n, MSG_DONTWAIT);
    if (r >= 0) [[likely]] {
      st.drained.store(r > 0 && static_cast<size_t>(r) < n, std::memory_order_relaxed);
      return r;
    }
    // fd_io goes on from here. EAGAIN: the buffer is drained, so it waits before it
    // tries again (no second EAGAIN). ENOTSOCK: it tries again at once, in the form
    // for what the fd number now names.
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      st.drained.store(true, std::memory_order_relaxed);
    } else if (errno == ENOTSOCK) {
      st.drained.store(false, std::memory_order_relaxed);
    } else {
      return r;
    }
  }
  return read_general(h, buf, n);
}

GROVE_HOOK ssize_t readv(int fd, const iovec* iov, int cnt) {
  const HookedFd h(fd);
  return fd_io(h, true, "monkey: readv", [&](PerCall pc) { return readv_as(pc, fd, iov, cnt); });
}

GROVE_HOOK ssize_t recv(int fd, void* buf, size_t n, int flags) {
  if (flags & MSG_DONTWAIT) return real().recv(fd, buf, n, flags);
  const HookedFd h(fd);
  if (waits_for_all(h, flags)) {
    return recv_all(h, static_cast<char*>(buf), n, [&](char* p, size_t len) {
      return fd_io(
          h, true, "monkey: recv", [&](PerCall pc) { return real().recv(fd, p, len, flags | dontwait(pc)); },
          stream_want(len, flags));
    });
  }
  return fd_io(
      h, true, "monkey: recv", [&](PerCall pc) { return recv_as(pc, fd, buf, n, flags); }, stream_want(n, flags));
}

GROVE_HOOK ssize_t recvfrom(int fd, void* buf, size_t n, int flags, sockaddr* addr, socklen_t* len) {
  if (flags & MSG_DONTWAIT) return real().recvfrom(fd, buf, n, flags, addr, len);
  const HookedFd h(fd);
  if (waits_for_all(h, flags)) {
    return recv_all(h, static_cast<char*>(buf), n, [&](char* p, size_t l) {
      return fd_io(
          h, true, "monkey: recvfrom",
          [&](PerCall pc) { return real().recvfrom(fd, p, l, flags | dontwait(pc), addr, len); },
          stream_want(l, flags));
    });
  }
  return fd_io(
      h, true, "monkey: recvfrom",
      [&](PerCall pc) { return real().recvfrom(fd, buf, n, flags | dontwait(pc), addr, len); }, stream_want(n, flags));
}

GROVE_HOOK ssize_t recvmsg(int fd, msghdr* msg, int flags) {
  if (flags & MSG_DONTWAIT) return real().recvmsg(fd, msg, flags);
  const HookedFd h(fd);
  if (waits_for_all(h, flags)) return recvmsg_all(h, msg, flags);
  return fd_io(h, true, "monkey: recvmsg", [&](PerCall pc) { return real().recvmsg(fd, msg, flags | dontwait(pc)); });
}

// The timeout argument of recvmmsg is checked by the kernel only after each datagram,
// as in the real call; parking waits for the first datagram without it.
GROVE_HOOK int recvmmsg(int fd, mmsghdr* vec, unsigned int vlen, int flags, timespec* timeout) {
  if (flags & MSG_DONTWAIT) return real().recvmmsg(fd, vec, vlen, flags, timeout);
  const HookedFd h(fd);
  return fd_io(h, true, "monkey: recvmmsg",
               [&](PerCall pc) { return real().recvmmsg(fd, vec, vlen, flags | dontwait(pc), timeout); });
}

GROVE_HOOK ssize_t write(int fd, const void* buf, size_t n) {
  const HookedFd h(fd);
  if (!h.st && coop_hub(kFiles)) return file_write(fd, buf, n);
  // A green thread's write to a socket that takes it all at once: what fd_io's first
  // try (route kPark, per-call form kSocket) and write_fully make of it, without their
  // set-up, once per message of every blocking-style server. Anything else (a partial
  // write, EAGAIN, ENOTSOCK for a reused fd number) goes on there as it would have.
  if (h.hub && n != 0 &&
      (h.flags() & (FdState::kTracked | FdState::kUserNb | FdState::kSocket)) ==
          (FdState::kTracked | FdState::kSocket)) [[likely]] {
    const ssize_t r = grove::detail::sock_send(fd, buf, n, MSG_DONTWAIT);
    if (static_cast<size_t>(r) == n) [[likely]] return r;
    if (r > 0) {  // partial: the buffer is full now
      const ssize_t rest = write_from(h, buf, n, static_cast<size_t>(r), true);
      return rest < 0 ? r : r + rest;
    }
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return write_from(h, buf, n, 0, true);
    if (r == 0 || errno != ENOTSOCK) return r;
  }
  return write_from(h, buf, n, 0, false);
}

// writev / sendmsg / sendmmsg may return a partial count on a stream socket (as the
// real calls may after a signal); callers of these already loop.
GROVE_HOOK ssize_t writev(int fd, const iovec* iov, int cnt) {
  const HookedFd h(fd);
  return fd_io(h, false, "monkey: writev", [&](PerCall pc) { return writev_as(pc, fd, iov, cnt); });
}

GROVE_HOOK ssize_t send(int fd, const void* buf, size_t n, int flags) {
  if (flags & MSG_DONTWAIT) return real().send(fd, buf, n, flags);
  const HookedFd h(fd);
  return write_fully(h, static_cast<const char*>(buf), n, [&](const char* p, size_t len) {
    return fd_io(h, false, "monkey: send", [&](PerCall pc) { return send_as(pc, fd, p, len, flags); });
  });
}

GROVE_HOOK ssize_t sendto(int fd, const void* buf, size_t n, int flags, const sockaddr* addr, socklen_t len) {
  if (flags & MSG_DONTWAIT) return real().sendto(fd, buf, n, flags, addr, len);
  const HookedFd h(fd);
  return fd_io(h, false, "monkey: sendto",
               [&](PerCall pc) { return real().sendto(fd, buf, n, flags | dontwait(pc), addr, len); });
}

GROVE_HOOK ssize_t sendmsg(int fd, const msghdr* msg, int flags) {
  if (flags & MSG_DONTWAIT) return real().sendmsg(fd, msg, flags);
  const HookedFd h(fd);
  return fd_io(h, false, "monkey: sendmsg", [&](PerCall pc) { return real().sendmsg(fd, msg, flags | dontwait(pc)); });
}

GROVE_HOOK int sendmmsg(int fd, mmsghdr* vec, unsigned int vlen, int flags) {
  if (flags & MSG_DONTWAIT) return real().sendmmsg(fd, vec, vlen, flags);
  const HookedFd h(fd);
  return fd_io(h, false, "monkey: sendmmsg",
               [&](PerCall pc) { return real().sendmmsg(fd, vec, vlen, flags | dontwait(pc)); });
}

// Waits for out_fd (the socket or pipe) to be writable; in_fd is a file. Both names
// are the same function on 64-bit glibc; the asm names pin them (the header renames
// sendfile under _FILE_OFFSET_BITS=64).
GROVE_HOOK ssize_t grove_monkey_sendfile(int out_fd, int in_fd, off_t* offset, size_t count) __asm__("sendfile");
GROVE_HOOK ssize_t grove_monkey_sendfile64(int out_fd, int in_fd, off_t* offset, size_t count) __asm__("sendfile64");

// sendfile has no per-call non-blocking form: from a green thread, grove's O_NONBLOCK
// is on the description for the span of the call only.
GROVE_HOOK ssize_t grove_monkey_sendfile(int out_fd, int in_fd, off_t* offset, size_t count) {
  const HookedFd out(out_fd);
  if (out.route(out.flags()) == Route::kPark) {
    const ScopedNonblock nonblocking(out_fd, *out.st);
    return sendfile_fully(out, in_fd, offset, count);
  }
  return sendfile_fully(out, in_fd, offset, count);
}

GROVE_HOOK ssize_t grove_monkey_sendfile64(int out_fd, int in_fd, off_t* offset, size_t count) {
  return grove_monkey_sendfile(out_fd, in_fd, offset, count);
}

// --- fortified forms (-D_FORTIFY_SOURCE): check the buffer, then the hook above.

GROVE_HOOK ssize_t __read_chk(int fd, void* buf, size_t n, size_t buflen) {
  if (n > buflen) __chk_fail();
  return read(fd, buf, n);
}

GROVE_HOOK ssize_t __recv_chk(int fd, void* buf, size_t n, size_t buflen, int flags) {
  if (n > buflen) __chk_fail();
  return recv(fd, buf, n, flags);
}

GROVE_HOOK ssize_t __recvfrom_chk(int fd, void* buf, size_t n, size_t buflen, int flags, sockaddr* addr,
                                  socklen_t* len) {
  if (n > buflen) __chk_fail();
  return recvfrom(fd, buf, n, flags, addr, len);
}
