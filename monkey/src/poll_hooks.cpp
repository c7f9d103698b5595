// poll_hooks.cpp: poll, ppoll, select, pselect, epoll_wait, epoll_pwait (+ __poll,
// __poll_chk, __ppoll_chk).
//
// A green thread waiting on several fds parks on all of them at once: one ev_io per
// fd (an epoll fd is itself pollable, so epoll_wait needs just one) plus a timer.
// After each wake the real call runs again with a zero timeout, so what the caller
// sees (revents, fd sets, events) is always the kernel's own answer.
//
// A read or write watcher only sees readable / writable. When an entry asks for
// something else (events 0, which still reports POLLHUP / POLLERR; POLLPRI; POLLRDHUP
// alone; select's exceptfds), the call instead builds a temporary epoll set with the
// exact masks and parks on that one epoll fd, so it neither misses the event nor
// wakes for ordinary data it did not ask for.
//
// The signal mask of ppoll / pselect / epoll_pwait is passed to those zero-timeout
// real calls. While parked, the OS thread keeps running the hub and other green
// threads, so the mask cannot be installed then; a signal the mask would unblock is
// caught with a signalfd instead (UnblockedSignals below).
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/signalfd.h>

#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <optional>
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

constexpr short kReadBits = POLLIN | POLLRDNORM;
constexpr short kWriteBits = POLLOUT | POLLWRNORM;

int ev_mask(short pollevents) {
  int m = 0;
  if (pollevents & (kReadBits | POLLRDHUP)) m |= EV_READ;
  if (pollevents & kWriteBits) m |= EV_WRITE;
  return m;
}

// True if a read / write watcher wakes exactly when the kernel would report this
// entry: it asks for readable and/or writable (POLLRDHUP beside POLLIN is fine: a
// peer's shutdown also makes the fd readable), and nothing else.
bool plain_events(short ev) {
  return (ev & (kReadBits | kWriteBits)) != 0 && (ev & ~(kReadBits | kWriteBits | POLLRDHUP)) == 0;
}

bool all_plain(const pollfd* fds, nfds_t n) {
  for (nfds_t i = 0; i < n; ++i) {
    if (fds[i].fd >= 0 && !plain_events(fds[i].events)) return false;
  }
  return true;
}

// The temporary epoll set of one call whose entries are not all plain. Created at the
// first park, closed (with the real close: it never was a user fd) when the call ends.
struct ExactSet {
  int ep = -1;
  bool failed = false;
  ExactSet() = default;
  ExactSet(const ExactSet&) = delete;
  ExactSet& operator=(const ExactSet&) = delete;
  ~ExactSet() {
    if (ep >= 0) real().close(ep);
  }
  // Registers every entry with its exact mask (poll and epoll bits are the same on
  // Linux; epoll reports EPOLLHUP / EPOLLERR whatever the mask). Duplicate fds get the
  // union of their masks. Returns false if no epoll fd could be made.
  bool build(const pollfd* fds, nfds_t n) {
    if (ep >= 0) return true;
    if (failed) return false;
    const int saved_errno = errno;  // a call that succeeds leaves errno alone
    ep = ::epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
      failed = true;
      errno = saved_errno;
      return false;
    }
    constexpr short kBits = POLLIN | POLLPRI | POLLOUT | POLLRDNORM | POLLRDBAND | POLLWRNORM | POLLWRBAND |
                            POLLMSG | POLLRDHUP;
    for (nfds_t i = 0; i < n; ++i) {
      const int fd = fds[i].fd;
      if (fd < 0) continue;
      epoll_event e{};
      e.events = static_cast<unsigned short>(fds[i].events & kBits);
      e.data.fd = fd;
      if (::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) == 0 || errno != EEXIST) continue;
      for (nfds_t j = 0; j < i; ++j) {
        if (fds[j].fd == fd) e.events |= static_cast<unsigned short>(fds[j].events & kBits);
      }
      ::epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e);
    }
    // An fd epoll refuses (a regular file, a closed fd) is reported by the real call
    // itself at once, or never.
    errno = saved_errno;
    return true;
  }
};

// The signals a ppoll / pselect / epoll_pwait mask unblocks for the duration of the
// call: blocked in the thread now, not in the mask. The real call returns -1 / EINTR
// once one of them arrives (after its handler ran), or goes on waiting if it is
// ignored. While parked they stay blocked, so one that arrives stays pending and makes
// this signalfd readable; the wait watches it beside the caller's fds, and the next
// zero-timeout real call, made with the caller's mask, lets the kernel deliver it as
// it would have: handler and EINTR, or nothing for an ignored signal. Costs
// pthread_sigmask, signalfd, its epoll registration and close, only when such a call
// parks with a mask that unblocks something.
struct UnblockedSignals {
  int fd = -1;
  bool any = false;  // the mask unblocks some signal (even if no signalfd could be made)
  explicit UnblockedSignals(const sigset_t* mask) {
    if (!mask) return;
    const int saved_errno = errno;
    sigset_t now;
    sigset_t wake;
    ::sigemptyset(&wake);
    if (::pthread_sigmask(SIG_BLOCK, nullptr, &now) == 0) {
      for (int sig = 1; sig < NSIG; ++sig) {
        // sigaddset refuses glibc's internal signals: those are never the caller's.
        if (::sigismember(&now, sig) == 1 && ::sigismember(mask, sig) == 0 && ::sigaddset(&wake, sig) == 0) {
          any = true;
        }
      }
    }
    // If no fd can be had (EMFILE), the wait goes on without it: such a signal then
    // interrupts the call only at its next wake (an fd, the timeout).
    if (any) fd = ::signalfd(-1, &wake, SFD_NONBLOCK | SFD_CLOEXEC);
    errno = saved_errno;
  }
  ~UnblockedSignals() {
    if (fd >= 0) real().close(fd);
  }
  UnblockedSignals(const UnblockedSignals&) = delete;
  UnblockedSignals& operator=(const UnblockedSignals&) = delete;
};

// Parks once on every fd of `fds` (with a non-zero event mask) and the deadline.
Wait park_on(Hub& hub, const pollfd* fds, nfds_t n, double deadline, const char* what) {
  GreenThreadState* me = hub.running();
  if (take_interrupt(hub, what)) return Wait::kInterrupted;
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
  if (take_interrupt_after(hub, why, what)) return Wait::kInterrupted;
  if (why == WakeReason::kTimedOut) return Wait::kTimedOut;
  return Wait::kReady;
}

// Parks once until the entries of `fds` may be ready or the deadline: on read / write
// watchers when every entry is plain, else on the temporary epoll set `ex`.
Wait park_fds(Hub& hub, const pollfd* fds, nfds_t n, bool plain, ExactSet& ex, double deadline, const char* what) {
  if (!plain && ex.build(fds, n)) return wait_fd(hub, nullptr, ex.ep, EV_READ, deadline, what);
  return park_on(hub, fds, n, deadline, what);
}

double deadline_after(double seconds) { return seconds < 0 ? -1 : mono_now() + seconds; }

double ts_seconds(const timespec* ts) {
  return ts ? static_cast<double>(ts->tv_sec) + static_cast<double>(ts->tv_nsec) * 1e-9 : -1;
}

// A timespec the kernel refuses with EINVAL.
bool bad_timespec(const timespec* ts) {
  return ts && (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000);
}

const timespec kZero{0, 0};

int coop_ppoll(Hub& hub, pollfd* fds, nfds_t n, double timeout, const sigset_t* mask, const char* what) {
  int r = real().ppoll(fds, n, &kZero, mask);
  if (r != 0 || timeout == 0) return r;
  const double deadline = deadline_after(timeout);
  const UnblockedSignals sig(mask);
  std::vector<pollfd> with_sig;
  const pollfd* wait_fds = fds;
  nfds_t wait_n = n;
  if (sig.fd >= 0) {
    with_sig.assign(fds, fds + n);
    with_sig.push_back(pollfd{sig.fd, POLLIN, 0});
    wait_fds = with_sig.data();
    wait_n = with_sig.size();
  }
  const bool plain = all_plain(wait_fds, wait_n);
  ExactSet ex;
  for (;;) {
    const Wait w = park_fds(hub, wait_fds, wait_n, plain, ex, deadline, what);
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
  if (!hub || bad_timespec(ts)) return real().ppoll(fds, n, ts, mask);  // the kernel's EINVAL, at once
  return coop_ppoll(*hub, fds, n, ts_seconds(ts), mask, "monkey: ppoll");
}

// The caller's fd sets as passed, to pass them again to each real call and to give
// them back on failure. A caller may pass nfds > FD_SETSIZE with enlarged sets. Of each
// set, the words holding bits 0 .. nfds - 1 are saved: what the kernel reads and
// writes back (it works in whole words).
class SavedSets {
 public:
  SavedSets(int nfds, fd_set* rd, fd_set* wr, fd_set* ex) : user_{rd, wr, ex} {
    nfds_ = nfds;
    if (nfds_ > FD_SETSIZE) {
      // The kernel looks no further than its fd table, which the fd limit bounds.
      rlimit rl{};
      if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
          rl.rlim_cur < static_cast<rlim_t>(nfds_)) {
        nfds_ = rl.rlim_cur > FD_SETSIZE ? static_cast<int>(rl.rlim_cur) : FD_SETSIZE;
      }
    }
    const std::size_t bits = 8 * sizeof(__fd_mask);
    words_ = nfds_ > 0 ? (static_cast<std::size_t>(nfds_) + bits - 1) / bits : 0;
    bytes_ = words_ * sizeof(__fd_mask);
    __fd_mask* base = small_;
    if (words_ > kSmallWords) {
      big_.resize(3 * words_);
      base = big_.data();
    }
    for (int k = 0; k < 3; ++k) {
      saved_[k] = base + k * words_;
      if (user_[k]) std::memcpy(saved_[k], user_[k], bytes_);
    }
  }
  void restore() const {
    for (int k = 0; k < 3; ++k) {
      if (user_[k]) std::memcpy(user_[k], saved_[k], bytes_);
    }
  }
  // Whether fd was in set k (0 read, 1 write, 2 except) as passed.
  bool has(int k, int fd) const {
    if (!user_[k]) return false;
    const std::size_t bits = 8 * sizeof(__fd_mask);
    const auto u = static_cast<std::size_t>(fd);
    return (saved_[k][u / bits] >> (u % bits)) & 1;
  }
  int nfds() const { return nfds_; }

 private:
  static constexpr std::size_t kSmallWords = sizeof(fd_set) / sizeof(__fd_mask);
  fd_set* user_[3];
  __fd_mask small_[3 * kSmallWords];
  std::vector<__fd_mask> big_;
  __fd_mask* saved_[3] = {};
  int nfds_ = 0;
  std::size_t bytes_ = 0;
  std::size_t words_ = 0;
};

// select / pselect: fd sets -> pollfds to park on; the answer comes from the real call.
int coop_select(Hub& hub, int nfds, fd_set* rd, fd_set* wr, fd_set* ex, double timeout, const sigset_t* mask,
                const char* what, double* left_out) {
  if (nfds < 0) return real().pselect(nfds, rd, wr, ex, &kZero, mask);  // EINVAL
  const SavedSets saved(nfds, rd, wr, ex);
  const double deadline = deadline_after(timeout);
  std::vector<pollfd> pfds;
  std::optional<UnblockedSignals> sig;  // made at the first park
  bool plain = true;
  ExactSet exact;
  for (;;) {
    saved.restore();
    const int r = real().pselect(nfds, rd, wr, ex, &kZero, mask);
    if (r != 0 || timeout == 0) return r;
    if (!sig) {
      for (int fd = 0; fd < saved.nfds(); ++fd) {
        short ev = 0;
        if (saved.has(0, fd)) ev |= POLLIN;
        if (saved.has(1, fd)) ev |= POLLOUT;
        if (saved.has(2, fd)) ev |= POLLPRI;
        if (ev) pfds.push_back(pollfd{fd, ev, 0});
      }
      sig.emplace(mask);
      if (sig->fd >= 0) pfds.push_back(pollfd{sig->fd, POLLIN, 0});
      plain = all_plain(pfds.data(), pfds.size());
    }
    const Wait w = park_fds(hub, pfds.data(), pfds.size(), plain, exact, deadline, what);
    if (deadline >= 0 && left_out) {
      const double left = deadline - mono_now();
      *left_out = left > 0 ? left : 0;
    }
    if (w == Wait::kTimedOut || w == Wait::kInterrupted) {
      saved.restore();
      const int r2 = real().pselect(nfds, rd, wr, ex, &kZero, mask);
      if (r2 != 0) return r2;
      if (w == Wait::kTimedOut) return 0;
      saved.restore();  // a failed select leaves the sets as they were passed
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
  // A negative timeval: the real call's EINVAL, at once (tv_usec >= 1e6 is accepted).
  if (!hub || (tv && (tv->tv_sec < 0 || tv->tv_usec < 0))) return real().select(nfds, rd, wr, ex, tv);
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
  if (!hub || bad_timespec(ts)) return real().pselect(nfds, rd, wr, ex, ts, mask);  // the kernel's EINVAL
  return coop_select(*hub, nfds, rd, wr, ex, ts_seconds(ts), mask, "monkey: pselect", nullptr);
}

namespace {

int coop_epoll(Hub& hub, int epfd, epoll_event* ev, int max, int timeout_ms, const sigset_t* mask,
               const char* what) {
  int r = real().epoll_pwait(epfd, ev, max, 0, mask);
  if (r != 0 || timeout_ms == 0) return r;
  const double deadline = timeout_ms < 0 ? -1 : mono_now() + timeout_ms / 1000.0;
  const UnblockedSignals sig(mask);
  const pollfd both[2] = {{epfd, POLLIN, 0}, {sig.fd, POLLIN, 0}};
  for (;;) {
    const Wait w = sig.fd >= 0 ? park_on(hub, both, 2, deadline, what)
                               : wait_fd(hub, nullptr, epfd, EV_READ, deadline, what);
    r = real().epoll_pwait(epfd, ev, max, 0, mask);
    if (r != 0) return r;
    // A zero-timeout epoll_pwait returns 0 without looking at signals (events first,
    // as the blocking call does); a zero-timeout ppoll on no fds does look, so it
    // delivers what the mask unblocks: the handler runs and it fails with EINTR.
    if (sig.any && real().ppoll(nullptr, 0, &kZero, mask) < 0) return -1;
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
