// prefork_supervisor.cpp: the parent side of prefork: forks the workers, replaces the
// ones that die (with a back-off for a crash loop), stops them gracefully and rolls
// them on request. The behaviour is described in grove/net/prefork.hpp.
//
// One green thread does all of it, in a loop: read the self-pipe (records: signal
// numbers from the handlers of prefork_signal_pipe.cpp, stop() and restart() calls,
// workers that became ready), reap, act, then park in wait_readable on the pipe until the next byte
// or the next deadline (a restart due, a worker to SIGKILL).
#include <grove/net/prefork.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <grove/errors.hpp>
#include <grove/log.hpp>
#include <spdlog/fmt/fmt.h>

#include "endpoint.hpp"
#include "prefork_heartbeat.hpp"
#include "prefork_signal_pipe.hpp"
#include "prefork_worker.hpp"

namespace grove::net {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr std::size_t kMaxWorkers = 1024;
// A worker that dies sooner than this after its start is in a crash loop.
constexpr Duration kCrashUptime = 1s;
constexpr Duration kFirstBackoff = 100ms;
// The longest park without news: a safety net only (every event writes the pipe).
constexpr Duration kMaxPark = 1s;

double ms(Duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = ::sigabbrev_np(sig);
    return std::string("was killed by signal ") + std::to_string(sig) + (name ? std::string(" (SIG") + name + ")" : "");
  }
  return "ended (status " + std::to_string(status) + ")";
}

}  // namespace

struct PreforkSupervisor::Impl {
  Socket listener;                  // slot 0's with reuse_port
  std::vector<Socket> slot_listeners;  // reuse_port: slots 1 to n - 1 (run() binds them)
  Address address;
  std::string unlink_path;  // a Unix socket file the endpoint constructor made
  Worker worker;
  PreforkOptions opts;
  int pipe[2] = {-1, -1};
  bool ran = false;

  // A worker process.
  struct Process {
    pid_t pid = 0;
    std::size_t slot = 0;
    unsigned generation = 0;      // the rolling restart it was started for
    Clock::time_point started;
    bool ready = false;           // it called wait_for_stop(): it serves
    bool asked_to_stop = false;   // sent SIGTERM: it is leaving, nothing replaces it
    bool killed = false;          // sent SIGKILL
    Clock::time_point kill_at;    // when it gets SIGKILL, once asked to stop
    int beat = -1;                // its heartbeat cell, -1: none (heartbeat_timeout 0)
  };
  // A place for one serving worker.
  struct Slot {
    bool start_due = false;       // needs a worker at `start_at`
    Clock::time_point start_at;
    unsigned quick_deaths = 0;    // deaths within kCrashUptime in a row
  };
  std::vector<Process> procs;
  std::vector<Slot> slots;
  unsigned generation = 0;        // bumped by each rolling restart request
  bool stopping = false;
  Clock::time_point roll_wake_at = Clock::time_point::max();  // when roll() waits for time
  alignas(detail::SupervisorRecord) char partial[sizeof(detail::SupervisorRecord)] = {};  // a record read in part
  std::size_t partial_len = 0;

  const detail::SupervisorSignalPipe* signals = nullptr;  // during run()
  std::unique_ptr<detail::HeartbeatTable> beats;          // during run(), with heartbeat_timeout

  void check_options() const;
  void make_pipe();
  void supervise();
  void drain_pipe(bool& stop, bool& roll);
  void on_record(detail::SupervisorRecord rec, bool& stop, bool& roll);
  bool serves_slot(std::size_t slot) const noexcept;
  void reap();
  void on_exit(const Process& p, int status);
  bool fork_worker(std::size_t slot);
  void ask_to_stop(Process& p, Clock::time_point deadline);
  void begin_stop();
  void roll();
  void kill_overdue(Clock::time_point now);
  void kill_silent(Clock::time_point now);
  Clock::time_point beat_deadline(const Process& p) const noexcept;
  Clock::time_point next_deadline(Clock::time_point now) const;
  void kill_all_now() noexcept;
  Duration backoff(unsigned quick_deaths) const noexcept;
  void close_listener() noexcept;
  void bind_slot_listeners(std::size_t n);
  Socket& listener_of(std::size_t slot) noexcept {
    return slot == 0 || slot_listeners.empty() ? listener : slot_listeners[slot - 1];
  }
};

void PreforkSupervisor::Impl::check_options() const {
  if (!worker) throw UsageError("grove::net::PreforkSupervisor: the worker function is empty");
  if (opts.workers > kMaxWorkers) {
    throw UsageError("grove::net::PreforkSupervisor: PreforkOptions::workers = " + std::to_string(opts.workers) +
                     " is more than " + std::to_string(kMaxWorkers) + " worker processes");
  }
  if (opts.stop_timeout < Duration::zero() || opts.restart_backoff_max < Duration::zero() ||
      opts.heartbeat_timeout < Duration::zero()) {
    throw UsageError("grove::net::PreforkSupervisor: PreforkOptions::stop_timeout, restart_backoff_max and "
                     "heartbeat_timeout must not be negative");
  }
  std::error_code ec;
  const int accepting = listener.get_option(SOL_SOCKET, SO_ACCEPTCONN, ec);
  if (ec || !accepting || listener.type() != SocketType::kStream) {
    throw UsageError("grove::net::PreforkSupervisor: the listener is not a listening stream socket (bind and "
                     "listen() it first)");
  }
  if (opts.reuse_port) {
    if (listener.family() == Family::kUnix) {
      throw UsageError("grove::net::PreforkSupervisor: PreforkOptions::reuse_port on a Unix socket (SO_REUSEPORT "
                       "is for TCP: leave it off, the workers then share the one listener)");
    }
    if (!listener.get_option(SOL_SOCKET, SO_REUSEPORT, ec) || ec) {
      throw UsageError("grove::net::PreforkSupervisor: PreforkOptions::reuse_port needs a listener bound with "
                       "SO_REUSEPORT (set_reuse_port(true) before bind)");
    }
  }
}

void PreforkSupervisor::Impl::make_pipe() {
  if (::pipe2(pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
    throw std::system_error(errno, std::system_category(), "grove::net::PreforkSupervisor: pipe2");
  }
}

PreforkSupervisor::PreforkSupervisor(Socket listener, Worker worker, PreforkOptions options)
    : impl_(std::make_unique<Impl>()) {
  Impl& im = *impl_;
  im.listener = std::move(listener);
  im.worker = std::move(worker);
  im.opts = std::move(options);
  im.check_options();
  im.address = im.listener.local_address();
  im.make_pipe();
}

PreforkSupervisor::PreforkSupervisor(std::string_view endpoint, Worker worker, PreforkOptions options)
    : impl_(std::make_unique<Impl>()) {
  Impl& im = *impl_;
  im.worker = std::move(worker);
  im.opts = std::move(options);
  // Checked before binding, so a bad option leaves no socket file behind.
  if (!im.worker || im.opts.workers > kMaxWorkers) im.check_options();
  const auto ep = detail::Endpoint::parse(endpoint, detail::Endpoint::Use::kListen);
  const Address want = ep.listen_address("grove::net::PreforkSupervisor");
  Socket s(want.family(), SocketType::kStream);
  if (want.family() != Family::kUnix) {
    s.set_reuse_address(true);
    if (im.opts.reuse_port) s.set_reuse_port(true);  // before bind (check_options refuses Unix)
  }
  s.bind(want);
  im.listener = std::move(s);
  im.address = im.listener.local_address();
  if (im.address.family() == Family::kUnix && !im.address.host().empty() && im.address.host()[0] != '@') {
    im.unlink_path = im.address.host();
  }
  try {
    im.listener.listen(im.opts.backlog);
    im.check_options();
    im.make_pipe();
  } catch (...) {
    im.close_listener();
    throw;
  }
}

PreforkSupervisor::~PreforkSupervisor() {
  Impl& im = *impl_;
  im.close_listener();
  if (im.pipe[0] >= 0) ::close(im.pipe[0]);
  if (im.pipe[1] >= 0) ::close(im.pipe[1]);
}

const Address& PreforkSupervisor::address() const noexcept { return impl_->address; }

std::vector<int> PreforkSupervisor::worker_pids() const {
  std::vector<std::pair<std::size_t, int>> serving;
  for (const Impl::Process& p : impl_->procs) {
    if (!p.asked_to_stop) serving.emplace_back(p.slot, p.pid);
  }
  std::sort(serving.begin(), serving.end());
  std::vector<int> out;
  for (const auto& s : serving) out.push_back(s.second);
  return out;
}

void PreforkSupervisor::stop() noexcept {
  const detail::SupervisorRecord rec = detail::kStopCall;
  [[maybe_unused]] const ssize_t r = ::write(impl_->pipe[1], &rec, sizeof rec);
}

void PreforkSupervisor::restart() noexcept {
  const detail::SupervisorRecord rec = detail::kRestartCall;
  [[maybe_unused]] const ssize_t r = ::write(impl_->pipe[1], &rec, sizeof rec);
}

void PreforkSupervisor::run() {
  Impl& im = *impl_;
  if (im.ran) throw UsageError("grove::net::PreforkSupervisor::run: called twice (the listener is closed when it returns)");
  const detail::SupervisorSignalPipe signals(im.pipe[1]);
  im.ran = true;
  im.signals = &signals;
  struct Finish {
    Impl& im;
    ~Finish() {
      im.kill_all_now();  // none left unless run() is unwinding
      im.close_listener();
      im.signals = nullptr;
      im.beats.reset();
    }
  } finish{im};

  std::size_t n = im.opts.workers;
  if (n == 0) {
    const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
    n = cpus > 0 ? static_cast<std::size_t>(cpus) : 1;
  }
  im.slots.assign(n, Impl::Slot{true, Clock::now(), 0});
  if (im.opts.reuse_port) im.bind_slot_listeners(n);
  // A cell per live worker: a slot has two in a rolling restart, and one being
  // stopped may still live beside a replacement of its own; 3 per slot is plenty
  // (a worker forked when none is free goes unwatched, see fork_worker).
  if (im.opts.heartbeat_timeout > Duration::zero()) im.beats = std::make_unique<detail::HeartbeatTable>(3 * n + 2);
  grove::logger().info("{}: {} workers serving {}", im.opts.name, n, im.address.to_string());
  im.supervise();
  grove::logger().info("{}: every worker has exited", im.opts.name);
}

void PreforkSupervisor::Impl::supervise() {
  for (;;) {
    bool stop = false, roll_asked = false;
    drain_pipe(stop, roll_asked);
    reap();
    if (stop && !stopping) begin_stop();
    if (roll_asked && !stopping) {
      ++generation;
      grove::logger().info("{}: rolling restart of {} workers", opts.name, slots.size());
    }
    const Clock::time_point now = Clock::now();
    if (stopping) {
      if (procs.empty()) return;
    } else {
      for (std::size_t i = 0; i < slots.size(); ++i) {
        if (slots[i].start_due && slots[i].start_at <= now) fork_worker(i);
      }
      roll();
    }
    kill_overdue(now);
    if (!stopping) kill_silent(Clock::now());
    const Clock::time_point next = next_deadline(Clock::now());
    const Duration wait = std::max(Duration::zero(), std::chrono::duration_cast<Duration>(next - Clock::now()));
    std::error_code ec;
    wait_readable(pipe[0], wait, ec);
    if (ec && ec != std::errc::timed_out) throw std::system_error(ec, "grove::net::PreforkSupervisor::run: wait");
  }
}

void PreforkSupervisor::Impl::drain_pipe(bool& stop, bool& roll_asked) {
  char buf[256];
  for (;;) {
    const ssize_t n = ::read(pipe[0], buf, sizeof buf);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return;
    }
    // Every write is one whole record, so reads of a multiple of its size get whole
    // records; `partial` is there in case a read ever stops inside one.
    for (ssize_t i = 0; i < n; ++i) {
      partial[partial_len++] = buf[i];
      if (partial_len == sizeof partial) {
        detail::SupervisorRecord rec;
        std::memcpy(&rec, partial, sizeof rec);
        partial_len = 0;
        on_record(rec, stop, roll_asked);
      }
    }
  }
}

void PreforkSupervisor::Impl::on_record(detail::SupervisorRecord rec, bool& stop, bool& roll_asked) {
  if (rec < 0) {
    for (Process& p : procs) {
      if (p.pid == -rec) p.ready = true;
    }
    return;
  }
  const char* why = rec == SIGTERM           ? "SIGTERM"
                    : rec == SIGINT          ? "SIGINT"
                    : rec == detail::kStopCall ? "stop()"
                                             : nullptr;
  if (why) {
    if (!stopping && !stop) {
      grove::logger().info("{}: {}: stopping the workers (stop timeout {:.0f} ms)", opts.name, why,
                           ms(opts.stop_timeout));
    }
    stop = true;
  } else if (rec == SIGHUP || rec == detail::kRestartCall) {
    roll_asked = true;
  }
  // SIGCHLD: reap() looks at every worker anyway.
}

bool PreforkSupervisor::Impl::serves_slot(std::size_t slot) const noexcept {
  for (const Process& p : procs) {
    if (p.slot == slot && !p.asked_to_stop) return true;
  }
  return false;
}

void PreforkSupervisor::Impl::reap() {
  for (std::size_t i = 0; i < procs.size();) {
    int status = 0;
    const pid_t r = ::waitpid(procs[i].pid, &status, WNOHANG);
    if (r == procs[i].pid || (r < 0 && errno == ECHILD)) {
      // ECHILD: reaped by someone else (a waitpid(-1) elsewhere in the process).
      const Process p = procs[i];
      procs.erase(procs.begin() + static_cast<std::ptrdiff_t>(i));
      if (beats) beats->give_back(p.beat);
      on_exit(p, r < 0 ? 0 : status);
    } else {
      ++i;
    }
  }
}

void PreforkSupervisor::Impl::on_exit(const Process& p, int status) {
  const Duration uptime = Clock::now() - p.started;
  if (p.asked_to_stop || stopping) {
    grove::logger().info("{}: worker {} (pid {}) {}", opts.name, p.slot, p.pid, describe_status(status));
    return;
  }
  Slot& s = slots[p.slot];
  if (uptime < kCrashUptime) {
    ++s.quick_deaths;
  } else {
    s.quick_deaths = 0;
  }
  const Duration delay = backoff(s.quick_deaths);
  // In a rolling restart the slot may have another worker (the old one, or its
  // replacement): then the slot is served, and the back-off only delays roll().
  s.start_at = Clock::now() + delay;
  if (serves_slot(p.slot)) {
    grove::logger().warn("{}: worker {} (pid {}) {} after {:.0f} ms; its slot has another worker", opts.name,
                         p.slot, p.pid, describe_status(status), ms(uptime));
    return;
  }
  s.start_due = true;
  if (s.quick_deaths > 1) {
    grove::logger().error("{}: worker {} (pid {}) {} {:.0f} ms after it started, {} times in a row (crash loop); "
                          "restarting it in {:.0f} ms",
                          opts.name, p.slot, p.pid, describe_status(status), ms(uptime), s.quick_deaths, ms(delay));
  } else {
    grove::logger().warn("{}: worker {} (pid {}) {} after {:.0f} ms; restarting it{}", opts.name, p.slot, p.pid,
                         describe_status(status), ms(uptime),
                         delay > Duration::zero() ? fmt::format(" in {:.0f} ms", ms(delay)) : std::string());
  }
}

// The wait before a slot's next start: none after a worker that lived, then 100 ms,
// doubling with each quick death in a row, at most restart_backoff_max.
Duration PreforkSupervisor::Impl::backoff(unsigned quick_deaths) const noexcept {
  if (quick_deaths == 0) return Duration::zero();
  Duration delay = kFirstBackoff;
  for (unsigned k = 1; k < quick_deaths && delay < opts.restart_backoff_max; ++k) delay *= 2;
  return std::min(delay, opts.restart_backoff_max);
}

bool PreforkSupervisor::Impl::fork_worker(std::size_t slot) {
  Slot& s = slots[slot];
  const pid_t parent = ::getpid();
  std::fflush(nullptr);  // or the child would write this process's buffered output again
  const int beat = beats ? beats->take() : -1;  // stamped now: silence counts from the fork
  if (beats && beat < 0) {
    grove::logger().warn("{}: no free heartbeat cell for worker {}: its heartbeat is not watched", opts.name, slot);
  }
  pid_t pid;
  {
    const detail::SupervisorSignalsBlocked blocked;
    pid = ::fork();
    if (pid == 0) {
      detail::WorkerStart start;
      start.index = slot;
      start.supervisor = parent;
      start.supervisor_pipe[0] = pipe[0];
      start.supervisor_pipe[1] = pipe[1];
      start.previous_chld = &signals->previous(SIGCHLD);
      start.previous_hup = &signals->previous(SIGHUP);
      start.mask = &blocked.previous_mask();
      start.name = &opts.name;
      // With reuse_port the worker gets its slot's socket and none of the others.
      if (!slot_listeners.empty()) {
        for (std::size_t k = 0; k <= slot_listeners.size(); ++k) {
          if (k != slot) listener_of(k).close();
        }
      }
      if (beats) {
        start.heartbeat = beats->cell(beat);
        // A quarter of the timeout: a healthy worker's cell is never older than that
        // plus one loop turn.
        start.heartbeat_interval = std::max<Duration>(opts.heartbeat_timeout / 4, std::chrono::milliseconds(1));
      }
      detail::run_worker_process(start, listener_of(slot), worker);
    }
  }
  if (pid < 0) {
    const int e = errno;
    if (beats) beats->give_back(beat);
    const Duration delay = backoff(++s.quick_deaths);
    grove::logger().error("{}: cannot fork worker {}: {}; retrying in {:.0f} ms", opts.name, slot, std::strerror(e),
                          ms(delay));
    s.start_due = true;
    s.start_at = Clock::now() + delay;
    return false;
  }
  s.start_due = false;
  Process p;
  p.pid = pid;
  p.slot = slot;
  p.generation = generation;
  p.started = Clock::now();
  p.beat = beat;
  procs.push_back(p);
  grove::logger().info("{}: worker {} started (pid {})", opts.name, slot, pid);
  return true;
}

void PreforkSupervisor::Impl::ask_to_stop(Process& p, Clock::time_point deadline) {
  if (!p.asked_to_stop) {
    p.asked_to_stop = true;
    p.kill_at = deadline;
    ::kill(p.pid, SIGTERM);
  } else {
    p.kill_at = std::min(p.kill_at, deadline);
  }
}

void PreforkSupervisor::Impl::begin_stop() {
  stopping = true;
  for (Slot& s : slots) s.start_due = false;
  const Clock::time_point deadline = Clock::now() + opts.stop_timeout;
  for (Process& p : procs) ask_to_stop(p, deadline);
}

void PreforkSupervisor::Impl::roll() {
  roll_wake_at = Clock::time_point::max();
  // One slot at a time: wait while an old worker is still leaving.
  for (const Process& p : procs) {
    if (p.asked_to_stop) return;
  }
  // The lowest slot that has a worker of an earlier generation.
  const Process* old = nullptr;
  for (const Process& p : procs) {
    if (p.generation < generation && (!old || p.slot < old->slot)) old = &p;
  }
  if (!old) return;
  const std::size_t slot = old->slot;
  const pid_t old_pid = old->pid;
  const Process* fresh = nullptr;
  for (const Process& p : procs) {
    if (p.slot == slot && p.generation == generation) fresh = &p;
  }
  const Clock::time_point now = Clock::now();
  if (!fresh) {
    // Its replacement: after the slot's back-off if replacements keep dying (the old
    // worker serves meanwhile). A fork that fails schedules the slot's start instead.
    if (slots[slot].start_due) return;
    if (now < slots[slot].start_at) {
      roll_wake_at = slots[slot].start_at;
      return;
    }
    if (fork_worker(slot)) roll_wake_at = Clock::now() + opts.stop_timeout;  // when to give up waiting
    return;
  }
  // The old worker leaves once its replacement serves (or could have, by now).
  const Clock::time_point give_up = fresh->started + opts.stop_timeout;
  if (!fresh->ready && now < give_up) {
    roll_wake_at = give_up;
    return;
  }
  for (Process& p : procs) {
    if (p.pid == old_pid) ask_to_stop(p, now + opts.stop_timeout);
  }
}

void PreforkSupervisor::Impl::kill_overdue(Clock::time_point now) {
  for (Process& p : procs) {
    if (p.asked_to_stop && !p.killed && now >= p.kill_at) {
      grove::logger().warn("{}: worker {} (pid {}) did not exit within {:.0f} ms of SIGTERM: SIGKILL", opts.name,
                           p.slot, p.pid, ms(opts.stop_timeout));
      ::kill(p.pid, SIGKILL);
      p.killed = true;
    }
  }
}

// When a serving worker's silence reaches heartbeat_timeout (max: not watched).
Clock::time_point PreforkSupervisor::Impl::beat_deadline(const Process& p) const noexcept {
  if (!beats || p.beat < 0 || p.asked_to_stop || p.killed) return Clock::time_point::max();
  const auto last = std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(beats->last_beat(p.beat)));
  return Clock::time_point(last) + std::chrono::duration_cast<Clock::duration>(opts.heartbeat_timeout);
}

// A worker whose hub has not turned for heartbeat_timeout (its heartbeat cell is that
// old) serves nobody while its process lives: SIGKILL; reap() then replaces it as any
// worker that died. One being stopped is left to kill_overdue (stop_timeout).
void PreforkSupervisor::Impl::kill_silent(Clock::time_point now) {
  if (!beats) return;
  for (Process& p : procs) {
    if (beat_deadline(p) > now) continue;
    const Duration silent = std::chrono::nanoseconds(detail::heartbeat_now() - beats->last_beat(p.beat));
    grove::logger().error("{}: worker {} (pid {}) has been silent for {:.0f} ms (heartbeat_timeout {:.0f} ms: its hub "
                          "has not run its loop, a green thread does not yield or blocks its OS thread): SIGKILL",
                          opts.name, p.slot, p.pid, ms(silent), ms(opts.heartbeat_timeout));
    ::kill(p.pid, SIGKILL);
    p.killed = true;
  }
}

Clock::time_point PreforkSupervisor::Impl::next_deadline(Clock::time_point now) const {
  Clock::time_point next = now + kMaxPark;
  if (!stopping) {
    for (const Slot& s : slots) {
      if (s.start_due) next = std::min(next, s.start_at);
    }
    next = std::min(next, roll_wake_at);
    for (const Process& p : procs) next = std::min(next, beat_deadline(p));
  }
  for (const Process& p : procs) {
    if (p.asked_to_stop && !p.killed) next = std::min(next, p.kill_at);
  }
  return next;
}

void PreforkSupervisor::Impl::kill_all_now() noexcept {
  if (procs.empty()) return;
  try {
    grove::logger().warn("{}: run() is interrupted: SIGKILL to {} workers", opts.name, procs.size());
  } catch (...) {
  }
  for (const Process& p : procs) ::kill(p.pid, SIGKILL);
  // They die at once; this blocks the OS thread only that long.
  for (const Process& p : procs) {
    int status = 0;
    while (::waitpid(p.pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  procs.clear();
}

// reuse_port: a listening socket per slot, all in one SO_REUSEPORT group with the
// listener (slot 0's). The kernel spreads connections over the group by a hash of
// their addresses, and only the slot's worker watches its socket: one wake-up per
// connection. This process keeps every socket open, so a worker that dies leaves
// the connections queued on its socket to its replacement instead of resetting them.
void PreforkSupervisor::Impl::bind_slot_listeners(std::size_t n) {
  slot_listeners.clear();
  slot_listeners.reserve(n - 1);
  for (std::size_t k = 1; k < n; ++k) {
    Socket s(address.family(), SocketType::kStream);
    s.set_reuse_address(true);
    s.set_reuse_port(true);
    s.bind(address);
    s.listen(opts.backlog);
    slot_listeners.push_back(std::move(s));
  }
}

void PreforkSupervisor::Impl::close_listener() noexcept {
  listener.close();
  for (Socket& s : slot_listeners) s.close();
  slot_listeners.clear();
  if (!unlink_path.empty()) {
    ::unlink(unlink_path.c_str());
    unlink_path.clear();
  }
}

void prefork(Socket listener, PreforkSupervisor::Worker worker, PreforkOptions options) {
  PreforkSupervisor(std::move(listener), std::move(worker), std::move(options)).run();
}

void prefork(std::string_view endpoint, PreforkSupervisor::Worker worker, PreforkOptions options) {
  PreforkSupervisor(endpoint, std::move(worker), std::move(options)).run();
}

}  // namespace grove::net
