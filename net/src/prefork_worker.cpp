// prefork_worker.cpp: a prefork worker process: its set-up after the fork, its stop
// pipe (PreforkWorker::wait_for_stop) and its end.
#include "prefork_worker.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>

#include <grove/errors.hpp>
#include <grove/log.hpp>

#include "prefork_signal_pipe.hpp"

namespace grove::net {

namespace detail {

struct PreforkWorkerAccess {
  static PreforkWorker make(std::size_t index, Socket listener, int stop_fd, int ready_fd) noexcept {
    return PreforkWorker(index, std::move(listener), stop_fd, ready_fd);
  }
};

namespace {

// This worker process's stop pipe: SIGTERM and SIGINT write a byte to it and nobody
// reads it, so once asked, its read end stays readable and every wait_for_stop()
// returns.
int g_stop_pipe[2] = {-1, -1};
volatile sig_atomic_t g_stop_asked = 0;

extern "C" void on_worker_stop_signal(int) {
  const int saved = errno;
  g_stop_asked = 1;
  const char c = 1;
  [[maybe_unused]] const ssize_t r = ::write(g_stop_pipe[1], &c, 1);
  errno = saved;
}

// Returns false if the stop pipe cannot be made.
bool install_stop_signals() noexcept {
  if (::pipe2(g_stop_pipe, O_NONBLOCK | O_CLOEXEC) != 0) return false;
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = &on_worker_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  return true;
}

}  // namespace

// A supervisor that dies closes its end of the pipe before the kernel sends its
// workers PDEATHSIG (the files go first when a process exits), so a worker writing in
// between would die of SIGPIPE instead. SIGPIPE is blocked for the write, and the one
// the write raised (EPIPE) is taken off before the mask comes back.
void write_without_sigpipe(int fd, const void* data, std::size_t len) noexcept {
  sigset_t pipe_only, old;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  ::pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
  const ssize_t r = ::write(fd, data, len);
  if (r < 0 && errno == EPIPE && !sigismember(&old, SIGPIPE)) {
    const timespec zero{};
    (void)::sigtimedwait(&pipe_only, nullptr, &zero);
  }
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

namespace {

[[noreturn]] void leave(int code) noexcept {
  // Not exit(): see "How a worker process ends" in grove/net/prefork.hpp.
  std::fflush(nullptr);
  ::_exit(code);
}

}  // namespace

void run_worker_process(const WorkerStart& start, Socket& listener, const PreforkSupervisor::Worker& worker) noexcept {
  // With the parent gone nothing would stop this worker: the kernel kills it then.
  // The parent may have died before this line; then the parent is no longer it, and
  // the worker ends as PDEATHSIG would have ended it.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != start.supervisor) ::raise(SIGKILL);

  ::close(start.supervisor_pipe[0]);
  ::sigaction(SIGCHLD, start.previous_chld, nullptr);
  ::sigaction(SIGHUP, start.previous_hup, nullptr);
  if (!install_stop_signals()) {
    std::fprintf(stderr, "%s: worker %zu (pid %d): cannot make its stop pipe: %s\n", start.name->c_str(),
                 start.index, static_cast<int>(::getpid()), std::strerror(errno));
    leave(1);
  }
  // A stop sent since the fork was held back by the mask: it arrives here.
  ::pthread_sigmask(SIG_SETMASK, start.mask, nullptr);
  start_heartbeat(start.heartbeat, start.heartbeat_interval);

  int code = 0;
  try {
    PreforkWorker w = PreforkWorkerAccess::make(start.index, std::move(listener), g_stop_pipe[0],
                                                start.supervisor_pipe[1]);
    worker(w);
  } catch (const std::exception& e) {
    code = 1;
    try {
      grove::logger().error("{}: worker {} (pid {}) failed: {}", *start.name, start.index, ::getpid(), e.what());
    } catch (...) {
    }
  } catch (const GreenletExit&) {
    code = 1;
    try {
      grove::logger().error("{}: worker {} (pid {}) was killed", *start.name, start.index, ::getpid());
    } catch (...) {
    }
  } catch (...) {
    code = 1;
    try {
      grove::logger().error("{}: worker {} (pid {}) failed with an exception that is not a std::exception",
                            *start.name, start.index, ::getpid());
    } catch (...) {
    }
  }
  leave(code);
}

}  // namespace detail

bool PreforkWorker::wait_for_stop(std::optional<Duration> timeout) {
  if (ready_fd_ >= 0) {
    // "Ready", to the parent (a rolling restart stops the old worker of this slot now).
    const detail::SupervisorRecord rec = -static_cast<detail::SupervisorRecord>(::getpid());
    detail::write_without_sigpipe(ready_fd_, &rec, sizeof rec);
    ::close(ready_fd_);
    ready_fd_ = -1;
  }
  if (stop_requested()) return true;
  std::error_code ec;
  wait_readable(stop_fd_, timeout, ec);
  if (ec == std::errc::timed_out) return stop_requested();
  if (ec) throw std::system_error(ec, "grove::net::PreforkWorker::wait_for_stop");
  return true;
}

bool PreforkWorker::stop_requested() const noexcept { return detail::g_stop_asked != 0; }

}  // namespace grove::net
