// process_state.hpp: what a grove::net::Process owns, on the heap so that its address
// (the pidfd watcher's data, and the waiters' list) survives a move of the Process.
//
// Waiting. Every green thread in wait() puts an ExitWaiter (on its own stack) in the
// state's list; the pidfd's ev_io watcher is started while the list is not empty. Its
// callback reaps the child (waitpid WNOHANG) and wakes every waiter. Destroying the
// Process wakes them with `destroyed` set: they then return ECANCELED without touching
// the state again (it may be freed), as a Socket's waiters after a close.
#pragma once

#include <ev.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <thread>

#include <grove/net/process.hpp>

#include "hub.hpp"

namespace grove::net::detail {

using grove::detail::GreenThreadState;
using grove::detail::Hub;

struct ExitWaiter {
  GreenThreadState* gt = nullptr;
  ExitWaiter* prev = nullptr;
  ExitWaiter* next = nullptr;
  bool done = false;       // the child was reaped
  bool destroyed = false;  // the Process was destroyed while parked
};

struct ProcessState {
  pid_t pid = -1;
  int pidfd = -1;  // -1: pidfd_open failed, waiters poll
  bool kill_on_destroy = true;
  std::string program;
  std::optional<ExitStatus> status;  // set once reaped
  Hub* hub = nullptr;
  std::thread::id owner;
  ev_io exit_watch{};
  ExitWaiter* waiters = nullptr;

  ProcessState(pid_t p, std::string prog, bool kill_on_destroy);
  ProcessState(const ProcessState&) = delete;
  ProcessState& operator=(const ProcessState&) = delete;

  // waitpid(pid, WNOHANG): true, with `status` set, once the child is reaped (also
  // when someone else reaped it: ECHILD gives a status "unknown").
  bool try_reap() noexcept;
  // Wakes every waiter with `done`, after a reap.
  void wake_all(bool destroyed) noexcept;
  // Signals the child (pidfd_send_signal, else kill); does nothing once reaped.
  int signal(int sig) noexcept;
  // The destructor's work: kill (if asked), reap or hand to a reaper thread, wake the
  // waiters with ECANCELED, stop the watcher, close the pidfd.
  void dispose() noexcept;
};

// "grove::net::Process::wait ('sleep', pid 1234)".
std::string describe_process(const ProcessState* s, const char* op);

}  // namespace grove::net::detail
