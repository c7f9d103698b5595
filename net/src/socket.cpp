// socket.cpp: creating, configuring and closing sockets (the I/O calls are in
// socket_io.cpp).
#include <grove/net/socket.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

#include <grove/errors.hpp>
#include <grove/log.hpp>

#include "address_in_use.hpp"
#include "socket_state.hpp"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

namespace grove::net {

namespace detail {

namespace {

// This OS thread's kernel id, read once per thread (sockets are made on the accept
// path). In the child of a fork() it keeps the parent thread's id: it only names
// threads in messages.
int this_thread_tid() noexcept {
  static thread_local int tid __attribute__((tls_model("initial-exec"))) = 0;
  if (tid == 0) tid = static_cast<int>(::syscall(SYS_gettid));
  return tid;
}

// "OS thread 1234 ('worker')", "OS thread 1234 ('app', the main thread)", or
// "OS thread 1234 (exited)".
std::string describe_thread(int tid) {
  std::string out = "OS thread " + std::to_string(tid) + " (";
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%d/comm", tid);
  std::string name;
  if (std::FILE* f = std::fopen(path, "r")) {
    char buf[32] = {};
    if (std::fgets(buf, sizeof buf, f)) name = buf;
    std::fclose(f);
    while (!name.empty() && name.back() == '\n') name.pop_back();
    out.append("'").append(name).append("'");
  } else {
    out.append("exited");
  }
  if (tid == ::getpid()) out.append(", the main thread");
  return out + ")";
}

}  // namespace

SocketState::SocketState(int f, Family fam, SocketType t) : family(fam), type(t) {
  set_fd(f);
  hub = &Hub::get();
  owner = std::this_thread::get_id();
  owner_tid = this_thread_tid();
  rd.init(fd, EV_READ, /*keep=*/true);
  wr.init(fd, EV_WRITE, /*keep=*/false);
  polled.rd = &rd;
  polled.wr = &wr;
  polled.fd = fd;
  rd.polled = &polled;
  wr.polled = &polled;
}

bool SocketState::close() noexcept {
  if (fd < 0) return true;
  if (Hub::current() == hub) {
    rd.cancel(*hub);
    wr.cancel(*hub);
    hub->poll_remove(polled);
  } else if (std::this_thread::get_id() != owner) {
    return false;
  }
  // Else the socket outlived its hub on the hub's own thread (a static object
  // destroyed after the thread's hub): no loop is left, and nobody can be parked.
  ::close(fd);
  set_fd(-1);
  return true;
}

void SocketState::operator delete(SocketState* s, std::destroying_delete_t) noexcept {
  grove::detail::GreenThreadState* home = s->home;
  s->~SocketState();
  if (home) {
    grove::detail::drop_ref(home);
  } else {
    ::operator delete(s);
  }
}

std::string describe_op(const SocketState* s, const char* op, const std::error_code& ec) {
  std::string out = "grove::net::Socket::";
  out += op;
  if (closed_while_parked(ec)) return out + " (closed while waiting)";  // `s` may be freed
  if (s && !s->peer.empty()) out.append(" (peer ").append(s->peer.to_string()).append(")");
  return out;
}

void throw_op(const SocketState* s, const char* op, std::error_code ec) {
  throw std::system_error(ec, describe_op(s, op, ec));
}

void refuse_foreign_thread(const SocketState* s, const char* op) {
  std::string msg(op);
  msg.append(" (fd ").append(std::to_string(s->fd)).append(")");
  if (std::this_thread::get_id() == s->owner) {
    // The right OS thread, but its hub is not the socket's any more (a static socket
    // used after the thread's hub was destroyed at exit).
    msg.append(": the socket outlived the hub of its OS thread, which created it; it cannot wait any more");
    throw UsageError(msg);
  }
  msg.append(": used from another OS thread: called on ").append(describe_thread(this_thread_tid()));
  msg.append(", but the socket belongs to the hub of ").append(describe_thread(s->owner_tid));
  msg.append(", which created it. A socket serves the green threads of one OS thread: create (or accept) it "
             "on the thread that uses it");
  throw UsageError(msg);
}

}  // namespace detail

using detail::SocketState;

namespace {

int domain_of(Family f) {
  switch (f) {
    case Family::kIPv4: return AF_INET;
    case Family::kIPv6: return AF_INET6;
    case Family::kUnix: return AF_UNIX;
    default: throw std::invalid_argument("grove::net::Socket: unspecified address family");
  }
}

Family family_of(int domain) {
  switch (domain) {
    case AF_INET: return Family::kIPv4;
    case AF_INET6: return Family::kIPv6;
    case AF_UNIX: return Family::kUnix;
    default: return Family::kUnspecified;
  }
}

std::error_code ebadf() { return std::error_code(EBADF, std::system_category()); }

}  // namespace

Socket::Socket() noexcept = default;
Socket::Socket(std::unique_ptr<SocketState> s) noexcept : s_(std::move(s)) {}

Socket::Socket(Family family, SocketType type) {
  const int st = type == SocketType::kStream ? SOCK_STREAM : SOCK_DGRAM;
  const int fd = ::socket(domain_of(family), st | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::system_error(errno, std::system_category(), "grove::net::Socket: socket");
  try {
    s_ = std::make_unique<SocketState>(fd, family, type);
  } catch (...) {
    ::close(fd);
    throw;
  }
}

Socket Socket::adopt(int fd) {
  const int fl = ::fcntl(fd, F_GETFL);
  if (fl < 0 || ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
    throw std::system_error(errno, std::system_category(), "grove::net::Socket::adopt: fcntl");
  }
  int domain = AF_UNSPEC, type = SOCK_STREAM;
  socklen_t len = sizeof domain;
  ::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len);
  len = sizeof type;
  ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len);
  return Socket(std::make_unique<SocketState>(
      fd, family_of(domain), type == SOCK_DGRAM ? SocketType::kDatagram : SocketType::kStream));
}

std::pair<Socket, Socket> Socket::pair(SocketType type) {
  int fds[2];
  const int st = type == SocketType::kStream ? SOCK_STREAM : SOCK_DGRAM;
  if (::socketpair(AF_UNIX, st | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) < 0) {
    throw std::system_error(errno, std::system_category(), "grove::net::Socket::pair: socketpair");
  }
  std::unique_ptr<SocketState> a, b;
  try {
    a = std::make_unique<SocketState>(fds[0], Family::kUnix, type);
  } catch (...) {
    ::close(fds[0]);
    ::close(fds[1]);
    throw;
  }
  try {
    b = std::make_unique<SocketState>(fds[1], Family::kUnix, type);
  } catch (...) {
    ::close(fds[1]);
    throw;
  }
  return {Socket(std::move(a)), Socket(std::move(b))};
}

Socket::~Socket() { close(); }
Socket::Socket(Socket&& o) noexcept : s_(std::move(o.s_)) {}
Socket& Socket::operator=(Socket&& o) noexcept {
  if (this != &o) {
    close();
    s_ = std::move(o.s_);
  }
  return *this;
}

bool Socket::is_open() const noexcept { return s_ && s_->fd >= 0; }
int Socket::fd() const noexcept { return s_ ? s_->fd : -1; }
Family Socket::family() const noexcept { return s_ ? s_->family : Family::kUnspecified; }
SocketType Socket::type() const noexcept { return s_ ? s_->type : SocketType::kStream; }

int Socket::release() {
  if (!s_) return -1;
  SocketState* s = s_.get();
  const bool on_its_hub = detail::Hub::current() == s->hub;
  if (s->fd >= 0 && !on_its_hub && std::this_thread::get_id() != s->owner) {
    detail::refuse_foreign_thread(s, "grove::net::Socket::release");  // its watcher is the hub's
  }
  if (s->rd.waiter || s->wr.waiter) {
    throw UsageError("grove::net::Socket::release: a green thread is parked on this socket");
  }
  const int fd = s->fd;
  // Off its hub on its own thread, the hub (and the loop the watcher was in) is gone.
  if (on_its_hub && ev_is_active(&s->rd.io)) ev_io_stop(s->hub->loop(), &s->rd.io);
  if (on_its_hub) s->hub->poll_remove(s->polled);
  s->set_fd(-1);
  s_.reset();
  return fd;
}

void Socket::settimeout(std::optional<Duration> timeout) noexcept {
  if (!s_) return;
  s_->set_timeout(timeout ? detail::timeout_seconds(*timeout) : -1);
}

std::optional<Duration> Socket::gettimeout() const noexcept {
  if (!s_ || s_->timeout < 0) return std::nullopt;
  return grove::seconds(s_->timeout);
}

void Socket::close() noexcept {
  if (s_ && !s_->close()) {
    // A usage error that close() (noexcept, and run by destructors) cannot throw: the
    // socket is left open and its state leaked, so the hub's watchers stay valid.
    try {
      grove::logger().error("grove::net::Socket: closed on an OS thread other than its hub's (fd {}); a socket "
                            "belongs to the thread that created it, so it is left open and leaked",
                            s_->fd);
    } catch (...) {
    }
    [[maybe_unused]] SocketState* leaked = s_.release();
#if defined(__SANITIZE_ADDRESS__)
    __lsan_ignore_object(leaked);  // leaked on purpose, reported above
#endif
  }
}

void Socket::bind(const Address& addr, std::error_code& ec) {
  ec.clear();
  if (!is_open()) return void(ec = ebadf());
  if (::bind(s_->fd, addr.data(), addr.size()) < 0) ec = detail::errno_code(errno);
}
void Socket::bind(const Address& addr) {
  std::error_code ec;
  bind(addr, ec);
  if (ec) {
    throw std::system_error(ec, "grove::net::Socket::bind (" + addr.to_string() + ")" +
                                    detail::explain_address_in_use(addr, type(), ec));
  }
}

void Socket::listen(int backlog, std::error_code& ec) {
  ec.clear();
  if (!is_open()) return void(ec = ebadf());
  if (::listen(s_->fd, backlog) < 0) ec = detail::errno_code(errno);
}
void Socket::listen(int backlog) {
  std::error_code ec;
  listen(backlog, ec);
  if (ec) detail::throw_op(s_.get(), "listen", ec);
}

void Socket::shutdown(ShutdownHow how, std::error_code& ec) {
  ec.clear();
  if (!is_open()) return void(ec = ebadf());
  const int h = how == ShutdownHow::kRead ? SHUT_RD : how == ShutdownHow::kWrite ? SHUT_WR : SHUT_RDWR;
  if (::shutdown(s_->fd, h) < 0) ec = detail::errno_code(errno);
}
void Socket::shutdown(ShutdownHow how) {
  std::error_code ec;
  shutdown(how, ec);
  if (ec) detail::throw_op(s_.get(), "shutdown", ec);
}

void Socket::set_option(int level, int name, int value, std::error_code& ec) {
  ec.clear();
  if (!is_open()) return void(ec = ebadf());
  if (::setsockopt(s_->fd, level, name, &value, sizeof value) < 0) ec = detail::errno_code(errno);
}
void Socket::set_option(int level, int name, int value) {
  std::error_code ec;
  set_option(level, name, value, ec);
  if (ec) detail::throw_op(s_.get(), "set_option", ec);
}

int Socket::get_option(int level, int name, std::error_code& ec) const {
  ec.clear();
  if (!is_open()) return ec = ebadf(), 0;
  int value = 0;
  socklen_t len = sizeof value;
  if (::getsockopt(s_->fd, level, name, &value, &len) < 0) ec = detail::errno_code(errno);
  return value;
}
int Socket::get_option(int level, int name) const {
  std::error_code ec;
  const int v = get_option(level, name, ec);
  if (ec) detail::throw_op(s_.get(), "get_option", ec);
  return v;
}

void Socket::set_nodelay(bool on, std::error_code& ec) { set_option(IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0, ec); }

void Socket::set_nodelay(bool on) { set_option(IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0); }

Address Socket::local_address(std::error_code& ec) const {
  ec.clear();
  Address a;
  if (!is_open()) return ec = ebadf(), a;
  socklen_t len = Address::capacity();
  if (::getsockname(s_->fd, a.data(), &len) < 0) return ec = detail::errno_code(errno), a;
  a.set_size(len);
  return a;
}
Address Socket::local_address() const {
  std::error_code ec;
  Address a = local_address(ec);
  if (ec) detail::throw_op(s_.get(), "local_address", ec);
  return a;
}

Address Socket::peer_address(std::error_code& ec) const {
  ec.clear();
  Address a;
  if (!is_open()) return ec = ebadf(), a;
  socklen_t len = Address::capacity();
  if (::getpeername(s_->fd, a.data(), &len) < 0) return ec = detail::errno_code(errno), a;
  a.set_size(len);
  return a;
}
Address Socket::peer_address() const {
  std::error_code ec;
  Address a = peer_address(ec);
  if (ec) detail::throw_op(s_.get(), "peer_address", ec);
  return a;
}

}  // namespace grove::net
