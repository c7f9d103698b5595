// stop_signal.hpp: park a green thread until SIGINT or SIGTERM arrives (samples only).
//
// A self-pipe: the signal handler writes one byte, a green thread waits for it with
// grove::net::wait_readable. Only SIGINT and SIGTERM get a handler; no other signal's
// disposition changes.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <grove/net/socket.hpp>

namespace samples {

inline int g_stop_pipe[2] = {-1, -1};

extern "C" inline void on_stop_signal(int signo) {
  const int saved = errno;
  const char c = static_cast<char>(signo);
  [[maybe_unused]] ssize_t r = ::write(g_stop_pipe[1], &c, 1);
  errno = saved;
}

// Installs the handlers. Call once, before wait_for_stop_signal().
inline void install_stop_signals() {
  if (::pipe2(g_stop_pipe, O_NONBLOCK | O_CLOEXEC) < 0) throw std::runtime_error("pipe2 failed");
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

// Parks until SIGINT or SIGTERM; returns the signal number.
inline int wait_for_stop_signal() {
  for (;;) {
    grove::net::wait_readable(g_stop_pipe[0]);
    char c;
    if (::read(g_stop_pipe[0], &c, 1) == 1) return c;
  }
}

}  // namespace samples
