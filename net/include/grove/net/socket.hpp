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
// Every parking call may be made from any green thread of the OS thread that
// created the socket, not from the hub (grove::UsageError). At most one green thread
// may wait to read and one to write at a time; a second one is a grove::UsageError.
// A Socket is move-only; moving it while a green thread is parked in it is fine.
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

enum class SocketType : std::uint8_t { kStream, kDatagram };
enum class ShutdownHow : std::uint8_t { kRead, kWrite, kBoth };

namespace detail {
struct SocketState;
}

class Socket;

// What accept() returns: the connected socket and the peer's address.
struct Accepted;

// std::system_error thrown by the throwing sendall(): also says how many bytes went
// out before the error or timeout.
class GROVE_API SendallError : public std::system_error {
 public:
  SendallError(std::error_code ec, const std::string& what, std::size_t sent)
      : std::system_error(ec, what), bytes_sent_(sent) {}
  std::size_t bytes_sent() const noexcept { return bytes_sent_; }

 private:
  std::size_t bytes_sent_;
};

class GROVE_API Socket {
 public:
  // A closed socket (is_open() is false). Every operation on it is EBADF.
  Socket() noexcept;
  // A new non-blocking, close-on-exec socket. Throws std::system_error ("socket").
  Socket(Family family, SocketType type);
  // Takes ownership of `fd` (any socket) and makes it non-blocking. Throws
  // std::system_error if fcntl fails (the fd is then not owned).
  static Socket adopt(int fd);
  static Socket tcp(Family family = Family::kIPv4) { return Socket(family, SocketType::kStream); }
  static Socket udp(Family family = Family::kIPv4) { return Socket(family, SocketType::kDatagram); }
  // A connected pair (socketpair(2)); Unix family only, stream or datagram.
  static std::pair<Socket, Socket> pair(SocketType type = SocketType::kStream);

  // Closes the fd (see close()).
  ~Socket();
  Socket(Socket&& other) noexcept;
  Socket& operator=(Socket&& other) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  bool is_open() const noexcept;
  int fd() const noexcept;            // -1 when closed
  Family family() const noexcept;
  SocketType type() const noexcept;
  // Gives up ownership: returns the fd (still non-blocking) and leaves this closed.
  // UsageError if a green thread is parked on it.
  int release();

  // The default timeout of every parking call on this socket, like gevent's
  // settimeout: nullopt waits forever (the default); zero makes calls non-blocking
  // (EAGAIN is reported as std::errc::resource_unavailable_try_again); otherwise a
  // call that waits longer fails with std::errc::timed_out. A multi-step call
  // (sendall, recv_exactly, connect) gets it once, for the whole call.
  void settimeout(std::optional<Duration> timeout) noexcept;
  std::optional<Duration> gettimeout() const noexcept;

  // Closes the fd. Every green thread parked on this socket wakes with ECANCELED
  // ("Operation canceled"); later calls fail with EBADF. Stops the socket's watchers
  // first, so a reused fd number never wakes anyone. Does not park. Idempotent.
  void close() noexcept;

  // --- setting up ---
  void bind(const Address& addr, std::error_code& ec);
  void bind(const Address& addr);
  void listen(int backlog, std::error_code& ec);
  void listen(int backlog = 128);
  // Connects, parking until done or until `timeout` (nullopt: the socket's timeout).
  // After a timeout or error the socket should be closed.
  void connect(const Address& addr, std::optional<Duration> timeout, std::error_code& ec);
  void connect(const Address& addr, std::optional<Duration> timeout = std::nullopt);
  // Parks until a connection arrives. The new socket is non-blocking and inherits
  // nothing but the family and type (its timeout is nullopt).
  Accepted accept(std::error_code& ec);
  Accepted accept();
  void shutdown(ShutdownHow how, std::error_code& ec);
  void shutdown(ShutdownHow how);

  // --- reading (0 bytes means end of file on stream sockets) ---
  // Up to `len` bytes into `buf`; parks while there is nothing to read.
  std::size_t recv_into(void* buf, std::size_t len, std::error_code& ec);
  std::size_t recv_into(void* buf, std::size_t len);
  // Up to `max` bytes as a string ("" at end of file).
  std::string recv(std::size_t max, std::error_code& ec);
  std::string recv(std::size_t max);
  // Exactly `len` bytes unless end of file comes first: returns how many were read
  // (fewer than `len` only at end of file). On an error or timeout, ec is set and
  // the return value says how many bytes were stored in `buf` before it.
  std::size_t recv_exactly(void* buf, std::size_t len, std::error_code& ec);
  std::size_t recv_exactly(void* buf, std::size_t len);
  // One datagram (or stream bytes) and the sender's address.
  std::size_t recvfrom(void* buf, std::size_t len, Address& from, std::error_code& ec);
  std::size_t recvfrom(void* buf, std::size_t len, Address& from);

  // --- writing ---
  // Some of `data` (at least one byte unless len is 0); returns how many went out.
  std::size_t send(const void* data, std::size_t len, std::error_code& ec);
  std::size_t send(const void* data, std::size_t len);
  std::size_t send(std::string_view data) { return send(data.data(), data.size()); }
  // All of `data`. Returns the bytes sent: `len` on success; on an error or timeout
  // ec is set and the return value says how many bytes went out before it. The
  // throwing overload throws SendallError, which carries that count.
  std::size_t sendall(const void* data, std::size_t len, std::error_code& ec);
  void sendall(const void* data, std::size_t len);
  void sendall(std::string_view data) { sendall(data.data(), data.size()); }
  std::size_t sendto(const void* data, std::size_t len, const Address& to, std::error_code& ec);
  std::size_t sendto(const void* data, std::size_t len, const Address& to);

  // --- options and names (never park) ---
  void set_option(int level, int name, int value, std::error_code& ec);
  void set_option(int level, int name, int value);
  int get_option(int level, int name, std::error_code& ec) const;
  int get_option(int level, int name) const;
  void set_reuse_address(bool on) { set_option(SOL_SOCKET, SO_REUSEADDR, on ? 1 : 0); }
  void set_reuse_port(bool on) { set_option(SOL_SOCKET, SO_REUSEPORT, on ? 1 : 0); }
  void set_nodelay(bool on);  // TCP_NODELAY
  Address local_address(std::error_code& ec) const;
  Address local_address() const;
  Address peer_address(std::error_code& ec) const;
  Address peer_address() const;

 private:
  explicit Socket(std::unique_ptr<detail::SocketState> s) noexcept;
  std::unique_ptr<detail::SocketState> s_;
};

struct Accepted {
  Socket socket;
  Address peer;
};

// Parks until `fd` (any non-blocking fd this OS thread uses, owned by anyone) is
// readable / writable, or `timeout` passes (std::errc::timed_out). Creates a libev
// watcher for this one wait; a Socket keeps its own instead. GreenletExit /
// TimeoutError unwind as from any parking call. Not from the hub (UsageError).
GROVE_API void wait_readable(int fd, std::optional<Duration> timeout, std::error_code& ec);
GROVE_API void wait_readable(int fd, std::optional<Duration> timeout = std::nullopt);
GROVE_API void wait_writable(int fd, std::optional<Duration> timeout, std::error_code& ec);
GROVE_API void wait_writable(int fd, std::optional<Duration> timeout = std::nullopt);

}  // namespace grove::net
