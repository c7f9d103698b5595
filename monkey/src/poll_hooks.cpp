// poll_hooks.cpp: poll, ppoll, select, pselect, epoll_wait, epoll_pwait (+ __poll,
// __poll_chk, __ppoll_chk).
//
// A green thread waiting on several fds parks on all of them at once: one ev_io per
// fd (an epoll fd is itself pollable, so epoll_wait needs just one) plus a timer.
// After each wake the real call runs again with a zero timeout, so what the caller
// sees (revents, fd sets, events) is always the kernel's own answer.
//
// The signal mask of ppoll / pselect / epoll_pwait is applied to those zero-timeout
// real calls, not while parked: the green thread's OS thread keeps running the hub.
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <vector>

#include "coop.hpp"
#include "real.hpp"

using namespace grove::monkey::detail;
using grove::detail::GreenThreadState;
using grove::detail::Hub;
using grove::detail::ParkTimer;
using grove::detail::WakeReason;

extern "C" [[noreturn]] void __chk_fail(void);

#define GROVE_HOOK extern "C" __attribute__((visibility("default")))

namespace {

struct Watch {
  ev_io io;
  Hub* hub;
  GreenThreadState* gt;
  bool active;
};

void on_watch(struct ev_loop*, ev_io* io, int) noexcept {
  auto* w = static_cast<Watch*>(io->data);
  ev_io_stop(w->hub->loop(), io);
  w->active = false;
  w->hub->watcher_stopped();
  w->hub->wake(w->gt);
}

int ev_mask(short pollevents) {
  int m = 0;
  if (pollevents & (POLLIN | POLLPRI | POLLRDHUP)) m |= EV_READ;
  if (pollevents & POLLOUT) m |= EV_WRITE;
  return m;
}

// Parks once on every fd of `fds` (with a non-zero event mask) and the deadline.
Wait park_on(Hub& hub, const pollfd* fds, nfds_t n, double deadline, const char* what) {
  GreenThreadState* me = hub.running();
  if (me->pending) return Wait::kInterrupted;
  double left = -1;
  if (deadline >= 0) {
    left = deadline - mono_now();
    if (left <= 0) return Wait::kTimedOut;
  }
  Watch small[8];
  std::vector<Watch> big;
  Watch* ws = small;
  if (n > 8) {
    big.resize(n);
    ws = big.data();
  }
  for (nfds_t i = 0; i < n; ++i) {
    const int m = fds[i].fd >= 0 ? ev_mask(fds[i].events) : 0;
    ws[i].active = false;
    if (!m) continue;
    ws[i].hub = &hub;
    ws[i].gt = me;
    ev_io_init(&ws[i].io, on_watch, fds[i].fd, m);
    ws[i].io.data = &ws[i];
    ev_io_start(hub.loop(), &ws[i].io);
    ws[i].active = true;
    hub.watcher_started();
  }
  WakeReason why;
  if (left > 0) {
    ParkTimer timer(hub, me, left);
    hub.park_nothrow(what);
    why = me->wake_reason;
  } else {
    hub.park_nothrow(what);
    why = me->wake_reason;
  }
  for (nfds_t i = 0; i < n; ++i) {
    if (!ws[i].active) continue;
    ev_io_stop(hub.loop(), &ws[i].io);
    hub.watcher_stopped();
  }
  if (why == WakeReason::kInterrupted || me->pending) return Wait::kInterrupted;
  if (why == WakeReason::kTimedOut) return Wait::kTimedOut;
  return Wait::kReady;
}

double deadline_after(double seconds) { return seconds < 0 ? -1 : mono_now() + seconds; }

double ts_seconds(const timespec* ts) {
  return ts ? static_cast<double>(ts->tv_sec) + static_cast<double>(ts->tv_nsec) * 1e-9 : -1;
}

const timespec kZero{0, 0};

int coop_ppoll(Hub& hub, pollfd* fds, nfds_t n, double timeout, const sigset_t* mask, const char* what) {
  int r = real().ppoll(fds, n, &kZero, mask);
  if (r != 0 || timeout == 0) return r;
  const double deadline = deadline_after(timeout);
  for (;;) {
    const Wait w = park_on(hub, fds, n, deadline, what);
    r = real().ppoll(fds, n, &kZero, mask);
    if (r != 0) return r;
    if (w == Wait::kTimedOut) return 0;
    if (w == Wait::kInterrupted) {
      set_wait_errno(hub, w, 0);
      return -1;
    }
  }
}

int do_poll(pollfd* fds, nfds_t n, int timeout_ms) {
  Hub* hub = coop_hub(kSockets);
  if (!hub) return real().poll(fds, n, timeout_ms);
  return coop_ppoll(*hub, fds, n, timeout_ms < 0 ? -1 : timeout_ms / 1000.0, nullptr, "monkey: poll");
}

int do_ppoll(pollfd* fds, nfds_t n, const timespec* ts, const sigset_t* mask) {
  Hub* hub = coop_hub(kSockets);
  if (!hub) return real().ppoll(fds, n, ts, mask);
  return coop_ppoll(*hub, fds, n, ts_seconds(ts), mask, "monkey: ppoll");
}

// select / pselect: fd sets -> pollfds to park on; the answer comes from the real call.
int coop_select(Hub& hub, int nfds, fd_set* rd, fd_set* wr, fd_set* ex, double timeout, const sigset_t* mask,
                const char* what, double* left_out) {
  fd_set r0, w0, e0;
  if (rd) r0 = *rd;
  if (wr) w0 = *wr;
  if (ex) e0 = *ex;
  const double deadline = deadline_after(timeout);
  std::vector<pollfd> pfds;
  for (;;) {
    if (rd) *rd = r0;
    if (wr) *wr = w0;
    if (ex) *ex = e0;
    const int r = real().pselect(nfds, rd, wr, ex, &kZero, mask);
    if (r != 0 || timeout == 0) return r;
    Wait w = Wait::kReady;
    {
      if (pfds.empty()) {
        for (int fd = 0; fd < nfds && fd < FD_SETSIZE; ++fd) {
          short ev = 0;
          if (rd && FD_ISSET(fd, &r0)) ev |= POLLIN;
          if (wr && FD_ISSET(fd, &w0)) ev |= POLLOUT;
          if (ex && FD_ISSET(fd, &e0)) ev |= POLLPRI;
          if (ev) pfds.push_back(pollfd{fd, ev, 0});
        }
      }
      w = park_on(hub, pfds.data(), pfds.size(), deadline, what);
    }
    if (deadline >= 0 && left_out) {
      const double left = deadline - mono_now();
      *left_out = left > 0 ? left : 0;
    }
    if (w == Wait::kTimedOut || w == Wait::kInterrupted) {
      if (rd) *rd = r0;
      if (wr) *wr = w0;
      if (ex) *ex = e0;
      const int r2 = real().pselect(nfds, rd, wr, ex, &kZero, mask);
      if (r2 != 0) return r2;
      if (w == Wait::kTimedOut) return 0;
      set_wait_errno(hub, w, 0);
      return -1;
    }
  }
}

}  // namespace

GROVE_HOOK int poll(pollfd* fds, nfds_t n, int timeout_ms) { return do_poll(fds, n, timeout_ms); }

GROVE_HOOK int __poll(pollfd* fds, nfds_t n, int timeout_ms) { return do_poll(fds, n, timeout_ms); }

GROVE_HOOK int __poll_chk(pollfd* fds, nfds_t n, int timeout_ms, size_t fdslen) {
  if (fdslen / sizeof(*fds) < n) __chk_fail();
  return do_poll(fds, n, timeout_ms);
}

GROVE_HOOK int ppoll(pollfd* fds, nfds_t n, const timespec* ts, const sigset_t* mask) {
  return do_ppoll(fds, n, ts, mask);
}

GROVE_HOOK int __ppoll_chk(pollfd* fds, nfds_t n, const timespec* ts, const sigset_t* mask, size_t fdslen) {
  if (fdslen / sizeof(*fds) < n) __chk_fail();
  return do_ppoll(fds, n, ts, mask);
}

// As Linux does, *tv is updated to the time not slept.
GROVE_HOOK int select(int nfds, fd_set* rd, fd_set* wr, fd_set* ex, timeval* tv) {
  Hub* hub = coop_hub(kSockets);
  if (!hub) return real().select(nfds, rd, wr, ex, tv);
  const double t = tv ? static_cast<double>(tv->tv_sec) + static_cast<double>(tv->tv_usec) * 1e-6 : -1;
  double left = t;
  const int r = coop_select(*hub, nfds, rd, wr, ex, t, nullptr, "monkey: select", &left);
  if (tv && t > 0) {
    const double l = left > 0 ? left : 0;
    tv->tv_sec = static_cast<time_t>(l);
    tv->tv_usec = static_cast<suseconds_t>((l - static_cast<double>(tv->tv_sec)) * 1e6);
  }
  return r;
}

GROVE_HOOK int pselect(int nfds, fd_set* rd, fd_set* wr, fd_set* ex, const timespec* ts, const sigset_t* mask) {
  Hub* hub = coop_hub(kSockets);
  if (!hub) return real().pselect(nfds, rd, wr, ex, ts, mask);
  return coop_select(*hub, nfds, rd, wr, ex, ts_seconds(ts), mask, "monkey: pselect", nullptr);
}

namespace {

int coop_epoll(Hub& hub, int epfd, epoll_event* ev, int max, int timeout_ms, const sigset_t* mask,
               const char* what) {
  int r = real().epoll_pwait(epfd, ev, max, 0, mask);
  if (r != 0 || timeout_ms == 0) return r;
  const double deadline = timeout_ms < 0 ? -1 : mono_now() + timeout_ms / 1000.0;
  for (;;) {
    const Wait w = wait_fd(hub, nullptr, epfd, EV_READ, deadline, what);
    r = real().epoll_pwait(epfd, ev, max, 0, mask);
    if (r != 0) return r;
    if (w == Wait::kTimedOut) return 0;
    if (w != Wait::kReady) {
      set_wait_errno(hub, w, 0);
      return -1;
    }
  }
}

}  // namespace

GROVE_HOOK int epoll_wait(int epfd, epoll_event* ev, int max, int timeout_ms) {
  Hub* hub = coop_hub(kSockets);
  if (!hub) return real().epoll_wait(epfd, ev, max, timeout_ms);
  return coop_epoll(*hub, epfd, ev, max, timeout_ms, nullptr, "monkey: epoll_wait");
}

GROVE_HOOK int epoll_pwait(int epfd, epoll_event* ev, int max, int timeout_ms, const sigset_t* mask) {
  Hub* hub = coop_hub(kSockets);
  if (!hub) return real().epoll_pwait(epfd, ev, max, timeout_ms, mask);
  return coop_epoll(*hub, epfd, ev, max, timeout_ms, mask, "monkey: epoll_pwait");
}
