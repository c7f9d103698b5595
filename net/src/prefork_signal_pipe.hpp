// prefork_signal_pipe.hpp: the prefork supervisor's signals (SIGCHLD, SIGTERM,
// SIGINT, SIGHUP) turned into bytes on a self-pipe, which its green thread waits on
// with wait_readable. sigaction handlers, not signalfd: a signal may be taken by any
// OS thread of the process, and signalfd sees only those blocked in every thread.
#pragma once

#include <signal.h>

#include <cstdint>

namespace grove::net::detail {

// Every write to the supervisor's pipe is one record of 4 bytes (atomic on a pipe, so
// records from the handlers, the supervisor's callers and the workers never mix): a
// signal number (1..64), one of the calls below, or minus the pid of a worker that has
// become ready (its first PreforkWorker::wait_for_stop()).
using SupervisorRecord = std::int32_t;
inline constexpr SupervisorRecord kStopCall = 100;     // PreforkSupervisor::stop()
inline constexpr SupervisorRecord kRestartCall = 101;  // PreforkSupervisor::restart()

// The signals the supervisor handles, in a set.
sigset_t supervisor_signal_set() noexcept;

// While it lives, each supervisor signal writes its number (a SupervisorRecord) to
// `write_fd` (non-blocking: when the pipe is full the record is dropped, and the
// reader, which has records to read, wakes anyway). Restores the previous dispositions when destroyed.
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
