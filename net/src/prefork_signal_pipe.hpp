// prefork_signal_pipe.hpp: the prefork supervisor's signals (SIGCHLD, SIGTERM,
// SIGINT, SIGHUP) turned into bytes on a self-pipe, which its green thread waits on
// with wait_readable. sigaction handlers, not signalfd: a signal may be taken by any
// OS thread of the process, and signalfd sees only those blocked in every thread.
#pragma once

#include <signal.h>

namespace grove::net::detail {

// The signals the supervisor handles, in a set.
sigset_t supervisor_signal_set() noexcept;

// While it lives, each supervisor signal writes its number (one byte) to `write_fd`
// (non-blocking: when the pipe is full the byte is dropped, and the reader, which has
// bytes to read, wakes anyway). Restores the previous dispositions when destroyed.
// UsageError if another one lives in this process (one supervisor at a time).
class SupervisorSignalPipe {
 public:
  explicit SupervisorSignalPipe(int write_fd);
  ~SupervisorSignalPipe();
  SupervisorSignalPipe(const SupervisorSignalPipe&) = delete;
  SupervisorSignalPipe& operator=(const SupervisorSignalPipe&) = delete;

  // The disposition `signo` (SIGCHLD or SIGHUP) had before; a worker gets it back.
  const struct sigaction& previous(int signo) const noexcept;

 private:
  struct sigaction prev_chld_, prev_term_, prev_int_, prev_hup_;
};

// Blocks the supervisor signals in the calling OS thread while it lives: around a
// fork(), so that a signal sent to a new worker before it has set up its own handlers
// waits for them instead of running the supervisor's (which would write the stop
// meant for the worker into the supervisor's pipe).
class SupervisorSignalsBlocked {
 public:
  SupervisorSignalsBlocked() noexcept;
  ~SupervisorSignalsBlocked();
  SupervisorSignalsBlocked(const SupervisorSignalsBlocked&) = delete;
  SupervisorSignalsBlocked& operator=(const SupervisorSignalsBlocked&) = delete;

  // The mask before: a worker restores it once its handlers are in place.
  const sigset_t& previous_mask() const noexcept { return previous_; }

 private:
  sigset_t previous_;
};

}  // namespace grove::net::detail
