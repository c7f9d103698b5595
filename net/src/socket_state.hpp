// socket_state.hpp: what a grove::net::Socket owns, out of the Socket object so that
// its address (which the hub's epoll set, libev's watchers and parked green threads
// point to) survives a move.
//
// Where it lives. On the heap (std::unique_ptr), except for a StreamServer's
// connection, whose state is built in the top page of the handler's own stack beside
// the spawned call (stream_shard.cpp, "A connection's stack page"): an idle echo
// connection then costs one stack page and no heap block (bench/README.md, "Soak
// and scale"). Such a state names that green thread (`home`) and holds a reference
// on it, so the stack is not reused while the Socket lives, wherever it is moved and
// even after the handler returned; `delete` drops that reference instead of freeing
// (operator delete below).
//
// Its 384 bytes (x86-64): fd, owner_tid, family, type, read_drained and
// untimed_stream 16 (with padding); timeout 8; peer 136 (a sockaddr_storage and its length, kept for error
// messages: after a reset or a close getpeername no longer tells); hub, owner and
// home 8 each; rd and wr 80 each (the hub's PollSide 16: waiter, edge, hangup, and
// keep_started in its padding; the direction's name 8; libev's ev_io 48, the
// fallback for a fd the hub's epoll set refused; the polled pointer 8); polled 40
// (the fd's entry in the hub's epoll set: both sides, fd, registered, list links).
//
// Lifetime while parked. A green thread parked in a Socket call may outlive the
// Socket object it called: another green thread may destroy the Socket (closing it)
// or move it and free the old storage (a std::vector<Socket> that grows). So a
// parking call never touches `this` after its first wait; it works on the
// SocketState pointer it read on entry, which stays valid across a move. Closing or
// destroying wakes the waiter with ECANCELED (IoChannel::cancel), and after that
// result the state may be freed too: the caller returns at once and reports the
// error without the state (closed_while_parked). The throwing overloads read the
// state pointer before calling the error_code overload, for the same reason.
//
// OS thread. A socket belongs to the hub of the OS thread that created it: its
// watchers may be started only in that hub's loop, and only that hub's green threads
// may park in it. Every call that may park checks the calling thread first
// (check_thread: one thread-local load and a compare) and throws UsageError from any
// other, before touching the fd, so the misuse is reported whether or not the call
// would have had to wait.
#pragma once

#include <cerrno>
#include <new>
#include <string>
#include <system_error>
#include <thread>

#include <grove/net/socket.hpp>

#include "io_channel.hpp"

namespace grove::net::detail {

// A timeout the user gave, in the seconds SocketState::timeout and the waits use. A
// negative one is already expired (a call that would park fails with timed_out, as
// with a deadline in the past), not 0, which means non-blocking; one longer than
// kMaxTimeoutSeconds (~31 years) is cut to it, so that a deadline cannot overflow
// the clock.
inline constexpr double kMaxTimeoutSeconds = 1e9;
inline double timeout_seconds(Duration d) noexcept {
  const double t = grove::detail::to_seconds(d);
  if (t < 0) return 1e-9;
  return t < kMaxTimeoutSeconds ? t : kMaxTimeoutSeconds;
}

struct SocketState {
  int fd = -1;
  int owner_tid = 0;          // the kernel thread id of `owner`, for misuse messages
  Family family = Family::kUnspecified;
  SocketType type = SocketType::kStream;
  bool read_drained = false;  // the last read was short: park before reading again
  // Open, a byte stream, no timeout: what recv_into and sendall (once per message of
  // every server) test in one load instead of three. Kept by set_fd / set_timeout.
  bool untimed_stream = false;
  double timeout = -1;        // seconds; < 0: none, 0: non-blocking
  Address peer;               // known after connect/accept, for error messages
  Hub* hub = nullptr;
  std::thread::id owner;      // the OS thread of `hub`
  // Not on the heap but in the top page of this green thread's stack (a StreamServer
  // connection, stream_shard.cpp), holding a reference on it so that the stack stays
  // while the Socket lives, wherever the Socket moves; nullptr: on the heap.
  grove::detail::GreenThreadState* home = nullptr;
  IoChannel rd;
  IoChannel wr;
  // The fd in its hub's epoll set, registered on the first wait (io_channel.hpp).
  grove::detail::PolledFd polled;

  SocketState(int fd, Family f, SocketType t);
  // Stops the watchers and closes the fd. Returns false, and does nothing, when called
  // on another OS thread while the socket's hub may still run: that thread cannot
  // touch the hub's loop, and closing the fd would leave a started watcher on a
  // number the next socket may reuse.
  bool close() noexcept;
  // The only ways fd and timeout change (untimed_stream follows them).
  void set_fd(int f) noexcept {
    fd = f;
    untimed_stream = fd >= 0 && timeout < 0 && type == SocketType::kStream;
  }
  void set_timeout(double t) noexcept {
    timeout = t;
    set_fd(fd);
  }

  // `delete` of a Socket's state (std::unique_ptr): destroys it, then frees the heap
  // block, or drops its reference on `home` (which frees that stack if the green
  // thread is dead and nothing else holds it).
  static void operator delete(SocketState* s, std::destroying_delete_t) noexcept;
};

// What a parking call returns when the socket was closed or destroyed while it was
// parked (IoChannel::wait). After it the caller must not touch the SocketState (nor
// the Socket): it may be freed. No socket system call reports ECANCELED itself.
inline bool closed_while_parked(const std::error_code& ec) noexcept {
  return ec.value() == ECANCELED && ec.category() == std::system_category();
}

// UsageError naming `op` and both OS threads (cold).
[[noreturn]] void refuse_foreign_thread(const SocketState* s, const char* op);
// UsageError unless called on the OS thread of the socket's hub. A hub that was
// destroyed may leave its address to one created later; a socket that outlived its
// OS thread could then pass as the new one's (as a thread pointer can, see
// grove/detail/thread_owner.hpp).
inline void check_thread(const SocketState* s, const char* op) {
  if (Hub::current() != s->hub) [[unlikely]] refuse_foreign_thread(s, op);
}

// "grove::net::Socket::recv (peer 127.0.0.1:7000)"; after `ec` that says the socket
// was closed while parked, "grove::net::Socket::recv (closed while waiting)" without
// touching `s`, which may be freed.
std::string describe_op(const SocketState* s, const char* op, const std::error_code& ec = {});
// Throws std::system_error(ec, describe_op(s, op, ec)).
[[noreturn]] void throw_op(const SocketState* s, const char* op, std::error_code ec);
// Socket::accept without the Socket: the accepted fd (non-blocking, close-on-exec)
// with `peer` set, or -1 with `ec` (EBADF for a closed listener); parks and refuses
// as Socket::accept. The caller owns the fd. For a StreamServer, which builds the
// connection's SocketState in the handler's own stack (stream_shard.cpp).
int accept_fd(SocketState* listener, Address& peer, std::error_code& ec);
inline std::error_code errno_code(int e) { return std::error_code(e, std::system_category()); }

}  // namespace grove::net::detail
