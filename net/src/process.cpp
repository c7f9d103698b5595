// process.cpp: Process's life: start, wait on its pidfd, signals, and the reaping
// that leaves no zombie (see grove/net/process.hpp and process_state.hpp).
#include <grove/net/process.hpp>

#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>
#include <thread>

#include <grove/errors.hpp>
#include <grove/log.hpp>

#include "process_spawn.hpp"
#include "process_state.hpp"
#include "socket_state.hpp"  // timeout_seconds

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

namespace grove::net {

// ---------------------------------------------------------------- ExitStatus

ExitStatus ExitStatus::from_wait_status(int st) noexcept {
  ExitStatus s;
  if (WIFEXITED(st)) {
    s.code = WEXITSTATUS(st);
  } else if (WIFSIGNALED(st)) {
    s.signal = WTERMSIG(st);
    s.core_dumped = WCOREDUMP(st);
  }
  return s;
}

std::string ExitStatus::to_string() const {
  if (exited()) return "exit status " + std::to_string(code);
  if (killed()) {
    const char* abbrev = ::sigabbrev_np(signal);
    std::string name = abbrev ? std::string("SIG") + abbrev : "signal";
    std::string out = "killed by signal " + name + " (" + std::to_string(signal) + ")";
    if (core_dumped) out += ", core dumped";
    return out;
  }
  return "status unknown";
}

namespace detail {

namespace {

int pidfd_open(pid_t pid) noexcept {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  errno = ENOSYS;
  return -1;
#endif
}

void on_exit_readable(struct ev_loop* loop, ev_io* w, int) noexcept {
  auto* s = static_cast<ProcessState*>(w->data);
  if (!s->try_reap()) return;  // spurious: keep watching
  ev_io_stop(loop, w);
  s->wake_all(/*destroyed=*/false);
}

// Reaps `pid` on an OS thread of its own (a blocking waitpid), for a child still
// running when its Process was destroyed. Detached: it ends with the child.
void reap_in_background(pid_t pid) noexcept {
  try {
    std::thread([pid] {
      int st;
      while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
      }
    }).detach();
  } catch (...) {
    // No thread: the child stays a zombie until this process ends; say so.
    try {
      grove::logger().error("grove::net::Process: no thread to reap child {}; it stays a zombie", pid);
    } catch (...) {
    }
  }
}

}  // namespace

ProcessState::ProcessState(pid_t p, std::string prog, bool kill) : pid(p), kill_on_destroy(kill), program(std::move(prog)) {
  hub = &Hub::get();
  owner = std::this_thread::get_id();
  pidfd = pidfd_open(pid);  // close-on-exec always; -1: waiters poll (see process.hpp)
  if (pidfd >= 0) {
    ev_io_init(&exit_watch, &on_exit_readable, pidfd, EV_READ);
    exit_watch.data = this;
  }
}

bool ProcessState::try_reap() noexcept {
  if (status) return true;
  int st = 0;
  pid_t r;
  while ((r = ::waitpid(pid, &st, WNOHANG)) < 0 && errno == EINTR) {
  }
  if (r == 0) return false;
  status = r == pid ? ExitStatus::from_wait_status(st) : ExitStatus{};  // ECHILD: reaped elsewhere
  return true;
}

void ProcessState::wake_all(bool destroyed) noexcept {
  while (ExitWaiter* w = waiters) {
    waiters = w->next;
    if (waiters) waiters->prev = nullptr;
    w->prev = w->next = nullptr;
    w->done = !destroyed;
    w->destroyed = destroyed;
    hub->wake(w->gt);
  }
}

int ProcessState::signal(int sig) noexcept {
  if (status) return 0;
#ifdef SYS_pidfd_send_signal
  if (pidfd >= 0) {
    if (::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) == 0) return 0;
    if (errno != ENOSYS) return errno == ESRCH ? 0 : errno;  // ESRCH: exited, not reaped yet
  }
#endif
  if (::kill(pid, sig) == 0) return 0;
  return errno == ESRCH ? 0 : errno;
}

void ProcessState::dispose() noexcept {
  if (!status && kill_on_destroy) signal(SIGKILL);
  const bool reaped = try_reap();
  wake_all(/*destroyed=*/true);
  if (pidfd >= 0) {
    if (ev_is_active(&exit_watch)) ev_io_stop(hub->loop(), &exit_watch);
    ::close(pidfd);
    pidfd = -1;
  }
  if (!reaped) reap_in_background(pid);
}

std::string describe_process(const ProcessState* s, const char* op) {
  std::string out = std::string("grove::net::Process::") + op;
  if (s) out += " ('" + s->program + "', pid " + std::to_string(s->pid) + ")";
  return out;
}

}  // namespace detail

using detail::ExitWaiter;
using detail::ProcessState;

namespace {

[[noreturn, gnu::cold]] void refuse_foreign_thread(const ProcessState* s, const char* op) {
  throw UsageError(detail::describe_process(s, op) +
                   ": used from another OS thread than the one whose hub started the process");
}

}  // namespace

Process::Process() noexcept = default;

Process::Process(const std::vector<std::string>& argv, const ProcessOptions& options) {
  detail::Spawned sp = detail::spawn_process(argv, options);
  try {
    s_ = std::make_unique<ProcessState>(sp.pid, argv[0], options.kill_on_destroy);
  } catch (...) {
    ::kill(sp.pid, SIGKILL);
    detail::reap_in_background(sp.pid);
    for (int fd : {sp.in, sp.out, sp.err}) {
      if (fd >= 0) ::close(fd);
    }
    throw;
  }
  // PipeStream::adopt only makes the fd non-blocking (it already is) and may throw
  // bad_alloc; the fds are then closed by the members already made, or here.
  int* fds[3] = {&sp.in, &sp.out, &sp.err};
  PipeStream* ends[3] = {&in_, &out_, &err_};
  for (int i = 0; i < 3; ++i) {
    if (*fds[i] < 0) continue;
    try {
      *ends[i] = PipeStream::adopt(*fds[i]);
    } catch (...) {
      for (int j = i; j < 3; ++j) {
        if (*fds[j] >= 0) ::close(*fds[j]);
      }
      s_->dispose();  // kills and reaps the child (the destructor will not run)
      throw;
    }
  }
}

Process::~Process() {
  if (!s_) return;
  if (detail::Hub::current() != s_->hub && std::this_thread::get_id() != s_->owner) {
    // Another OS thread cannot touch the hub's loop: leave the state (and its watcher)
    // alone, but still make sure the child is reaped.
    try {
      grove::logger().error("{}: destroyed on another OS thread than its hub's; its state is leaked",
                            detail::describe_process(s_.get(), "~Process"));
    } catch (...) {
    }
    ProcessState* leaked = s_.release();
    if (!leaked->status) {
      if (leaked->kill_on_destroy) leaked->signal(SIGKILL);
      if (!leaked->try_reap()) detail::reap_in_background(leaked->pid);
    }
#if defined(__SANITIZE_ADDRESS__)
    __lsan_ignore_object(leaked);
#endif
    return;
  }
  // Pipes first: a child killed on destroy then sees them closed, whatever it does.
  in_.close();
  out_.close();
  err_.close();
  s_->dispose();
}

Process::Process(Process&& o) noexcept
    : s_(std::move(o.s_)), in_(std::move(o.in_)), out_(std::move(o.out_)), err_(std::move(o.err_)) {}

Process& Process::operator=(Process&& o) noexcept {
  if (this != &o) {
    Process dying(std::move(*this));
    s_ = std::move(o.s_);
    in_ = std::move(o.in_);
    out_ = std::move(o.out_);
    err_ = std::move(o.err_);
  }
  return *this;
}

pid_t Process::pid() const noexcept { return s_ ? s_->pid : -1; }

const std::string& Process::program() const noexcept {
  static const std::string none;
  return s_ ? s_->program : none;
}

std::optional<ExitStatus> Process::poll() {
  if (!s_) return std::nullopt;
  if (detail::Hub::current() != s_->hub) refuse_foreign_thread(s_.get(), "poll");
  if (s_->try_reap()) {
    // Green threads parked in wait() get the status now, not at the watcher's next poll.
    if (s_->pidfd >= 0 && ev_is_active(&s_->exit_watch)) ev_io_stop(s_->hub->loop(), &s_->exit_watch);
    s_->wake_all(/*destroyed=*/false);
    return s_->status;
  }
  return std::nullopt;
}

ExitStatus Process::wait(std::optional<Duration> timeout, std::error_code& ec) {
  ec.clear();
  ProcessState* s = s_.get();
  if (!s) return ec = std::error_code(ECHILD, std::system_category()), ExitStatus{};
  if (detail::Hub::current() != s->hub) refuse_foreign_thread(s, "wait");
  if (s->status) return *s->status;
  const double t = timeout ? detail::timeout_seconds(*timeout) : -1;
  // With a pidfd, no waitpid before parking: a child that already ended makes the pidfd
  // readable at once, so the first poll reports it (one system call less per spawn).
  if ((t == 0 || s->pidfd < 0) && s->try_reap()) return *s->status;
  if (t == 0) return ec = std::make_error_code(std::errc::timed_out), ExitStatus{};
  detail::Hub& hub = *s->hub;
  hub.check_may_block("grove::net::Process::wait");

  ExitWaiter me;
  me.gt = hub.running();
  me.next = s->waiters;
  if (me.next) me.next->prev = &me;
  s->waiters = &me;
  if (s->pidfd >= 0 && !ev_is_active(&s->exit_watch)) ev_io_start(hub.loop(), &s->exit_watch);
  hub.watcher_started();
  struct Leave {
    detail::Hub& hub;
    ProcessState* s;
    ExitWaiter& me;
    ~Leave() {
      hub.watcher_stopped();
      if (me.destroyed || me.done) return;  // unlinked already (and `s` may be gone)
      if (me.prev) me.prev->next = me.next; else s->waiters = me.next;
      if (me.next) me.next->prev = me.prev;
      if (!s->waiters && s->pidfd >= 0 && ev_is_active(&s->exit_watch)) ev_io_stop(hub.loop(), &s->exit_watch);
    }
  } leave{hub, s, me};

  using Clock = std::chrono::steady_clock;
  const auto deadline = t > 0 ? grove::detail::deadline_after(Clock::now(), t) : Clock::time_point::max();
  double poll_every = 0.001;  // only without a pidfd
  while (!me.done && !me.destroyed) {
    double left = -1;
    if (t > 0) {
      left = std::chrono::duration<double>(deadline - Clock::now()).count();
      if (left <= 0) return ec = std::make_error_code(std::errc::timed_out), ExitStatus{};
    }
    if (s->pidfd < 0) {
      const double nap = left < 0 ? poll_every : std::min(left, poll_every);
      hub.park_for(nap, "wait for a child process");
      if (me.done || me.destroyed) break;
      if (s->try_reap()) return *s->status;  // Leave unlinks us
      poll_every = std::min(poll_every * 2, 0.05);
    } else if (left < 0) {
      hub.park("wait for a child process");
    } else {
      hub.park_for(left, "wait for a child process");
    }
  }
  if (me.destroyed) return ec = std::error_code(ECANCELED, std::system_category()), ExitStatus{};
  return *s->status;
}

ExitStatus Process::wait(std::optional<Duration> timeout) {
  const ProcessState* s = s_.get();
  const std::string what = detail::describe_process(s, "wait");  // `s` may be freed by the wait
  std::error_code ec;
  ExitStatus st = wait(timeout, ec);
  if (ec) {
    throw std::system_error(ec, detail::closed_while_parked(ec) ? what + " (destroyed while waiting)" : what);
  }
  return st;
}

void Process::kill(int sig, std::error_code& ec) {
  ec.clear();
  if (!s_) return void(ec = std::error_code(ECHILD, std::system_category()));
  if (detail::Hub::current() != s_->hub) refuse_foreign_thread(s_.get(), "kill");
  if (const int e = s_->signal(sig)) ec = std::error_code(e, std::system_category());
}

void Process::kill(int sig) {
  std::error_code ec;
  kill(sig, ec);
  if (ec) throw std::system_error(ec, detail::describe_process(s_.get(), "kill") + " signal " + std::to_string(sig));
}

void Process::kill() { kill(SIGKILL); }
void Process::terminate() { kill(SIGTERM); }

}  // namespace grove::net
