// socket_io.cpp: the parking socket calls. Each one tries the system call first and
// parks on the socket's IoChannel only on EAGAIN (see io_channel.hpp).
//
// Each works on the SocketState pointer it read on entry and never on `this` after
// it may have parked: the Socket may be destroyed or moved meanwhile (see "Lifetime
// while parked" in socket_state.hpp). After a wait that reports the socket closed
// (closed_while_parked), not even the state is touched again.
#include <grove/net/socket.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>

#include "raw_io.hpp"
#include "socket_state.hpp"
#include "stream_calls.hpp"

namespace grove::net {

using detail::errno_code;
using detail::SocketState;

namespace {

std::error_code ebadf() { return std::error_code(EBADF, std::system_category()); }

// ec.clear() unless ec already holds no error: clear() calls std::system_category()
// in libstdc++ every time, and the calls below run once per message.
inline void clear_ec(std::error_code& ec) noexcept {
  if (ec.value() != 0) [[unlikely]] ec.clear();
}

// The state of an open socket for the parking call `op`: nullptr (ec = EBADF) when
// closed; UsageError when called on an OS thread other than the socket's hub's.
inline SocketState* enter(SocketState* s, const char* op, std::error_code& ec) {
  if (!s || s->fd < 0) [[unlikely]] {
    ec = ebadf();
    return nullptr;
  }
  detail::check_thread(s, op);
  return s;
}

// One call's time budget, from the socket's timeout or an explicit one (monotonic).
struct Deadline {
  using Clock = std::chrono::steady_clock;
  double timeout;  // < 0: none, 0: non-blocking
  Clock::time_point end;
  explicit Deadline(double t)
      : timeout(t), end(t > 0 ? grove::detail::deadline_after(Clock::now(), t) : Clock::time_point()) {}
  // Seconds left (at least 1 us, so an expired budget still reports timed_out).
  double left() const {
    if (timeout <= 0) return timeout;
    return std::max(1e-6, std::chrono::duration<double>(end - Clock::now()).count());
  }
};

bool would_block(int e) { return e == EAGAIN || e == EWOULDBLOCK; }

}  // namespace

void Socket::connect(const Address& addr, std::optional<Duration> timeout, std::error_code& ec) {
  ec.clear();
  SocketState* s = enter(s_.get(), "grove::net::Socket::connect", ec);
  if (!s) return;
  s->peer = addr;
  const Deadline dl(timeout ? detail::timeout_seconds(*timeout) : s->timeout);
  int r;
  do {
    r = ::connect(s->fd, addr.data(), addr.size());
  } while (r < 0 && errno == EINTR);
  if (r == 0) return;
  // Only EINPROGRESS means "connecting in the background; writable when done". A Unix
  // socket whose listener's queue is full fails with EAGAIN and is not connecting at
  // all (it would look writable and unconnected), so that is an error, as in Go.
  if (errno != EINPROGRESS) return void(ec = errno_code(errno));
  if (dl.timeout == 0) return void(ec = errno_code(EINPROGRESS));
  if ((ec = s->wr.wait(*s->hub, dl.left(), "grove::net::Socket::connect", "connect"))) return;
  int e = 0;
  socklen_t len = sizeof e;
  if (::getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0) e = errno;
  if (e != 0) ec = errno_code(e);
}

void Socket::connect(const Address& addr, std::optional<Duration> timeout) {
  std::error_code ec;
  connect(addr, timeout, ec);
  if (ec) throw std::system_error(ec, "grove::net::Socket::connect (to " + addr.to_string() + ")");
}

int detail::accept_fd(SocketState* listener, Address& peer, std::error_code& ec) {
  ec.clear();
  SocketState* s = enter(listener, "grove::net::Socket::accept", ec);
  if (!s) return -1;
  const Deadline dl(s->timeout);
  for (;;) {
    socklen_t len = Address::capacity();
    const int fd = ::accept4(s->fd, peer.data(), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      peer.set_size(len);
      return fd;
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (!would_block(errno)) {
      ec = errno_code(errno);
      return -1;
    }
    if ((ec = s->rd.wait(*s->hub, dl.left(), "grove::net::Socket::accept", "accept"))) return -1;
  }
}

Accepted Socket::accept(std::error_code& ec) {
  Accepted out;
  SocketState* s = s_.get();
  const int fd = detail::accept_fd(s, out.peer, ec);
  if (fd < 0) return out;
  try {
    out.socket = Socket(std::make_unique<SocketState>(fd, s->family, s->type));
  } catch (...) {
    ::close(fd);
    throw;
  }
  out.socket.s_->peer = out.peer;
  return out;
}

Accepted Socket::accept() {
  const SocketState* s = s_.get();  // `this` may be gone when accept(ec) returns
  std::error_code ec;
  Accepted a = accept(ec);
  if (ec) {
    std::string what = detail::describe_op(nullptr, "accept", ec);
    Address l;
    socklen_t len = Address::capacity();
    if (!detail::closed_while_parked(ec) && s && s->fd >= 0 && ::getsockname(s->fd, l.data(), &len) == 0) {
      l.set_size(len);
      what += " (on " + l.to_string() + ")";
    }
    throw std::system_error(ec, what);
  }
  return a;
}

namespace {

// Whether this recv may park before trying, because the last one was short (the
// kernel's buffer was drained then). Not with a grove::Timeout alive on the caller or
// an interruption pending: a timeout that expired while the caller ran would be
// delivered at the poll before the data that came meanwhile, and a blocking recv
// with data queued returns the data.
bool may_park_first(const SocketState* s, double timeout) noexcept {
  if (!s->read_drained || timeout == 0) return false;
  const grove::detail::GreenThreadState* me = s->hub->running();
  return !me->timeouts && !me->pending;
}

// One recv under `dl`. After ECANCELED (closed while parked) `s` may be gone.
// `op` names the public call for a misuse error ("grove::net::Socket::recv_exactly").
std::size_t recv_some(SocketState* s, void* buf, std::size_t len, const Deadline& dl, std::error_code& ec,
                      const char* op = "grove::net::Socket::recv") {
  const bool stream = s->type == SocketType::kStream;
  for (;;) {
    if (!may_park_first(s, dl.timeout)) {
      const ssize_t n = grove::detail::sock_recv(s->fd, buf, len, 0);
      if (n >= 0) {
        // A short read drained the kernel buffer: the next call parks first.
        s->read_drained = stream && static_cast<std::size_t>(n) < len && n > 0;
        return static_cast<std::size_t>(n);
      }
      if (errno == EINTR) continue;
      if (!would_block(errno)) return ec = errno_code(errno), 0;
    }
    s->read_drained = false;
    if ((ec = s->rd.wait(*s->hub, dl.left(), op, "recv"))) return 0;
  }
}

}  // namespace

namespace {

// recv_into past its fast path: a closed or moved-from socket, a timeout, a datagram
// socket.
[[gnu::noinline]] std::size_t recv_into_general(SocketState* s, void* buf, std::size_t len, std::error_code& ec) {
  s = enter(s, "grove::net::Socket::recv", ec);
  if (!s) return 0;
  return recv_some(s, buf, len, Deadline(s->timeout), ec);
}

}  // namespace

std::size_t Socket::recv_into(void* buf, std::size_t len, std::error_code& ec) {
  clear_ec(ec);
  SocketState* s = s_.get();
  if (!s || !s->untimed_stream) [[unlikely]] return recv_into_general(s, buf, len, ec);
  detail::check_thread(s, "grove::net::Socket::recv");
  // An open stream socket without a timeout, the usual case: recv_some without a
  // deadline to keep, and no std::error_code built or assigned unless something failed.
  // After a wait the recv is made at once (read_drained was cleared before it).
  bool park_first = may_park_first(s, -1);
  for (;;) {
    if (!park_first) {
      const ssize_t n = grove::detail::sock_recv(s->fd, buf, len, 0);
      if (n >= 0) {
        // Also at the end of stream (0): the next call parks first, and the wait
        // returns at once, the hang-up being sticky (io_channel.hpp).
        s->read_drained = static_cast<std::size_t>(n) < len;
        return static_cast<std::size_t>(n);
      }
      if (errno == EINTR) continue;
      if (!would_block(errno)) return ec = errno_code(errno), 0;
    }
    s->read_drained = false;
    if (const int e = s->rd.wait_untimed(*s->hub, "grove::net::Socket::recv", "recv")) {
      return ec = errno_code(e), 0;  // closed while parked: `s` may be gone
    }
    park_first = false;
  }
}

std::size_t Socket::recv_into(void* buf, std::size_t len) {
  const SocketState* s = s_.get();  // `this` may be gone when recv_into(ec) returns
  std::error_code ec;
  const std::size_t n = recv_into(buf, len, ec);
  if (ec) detail::throw_op(s, "recv", ec);
  return n;
}

std::string Socket::recv(std::size_t max, std::error_code& ec) { return detail::recv_string(*this, max, ec); }

std::string Socket::recv(std::size_t max) { return detail::recv_string(*this, max); }

std::size_t Socket::recv_exactly(void* buf, std::size_t len, std::error_code& ec) {
  ec.clear();
  SocketState* s = enter(s_.get(), "grove::net::Socket::recv_exactly", ec);
  if (!s) return 0;
  const Deadline dl(s->timeout);  // one budget for the whole call
  return detail::read_exactly(buf, len, ec, [&](char* p, std::size_t n) {
    return recv_some(s, p, n, dl, ec, "grove::net::Socket::recv_exactly");
  });
}

std::size_t Socket::recv_exactly(void* buf, std::size_t len) {
  const SocketState* s = s_.get();  // `this` may be gone when recv_exactly(ec) returns
  std::error_code ec;
  const std::size_t n = recv_exactly(buf, len, ec);
  if (ec) detail::throw_op(s, "recv_exactly", ec);
  return n;
}

std::size_t Socket::recvfrom(void* buf, std::size_t len, Address& from, std::error_code& ec) {
  ec.clear();
  SocketState* s = enter(s_.get(), "grove::net::Socket::recvfrom", ec);
  if (!s) return 0;
  const Deadline dl(s->timeout);
  for (;;) {
    socklen_t alen = Address::capacity();
    const ssize_t n = ::recvfrom(s->fd, buf, len, 0, from.data(), &alen);
    if (n >= 0) {
      from.set_size(alen);
      return static_cast<std::size_t>(n);
    }
    if (errno == EINTR) continue;
    if (!would_block(errno)) return ec = errno_code(errno), 0;
    if ((ec = s->rd.wait(*s->hub, dl.left(), "grove::net::Socket::recvfrom", "recvfrom"))) return 0;
  }
}

std::size_t Socket::recvfrom(void* buf, std::size_t len, Address& from) {
  const SocketState* s = s_.get();  // `this` may be gone when recvfrom(ec) returns
  std::error_code ec;
  const std::size_t n = recvfrom(buf, len, from, ec);
  if (ec) detail::throw_op(s, "recvfrom", ec);
  return n;
}

std::size_t Socket::send(const void* data, std::size_t len, std::error_code& ec) {
  ec.clear();
  SocketState* s = enter(s_.get(), "grove::net::Socket::send", ec);
  if (!s) return 0;
  const Deadline dl(s->timeout);
  for (;;) {
    const ssize_t n = grove::detail::sock_send(s->fd, data, len, MSG_NOSIGNAL);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    if (!would_block(errno)) return ec = errno_code(errno), 0;
    if ((ec = s->wr.wait(*s->hub, dl.left(), "grove::net::Socket::send", "send"))) return 0;
  }
}

std::size_t Socket::send(const void* data, std::size_t len) {
  const SocketState* s = s_.get();  // `this` may be gone when send(ec) returns
  std::error_code ec;
  const std::size_t n = send(data, len, ec);
  if (ec) detail::throw_op(s, "send", ec);
  return n;
}

namespace {

// sendall() from `sent` bytes on; `full`: the last write was partial or would have
// blocked (the send buffer is full): park before the next one.
std::size_t sendall_rest(SocketState* s, const void* data, std::size_t len, std::size_t sent, bool full,
                         std::error_code& ec) {
  const Deadline dl(s->timeout);
  const char* p = static_cast<const char*>(data);
  while (sent < len) {
    if (!full || dl.timeout == 0) {
      const ssize_t n = grove::detail::sock_send(s->fd, p + sent, len - sent, MSG_NOSIGNAL);
      if (n >= 0) {
        sent += static_cast<std::size_t>(n);
        full = sent < len;
        continue;
      }
      if (errno == EINTR) continue;
      if (!would_block(errno)) return ec = errno_code(errno), sent;
    }
    full = false;
    if ((ec = s->wr.wait(*s->hub, dl.left(), "grove::net::Socket::sendall", "sendall"))) return sent;
  }
  return sent;
}

}  // namespace

namespace {

// sendall() past its fast path: any call that is not one untimed send writing
// everything, from its checks on (`first`: what that send returned, the count or
// -errno as sock_send_result gives it, or 0 and `tried` false when it was not made).
[[gnu::noinline]] std::size_t sendall_slow(SocketState* s, const void* data, std::size_t len, std::error_code& ec,
                                           bool tried, long first) {
  clear_ec(ec);
  first = grove::detail::errno_result(first);  // -errno: -1, errno set
  if (!tried) {
    s = enter(s, "grove::net::Socket::sendall", ec);
    if (!s) return 0;
    return sendall_rest(s, data, len, 0, false, ec);
  }
  if (first >= 0) return sendall_rest(s, data, len, static_cast<std::size_t>(first), true, ec);
  if (errno == EINTR) return sendall_rest(s, data, len, 0, false, ec);
  if (!would_block(errno)) return ec = errno_code(errno), 0;
  return sendall_rest(s, data, len, 0, true, ec);
}

}  // namespace

std::size_t Socket::sendall(const void* data, std::size_t len, std::error_code& ec) {
  // The usual case, kept lean (it runs once per message of every server): an open
  // stream socket on its own hub, no timeout, `ec` clear, and one send that writes
  // everything. Anything else, and any other outcome, goes to sendall_slow, which
  // makes the checks again in full (the send's -errno becomes errno there).
  SocketState* s = s_.get();
  if (s && s->untimed_stream && ec.value() == 0 && len != 0 && grove::detail::Hub::current() == s->hub)
      [[likely]] {
    const long n = grove::detail::sock_send_result(s->fd, data, len, MSG_NOSIGNAL);
    if (static_cast<std::size_t>(n) == len) [[likely]] return len;
    return sendall_slow(s, data, len, ec, true, n);
  }
  return sendall_slow(s, data, len, ec, false, 0);
}

void Socket::sendall(const void* data, std::size_t len) {
  const SocketState* s = s_.get();  // `this` may be gone when sendall(ec) returns
  std::error_code ec;
  const std::size_t n = sendall(data, len, ec);
  if (ec) {
    throw SendallError(ec, detail::describe_op(s, "sendall", ec) + " after " + std::to_string(n) + " of " +
                               std::to_string(len) + " bytes",
                       n);
  }
}

std::size_t Socket::sendto(const void* data, std::size_t len, const Address& to, std::error_code& ec) {
  ec.clear();
  SocketState* s = enter(s_.get(), "grove::net::Socket::sendto", ec);
  if (!s) return 0;
  const Deadline dl(s->timeout);
  // A Unix datagram socket sending to a receiver whose queue is full gets EAGAIN while
  // poll reports it writable (its own buffer has room), so waiting for writability
  // again would spin. After a wake that still ends in EAGAIN it sleeps instead, 1 ms
  // doubling to 50 ms, within the deadline, as the channel's waiter so that a close
  // wakes it (IoChannel::sleep).
  const bool unix_datagram = s->family == Family::kUnix && s->type == SocketType::kDatagram;
  double backoff = 0;
  bool woken = false;
  for (;;) {
    const ssize_t n = ::sendto(s->fd, data, len, MSG_NOSIGNAL, to.data(), to.size());
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    if (!would_block(errno)) return ec = errno_code(errno), 0;
    if (unix_datagram && woken && dl.timeout != 0) {
      backoff = backoff == 0 ? 0.001 : std::min(backoff * 2, 0.05);
      const double left = dl.left();
      if (left >= 0 && left <= 1e-6) return ec = std::make_error_code(std::errc::timed_out), 0;
      if ((ec = s->wr.sleep(*s->hub, left >= 0 ? std::min(backoff, left) : backoff,
                            "grove::net::Socket::sendto", "sendto"))) {
        return 0;  // closed meanwhile
      }
      continue;
    }
    if ((ec = s->wr.wait(*s->hub, dl.left(), "grove::net::Socket::sendto", "sendto"))) return 0;
    woken = true;
  }
}

std::size_t Socket::sendto(const void* data, std::size_t len, const Address& to) {
  std::error_code ec;
  const std::size_t n = sendto(data, len, to, ec);
  if (ec) throw std::system_error(ec, "grove::net::Socket::sendto (to " + to.to_string() + ")");
  return n;
}

// ---------------------------------------------------------------- any fd

namespace {

void wait_fd(int fd, int events, std::optional<Duration> timeout, std::error_code& ec) {
  ec.clear();
  detail::Hub& hub = detail::Hub::get();
  // A watcher for this one wait (the fd is not ours to keep one with).
  detail::IoChannel ch;
  ch.init(fd, events, /*keep=*/false);
  const double t = timeout ? detail::timeout_seconds(*timeout) : -1;
  struct Stop {
    detail::Hub& hub;
    detail::IoChannel& ch;
    ~Stop() {
      if (ev_is_active(&ch.io)) ev_io_stop(hub.loop(), &ch.io);
    }
  } stop{hub, ch};
  const bool rd = events == EV_READ;
  ec = ch.wait(hub, t == 0 ? 1e-6 : t, rd ? "grove::net::wait_readable" : "grove::net::wait_writable",
               rd ? "wait_readable" : "wait_writable");
}

}  // namespace

void wait_readable(int fd, std::optional<Duration> timeout, std::error_code& ec) { wait_fd(fd, EV_READ, timeout, ec); }
void wait_writable(int fd, std::optional<Duration> timeout, std::error_code& ec) { wait_fd(fd, EV_WRITE, timeout, ec); }

void wait_readable(int fd, std::optional<Duration> timeout) {
  std::error_code ec;
  wait_readable(fd, timeout, ec);
  if (ec) throw std::system_error(ec, "grove::net::wait_readable (fd " + std::to_string(fd) + ")");
}

void wait_writable(int fd, std::optional<Duration> timeout) {
  std::error_code ec;
  wait_writable(fd, timeout, ec);
  if (ec) throw std::system_error(ec, "grove::net::wait_writable (fd " + std::to_string(fd) + ")");
}

}  // namespace grove::net
