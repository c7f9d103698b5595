// prefork_signal_pipe.cpp: the supervisor's signal handlers (see the header).
#include "prefork_signal_pipe.hpp"

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include <grove/errors.hpp>

namespace grove::net::detail {

namespace {

// The pipe the handlers write to, -1 while no supervisor runs. Lock-free, so the
// handler may read it.
std::atomic<int> g_pipe_write_fd{-1};
std::atomic<bool> g_in_use{false};

extern "C" void on_supervisor_signal(int signo) {
  const int saved = errno;
  const int fd = g_pipe_write_fd.load(std::memory_order_relaxed);
  if (fd >= 0) {
    const SupervisorRecord rec = signo;
    [[maybe_unused]] const ssize_t r = ::write(fd, &rec, sizeof rec);
  }
  errno = saved;
}

void install(int signo, struct sigaction& previous) noexcept {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = &on_supervisor_signal;
  sigemptyset(&sa.sa_mask);
  // SA_NOCLDSTOP: a worker stopped (SIGSTOP) or continued is no news.
  sa.sa_flags = SA_RESTART | (signo == SIGCHLD ? SA_NOCLDSTOP : 0);
  ::sigaction(signo, &sa, &previous);
}

}  // namespace

sigset_t supervisor_signal_set() noexcept {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

SupervisorSignalPipe::SupervisorSignalPipe(int write_fd) {
  if (g_in_use.exchange(true)) {
    throw UsageError("grove::net::PreforkSupervisor::run: another prefork supervisor runs in this process "
                     "(its signal handlers are process-wide): one at a time");
  }
  g_pipe_write_fd.store(write_fd);
  install(SIGCHLD, prev_chld_);
  install(SIGTERM, prev_term_);
  install(SIGINT, prev_int_);
  install(SIGHUP, prev_hup_);
}

SupervisorSignalPipe::~SupervisorSignalPipe() {
  ::sigaction(SIGCHLD, &prev_chld_, nullptr);
  ::sigaction(SIGTERM, &prev_term_, nullptr);
  ::sigaction(SIGINT, &prev_int_, nullptr);
  ::sigaction(SIGHUP, &prev_hup_, nullptr);
  g_pipe_write_fd.store(-1);
  g_in_use.store(false);
}

const struct sigaction& SupervisorSignalPipe::previous(int signo) const noexcept {
  switch (signo) {
    case SIGCHLD: return prev_chld_;
    case SIGTERM: return prev_term_;
    case SIGINT: return prev_int_;
    default: return prev_hup_;
  }
}

SupervisorSignalsBlocked::SupervisorSignalsBlocked() noexcept {
  const sigset_t set = supervisor_signal_set();
  ::pthread_sigmask(SIG_BLOCK, &set, &previous_);
}

SupervisorSignalsBlocked::~SupervisorSignalsBlocked() { ::pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }

}  // namespace grove::net::detail
