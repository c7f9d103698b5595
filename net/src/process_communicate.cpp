// process_communicate.cpp: Process::communicate, feeding stdin and draining stdout and
// stderr at once in the calling green thread.
//
// One loop, no helper green threads: each turn tries every open pipe without parking
// (PipeStream calls with a zero timeout), and when none moved, parks once on all of
// them (one ev_io per pipe on this stack, stopped on the way out whatever happens, so
// a kill or grove::Timeout leaves nothing behind). So a child that fills stdout while
// the parent is still writing its stdin, or fills stderr while the parent reads stdout,
// always finds a reader. Then it waits for the child within what is left of the budget.
#include <grove/net/process.hpp>

#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <string>

#include <grove/errors.hpp>
#include <grove/net/process_error.hpp>

#include "process_state.hpp"
#include "socket_state.hpp"  // timeout_seconds, closed_while_parked

namespace grove::net {

namespace {

using detail::Hub;

constexpr std::size_t kChunk = 64 * 1024;

enum class Woken { kReady, kTimedOut, kDestroyed };

// Parks the running green thread until one of up to three fds is ready, `seconds` pass
// (< 0: no limit) or the Process is destroyed: the wait is also an ExitWaiter in the
// process's list, so ProcessState::dispose() wakes it (kDestroyed; the state and the
// Process are then gone). A reap seen by another waiter's watcher wakes it too (as
// kReady: the caller's next turn finds the pipes at end of file or parks again).
class MultiWait {
 public:
  MultiWait(Hub& hub, detail::ProcessState* s) : hub_(hub), s_(s) {}
  ~MultiWait() {
    for (int i = 0; i < n_; ++i) ev_io_stop(hub_.loop(), &w_[i]);
    if (!started_) return;
    hub_.watcher_stopped();
    if (me_.destroyed || me_.done) return;  // unlinked already (and s_ may be gone)
    if (me_.prev) me_.prev->next = me_.next; else s_->waiters = me_.next;
    if (me_.next) me_.next->prev = me_.prev;
  }
  MultiWait(const MultiWait&) = delete;
  MultiWait& operator=(const MultiWait&) = delete;

  void add(int fd, int events) {
    ev_io& w = w_[n_++];
    ev_io_init(&w, &on_ready, fd, events);
    w.data = this;
  }
  Woken wait(double seconds) {
    me_.gt = hub_.running();
    me_.next = s_->waiters;
    if (me_.next) me_.next->prev = &me_;
    s_->waiters = &me_;
    for (int i = 0; i < n_; ++i) ev_io_start(hub_.loop(), &w_[i]);
    hub_.watcher_started();
    started_ = true;
    const auto deadline = seconds < 0 ? std::chrono::steady_clock::time_point::max()
                                      : grove::detail::deadline_after(std::chrono::steady_clock::now(), seconds);
    while (!ready_ && !me_.done && !me_.destroyed) {
      if (seconds < 0) {
        hub_.park("communicate with a child process");
        continue;
      }
      const double left = std::chrono::duration<double>(deadline - std::chrono::steady_clock::now()).count();
      if (left <= 0 || !hub_.park_for(left, "communicate with a child process")) break;
    }
    if (me_.destroyed) return Woken::kDestroyed;
    return ready_ || me_.done ? Woken::kReady : Woken::kTimedOut;
  }

 private:
  static void on_ready(struct ev_loop* loop, ev_io* w, int) noexcept {
    auto* self = static_cast<MultiWait*>(w->data);
    ev_io_stop(loop, w);
    if (!self->ready_) {
      self->ready_ = true;
      self->hub_.wake(self->me_.gt);
    }
  }
  Hub& hub_;
  detail::ProcessState* s_;
  detail::ExitWaiter me_;
  ev_io w_[3];
  int n_ = 0;
  bool started_ = false;
  bool ready_ = false;
};

bool would_block(const std::error_code& ec) { return ec == std::errc::resource_unavailable_try_again; }

// One non-parking read of `p` appended to `out`. Returns true if it moved (data or
// end of file); closes `p` at end of file. Sets ec on an error.
bool drain_some(PipeStream& p, std::string& out, std::error_code& ec) {
  const std::size_t old = out.size();
  out.resize(old + kChunk);
  std::error_code e;
  const std::size_t n = p.recv_into(out.data() + old, kChunk, e);
  out.resize(old + n);
  if (would_block(e)) return false;
  if (e) return ec = e, false;
  if (n == 0) p.close();
  return true;
}

}  // namespace

ProcessOutput Process::communicate(std::string_view input, std::optional<Duration> timeout, std::error_code& ec) {
  ec.clear();
  ProcessOutput r;
  detail::ProcessState* s = s_.get();
  if (!s) return ec = std::error_code(ECHILD, std::system_category()), r;
  if (Hub::current() != s->hub) {
    throw UsageError(detail::describe_process(s, "communicate") +
                     ": used from another OS thread than the one whose hub started the process");
  }
  if (!input.empty() && !in_.is_open()) {
    throw UsageError(detail::describe_process(s, "communicate") + ": input given, but stdin is not a pipe (Stdio::pipe())");
  }
  Hub& hub = *s->hub;
  hub.check_may_block("grove::net::Process::communicate");
  using Clock = std::chrono::steady_clock;
  const double t = timeout ? detail::timeout_seconds(*timeout) : -1;
  const auto deadline = t >= 0 ? grove::detail::deadline_after(Clock::now(), t) : Clock::time_point::max();
  auto left = [&] {
    return t < 0 ? -1.0 : std::max(0.0, std::chrono::duration<double>(deadline - Clock::now()).count());
  };
  // Non-blocking for this call; the user's timeouts are put back on the way out.
  struct Timeouts {
    PipeStream* p[3];
    std::optional<Duration> saved[3];
    Timeouts(PipeStream& a, PipeStream& b, PipeStream& c) : p{&a, &b, &c} {
      for (int i = 0; i < 3; ++i) {
        saved[i] = p[i]->gettimeout();
        p[i]->settimeout(Duration::zero());
      }
    }
    bool gone = false;  // the Process was destroyed meanwhile: touch nothing
    ~Timeouts() {
      if (gone) return;
      for (int i = 0; i < 3; ++i) p[i]->settimeout(saved[i]);
    }
  } timeouts(in_, out_, err_);

  std::size_t written = 0;
  bool timed_out = false;
  if (in_.is_open() && input.empty()) in_.close();
  while (in_.is_open() || out_.is_open() || err_.is_open()) {
    bool moved = false;
    if (in_.is_open()) {
      std::error_code e;
      const std::size_t n = in_.send(input.data() + written, std::min(input.size() - written, kChunk), e);
      written += n;
      if (e == std::errc::broken_pipe || (!e && written == input.size())) {
        in_.close();  // done, or the child closed its stdin: the rest is dropped
        moved = true;
      } else if (!e) {
        moved = n > 0;
      } else if (!would_block(e)) {
        ec = e;
        return r;
      }
    }
    if (out_.is_open()) moved |= drain_some(out_, r.out, ec);
    if (ec) return r;
    if (err_.is_open()) moved |= drain_some(err_, r.err, ec);
    if (ec) return r;
    if (moved) continue;
    // Nothing moved: park on every open pipe at once.
    const double budget = left();
    if (budget == 0) {
      timed_out = true;
      break;
    }
    MultiWait mw(hub, s);
    if (in_.is_open()) mw.add(in_.fd(), EV_WRITE);
    if (out_.is_open()) mw.add(out_.fd(), EV_READ);
    if (err_.is_open()) mw.add(err_.fd(), EV_READ);
    const Woken w = mw.wait(budget);
    if (w == Woken::kDestroyed) {
      timeouts.gone = true;
      return ec = std::error_code(ECANCELED, std::system_category()), r;
    }
    if (w == Woken::kTimedOut) {
      timed_out = true;
      break;
    }
  }
  if (!timed_out) {
    const double budget = left();
    if (budget != 0) {
      std::error_code e;
      r.status = wait(budget < 0 ? std::nullopt : std::optional<Duration>(grove::seconds(budget)), e);
      if (detail::closed_while_parked(e)) {  // destroyed meanwhile: touch nothing
        timeouts.gone = true;
        return ec = e, r;
      }
      if (!e) return r;
      if (e != std::errc::timed_out) return ec = e, r;
    }
    timed_out = true;
  }
  // Out of time: kill and reap the child (it dies at once: SIGKILL), keep the output.
  s->signal(SIGKILL);
  std::error_code e;
  r.status = wait(std::nullopt, e);
  if (e) {
    timeouts.gone = detail::closed_while_parked(e);
    return ec = e, r;
  }
  ec = std::make_error_code(std::errc::timed_out);
  return r;
}

ProcessOutput Process::communicate(std::string_view input, std::optional<Duration> timeout) {
  const std::string what = detail::describe_process(s_.get(), "communicate");
  std::error_code ec;
  ProcessOutput r = communicate(input, timeout, ec);
  if (ec == std::errc::timed_out) {
    throw ProcessTimeout(what + ": timed out; the child was killed", r);
  }
  if (ec) throw std::system_error(ec, detail::closed_while_parked(ec) ? what + " (destroyed while waiting)" : what);
  return r;
}

}  // namespace grove::net
