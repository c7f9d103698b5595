// socket_state.hpp: what a grove::net::Socket owns, on the heap so that its address
// (which libev's watchers and parked green threads point to) survives a move.
#pragma once

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
  Family family = Family::kUnspecified;
  SocketType type = SocketType::kStream;
  double timeout = -1;        // seconds; < 0: none, 0: non-blocking
  bool read_drained = false;  // the last read was short: park before reading again
  Address peer;               // known after connect/accept, for error messages
  Hub* hub = nullptr;
  std::thread::id owner;      // the OS thread of `hub`
  IoChannel rd;
  IoChannel wr;

  SocketState(int fd, Family f, SocketType t);
  // Stops the watchers and closes the fd. Returns false, and does nothing, when called
  // on another OS thread while the socket's hub may still run: that thread cannot
  // touch the hub's loop, and closing the fd would leave a started watcher on a
  // number the next socket may reuse.
  bool close() noexcept;
};

// "grove::net::Socket::recv (peer 127.0.0.1:7000)"
std::string describe_op(const SocketState* s, const char* op);
[[noreturn]] void throw_op(const SocketState* s, const char* op, std::error_code ec);
inline std::error_code errno_code(int e) { return std::error_code(e, std::system_category()); }

}  // namespace grove::net::detail
