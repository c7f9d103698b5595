// prefork_worker.hpp: the worker process of a prefork supervisor, from the fork() on.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <cstddef>
#include <string>

#include <grove/net/prefork.hpp>

#include "prefork_heartbeat.hpp"

namespace grove::net::detail {

// What a new worker process needs from its supervisor.
struct WorkerStart {
  std::size_t index = 0;
  pid_t supervisor = 0;                 // the parent's pid, read before the fork
  int supervisor_pipe[2] = {-1, -1};    // the parent's self-pipe: the read end is closed in
                                        // the child, the write end kept to say "ready"
  const struct sigaction* previous_chld = nullptr;  // SIGCHLD before run()
  const struct sigaction* previous_hup = nullptr;   // SIGHUP before run()
  const sigset_t* mask = nullptr;       // the signal mask before the fork blocked signals
  const std::string* name = nullptr;    // PreforkOptions::name
  HeartbeatCell* heartbeat = nullptr;   // this worker's cell, nullptr: not watched
  Duration heartbeat_interval{};
};

// write(2) to a pipe whose reader may be gone, without dying of SIGPIPE (EPIPE is
// ignored): a worker's "ready" to a supervisor that is exiting.
void write_without_sigpipe(int fd, const void* data, std::size_t len) noexcept;

// In the child, right after fork() returned 0 (the supervisor signals still blocked):
// sets the process up as a worker (see grove/net/prefork.hpp), runs `worker` and ends
// the process with _exit: 0 if it returned, 1 if it threw or was killed.
[[noreturn]] void run_worker_process(const WorkerStart& start, Socket& listener,
                                     const PreforkSupervisor::Worker& worker) noexcept;

}  // namespace grove::net::detail
