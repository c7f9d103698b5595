// pipe_stream.cpp: PipeStream, a pipe end parking on net's IoChannel (the design is
// Socket's: socket_io.cpp, io_channel.hpp).
//
// As in socket_io.cpp, a parking call works on the PipeState pointer it read on
// entry and never on `this` after it may have parked (the PipeStream may be moved or
// destroyed meanwhile); after ECANCELED from a wait (closed while parked) not even
// the state is touched again.
#include <grove/net/pipe_stream.hpp>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <string>
#include <thread>

#include <grove/errors.hpp>
#include <grove/log.hpp>
#include <grove/net/socket.hpp>

#include "io_channel.hpp"
#include "socket_state.hpp"
#include "stream_calls.hpp"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

namespace grove::net {

namespace detail {

struct PipeState {
  int fd = -1;
  double timeout = -1;  // seconds; < 0: none, 0: non-blocking
  Hub* hub = nullptr;
  std::thread::id owner;
  IoChannel rd;
  IoChannel wr;

  explicit PipeState(int f) : fd(f) {
    hub = &Hub::get();
    owner = std::this_thread::get_id();
    rd.init(fd, EV_READ, /*keep=*/true);
    wr.init(fd, EV_WRITE, /*keep=*/false);
  }
  // As SocketState::close(): false (nothing done) on a foreign OS thread.
  bool close() noexcept {
    if (fd < 0) return true;
    if (Hub::current() == hub) {
      rd.cancel(*hub);
      wr.cancel(*hub);
    } else if (std::this_thread::get_id() != owner) {
      return false;
    }
    ::close(fd);
    fd = -1;
    return true;
  }
};

}  // namespace detail

using detail::errno_code;
using detail::PipeState;

namespace {

std::error_code ebadf() { return std::error_code(EBADF, std::system_category()); }
bool would_block(int e) { return e == EAGAIN || e == EWOULDBLOCK; }

[[noreturn, gnu::cold]] void refuse_foreign_thread(const PipeState* s, const char* op) {
  throw UsageError(std::string(op) + " (fd " + std::to_string(s->fd) +
                   "): used from another OS thread than the one whose hub created the pipe; a pipe "
                   "serves the green threads of one OS thread");
}

inline PipeState* enter(PipeState* s, const char* op, std::error_code& ec) {
  if (!s || s->fd < 0) [[unlikely]] {
    ec = ebadf();
    return nullptr;
  }
  if (detail::Hub::current() != s->hub) [[unlikely]] refuse_foreign_thread(s, op);
  return s;
}

// One call's time budget (as socket_io.cpp's).
struct Deadline {
  using Clock = std::chrono::steady_clock;
  double timeout;  // < 0: none, 0: non-blocking
  Clock::time_point end;
  explicit Deadline(double t)
      : timeout(t), end(t > 0 ? grove::detail::deadline_after(Clock::now(), t) : Clock::time_point()) {}
  double left() const {
    if (timeout <= 0) return timeout;
    return std::max(1e-6, std::chrono::duration<double>(end - Clock::now()).count());
  }
};

std::string describe(const PipeState* s, const char* op, const std::error_code& ec) {
  std::string out = std::string("grove::net::PipeStream::") + op;
  if (detail::closed_while_parked(ec)) return out + " (closed while waiting)";  // `s` may be freed
  if (s) out += " (fd " + std::to_string(s->fd) + ")";
  return out;
}

// SIGPIPE blocked on this OS thread while a burst of writes runs (no park inside):
// a write to a pipe without a reader then fails with EPIPE and leaves a thread-directed
// SIGPIPE pending, which the destructor takes back (sigtimedwait) before unblocking.
// If the thread already blocked SIGPIPE, nothing is changed (its pending signals are
// the user's business). Two sigprocmask calls per burst; none when nothing is written.
class SigpipeBlock {
 public:
  SigpipeBlock() noexcept {
    sigset_t pipe_only;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    sigset_t old;
    if (::pthread_sigmask(SIG_BLOCK, &pipe_only, &old) == 0) blocked_here_ = !sigismember(&old, SIGPIPE);
  }
  ~SigpipeBlock() {
    if (!blocked_here_) return;
    sigset_t pipe_only;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    if (epipe_) {
      const timespec zero{0, 0};
      while (::sigtimedwait(&pipe_only, nullptr, &zero) < 0 && errno == EINTR) {
      }
    }
    ::pthread_sigmask(SIG_UNBLOCK, &pipe_only, nullptr);
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;
  void saw_epipe() noexcept { epipe_ = true; }

 private:
  bool blocked_here_ = false;
  bool epipe_ = false;
};

// Writes as much of [p, p + len) as the pipe takes now, without parking. Returns the
// bytes written; sets `err` to the errno of a failure (EAGAIN when the pipe is full).
std::size_t write_now(int fd, const char* p, std::size_t len, bool all, int& err) {
  err = 0;
  SigpipeBlock block;
  std::size_t done = 0;
  do {
    const ssize_t n = ::write(fd, p + done, len - done);
    if (n >= 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    err = errno;
    if (err == EPIPE) block.saw_epipe();
    break;
  } while (all && done < len);
  return done;
}

std::size_t read_some(PipeState* s, void* buf, std::size_t len, const Deadline& dl, std::error_code& ec,
                      const char* op) {
  for (;;) {
    const ssize_t n = ::read(s->fd, buf, len);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    if (!would_block(errno)) return ec = errno_code(errno), 0;
    if ((ec = s->rd.wait(*s->hub, dl.left(), op, "pipe read"))) return 0;
  }
}

}  // namespace

PipeStream::PipeStream() noexcept = default;
PipeStream::PipeStream(std::unique_ptr<PipeState> s) noexcept : s_(std::move(s)) {}

PipeStream PipeStream::adopt(int fd) {
  const int fl = ::fcntl(fd, F_GETFL);
  if (fl < 0 || ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
    throw std::system_error(errno, std::system_category(), "grove::net::PipeStream::adopt: fcntl");
  }
  return PipeStream(std::make_unique<PipeState>(fd));
}

std::pair<PipeStream, PipeStream> PipeStream::pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) {
    throw std::system_error(errno, std::system_category(), "grove::net::PipeStream::pipe: pipe2");
  }
  std::unique_ptr<PipeState> r, w;
  try {
    r = std::make_unique<PipeState>(fds[0]);
  } catch (...) {
    ::close(fds[0]);
    ::close(fds[1]);
    throw;
  }
  try {
    w = std::make_unique<PipeState>(fds[1]);
  } catch (...) {
    ::close(fds[1]);
    throw;
  }
  return {PipeStream(std::move(r)), PipeStream(std::move(w))};
}

PipeStream::~PipeStream() { close(); }
PipeStream::PipeStream(PipeStream&& o) noexcept : s_(std::move(o.s_)) {}
PipeStream& PipeStream::operator=(PipeStream&& o) noexcept {
  if (this != &o) {
    close();
    s_ = std::move(o.s_);
  }
  return *this;
}

bool PipeStream::is_open() const noexcept { return s_ && s_->fd >= 0; }
int PipeStream::fd() const noexcept { return s_ ? s_->fd : -1; }

int PipeStream::release() {
  if (!s_ || s_->fd < 0) return -1;
  if (detail::Hub::current() != s_->hub) refuse_foreign_thread(s_.get(), "grove::net::PipeStream::release");
  if (s_->rd.waiter || s_->wr.waiter) {
    throw UsageError("grove::net::PipeStream::release: a green thread is parked on the pipe");
  }
  detail::Hub& hub = *s_->hub;
  if (ev_is_active(&s_->rd.io)) ev_io_stop(hub.loop(), &s_->rd.io);
  if (ev_is_active(&s_->wr.io)) ev_io_stop(hub.loop(), &s_->wr.io);
  const int fd = s_->fd;
  s_.reset();
  return fd;
}

void PipeStream::close() noexcept {
  if (!s_) return;
  if (!s_->close()) {
    try {
      grove::logger().error("grove::net::PipeStream::close (fd {}): called on another OS thread than the "
                            "pipe's; the fd is left open and its state leaked",
                            s_->fd);
    } catch (...) {
    }
    [[maybe_unused]] PipeState* leaked = s_.release();  // rather than freed under its hub's feet
#if defined(__SANITIZE_ADDRESS__)
    __lsan_ignore_object(leaked);
#endif
    return;
  }
  s_.reset();
}

void PipeStream::settimeout(std::optional<Duration> timeout) noexcept {
  if (s_) s_->timeout = timeout ? detail::timeout_seconds(*timeout) : -1;
}

std::optional<Duration> PipeStream::gettimeout() const noexcept {
  if (!s_ || s_->timeout < 0) return std::nullopt;
  return grove::seconds(s_->timeout);
}

std::size_t PipeStream::recv_into(void* buf, std::size_t len, std::error_code& ec) {
  ec.clear();
  PipeState* s = enter(s_.get(), "grove::net::PipeStream::recv", ec);
  if (!s) return 0;
  return read_some(s, buf, len, Deadline(s->timeout), ec, "grove::net::PipeStream::recv");
}

std::size_t PipeStream::recv_into(void* buf, std::size_t len) {
  const PipeState* s = s_.get();
  std::error_code ec;
  const std::size_t n = recv_into(buf, len, ec);
  if (ec) throw std::system_error(ec, describe(s, "recv", ec));
  return n;
}

std::string PipeStream::recv(std::size_t max, std::error_code& ec) { return detail::recv_string(*this, max, ec); }

std::string PipeStream::recv(std::size_t max) { return detail::recv_string(*this, max); }

std::size_t PipeStream::recv_exactly(void* buf, std::size_t len, std::error_code& ec) {
  ec.clear();
  PipeState* s = enter(s_.get(), "grove::net::PipeStream::recv_exactly", ec);
  if (!s) return 0;
  const Deadline dl(s->timeout);
  return detail::read_exactly(buf, len, ec, [&](char* p, std::size_t n) {
    return read_some(s, p, n, dl, ec, "grove::net::PipeStream::recv_exactly");
  });
}

std::size_t PipeStream::recv_exactly(void* buf, std::size_t len) {
  const PipeState* s = s_.get();
  std::error_code ec;
  const std::size_t n = recv_exactly(buf, len, ec);
  if (ec) throw std::system_error(ec, describe(s, "recv_exactly", ec));
  return n;
}

void PipeStream::recv_all(std::string& out, std::error_code& ec) {
  ec.clear();
  PipeState* s = enter(s_.get(), "grove::net::PipeStream::recv_all", ec);
  if (!s) return;
  const Deadline dl(s->timeout);
  constexpr std::size_t kChunk = 64 * 1024;
  for (;;) {
    const std::size_t old = out.size();
    out.resize(old + kChunk);
    std::size_t n = 0;
    try {
      n = read_some(s, out.data() + old, kChunk, dl, ec, "grove::net::PipeStream::recv_all");
    } catch (...) {
      out.resize(old);
      throw;
    }
    out.resize(old + n);
    if (ec || n == 0) return;
  }
}

std::string PipeStream::recv_all() {
  const PipeState* s = s_.get();
  std::string out;
  std::error_code ec;
  recv_all(out, ec);
  if (ec) throw std::system_error(ec, describe(s, "recv_all", ec));
  return out;
}

std::size_t PipeStream::send(const void* data, std::size_t len, std::error_code& ec) {
  ec.clear();
  PipeState* s = enter(s_.get(), "grove::net::PipeStream::send", ec);
  if (!s) return 0;
  const Deadline dl(s->timeout);
  for (;;) {
    int err = 0;
    const std::size_t n = write_now(s->fd, static_cast<const char*>(data), len, /*all=*/false, err);
    if (err == 0 || n > 0) return n;
    if (!would_block(err)) return ec = errno_code(err), 0;
    if ((ec = s->wr.wait(*s->hub, dl.left(), "grove::net::PipeStream::send", "pipe write"))) return 0;
  }
}

std::size_t PipeStream::send(const void* data, std::size_t len) {
  const PipeState* s = s_.get();
  std::error_code ec;
  const std::size_t n = send(data, len, ec);
  if (ec) throw std::system_error(ec, describe(s, "send", ec));
  return n;
}

std::size_t PipeStream::sendall(const void* data, std::size_t len, std::error_code& ec) {
  ec.clear();
  PipeState* s = enter(s_.get(), "grove::net::PipeStream::sendall", ec);
  if (!s) return 0;
  const Deadline dl(s->timeout);
  const char* p = static_cast<const char*>(data);
  std::size_t sent = 0;
  while (sent < len) {
    int err = 0;
    sent += write_now(s->fd, p + sent, len - sent, /*all=*/true, err);
    if (err == 0) continue;
    if (!would_block(err)) return ec = errno_code(err), sent;
    if ((ec = s->wr.wait(*s->hub, dl.left(), "grove::net::PipeStream::sendall", "pipe write"))) return sent;
  }
  return sent;
}

void PipeStream::sendall(const void* data, std::size_t len) {
  const PipeState* s = s_.get();
  std::error_code ec;
  const std::size_t n = sendall(data, len, ec);
  if (ec) {
    throw SendallError(ec, describe(s, "sendall", ec) + " after " + std::to_string(n) + " of " +
                               std::to_string(len) + " bytes",
                       n);
  }
}

}  // namespace grove::net
