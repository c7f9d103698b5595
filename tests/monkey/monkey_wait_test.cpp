// monkey_wait_test.cpp: poll / select / epoll and the sleep calls park the green thread.
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <grove/monkey.hpp>

#include "monkey_util.hpp"

using namespace std::chrono_literals;
using grove::test::now_s;
using grove::test::Pair;

extern "C" int __poll(pollfd*, nfds_t, int);

namespace {

// Patch and create the hub before the first case, so every case starts patched with
// the hub's own fds already open.
const bool g_patched_at_start = [] {
  grove::monkey::patch_all();
  grove::current();
  return true;
}();

}  // namespace

namespace {

void check_parks(const std::function<void()>& call, const std::function<void()>& unblock) {
  grove::monkey::patch_all();
  bool other_ran = false;
  bool saw = false;
  auto g = grove::spawn([&] {
    call();
    saw = other_ran;
  });
  grove::sleep(30ms);
  other_ran = true;
  unblock();
  g.join();
  CHECK(saw);
}

// Runs `sleeper` in kN green threads at once; returns the wall time they took together.
double concurrent(int n, const std::function<void()>& sleeper) {
  grove::monkey::patch_all();
  std::vector<grove::GreenThread<void>> gs;
  const double t0 = now_s();
  for (int i = 0; i < n; ++i) gs.push_back(grove::spawn(sleeper));
  for (auto& g : gs) g.join();
  return now_s() - t0;
}

}  // namespace

GROVE_TEST("poll() parks on every fd at once and reports the kernel's revents") {
  Pair p1, p2;
  check_parks([&] {
    pollfd f[2] = {{p1.a, POLLIN, 0}, {p2.a, POLLIN, 0}};
    CHECK(::poll(f, 2, 3000) == 1);
    CHECK(f[0].revents == 0);
    CHECK(f[1].revents == POLLIN);
  }, [&] { REQUIRE(::write(p2.b, "x", 1) == 1); });
}

GROVE_TEST("__poll() parks like poll()") {
  Pair p;
  check_parks([&] {
    pollfd f{p.a, POLLIN, 0};
    CHECK(::__poll(&f, 1, 3000) == 1);
  }, [&] { REQUIRE(::write(p.b, "x", 1) == 1); });
}

GROVE_TEST("poll() with a timeout parks and returns 0 after it") {
  grove::monkey::patch_all();
  Pair p;
  double took = 0;
  int r = -2;
  bool other_ran = false, saw = false;
  auto g = grove::spawn([&] {
    pollfd f{p.a, POLLIN, 0};
    const double t0 = now_s();
    r = ::poll(&f, 1, 100);
    took = now_s() - t0;
    saw = other_ran;
  });
  grove::sleep(10ms);
  other_ran = true;
  g.join();
  CHECK(r == 0);
  CHECK(saw);
  CHECK(took >= 0.09);
  CHECK(took < 2);
}

GROVE_TEST("ppoll() parks the green thread") {
  Pair p;
  check_parks([&] {
    pollfd f{p.a, POLLIN, 0};
    timespec ts{3, 0};
    CHECK(::ppoll(&f, 1, &ts, nullptr) == 1);
  }, [&] { REQUIRE(::write(p.b, "x", 1) == 1); });
}

GROVE_TEST("select() parks on its fd sets and reports the kernel's answer") {
  Pair p1, p2;
  check_parks([&] {
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(p1.a, &rd);
    FD_SET(p2.a, &rd);
    timeval tv{3, 0};
    CHECK(::select(std::max(p1.a, p2.a) + 1, &rd, nullptr, nullptr, &tv) == 1);
    CHECK(!FD_ISSET(p1.a, &rd));
    CHECK(FD_ISSET(p2.a, &rd));
  }, [&] { REQUIRE(::write(p2.b, "x", 1) == 1); });
}

GROVE_TEST("select() with only a timeout sleeps green") {
  grove::monkey::patch_all();
  const double t = concurrent(50, [] {
    timeval tv{0, 100000};
    CHECK(::select(0, nullptr, nullptr, nullptr, &tv) == 0);
  });
  CHECK(t >= 0.09);
  CHECK(t < 2.5);  // 50 x 100 ms one after another would take 5 s
}

GROVE_TEST("pselect() parks the green thread") {
  Pair p;
  check_parks([&] {
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(p.a, &rd);
    timespec ts{3, 0};
    CHECK(::pselect(p.a + 1, &rd, nullptr, nullptr, &ts, nullptr) == 1);
  }, [&] { REQUIRE(::write(p.b, "x", 1) == 1); });
}

GROVE_TEST("epoll_wait() parks the green thread") {
  Pair p;
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = p.a;
  REQUIRE(::epoll_ctl(ep, EPOLL_CTL_ADD, p.a, &ev) == 0);
  check_parks([&] {
    epoll_event out[4];
    CHECK(::epoll_wait(ep, out, 4, 3000) == 1);
    const int got = out[0].data.fd;
    CHECK(got == p.a);
  }, [&] { REQUIRE(::write(p.b, "x", 1) == 1); });
  ::close(ep);
}

GROVE_TEST("epoll_pwait() parks the green thread, and times out with 0") {
  Pair p;
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  REQUIRE(::epoll_ctl(ep, EPOLL_CTL_ADD, p.a, &ev) == 0);
  check_parks([&] {
    epoll_event out[4];
    CHECK(::epoll_pwait(ep, out, 4, 50, nullptr) == 0);
    CHECK(::epoll_pwait(ep, out, 4, 3000, nullptr) == 1);
  }, [&] {
    grove::sleep(50ms);
    REQUIRE(::write(p.b, "x", 1) == 1);
  });
  ::close(ep);
}

namespace {

volatile sig_atomic_t g_usr1_hits = 0;
extern "C" void count_usr1(int) { g_usr1_hits = g_usr1_hits + 1; }

// For one case: SIGUSR1 blocked in this OS thread, with a counting handler (or
// ignored). At exit a SIGUSR1 still pending is consumed, and the mask and the action
// are put back.
struct Usr1Blocked {
  sigset_t old_mask{};
  struct sigaction old_action{};
  explicit Usr1Blocked(bool ignore) {
    struct sigaction sa{};
    sa.sa_handler = ignore ? SIG_IGN : count_usr1;
    sigemptyset(&sa.sa_mask);
    REQUIRE(::sigaction(SIGUSR1, &sa, &old_action) == 0);
    const sigset_t b = usr1();
    REQUIRE(::pthread_sigmask(SIG_BLOCK, &b, &old_mask) == 0);
    g_usr1_hits = 0;
  }
  ~Usr1Blocked() {
    const sigset_t b = usr1();
    const timespec zero{0, 0};
    while (::sigtimedwait(&b, nullptr, &zero) == SIGUSR1) {
    }
    ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
    ::sigaction(SIGUSR1, &old_action, nullptr);
  }
  Usr1Blocked(const Usr1Blocked&) = delete;
  Usr1Blocked& operator=(const Usr1Blocked&) = delete;
  static sigset_t usr1() {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    return s;
  }
  // The thread's mask without SIGUSR1: what a caller passes to unblock it for one call.
  static sigset_t unblocking() {
    sigset_t m;
    ::pthread_sigmask(SIG_BLOCK, nullptr, &m);
    sigdelset(&m, SIGUSR1);
    return m;
  }
  static bool pending() {
    sigset_t s;
    ::sigpending(&s);
    return sigismember(&s, SIGUSR1) == 1;
  }
};

struct SignalledCall {
  int r = 0;
  int err = 0;
  double took = 0;
  bool others_ran = false;  // it parked: another green thread ran during the call
};

// A wait that takes the caller's signal mask: fd `fd` (never readable here), the mask
// and a timeout (< 0: none).
using MaskedWait = std::function<int(int fd, const sigset_t* mask, double seconds)>;

// Runs wait(fd, mask, seconds) in a green thread and sends SIGUSR1 to this OS thread
// 30 ms later, from another green thread. A grove::Timeout of 5 s bounds a wait that
// is never interrupted (it then fails with ETIMEDOUT).
SignalledCall signal_during(const MaskedWait& wait, int fd, const sigset_t* mask, double seconds) {
  grove::monkey::patch_all();
  SignalledCall out;
  bool others_ran = false;
  const double t0 = now_s();
  auto g = grove::spawn([&] {
    try {
      grove::Timeout guard(5s);
      out.r = wait(fd, mask, seconds);
      out.err = errno;
      out.took = now_s() - t0;
      out.others_ran = others_ran;
      grove::sleep(0ms);
    } catch (const grove::TimeoutError&) {
    }
  });
  grove::sleep(30ms);
  others_ran = true;
  REQUIRE(::pthread_kill(::pthread_self(), SIGUSR1) == 0);
  g.join();
  return out;
}

timespec to_timespec(double s) {
  const auto sec = static_cast<time_t>(s);
  return timespec{sec, static_cast<long>((s - static_cast<double>(sec)) * 1e9)};
}

const MaskedWait kPpoll = [](int fd, const sigset_t* mask, double s) {
  pollfd f{fd, POLLIN, 0};
  const timespec ts = to_timespec(s);
  return ::ppoll(&f, 1, s < 0 ? nullptr : &ts, mask);
};
const MaskedWait kPselect = [](int fd, const sigset_t* mask, double s) {
  fd_set rd;
  FD_ZERO(&rd);
  FD_SET(fd, &rd);
  const timespec ts = to_timespec(s);
  return ::pselect(fd + 1, &rd, nullptr, nullptr, s < 0 ? nullptr : &ts, mask);
};
const MaskedWait kEpollPwait = [](int fd, const sigset_t* mask, double s) {
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  epoll_event out[2];
  const int r = ::epoll_pwait(ep, out, 2, s < 0 ? -1 : static_cast<int>(s * 1000), mask);
  const int e = errno;
  ::close(ep);
  errno = e;
  return r;
};

const std::pair<const char*, MaskedWait> kMaskedWaits[] = {
    {"ppoll", kPpoll}, {"pselect", kPselect}, {"epoll_pwait", kEpollPwait}};

}  // namespace

GROVE_TEST("a signal the mask of ppoll/pselect/epoll_pwait unblocks ends the parked call with EINTR after its handler") {
  for (const auto& [name, wait] : kMaskedWaits) {
    const std::string which = name;
    CAPTURE(which);
    Pair p;
    Usr1Blocked blocked(false);
    const sigset_t mask = Usr1Blocked::unblocking();
    const SignalledCall c = signal_during(wait, p.a, &mask, -1);  // no timeout of its own
    CHECK(c.r == -1);
    CHECK(c.err == EINTR);
    // When the signal came, not when the 5 s guard ended the wait (its last real call
    // with the mask would deliver the signal too).
    CHECK(c.took < 4);
    CHECK(g_usr1_hits == 1);
    CHECK(c.others_ran);
    CHECK(!Usr1Blocked::pending());
  }
}

GROVE_TEST("a signal the thread and the mask block stays pending; an ignored one the mask unblocks is consumed and the call goes on") {
  for (const auto& [name, wait] : kMaskedWaits) {
    const std::string which = name;
    CAPTURE(which);
    {
      Pair p;
      Usr1Blocked blocked(false);
      const SignalledCall c = signal_during(wait, p.a, nullptr, 0.3);
      CHECK(c.r == 0);  // timed out, as the real call does with the signal blocked
      CHECK(c.took >= 0.25);
      CHECK(g_usr1_hits == 0);
      CHECK(Usr1Blocked::pending());
    }
    {
      Pair p;
      Usr1Blocked blocked(false);
      sigset_t keeps;  // a mask that keeps SIGUSR1 blocked
      ::pthread_sigmask(SIG_BLOCK, nullptr, &keeps);
      const SignalledCall c = signal_during(wait, p.a, &keeps, 0.3);
      CHECK(c.r == 0);
      CHECK(c.took >= 0.25);
      CHECK(g_usr1_hits == 0);
      CHECK(Usr1Blocked::pending());
    }
    {
      Pair p;
      Usr1Blocked ignored(true);
      const sigset_t mask = Usr1Blocked::unblocking();
      const SignalledCall c = signal_during(wait, p.a, &mask, 0.3);
      CHECK(c.r == 0);  // the kernel drops an ignored signal and goes on waiting
      CHECK(c.took >= 0.25);
      CHECK(c.others_ran);
      CHECK(!Usr1Blocked::pending());
    }
  }
}

GROVE_TEST("with no fd to spare, a signal the mask unblocks still ends epoll_pwait with EINTR at its next wake") {
  Pair p;
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  REQUIRE(ep >= 0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  REQUIRE(::epoll_ctl(ep, EPOLL_CTL_ADD, p.a, &ev) == 0);
  // Lower the fd limit just above the highest open fd and fill what is left.
  rlimit old{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &old) == 0);
  int highest = ep;
  for (int fd = 0; fd < 4096; ++fd) {
    if (::fcntl(fd, F_GETFD) >= 0) highest = fd;
  }
  rlimit low = old;
  low.rlim_cur = static_cast<rlim_t>(highest) + 8;
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
  std::vector<int> fillers;
  for (rlim_t i = 0; i < low.rlim_cur; ++i) {  // the holes below the highest fd, then the rest
    const int d = ::dup(p.b);
    if (d < 0) break;
    fillers.push_back(d);
  }
  const int probe = ::dup(p.b);
  const int probe_errno = errno;
  if (probe >= 0) ::close(probe);
  Usr1Blocked blocked(false);
  const sigset_t mask = Usr1Blocked::unblocking();
  const MaskedWait on_ep = [ep](int, const sigset_t* m, double s) {
    epoll_event out[2];
    return ::epoll_pwait(ep, out, 2, static_cast<int>(s * 1000), m);
  };
  const SignalledCall c = signal_during(on_ep, p.a, &mask, 0.3);
  for (const int d : fillers) ::close(d);
  ::setrlimit(RLIMIT_NOFILE, &old);
  ::close(ep);
  CHECK(probe == -1);
  CHECK(probe_errno == EMFILE);
  CHECK(c.r == -1);  // at the timer's wake, not 0 with the signal left pending
  CHECK(c.err == EINTR);
  CHECK(g_usr1_hits == 1);
  CHECK(!Usr1Blocked::pending());
}

namespace {

// Runs `fn` in a green thread under a grove::Timeout of a few seconds, so a hook that
// waits when it should not fails the case instead of hanging it.
void in_green(const std::function<void()>& fn) {
  grove::monkey::patch_all();
  grove::spawn([&] {
    try {
      grove::Timeout guard(3s);
      fn();
      grove::sleep(0ms);
    } catch (const grove::TimeoutError&) {
    }
  }).join();
}

}  // namespace

GROVE_TEST("ppoll() and pselect() reject an invalid timeout at once with EINVAL") {
  Pair p;
  in_green([&] {
    const timespec bad[] = {{0, -1}, {0, 1000000000}, {-1, 0}};
    for (const timespec& ts : bad) {
      pollfd f{p.a, POLLIN, 0};
      errno = 0;
      CHECK(::ppoll(&f, 1, &ts, nullptr) == -1);
      CHECK(errno == EINVAL);
      fd_set rd;
      FD_ZERO(&rd);
      FD_SET(p.a, &rd);
      errno = 0;
      CHECK(::pselect(p.a + 1, &rd, nullptr, nullptr, &ts, nullptr) == -1);
      CHECK(errno == EINVAL);
    }
  });
}

GROVE_TEST("select() rejects a negative timeval with EINVAL and accepts tv_usec >= 1e6") {
  Pair p;
  in_green([&] {
    const timeval bad[] = {{-1, 0}, {0, -1}};
    for (const timeval& b : bad) {
      timeval tv = b;
      fd_set rd;
      FD_ZERO(&rd);
      FD_SET(p.a, &rd);
      errno = 0;
      CHECK(::select(p.a + 1, &rd, nullptr, nullptr, &tv) == -1);
      CHECK(errno == EINVAL);
    }
  });
  check_parks([&] {
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(p.a, &rd);
    timeval tv{0, 3000000};
    CHECK(::select(p.a + 1, &rd, nullptr, nullptr, &tv) == 1);
    CHECK(FD_ISSET(p.a, &rd));
  }, [&] { REQUIRE(::write(p.b, "x", 1) == 1); });
}

GROVE_TEST("select() and pselect() interrupted by a grove::Timeout leave the fd sets as passed") {
  grove::monkey::patch_all();
  Pair p;
  for (int which = 0; which < 2; ++which) {
    int r = 0, e = 0;
    bool still_set = false, caught = false;
    grove::spawn([&] {
      try {
        grove::Timeout t(50ms);
        fd_set rd, wr;
        FD_ZERO(&rd);
        FD_ZERO(&wr);
        FD_SET(p.a, &rd);
        if (which == 0) {
          timeval tv{3, 0};
          r = ::select(p.a + 1, &rd, &wr, nullptr, &tv);
        } else {
          timespec ts{3, 0};
          r = ::pselect(p.a + 1, &rd, &wr, nullptr, &ts, nullptr);
        }
        e = errno;
        still_set = FD_ISSET(p.a, &rd);
        grove::sleep(0ms);
      } catch (const grove::TimeoutError&) {
        caught = true;
      }
    }).join();
    CHECK(r == -1);
    CHECK(e == ETIMEDOUT);
    CHECK(still_set);
    CHECK(caught);
  }
}

GROVE_TEST("select() with an enlarged fd set watches and reports an fd above FD_SETSIZE") {
  // fd FD_SETSIZE + 76 needs a soft fd limit above it: raise it for this case.
  const rlim_t need = FD_SETSIZE + 128;
  rlimit old_limit{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &old_limit) == 0);
  if (old_limit.rlim_cur != RLIM_INFINITY && old_limit.rlim_cur < need) {
    if (old_limit.rlim_max != RLIM_INFINITY && old_limit.rlim_max < need) {
      MESSAGE("hard fd limit below ", need, ": enlarged fd set not tested");
      return;
    }
    rlimit raised = old_limit;
    raised.rlim_cur = need;
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &raised) == 0);
  }
  struct RestoreLimit {
    rlimit l;
    ~RestoreLimit() { ::setrlimit(RLIMIT_NOFILE, &l); }
  } restore_limit{old_limit};
  Pair p;
  const int hi = ::fcntl(p.a, F_DUPFD, FD_SETSIZE + 76);
  REQUIRE(hi >= FD_SETSIZE);
  constexpr int kBits = 8 * static_cast<int>(sizeof(unsigned long));
  std::vector<unsigned long> bits(static_cast<std::size_t>((hi + kBits) / kBits));
  const auto set_hi = [&] {
    std::fill(bits.begin(), bits.end(), 0UL);
    bits[static_cast<std::size_t>(hi / kBits)] |= 1UL << (hi % kBits);
  };
  const auto hi_set = [&] { return (bits[static_cast<std::size_t>(hi / kBits)] >> (hi % kBits)) & 1UL; };
  // Parks on fd `hi` and wakes when it becomes readable.
  set_hi();
  check_parks([&] {
    timeval tv{3, 0};
    CHECK(::select(hi + 1, reinterpret_cast<fd_set*>(bits.data()), nullptr, nullptr, &tv) == 1);
    CHECK(hi_set());
  }, [&] { REQUIRE(::write(p.b, "x", 1) == 1); });
  char c;
  REQUIRE(::read(p.a, &c, 1) == 1);
  // Interrupted: the whole enlarged set is restored.
  set_hi();
  int r = 0;
  grove::spawn([&] {
    try {
      grove::Timeout t(50ms);
      timespec ts{3, 0};
      r = ::pselect(hi + 1, reinterpret_cast<fd_set*>(bits.data()), nullptr, nullptr, &ts, nullptr);
      grove::sleep(0ms);
    } catch (const grove::TimeoutError&) {
    }
  }).join();
  CHECK(r == -1);
  CHECK(hi_set());
  ::close(hi);
}

GROVE_TEST("poll() with events 0 still wakes for the POLLHUP the kernel reports") {
  Pair p;
  int r = 0;
  short revents = 0;
  bool guard_fired = false;
  check_parks([&] {
    try {
      grove::Timeout guard(3s);  // a wait that never wakes fails instead of hanging
      pollfd f{p.a, 0, 0};
      r = ::poll(&f, 1, -1);
      revents = f.revents;
      grove::sleep(0ms);
    } catch (const grove::TimeoutError&) {
      guard_fired = true;
    }
  }, [&] { REQUIRE(::shutdown(p.b, SHUT_RDWR) == 0); });
  CHECK_FALSE(guard_fired);
  CHECK(r == 1);
  CHECK((revents & POLLHUP) != 0);
}

GROVE_TEST("poll() for POLLPRI or POLLRDHUP only does not spin on ordinary pending data") {
  grove::monkey::patch_all();
  Pair p;
  REQUIRE(::write(p.b, "x", 1) == 1);
  for (const short ev : {short(POLLPRI), short(POLLRDHUP)}) {
    pollfd f[2] = {{p.a, ev, 0}, {p.a, ev, 0}};
    const std::uint64_t before = grove::hub_stats().switches;
    CHECK(::poll(f, 2, 100) == 0);
    // A parked wait costs a handful of switches; waking on the pending data each
    // loop turn costs thousands in 100 ms.
    CHECK(grove::hub_stats().switches - before < 50);
  }
  // The same mask still wakes for the event it asks for.
  check_parks([&] {
    pollfd f{p.a, POLLRDHUP, 0};
    CHECK(::poll(&f, 1, 3000) == 1);
    CHECK((f.revents & POLLRDHUP) != 0);
  }, [&] { REQUIRE(::shutdown(p.b, SHUT_WR) == 0); });
}

GROVE_TEST("select() exceptfds alone does not spin on ordinary pending data") {
  grove::monkey::patch_all();
  Pair p;
  REQUIRE(::write(p.b, "x", 1) == 1);
  fd_set ex;
  FD_ZERO(&ex);
  FD_SET(p.a, &ex);
  timeval tv{0, 100000};
  const std::uint64_t before = grove::hub_stats().switches;
  CHECK(::select(p.a + 1, nullptr, nullptr, &ex, &tv) == 0);
  CHECK(grove::hub_stats().switches - before < 50);
}

// --------------------------------------------------------------- time

GROVE_TEST("nanosleep() in 50 green threads at once takes about one sleep") {
  const double t = concurrent(50, [] {
    timespec req{0, 100000000}, rem{1, 1};
    CHECK(::nanosleep(&req, &rem) == 0);
    CHECK(rem.tv_sec == 0);
    CHECK(rem.tv_nsec == 0);
  });
  CHECK(t >= 0.09);
  CHECK(t < 2.5);  // one after another: 5 s
}

GROVE_TEST("usleep() in 50 green threads at once takes about one sleep") {
  const double t = concurrent(50, [] { CHECK(::usleep(100000) == 0); });
  CHECK(t >= 0.09);
  CHECK(t < 2.5);  // one after another: 5 s
}

GROVE_TEST("clock_nanosleep() relative and absolute sleeps are green") {
  const double t = concurrent(50, [] {
    timespec req{0, 50000000};
    CHECK(::clock_nanosleep(CLOCK_MONOTONIC, 0, &req, nullptr) == 0);
    timespec at;
    ::clock_gettime(CLOCK_MONOTONIC, &at);
    at.tv_nsec += 50000000;
    if (at.tv_nsec >= 1000000000) {
      at.tv_nsec -= 1000000000;
      ++at.tv_sec;
    }
    CHECK(::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, nullptr) == 0);
  });
  CHECK(t >= 0.09);
  CHECK(t < 2.5);  // one after another: 5 s
}

GROVE_TEST("sleep() in 6 green threads at once takes about one second") {
  const double t = concurrent(6, [] { CHECK(::sleep(1) == 0u); });
  CHECK(t >= 0.95);
  CHECK(t < 3.5);  // one after another: 6 s
}

GROVE_TEST("nanosleep() rejects an invalid request as the real call does") {
  grove::monkey::patch_all();
  timespec bad{0, 2000000000};
  int r = 0, e = 0;
  grove::spawn([&] {
    r = ::nanosleep(&bad, nullptr);
    e = errno;
  }).join();
  CHECK(r == -1);
  CHECK(e == EINVAL);
}

GROVE_TEST("without patch_time() the sleeps block the OS thread, one after another") {
  grove::monkey::unpatch_all();
  grove::monkey::patch_sockets();
  std::vector<grove::GreenThread<void>> gs;
  const double t0 = now_s();
  for (int i = 0; i < 3; ++i) gs.push_back(grove::spawn([] { ::usleep(100000); }));
  for (auto& g : gs) g.join();
  const double t = now_s() - t0;
  CHECK(t >= 0.29);
  grove::monkey::patch_all();
}
