// coop.cpp: parking a green thread from a libc hook. See coop.hpp.
#include "coop.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cmath>
#include <ctime>

#include "real.hpp"

namespace grove::monkey::detail {

using grove::detail::GreenThreadState;
using grove::detail::Hub;
using grove::detail::ParkTimer;
using grove::detail::WakeReason;

std::atomic<unsigned> g_patched{0};

int interrupt_errno(Hub& hub) noexcept {
  const std::uint8_t p = hub.running()->pending;
  if (!p) return 0;
  if (p & grove::detail::kPendingKill) return ECANCELED;
  if (p & grove::detail::kPendingTimeout) return ETIMEDOUT;
  return ECANCELED;
}

double mono_now() noexcept {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

namespace {

void on_io(struct ev_loop*, ev_io* io, int) noexcept {
  auto* w = static_cast<FdWaiter*>(io->data);
  ev_io_stop(w->hub->loop(), io);
  w->active = false;
  w->hub->watcher_stopped();
  w->hub->wake(w->gt);
}

}  // namespace

Wait wait_fd(Hub& hub, FdState* st, int fd, int events, double deadline, const char* what) noexcept {
  GreenThreadState* me = hub.running();
  if (me->pending) return Wait::kInterrupted;
  double left = -1;
  if (deadline >= 0) {
    left = deadline - mono_now();
    if (left <= 0) return Wait::kTimedOut;
  }
  FdWaiter w;
  w.hub = &hub;
  w.gt = me;
  ev_io_init(&w.io, on_io, fd, events);
  w.io.data = &w;
  if (st) {
    st->lock_waiters();
    w.next = st->waiters;
    if (w.next) w.next->prev = &w;
    st->waiters = &w;
    st->unlock_waiters();
  }
  ev_io_start(hub.loop(), &w.io);
  w.active = true;
  hub.watcher_started();
  WakeReason why;
  if (left > 0) {
    ParkTimer timer(hub, me, left);
    hub.park_nothrow(what);
    why = me->wake_reason;
  } else {
    hub.park_nothrow(what);
    why = me->wake_reason;
  }
  if (w.active) {
    ev_io_stop(hub.loop(), &w.io);
    hub.watcher_stopped();
  }
  if (st) {
    st->lock_waiters();
    if (w.prev) w.prev->next = w.next; else st->waiters = w.next;
    if (w.next) w.next->prev = w.prev;
    st->unlock_waiters();
  }
  if (w.closed) return Wait::kClosed;
  if (why == WakeReason::kInterrupted || me->pending) return Wait::kInterrupted;
  if (why == WakeReason::kTimedOut) return Wait::kTimedOut;
  return Wait::kReady;
}

void set_wait_errno(Hub& hub, Wait w, int timeout_errno) noexcept {
  switch (w) {
    case Wait::kTimedOut: errno = timeout_errno; break;
    case Wait::kClosed: errno = EBADF; break;
    case Wait::kInterrupted: {
      const int e = interrupt_errno(hub);
      errno = e ? e : ECANCELED;
      break;
    }
    case Wait::kReady: break;
  }
}

bool ensure_grove_nonblock(int fd, FdState& st) noexcept {
  if (st.has(FdState::kGroveNb)) [[likely]] return true;
  const int fl = real().fcntl(fd, F_GETFL);
  if (fl < 0) return false;
  if (!(fl & O_NONBLOCK) && real().fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return false;
  st.set(FdState::kGroveNb);
  return true;
}

double fd_timeout(int fd, FdState& st, bool read) noexcept {
  std::atomic<std::int64_t>& slot = read ? st.rcv_timeout_us : st.snd_timeout_us;
  std::int64_t us = slot.load(std::memory_order_relaxed);
  if (us < 0) {
    timeval tv{};
    socklen_t len = sizeof tv;
    us = 0;
    if (real().getsockopt(fd, SOL_SOCKET, read ? SO_RCVTIMEO : SO_SNDTIMEO, &tv, &len) == 0) {
      us = static_cast<std::int64_t>(tv.tv_sec) * 1000000 + tv.tv_usec;
    }
    slot.store(us, std::memory_order_relaxed);
  }
  return static_cast<double>(us) * 1e-6;
}

bool block_until_ready(int fd, FdState& st, short pollevents) noexcept {
  const int saved = errno;
  const double t = fd_timeout(fd, st, pollevents & POLLIN);
  const double deadline = t > 0 ? mono_now() + t : -1;
  for (;;) {
    int ms = -1;
    if (deadline >= 0) {
      const double left = deadline - mono_now();
      if (left <= 0) {
        errno = EAGAIN;
        return false;
      }
      ms = static_cast<int>(std::ceil(left * 1000));
    }
    pollfd p{fd, pollevents, 0};
    const int r = real().poll(&p, 1, ms);
    if (r > 0) {
      errno = saved;
      return true;
    }
    if (r < 0 && errno != EINTR) return true;  // let the real call report the error
  }
}

int park_sleep(Hub& hub, double seconds, const char* what) noexcept {
  GreenThreadState* me = hub.running();
  if (int e = interrupt_errno(hub)) return e;
  const double deadline = mono_now() + (seconds > 0 ? seconds : 0);
  do {
    const double left = deadline - mono_now();
    ParkTimer timer(hub, me, left > 0 ? left : 0.);
    hub.park_nothrow(what);
    if (me->wake_reason == WakeReason::kInterrupted || me->pending) {
      const int e = interrupt_errno(hub);
      return e ? e : ECANCELED;
    }
  } while (mono_now() < deadline);
  return 0;
}

}  // namespace grove::monkey::detail
