// grove/net/socket.hpp: a cooperative socket.
//
//   grove::net::Socket s = grove::net::Socket::tcp();
//   s.connect(grove::net::Address::parse("127.0.0.1:7000"), 2s);
//   s.sendall("hello\n");
//   char buf[4096];
//   std::size_t n = s.recv_into(buf, sizeof buf);   // 0 means end of file
//
// Blocking-style calls that park only the calling green thread: each one tries the
// system call first and, only if it would block (EAGAIN), parks until the fd is
// ready, the socket's timeout (settimeout) or a grove::Timeout expires, or the
// socket is closed.
//
// Errors come as a pair, as in Asio: the overload taking `std::error_code& ec` sets
// it (errno in std::system_category; a timeout is std::errc::timed_out; a close by
// another green thread while parked is ECANCELED); the other overload throws
// std::system_error whose what() names the operation and the peer. Neither is
// noexcept: a kill still unwinds the caller with grove::GreenletExit, and an expiring
// grove::Timeout with grove::TimeoutError. End of file is a 0-byte read, not an error.
// Writes use MSG_NOSIGNAL: a vanished peer is EPIPE / ECONNRESET, never SIGPIPE.
//
// A socket belongs to the OS thread that created it (accept() creates the new one
// on its caller's thread). Every call that may park (connect, accept, the recv and
// send families, and release(), which touches the hub) may be made from any green
// thread of that OS thread, not from the hub; from another OS thread it throws
// grove::UsageError naming both threads, in the error_code overloads too (a misuse,
// not an I/O error), before touching the fd, whether or not the call would have had
// to wait. The calls that never park (bind, listen, shutdown, the options and
// addresses, settimeout) only make their system call or set a field: they work from
// any OS thread while no other thread uses the socket. close() and the destructor:
// see close(). At most one green thread may wait to read and one to write at a time;
// a second one is a grove::UsageError.
//
// A Socket is move-only. Moving it while a green thread is parked in it is fine, even
// when the old storage is freed at once (a std::vector<Socket> that grows): the parked
// call goes on in the moved-to socket, gets what arrives there, and times out or is
// cancelled as that one is. Destroying a socket while a green thread is parked in it
// closes it: the parked call returns ECANCELED (the throwing overloads' message then
// says "closed while waiting" and no longer names the peer).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <grove/duration.hpp>
#include <grove/export.hpp>
#include <grove/net/address.hpp>

namespace grove::net {

// Stream (TCP, Unix stream) or datagram (UDP, Unix datagram).
enum class SocketType : std::uint8_t { kStream, kDatagram };
// Which direction Socket::shutdown() ends: SHUT_RD, SHUT_WR or SHUT_RDWR.
enum class ShutdownHow : std::uint8_t { kRead, kWrite, kBoth };

namespace detail {
struct SocketState;
struct SocketAccess;  // net/src: TlsStream parks on the socket's own watchers
}

class Socket;

// What accept() returns: the connected socket and the peer's address.
struct Accepted;

// std::system_error thrown by the throwing sendall(): also says how many bytes went
// out before the error or timeout.
class GROVE_API SendallError : public std::system_error {
 public:
  // `ec` and `what` as for std::system_error; `sent` bytes went out before the error.
  SendallError(std::error_code ec, const std::string& what, std::size_t sent)
      : std::system_error(ec, what), bytes_sent_(sent) {}
  // How many bytes went out before the error or timeout.
  std::size_t bytes_sent() const noexcept { return bytes_sent_; }

 private:
  std::size_t bytes_sent_;
};

// A cooperative socket that owns its fd (see the comment at the top of
// grove/net/socket.hpp for how calls park, the error_code / throwing pairs, and who
// may wait on it). Move-only.
class GROVE_API Socket {
 public:
  // A closed socket (is_open() is false). Every operation on it is EBADF.
  Socket() noexcept;
  // A new non-blocking, close-on-exec socket. Throws std::system_error ("socket"),
  // or std::invalid_argument for Family::kUnspecified.
  Socket(Family family, SocketType type);
  // Takes ownership of `fd` (any socket) and makes it non-blocking. Throws
  // std::system_error if fcntl fails (the fd is then not owned).
  static Socket adopt(int fd);
  // A new TCP socket: Socket(family, SocketType::kStream).
  static Socket tcp(Family family = Family::kIPv4) { return Socket(family, SocketType::kStream); }
  // A new UDP socket: Socket(family, SocketType::kDatagram).
  static Socket udp(Family family = Family::kIPv4) { return Socket(family, SocketType::kDatagram); }
  // A connected pair (socketpair(2)); Unix family only, stream or datagram. Throws
  // std::system_error if socketpair fails.
  static std::pair<Socket, Socket> pair(SocketType type = SocketType::kStream);

  // Closes the fd (see close()).
  ~Socket();
  // Takes over `other`'s fd; `other` is left closed. A green thread parked in
  // `other` stays parked, now in this socket (`other` may then be destroyed).
  Socket(Socket&& other) noexcept;
  // Closes this socket (see close()), then takes over `other`'s fd.
  Socket& operator=(Socket&& other) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  // True while it owns an open fd.
  bool is_open() const noexcept;
  // The fd, or -1 when closed.
  int fd() const noexcept;
  // The family it was created with (kUnspecified for a default-constructed or
  // released socket, or an adopted one of another family).
  Family family() const noexcept;
  // Stream or datagram (kStream for a default-constructed or released socket).
  SocketType type() const noexcept;
  // Gives up ownership: returns the fd (still non-blocking) and leaves this closed.
  // UsageError if a green thread is parked on it, or from another OS thread.
  int release();

  // The default timeout of every parking call on this socket, like gevent's
  // settimeout: nullopt waits forever (the default); zero makes calls non-blocking
  // (EAGAIN is reported as std::errc::resource_unavailable_try_again); otherwise a
  // call that waits longer fails with std::errc::timed_out. A multi-step call
  // (sendall, recv_exactly, connect) gets it once, for the whole call. A negative
  // timeout is already expired (a call that would park fails with timed_out at once;
  // gettimeout() then reports 1 ns); one longer than ~31 years is cut to that.
  void settimeout(std::optional<Duration> timeout) noexcept;
  // The timeout set by settimeout() (nullopt: none).
  std::optional<Duration> gettimeout() const noexcept;

  // Closes the fd. Every green thread parked on this socket wakes with ECANCELED
  // ("Operation canceled"); later calls fail with EBADF. Stops the socket's watchers
  // first, so a reused fd number never wakes anyone. Does not park. Idempotent.
  // A socket belongs to the OS thread whose hub it was created on: closing (or
  // destroying) it on another OS thread is a usage error that close() (noexcept, and
  // run by the destructor) cannot throw: it is logged, and the fd is left open and the
  // socket's state leaked rather than freed under the hub's feet (a green thread
  // parked in it stays parked). Close a socket on its own thread, or release() the
  // fd there and hand the number over.
  void close() noexcept;

  // --- setting up ---
  // Binds to `addr` (bind(2)). Never parks. errno errors (EADDRINUSE, EACCES, ...).
  void bind(const Address& addr, std::error_code& ec);
  // Throwing form of bind(): std::system_error naming the address.
  void bind(const Address& addr);
  // Starts listening (listen(2)) with room for `backlog` pending connections. Never
  // parks. errno errors.
  void listen(int backlog, std::error_code& ec);
  // Throwing form of listen().
  void listen(int backlog = 128);
  // Connects, parking until done or until `timeout` (nullopt: the socket's timeout).
  // Errors: errno (ECONNREFUSED, ENETUNREACH, ...), std::errc::timed_out, ECANCELED
  // if closed meanwhile; a zero timeout gives EINPROGRESS without parking (the
  // connect goes on). A Unix-domain listener whose queue is full gives EAGAIN at once
  // (as in Go; nothing would signal room). After a timeout, error or kill the socket
  // should be closed.
  void connect(const Address& addr, std::optional<Duration> timeout, std::error_code& ec);
  // Throwing form of connect(): std::system_error naming the address.
  void connect(const Address& addr, std::optional<Duration> timeout = std::nullopt);
  // Parks until a connection arrives (the socket's timeout applies). The new socket
  // is non-blocking and inherits nothing but the family and type (its timeout is
  // nullopt). ECONNABORTED is retried. Errors: errno (EMFILE, ...), timed_out,
  // ECANCELED if closed while parked; after an error, timeout or kill nothing was
  // accepted.
  Accepted accept(std::error_code& ec);
  // Throwing form of accept(): std::system_error naming the listening address.
  Accepted accept();
  // shutdown(2): ends reading, writing (the peer then reads end of file) or both;
  // the fd stays open. Never parks. errno errors (ENOTCONN, ...).
  void shutdown(ShutdownHow how, std::error_code& ec);
  // Throwing form of shutdown().
  void shutdown(ShutdownHow how);

  // --- reading (0 bytes means end of file on stream sockets) ---
  // Up to `len` bytes into `buf`; parks while there is nothing to read (the socket's
  // timeout applies). Returns 0 at end of file on a stream socket. Errors: errno
  // (ECONNRESET, ...), timed_out, ECANCELED if closed while parked; after an error,
  // timeout or kill nothing was read.
  std::size_t recv_into(void* buf, std::size_t len, std::error_code& ec);
  // Throwing form of recv_into(): std::system_error naming recv and the peer.
  std::size_t recv_into(void* buf, std::size_t len);
  // Up to `max` bytes as a string ("" at end of file); otherwise as recv_into().
  std::string recv(std::size_t max, std::error_code& ec);
  // Throwing form of recv().
  std::string recv(std::size_t max);
  // Exactly `len` bytes unless end of file comes first: returns how many were read
  // (fewer than `len` only at end of file). On an error or timeout, ec is set and
  // the return value says how many bytes were stored in `buf` before it. The
  // socket's timeout applies once, to the whole call.
  std::size_t recv_exactly(void* buf, std::size_t len, std::error_code& ec);
  // Throwing form of recv_exactly(); on an error the bytes already stored in `buf`
  // are not counted anywhere (use the error_code form when that matters).
  std::size_t recv_exactly(void* buf, std::size_t len);
  // One datagram (cut to `len` bytes if longer) or, on a stream socket, up to `len`
  // bytes, and the sender's address in `from`. Parks and fails as recv_into().
  std::size_t recvfrom(void* buf, std::size_t len, Address& from, std::error_code& ec);
  // Throwing form of recvfrom().
  std::size_t recvfrom(void* buf, std::size_t len, Address& from);

  // --- writing ---
  // Some of `data` (at least one byte unless len is 0); returns how many went out.
  // Parks while the send buffer is full (the socket's timeout applies). Errors:
  // errno (EPIPE / ECONNRESET for a vanished peer, ...), timed_out, ECANCELED if
  // closed while parked; after an error, timeout or kill nothing was sent.
  std::size_t send(const void* data, std::size_t len, std::error_code& ec);
  // Throwing form of send(): std::system_error naming send and the peer.
  std::size_t send(const void* data, std::size_t len);
  // Throwing send() of a string.
  std::size_t send(std::string_view data) { return send(data.data(), data.size()); }
  // All of `data`. Returns the bytes sent: `len` on success; on an error or timeout
  // ec is set and the return value says how many bytes went out before it. The
  // throwing overload throws SendallError, which carries that count. The socket's
  // timeout applies once, to the whole call. After a kill part of `data` may have
  // gone out and the count is lost: close the socket.
  std::size_t sendall(const void* data, std::size_t len, std::error_code& ec);
  // Throwing form of sendall(): SendallError (a std::system_error) with the count.
  void sendall(const void* data, std::size_t len);
  // Throwing sendall() of a string.
  void sendall(std::string_view data) { sendall(data.data(), data.size()); }
  // One datagram to `to`; returns the bytes sent. Parks and fails as send().
  std::size_t sendto(const void* data, std::size_t len, const Address& to, std::error_code& ec);
  // Throwing form of sendto(): std::system_error naming the address.
  std::size_t sendto(const void* data, std::size_t len, const Address& to);

  // --- options and names (never park) ---
  // setsockopt(2) with an int value. Never parks. errno errors; EBADF when closed.
  void set_option(int level, int name, int value, std::error_code& ec);
  // Throwing form of set_option().
  void set_option(int level, int name, int value);
  // getsockopt(2) of an int value. Never parks. errno errors; EBADF when closed.
  int get_option(int level, int name, std::error_code& ec) const;
  // Throwing form of get_option().
  int get_option(int level, int name) const;
  // SO_REUSEADDR on or off. Never parks. errno errors; EBADF when closed.
  void set_reuse_address(bool on, std::error_code& ec) { set_option(SOL_SOCKET, SO_REUSEADDR, on ? 1 : 0, ec); }
  // Throwing form of set_reuse_address().
  void set_reuse_address(bool on) { set_option(SOL_SOCKET, SO_REUSEADDR, on ? 1 : 0); }
  // SO_REUSEPORT on or off. Never parks. errno errors; EBADF when closed.
  void set_reuse_port(bool on, std::error_code& ec) { set_option(SOL_SOCKET, SO_REUSEPORT, on ? 1 : 0, ec); }
  // Throwing form of set_reuse_port().
  void set_reuse_port(bool on) { set_option(SOL_SOCKET, SO_REUSEPORT, on ? 1 : 0); }
  // TCP_NODELAY on or off. Never parks. errno errors (a non-TCP socket gets what
  // setsockopt(2) reports: ENOPROTOOPT for UDP, EOPNOTSUPP for Unix); EBADF when closed.
  void set_nodelay(bool on, std::error_code& ec);
  // Throwing form of set_nodelay().
  void set_nodelay(bool on);
  // The bound address (getsockname(2)); after binding port 0 it has the real port.
  // Never parks. errno errors; EBADF when closed.
  Address local_address(std::error_code& ec) const;
  // Throwing form of local_address().
  Address local_address() const;
  // The connected peer's address (getpeername(2)). Never parks. errno errors
  // (ENOTCONN if not connected); EBADF when closed.
  Address peer_address(std::error_code& ec) const;
  // Throwing form of peer_address().
  Address peer_address() const;

 private:
  friend struct detail::SocketAccess;
  explicit Socket(std::unique_ptr<detail::SocketState> s) noexcept;
  std::unique_ptr<detail::SocketState> s_;
};

// What accept() returns: the connected socket and the peer's address.
struct Accepted {
  // The connected socket (non-blocking, no timeout); closed after an error.
  Socket socket;
  // The peer's address.
  Address peer;
};

// Parks until `fd` (any non-blocking fd this OS thread uses, owned by anyone) is
// readable / writable, or `timeout` passes (std::errc::timed_out). Creates a libev
// watcher for this one wait; a Socket keeps its own instead. GreenletExit /
// TimeoutError unwind as from any parking call. Not from the hub (UsageError).
// A zero timeout still waits for one poll of the hub. The fd itself is untouched
// after a timeout or kill.
GROVE_API void wait_readable(int fd, std::optional<Duration> timeout, std::error_code& ec);
// Throwing form of wait_readable(): std::system_error naming the fd.
GROVE_API void wait_readable(int fd, std::optional<Duration> timeout = std::nullopt);
// As wait_readable(), until `fd` is writable.
GROVE_API void wait_writable(int fd, std::optional<Duration> timeout, std::error_code& ec);
// Throwing form of wait_writable(): std::system_error naming the fd.
GROVE_API void wait_writable(int fd, std::optional<Duration> timeout = std::nullopt);

}  // namespace grove::net
