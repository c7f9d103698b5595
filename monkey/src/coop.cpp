// coop.cpp: parking a green thread from a libc hook. See coop.hpp.
#include "coop.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstddef>
#include <cmath>
#include <ctime>
#include <new>

#include <grove/local.hpp>
#include <grove/log.hpp>

#include "real.hpp"

namespace grove::monkey::detail {

using grove::detail::GreenThreadState;
using grove::detail::Hub;
using grove::detail::ParkTimer;
using grove::detail::WakeReason;

std::atomic<unsigned> g_patched{0};

void on_persistent(struct ev_loop*, ev_io* io, int revents) noexcept;

namespace {

// ECANCELED for a kill (or LoopExit), ETIMEDOUT for a Timeout alone.
int errno_for(std::uint8_t pending) noexcept {
  if (pending & grove::detail::kPendingKill) return ECANCELED;
  if (pending & grove::detail::kPendingTimeout) return ETIMEDOUT;
  return ECANCELED;
}

// What C code was told, per green thread (a grove::local value, gone with it).
struct ToldC {
  std::uint8_t told = 0;  // PendingBits reported to C code and still pending
  bool warned = false;    // the "ignored the error" warning was logged
};

std::uint64_t told_key() noexcept {
  static const std::uint64_t key = grove::detail::local_new_key();
  return key;
}

ToldC* find_told() noexcept { return static_cast<ToldC*>(grove::detail::local_find(told_key())); }

ToldC* make_told() noexcept {
  auto* t = new (std::nothrow) ToldC;
  if (!t) return nullptr;
  try {
    grove::detail::local_store(told_key(), t, [](void* p) { delete static_cast<ToldC*>(p); });
  } catch (...) {
    delete t;
    return nullptr;  // then every hooked call fails while it is pending, as it would
  }
  return t;
}

// The errno of the last interrupt take_interrupt() reported, for set_wait_errno.
thread_local int t_taken_errno __attribute__((tls_model("initial-exec"))) = 0;

}  // namespace

int take_interrupt_slow(Hub& hub, bool woken_by_interrupt, const char* what) noexcept {
  GreenThreadState* me = hub.running();
  ToldC* told = find_told();
  const std::uint8_t pending = me->pending;
  // Bits grove raised since (or a Timeout that went out of scope) are forgotten, so an
  // interrupt of the same kind later is new.
  if (told) told->told &= pending;
  if (!pending && !woken_by_interrupt) return 0;
  const std::uint8_t fresh =
      woken_by_interrupt ? pending : static_cast<std::uint8_t>(pending & ~(told ? told->told : 0));
  if (!fresh && !woken_by_interrupt) {
    if (!told->warned) {
      told->warned = true;
      const bool killed = pending & (grove::detail::kPendingKill | grove::detail::kPendingLoopExit);
      grove::logger().warn(
          "grove monkey: green thread {} is in C code that ignored the error ({}) of its {} and made another "
          "blocking call ({}): its hooked calls block as usual from now on, and the {} is raised when it calls "
          "grove again",
          hub.describe(me), killed ? "ECANCELED" : "ETIMEDOUT", killed ? "kill" : "grove::Timeout", what,
          killed ? "GreenletExit" : "TimeoutError");
    }
    return 0;
  }
  if (!told) told = make_told();
  if (told) told->told |= pending;
  t_taken_errno = errno_for(fresh ? fresh : pending);
  return t_taken_errno;
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

namespace {

// Releases this thread's persistent watchers when it exits. A thread_local first
// touched after the thread's hub was created, so it is destroyed before the hub.
struct PersistentGuard {
  Hub* hub = nullptr;
  ~PersistentGuard() {
    if (hub) release_persistent(hub);
  }
};
thread_local PersistentGuard t_guard;

// The union of the events the still-counted persistent waiters of `hub` wait for.
int wanted(FdState& st, Hub* hub) noexcept {
  int m = 0;
  for (FdWaiter* w = st.waiters; w; w = w->next) {
    if (w->persistent && w->active && w->hub == hub) m |= w->events;
  }
  return m;
}

// (Re)starts the persistent watcher with `mask`, or stops it for 0. Lock held.
void set_persistent(Hub& hub, FdState& st, int fd, int mask) noexcept {
  if (st.pio_started && st.pio_mask == mask) return;
  if (st.pio_started) ev_io_stop(hub.loop(), &st.pio);
  st.pio_started = false;
  st.pio_mask = mask;
  if (!mask) return;
  ev_io_init(&st.pio, on_persistent, fd, mask);
  st.pio.data = &st;
  ev_io_start(hub.loop(), &st.pio);
  st.pio_started = true;
}

}  // namespace

void on_persistent(struct ev_loop*, ev_io* io, int revents) noexcept {
  auto* st = static_cast<FdState*>(io->data);
  Hub* hub = Hub::current();
  st->lock_waiters();
  bool woke = false;
  // A woken waiter stays linked until its own green thread unlinks it: close() or
  // dup2() onto the fd by a green thread that runs first must still find it and mark
  // it closed, or it would call read() on whatever the fd number names next.
  for (FdWaiter* w = st->waiters; w; w = w->next) {
    if (!w->persistent || !w->active || w->hub != hub) continue;
    if (!(w->events & revents) && !(revents & EV_ERROR)) continue;
    w->active = false;
    hub->watcher_stopped();
    hub->wake(w->gt);
    woke = true;
  }
  // Woken green threads usually wait again soon: keep the watcher as it is. If it
  // fired for nobody, narrow it to what is still waited for (or stop it), so a level-
  // triggered fd nobody reads does not spin the loop.
  if (!woke) set_persistent(*hub, *st, io->fd, wanted(*st, hub));
  st->unlock_waiters();
}

namespace {

// Claims st for `hub` if nobody owns it yet; true if `hub` owns it now.
bool owned_by(Hub& hub, FdState& st) noexcept {
  Hub* owner = st.owner.load(std::memory_order_acquire);
  if (owner == &hub) [[likely]] return true;
  if (owner) return false;
  if (!t_guard.hub) t_guard.hub = &hub;
  return st.owner.compare_exchange_strong(owner, &hub, std::memory_order_acq_rel) || owner == &hub;
}

// A second waiter came to the epoll side `side`, whose waiter (a wait_stream FdWaiter)
// is still parked: it leaves the side for the fd's list, waited on through the
// persistent watcher, where the second one joins it (in front: woken first).
void move_to_list(Hub& hub, FdState& st, grove::detail::PollSide& side, int fd) noexcept {
  auto* w = reinterpret_cast<FdWaiter*>(side.waiter);
  static_assert(offsetof(FdWaiter, polled) == 0);
  if (w->polled.ready || w->polled.gt->status != grove::detail::Status::kParked) return;  // woken: leaves soon
  side.waiter = nullptr;
  st.lock_waiters();
  w->hub = &hub;
  w->gt = w->polled.gt;
  w->events = &side == &st.rd ? EV_READ : EV_WRITE;
  w->closed = false;
  w->listed = true;
  w->persistent = true;
  w->active = true;  // its count (watcher_started) moves with it
  w->next = st.waiters;
  w->prev = nullptr;
  if (w->next) w->next->prev = w;
  st.waiters = w;
  set_persistent(hub, st, fd, (st.pio_started ? st.pio_mask : 0) | w->events);
  st.unlock_waiters();
}

}  // namespace

void refresh_if_stale(Hub& hub, FdState& st) noexcept {
  // A plain load first: the exchange is a locked instruction, and stale is rare.
  if (!st.stale.load(std::memory_order_acquire) || !st.stale.exchange(false, std::memory_order_acq_rel)) return;
  // The fd number was closed and reused (or connected anew): register it again.
  if (st.pio_started) ev_io_stop(hub.loop(), &st.pio);
  st.pio_started = false;
  drop_polled(hub, st);
}

Wait wait_stream_slow(Hub& hub, FdState& st, int fd, bool read, double deadline, const char* what) noexcept {
  const int events = read ? EV_READ : EV_WRITE;
  if (!owned_by(hub, st)) [[unlikely]] return wait_fd(hub, &st, fd, events, deadline, what);
  refresh_if_stale(hub, st);
  // Byte streams only: a datagram socket's error (an ICMP unreachable) would be a
  // sticky hang-up that ends every later wait at once while its reads say EAGAIN, and
  // SO_RCVLOWAT readiness is left to libev's level-triggered watcher.
  if ((st.flags.load(std::memory_order_relaxed) & (FdState::kStream | FdState::kLowat)) != FdState::kStream ||
      st.poll_refused) [[unlikely]] {
    return wait_fd(hub, &st, fd, events, deadline, what);
  }
  grove::detail::PollSide& side = read ? st.rd : st.wr;
  if (!side.armed) [[unlikely]] {
    if (!st.polled.registered) {
      st.polled.fd = fd;
      st.polled.rd = &st.rd;
      st.polled.wr = &st.wr;
    }
    if (!hub.poll_arm(st.polled, side)) {
      st.poll_refused = true;  // until the fd is forgotten or goes stale
      return wait_fd(hub, &st, fd, events, deadline, what);
    }
  }
  // A second green thread on the same side (several acceptors on one listener): both
  // wait through the persistent watcher, woken newest first as every waiter there.
  if (side.waiter) [[unlikely]] {
    move_to_list(hub, st, side, fd);
    return wait_fd(hub, &st, fd, events, deadline, what);
  }
  if (take_interrupt(hub, what)) [[unlikely]] return Wait::kInterrupted;
  if (side.edge) {  // reported ready since the last wait: the caller's retry finds out
    side.edge = side.hangup;  // after a hang-up, every wait (PollSide)
    return Wait::kReady;
  }
  double left = -1;
  if (deadline >= 0) {
    left = deadline - mono_now();
    if (left <= 0) return Wait::kTimedOut;
  }
  GreenThreadState* me = hub.running();
  FdWaiter w;
  w.polled.gt = me;
  side.waiter = &w.polled;
  hub.watcher_started();
  if (left > 0) {
    ParkTimer timer(hub, me, left);
    hub.park_nothrow(what);
  } else {
    hub.park_nothrow(what);
  }
  return wait_stream_leave(hub, st, side, w, what);
}

Wait wait_stream_leave(Hub& hub, FdState& st, grove::detail::PollSide& side, FdWaiter& w, const char* what) noexcept {
  const WakeReason why = w.polled.gt->wake_reason;
  if (w.listed) [[unlikely]] {  // moved into the list by a second waiter (move_to_list)
    st.lock_waiters();
    if (w.prev) w.prev->next = w.next; else st.waiters = w.next;
    if (w.next) w.next->prev = w.prev;
    st.unlock_waiters();
    if (w.active) {
      w.active = false;
      hub.watcher_stopped();
    }
    if (w.closed) return Wait::kClosed;
  } else {
    if (w.polled.closed) return Wait::kClosed;  // forget() took it off the side and counted it
    if (side.waiter == &w.polled) side.waiter = nullptr;
    hub.watcher_stopped();
  }
  if (take_interrupt_after(hub, why, what)) return Wait::kInterrupted;
  if (why == WakeReason::kTimedOut && !w.polled.ready) return Wait::kTimedOut;
  return Wait::kReady;
}

Wait wait_fd(Hub& hub, FdState* st, int fd, int events, double deadline, const char* what) noexcept {
  GreenThreadState* me = hub.running();
  if (take_interrupt(hub, what)) return Wait::kInterrupted;
  double left = -1;
  if (deadline >= 0) {
    left = deadline - mono_now();
    if (left <= 0) return Wait::kTimedOut;
  }
  FdWaiter w;
  w.hub = &hub;
  w.gt = me;
  w.next = w.prev = nullptr;
  w.events = events;
  w.active = w.persistent = w.closed = false;
  if (st) {
    w.persistent = owned_by(hub, *st);
    st->lock_waiters();
    w.next = st->waiters;
    if (w.next) w.next->prev = &w;
    st->waiters = &w;
    if (w.persistent) {
      refresh_if_stale(hub, *st);
      set_persistent(hub, *st, fd, (st->pio_started ? st->pio_mask : 0) | events);
    }
    st->unlock_waiters();
  }
  if (!w.persistent) {
    ev_io_init(&w.io, on_io, fd, events);
    w.io.data = &w;
    ev_io_start(hub.loop(), &w.io);
  }
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
    if (!w.persistent) ev_io_stop(hub.loop(), &w.io);
    w.active = false;
    hub.watcher_stopped();
  }
  if (st) {
    st->lock_waiters();
    if (w.prev) w.prev->next = w.next; else st->waiters = w.next;
    if (w.next) w.next->prev = w.prev;
    st->unlock_waiters();
  }
  if (w.closed) return Wait::kClosed;
  if (take_interrupt_after(hub, why, what)) return Wait::kInterrupted;
  if (why == WakeReason::kTimedOut) return Wait::kTimedOut;
  return Wait::kReady;
}

void set_wait_errno(Hub&, Wait w, int timeout_errno) noexcept {
  switch (w) {
    case Wait::kTimedOut: errno = timeout_errno; break;
    case Wait::kClosed: errno = EBADF; break;
    case Wait::kInterrupted: errno = t_taken_errno ? t_taken_errno : ECANCELED; break;
    case Wait::kReady: break;
  }
}

std::atomic<bool> g_pipe_nowait{true};

bool per_call_refused(PerCall pc, int err) noexcept {
  if (pc == PerCall::kPipe && (err == EOPNOTSUPP || err == ENOSYS)) {
    g_pipe_nowait.store(false, std::memory_order_relaxed);
    return true;
  }
  return pc == PerCall::kSocket && err == ENOTSOCK;
}

namespace {

// Sets O_NONBLOCK and kGroveNb: -1 if it could not, 1 if this call turned the real flag
// on, 0 if grove's flag was on already or the description was non-blocking anyway.
int set_grove_nonblock(int fd, FdState& st) noexcept {
  if (st.has(FdState::kGroveNb)) [[likely]] return 0;
  // Once per file description. Under the ring lock, so that a user's F_SETFL through
  // a dup cannot clear the flag between this check and the update of every dup.
  RingLock lock;
  if (st.has(FdState::kGroveNb)) return 0;
  const int fl = real().fcntl(fd, F_GETFL);
  if (fl < 0) return -1;
  const bool set_now = !(fl & O_NONBLOCK);
  if (set_now && real().fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -1;
  set_shared_locked(lock, fd, FdState::kGroveNb);
  return set_now ? 1 : 0;
}

}  // namespace

bool ensure_grove_nonblock(int fd, FdState& st) noexcept { return set_grove_nonblock(fd, st) >= 0; }

ScopedNonblock::ScopedNonblock(int fd, FdState& st) noexcept : fd_(fd), st_(st) {
  const int r = set_grove_nonblock(fd, st);
  ok_ = r >= 0;
  set_here_ = r == 1;
}

ScopedNonblock::~ScopedNonblock() {
  if (!set_here_) return;
  const int saved = errno;
  RingLock lock;
  // Still grove's (the fd was not closed meanwhile) and not the user's own now.
  if (tracked(fd_) == &st_ && st_.has(FdState::kGroveNb)) {
    const int fl = st_.has(FdState::kUserNb) ? -1 : real().fcntl(fd_, F_GETFL);
    if (fl >= 0) real().fcntl(fd_, F_SETFL, fl & ~O_NONBLOCK);
    clear_shared_locked(lock, fd_, FdState::kGroveNb);
  }
  errno = saved;
}

double fd_timeout_slow(int fd, FdState& st, bool read) noexcept {
  std::atomic<std::int64_t>& slot = read ? st.rcv_timeout_us : st.snd_timeout_us;
  std::int64_t us = slot.load(std::memory_order_relaxed);
  if (us < 0) {
    timeval tv{};
    socklen_t len = sizeof tv;
    us = 0;
    if (real().getsockopt(fd, SOL_SOCKET, read ? SO_RCVTIMEO : SO_SNDTIMEO, &tv, &len) == 0) {
      us = static_cast<std::int64_t>(tv.tv_sec) * 1000000 + tv.tv_usec;
    }
    // Only if nobody reset it meanwhile (a setsockopt on another thread, or a dup).
    std::int64_t unknown = -1;
    slot.compare_exchange_strong(unknown, us, std::memory_order_relaxed);
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
  if (const int e = take_interrupt(hub, what)) return e;
  const double deadline = mono_now() + (seconds > 0 ? seconds : 0);
  do {
    const double left = deadline - mono_now();
    ParkTimer timer(hub, me, left > 0 ? left : 0.);
    hub.park_nothrow(what);
    if (const int e = take_interrupt_after(hub, me->wake_reason, what)) return e;
  } while (mono_now() < deadline);
  return 0;
}

}  // namespace grove::monkey::detail
