// monkey_semantics_test.cpp: a hooked call behaves like the real one (fd flags,
// timeouts, close, dup, large fds, kill / Timeout, SIGPIPE, callers without a hub).
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <grove/monkey.hpp>

#include "hub.hpp"
#include "monkey_util.hpp"

using namespace std::chrono_literals;
using grove::test::now_s;
using grove::test::Pair;

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

int kernel_flags(int fd) { return static_cast<int>(::syscall(SYS_fcntl, fd, F_GETFL)); }

// Makes grove switch the fd's description to O_NONBLOCK behind the user, as it does
// for calls with no per-call non-blocking form (accept on a listener; sockets' data
// calls use MSG_DONTWAIT instead): an accept() from a green thread on this connected
// socket fails (EINVAL, EOPNOTSUPP) after grove set it. Then parks a green thread in read(fd)
// once and satisfies it.
void make_grove_nonblocking(int reader, int writer) {
  grove::monkey::patch_all();
  CHECK(::accept(reader, nullptr, nullptr) == -1);
  REQUIRE((kernel_flags(reader) & O_NONBLOCK) != 0);
  auto g = grove::spawn([&] {
    char c;
    CHECK(::read(reader, &c, 1) == 1);
  });
  grove::sleep(10ms);
  REQUIRE(::write(writer, "x", 1) == 1);
  g.join();
}

// A green thread reads one byte from `reader` while this one writes it to `writer`
// 20 ms later. True if the read parked meanwhile (this green thread ran before it
// returned) rather than blocking the OS thread.
bool read_parks(int reader, int writer) {
  bool other_ran = false, saw = false;
  auto g = grove::spawn([&] {
    char c;
    CHECK(::read(reader, &c, 1) == 1);
    saw = other_ran;
  });
  grove::sleep(20ms);
  other_ran = true;
  REQUIRE(::write(writer, "x", 1) == 1);
  g.join();
  return saw;
}

struct Timed {
  int r = 0;
  int err = 0;
  double took = 0;
};

// Runs call() in a green thread to its end: its result, errno, and how long it took.
template <class Call>
Timed timed_in_green(Call&& call) {
  Timed t;
  grove::spawn([&] {
    const double t0 = now_s();
    t.r = static_cast<int>(call());
    t.err = errno;
    t.took = now_s() - t0;
  }).join();
  return t;
}

}  // namespace

GROVE_TEST("fcntl(F_GETFL) reports the user's blocking mode after grove made the fd non-blocking") {
  Pair p;
  make_grove_nonblocking(p.a, p.b);
  CHECK((::fcntl(p.a, F_GETFL) & O_NONBLOCK) == 0);
  CHECK((::fcntl(p.a, F_GETFL) & O_RDWR) == O_RDWR);
}

GROVE_TEST("an fd the user made non-blocking with fcntl returns EAGAIN at once") {
  Pair p;
  make_grove_nonblocking(p.a, p.b);
  REQUIRE(::fcntl(p.a, F_SETFL, ::fcntl(p.a, F_GETFL) | O_NONBLOCK) == 0);
  CHECK((::fcntl(p.a, F_GETFL) & O_NONBLOCK) != 0);
  char c;
  const Timed t = timed_in_green([&] { return ::read(p.a, &c, 1); });
  CHECK(t.r == -1);
  CHECK(t.err == EAGAIN);
  CHECK(t.took < 2.0);  // at once; a read that blocked would never return
  // Back to blocking: the description stays non-blocking (grove's), the view does not.
  REQUIRE(::fcntl(p.a, F_SETFL, ::fcntl(p.a, F_GETFL) & ~O_NONBLOCK) == 0);
  CHECK((::fcntl(p.a, F_GETFL) & O_NONBLOCK) == 0);
  CHECK((kernel_flags(p.a) & O_NONBLOCK) != 0);
}

GROVE_TEST("SOCK_NONBLOCK sockets and ioctl(FIONBIO) are user non-blocking too") {
  grove::monkey::patch_all();
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
  Pair p;
  int on = 1;
  REQUIRE(::ioctl(p.a, FIONBIO, &on) == 0);
  int r1 = 0, e1 = 0, r2 = 0, e2 = 0;
  grove::spawn([&] {
    char c;
    r1 = static_cast<int>(::recv(sv[0], &c, 1, 0));
    e1 = errno;
    r2 = static_cast<int>(::recv(p.a, &c, 1, 0));
    e2 = errno;
  }).join();
  CHECK(r1 == -1);
  CHECK(e1 == EAGAIN);
  CHECK(r2 == -1);
  CHECK(e2 == EAGAIN);
  ::close(sv[0]);
  ::close(sv[1]);
}

GROVE_TEST("MSG_DONTWAIT returns EAGAIN at once from a green thread") {
  grove::monkey::patch_all();
  Pair p;
  int r = 0, e = 0;
  grove::spawn([&] {
    char c;
    r = static_cast<int>(::recv(p.a, &c, 1, MSG_DONTWAIT));
    e = errno;
  }).join();
  CHECK(r == -1);
  CHECK(e == EAGAIN);
}

GROVE_TEST("SO_RCVTIMEO is honoured: EAGAIN after the time, while others run") {
  grove::monkey::patch_all();
  Pair p(SOCK_STREAM, 0);
  timeval tv{0, 100000};
  REQUIRE(::setsockopt(p.a, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
  int r = 0, e = 0;
  double took = 0;
  bool other_ran = false, saw = false;
  auto g = grove::spawn([&] {
    char c;
    const double t0 = now_s();
    r = static_cast<int>(::recv(p.a, &c, 1, 0));
    e = errno;
    took = now_s() - t0;
    saw = other_ran;
  });
  grove::sleep(10ms);
  other_ran = true;
  g.join();
  CHECK(r == -1);
  CHECK(e == EAGAIN);
  CHECK(saw);
  CHECK(took >= 0.09);
  CHECK(took < 2);
}

GROVE_TEST("SO_SNDTIMEO is honoured: EAGAIN after the time on a full socket") {
  grove::monkey::patch_all();
  Pair p(SOCK_STREAM, 0);
  timeval tv{0, 100000};
  REQUIRE(::setsockopt(p.a, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == 0);
  std::vector<char> junk(65536, 'j');
  while (::send(p.a, junk.data(), junk.size(), MSG_DONTWAIT) > 0) {
  }
  const Timed t = timed_in_green([&] { return ::send(p.a, "x", 1, 0); });
  CHECK(t.r == -1);
  CHECK(t.err == EAGAIN);
  CHECK(t.took >= 0.09);
  CHECK(t.took < 2);
}

GROVE_TEST("a thread without a hub still blocks on an fd grove made non-blocking") {
  Pair p;
  make_grove_nonblocking(p.a, p.b);
  std::atomic<int> r{0}, e{0};
  std::atomic<bool> done{false};
  std::thread t = grove::monkey::real_thread([&] {
    char c;
    r = static_cast<int>(::read(p.a, &c, 1));
    e = errno;
    done = true;
  });
  grove::sleep(100ms);
  const bool early = done;
  REQUIRE(::write(p.b, "y", 1) == 1);
  t.join();
  CHECK_FALSE(early);  // it blocked instead of failing with EAGAIN
  CHECK(r == 1);
}

GROVE_TEST("a thread without a hub gets EAGAIN after SO_RCVTIMEO on such an fd") {
  Pair p(SOCK_STREAM, 0);
  make_grove_nonblocking(p.a, p.b);
  timeval tv{0, 100000};
  REQUIRE(::setsockopt(p.a, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
  int r = 0, e = 0;
  double took = 0;
  std::thread t = grove::monkey::real_thread([&] {
    char c;
    const double t0 = now_s();
    r = static_cast<int>(::read(p.a, &c, 1));
    e = errno;
    took = now_s() - t0;
  });
  t.join();
  CHECK(r == -1);
  CHECK(e == EAGAIN);
  CHECK(took >= 0.09);
  CHECK(took < 2);
}

GROVE_TEST("close() wakes a green thread parked in read() with EBADF") {
  grove::monkey::patch_all();
  Pair p;
  int r = 0, e = 0;
  auto g = grove::spawn([&] {
    char c;
    r = static_cast<int>(::read(p.a, &c, 1));
    e = errno;
  });
  grove::sleep(20ms);
  REQUIRE(::close(p.a) == 0);
  p.a = -1;
  g.join();
  CHECK(r == -1);
  CHECK(e == EBADF);
}

GROVE_TEST("close() wakes every green thread parked on the fd") {
  grove::monkey::patch_all();
  grove::test::Listener l;
  int fd = ::dup(l.fd);
  int woken = 0;
  std::vector<grove::GreenThread<void>> gs;
  for (int i = 0; i < 5; ++i) {
    gs.push_back(grove::spawn([&] {
      if (::accept(fd, nullptr, nullptr) == -1 && errno == EBADF) ++woken;
    }));
  }
  grove::sleep(20ms);
  REQUIRE(::close(fd) == 0);
  for (auto& g : gs) g.join();
  CHECK(woken == 5);
}

GROVE_TEST("a dup'd fd behaves like its original") {
  grove::monkey::patch_all();
  Pair p;
  make_grove_nonblocking(p.a, p.b);
  const int d = ::dup(p.a);
  REQUIRE(d >= 0);
  CHECK((::fcntl(d, F_GETFL) & O_NONBLOCK) == 0);
  CHECK(read_parks(d, p.b));
  const int d2 = ::fcntl(p.a, F_DUPFD_CLOEXEC, 100);
  REQUIRE(d2 >= 100);
  CHECK((::fcntl(d2, F_GETFL) & O_NONBLOCK) == 0);
  ::close(d2);
  ::close(d);
}

GROVE_TEST("a dup made before grove first waits shares what grove and the user do to the file description") {
  grove::monkey::patch_all();
  Pair p;
  const int d = ::dup(p.a);  // before any wait: the description is still blocking
  REQUIRE(d >= 0);
  const int d2 = ::fcntl(d, F_DUPFD_CLOEXEC, 50);  // a dup of the dup
  REQUIRE(d2 >= 50);
  make_grove_nonblocking(p.a, p.b);  // grove sets O_NONBLOCK through p.a
  SUBCASE("F_GETFL through the dups still shows the user's blocking view") {
    CHECK((::fcntl(d, F_GETFL) & O_NONBLOCK) == 0);
    CHECK((::fcntl(d2, F_GETFL) & O_NONBLOCK) == 0);
  }
  SUBCASE("a thread without a hub blocks on the dup instead of failing with EAGAIN") {
    std::atomic<int> r{0};
    std::atomic<bool> done{false};
    std::thread t = grove::monkey::real_thread([&] {
      char c;
      r = static_cast<int>(::read(d, &c, 1));
      done = true;
    });
    grove::sleep(100ms);
    const bool early = done;
    REQUIRE(::write(p.b, "y", 1) == 1);
    t.join();
    CHECK_FALSE(early);
    CHECK(r == 1);
  }
  SUBCASE("clearing O_NONBLOCK through the dup keeps the original cooperative") {
    REQUIRE(::fcntl(d, F_SETFL, ::fcntl(d, F_GETFL) & ~O_NONBLOCK) == 0);
    CHECK((kernel_flags(p.a) & O_NONBLOCK) != 0);
    CHECK(read_parks(p.a, p.b));
  }
  SUBCASE("the user making the dup non-blocking makes the original non-blocking too") {
    REQUIRE(::fcntl(d2, F_SETFL, ::fcntl(d2, F_GETFL) | O_NONBLOCK) == 0);
    CHECK((::fcntl(p.a, F_GETFL) & O_NONBLOCK) != 0);
    char c;
    const Timed t = timed_in_green([&] { return ::read(p.a, &c, 1); });
    CHECK(t.r == -1);
    CHECK(t.err == EAGAIN);
    CHECK(t.took < 1);  // at once, not after a park until the 3 s guard
    int off = 0;
    REQUIRE(::ioctl(p.a, FIONBIO, &off) == 0);  // and back, through the original
    CHECK((::fcntl(d2, F_GETFL) & O_NONBLOCK) == 0);
  }
  SUBCASE("SO_RCVTIMEO set through the dup bounds a read on the original") {
    // p.a has already waited, so it knows the Pair's 3 s guard timeout.
    timeval tv{0, 100000};
    REQUIRE(::setsockopt(d, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
    char c;
    const Timed t = timed_in_green([&] { return ::read(p.a, &c, 1); });
    CHECK(t.r == -1);
    CHECK(t.err == EAGAIN);
    CHECK(t.took >= 0.09);
    CHECK(t.took < 2);  // not the 3 s p.a knew before
  }
  ::close(d2);
  ::close(d);
}

GROVE_TEST("a dup closed behind monkey's back (fclose) no longer shares flags with the original") {
  grove::monkey::patch_all();
  Pair p;
  const int d = ::dup(p.a);
  REQUIRE(d >= 0);
  const int live = ::dup(p.a);  // a dup that stays
  REQUIRE(live >= 0);
  std::FILE* f = ::fdopen(d, "r");
  REQUIRE(f);
  std::fclose(f);  // glibc closes d inside libc, without the close hook
  // d's number now names another file, also without a hook.
  const int o = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  REQUIRE(o >= 0);
  if (o != d) {
    REQUIRE(::syscall(SYS_dup3, o, d, O_CLOEXEC) == d);
    ::close(o);
  }
  REQUIRE(::fcntl(d, F_SETFL, O_NONBLOCK) == 0);  // about /dev/null, not the socket
  CHECK(read_parks(p.a, p.b));  // parks: p.a is still blocking in the user's view
  CHECK((::fcntl(p.a, F_GETFL) & O_NONBLOCK) == 0);
  // The dups that still share the socket still share its flags.
  REQUIRE(::fcntl(live, F_SETFL, O_NONBLOCK) == 0);
  CHECK((::fcntl(p.a, F_GETFL) & O_NONBLOCK) != 0);
  ::close(live);
  ::close(d);
}

namespace {

int g_handler_fd = -1;
volatile sig_atomic_t g_handler_dups = 0;
// dup and close are async-signal-safe: a handler may call them at any point, also
// while its thread is inside a hook that changes the flags of a file description.
extern "C" void dup_and_close(int) {
  const int d = ::dup(g_handler_fd);
  if (d >= 0) ::close(d);
  g_handler_dups = g_handler_dups + 1;
}

}  // namespace

GROVE_TEST("dup and close in a signal handler that interrupts an F_SETFL on the same thread do not deadlock") {
  grove::monkey::patch_all();
  Pair p;
  g_handler_fd = p.a;
  g_handler_dups = 0;
  struct sigaction sa{};
  struct sigaction old{};
  sa.sa_handler = dup_and_close;
  sigemptyset(&sa.sa_mask);
  REQUIRE(::sigaction(SIGUSR2, &sa, &old) == 0);
  sigset_t usr2;
  sigemptyset(&usr2);
  sigaddset(&usr2, SIGUSR2);
  sigset_t old_mask;
  ::pthread_sigmask(SIG_UNBLOCK, &usr2, &old_mask);
  std::atomic<bool> stop{false};
  const pthread_t me = ::pthread_self();
  std::thread sender = grove::monkey::real_thread([&] {
    for (int i = 0; i < 20000 && !stop; ++i) {
      ::pthread_kill(me, SIGUSR2);
      ::usleep(50);
    }
  });
  const double t0 = now_s();
  for (int i = 0; i < 2000000 && now_s() - t0 < 1.0; ++i) ::fcntl(p.a, F_SETFL, 0);
  stop = true;
  sender.join();
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  ::sigaction(SIGUSR2, &old, nullptr);
  CHECK(g_handler_dups > 0);
  // The rings are still sound: a dup made now still shares the original's flags.
  const int d = ::dup(p.a);
  REQUIRE(::fcntl(d, F_SETFL, O_NONBLOCK) == 0);
  CHECK((::fcntl(p.a, F_GETFL) & O_NONBLOCK) != 0);
  ::close(d);
}

GROVE_TEST("a fork while another thread changes flags leaves the child free to dup2 and close") {
  grove::monkey::patch_all();
  Pair p;
  std::atomic<bool> stop{false};
  std::thread changer = grove::monkey::real_thread([&] {
    const double t0 = now_s();
    while (!stop && now_s() - t0 < 30) ::fcntl(p.a, F_SETFL, 0);  // takes the ring lock
  });
  int hung = 0;
  int forked = 0;
  for (int n = 0; n < 100 && hung == 0; ++n) {
    int pfd[2];
    if (::pipe(pfd) != 0) break;  // CHECKed below: no REQUIRE while `changer` runs
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::dup2(pfd[1], 1);
      ::close(pfd[0]);
      ::_exit(0);
    }
    if (pid < 0) {
      ::close(pfd[0]);
      ::close(pfd[1]);
      break;
    }
    ++forked;
    ::close(pfd[1]);
    ::close(pfd[0]);
    int st = 0;
    bool done = false;
    for (int i = 0; i < 500 && !done; ++i) {  // 5 s
      if (::waitpid(pid, &st, WNOHANG) == pid) done = true;
      else ::usleep(10000);
    }
    if (!done) {
      ++hung;
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &st, 0);
    }
  }
  stop = true;
  changer.join();
  CHECK(forked == 100);
  CHECK(hung == 0);
}

GROVE_TEST("a large fd number (dup2 near the fd limit) is tracked and parks") {
  grove::monkey::patch_all();
  rlimit rl{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &rl) == 0);
  const int high = static_cast<int>(std::min<rlim_t>(rl.rlim_cur, 1 << 20) - 1);
  REQUIRE(high > 1000);
  Pair p;
  REQUIRE(::dup2(p.a, high) == high);
  CHECK(read_parks(high, p.b));
  CHECK((::fcntl(high, F_GETFL) & O_NONBLOCK) == 0);
  MESSAGE("used fd " << high);
  ::close(high);
}

GROVE_TEST("a kill inside read() makes it fail with ECANCELED, then GreenletExit at the next grove call") {
  grove::monkey::patch_all();
  Pair p;
  int r = 0, e = 0;
  bool returned = false, after = false;
  auto g = grove::spawn([&] {
    char c;
    r = static_cast<int>(::read(p.a, &c, 1));
    e = errno;
    returned = true;
    grove::sleep(0ms);  // raises the pending GreenletExit
    after = true;
  });
  grove::sleep(20ms);
  g.kill();
  CHECK(returned);
  CHECK(r == -1);
  CHECK(e == ECANCELED);
  CHECK_FALSE(after);
  CHECK(g.killed());
}

GROVE_TEST("a grove::Timeout inside recv() makes it fail with ETIMEDOUT, then TimeoutError") {
  grove::monkey::patch_all();
  Pair p;
  int r = 0, e = 0;
  bool caught = false;
  grove::spawn([&] {
    try {
      grove::Timeout t(50ms);
      char c;
      r = static_cast<int>(::recv(p.a, &c, 1, 0));
      e = errno;
      grove::yield();
    } catch (const grove::TimeoutError&) {
      caught = true;
    }
  }).join();
  CHECK(r == -1);
  CHECK(e == ETIMEDOUT);
  CHECK(caught);
}

// nanosleep(req) in a green thread killed after 20 ms: its result, errno and time left.
struct KilledSleep {
  int r = 0;
  int e = 0;
  timespec rem{-1, -1};
};
KilledSleep nanosleep_killed(timespec req) {
  KilledSleep k;
  auto g = grove::spawn([&] {
    k.r = ::nanosleep(&req, &k.rem);
    k.e = errno;
    grove::yield();
  });
  grove::sleep(20ms);
  g.kill();
  return k;
}

GROVE_TEST("a kill inside nanosleep() makes it fail with ECANCELED") {
  grove::monkey::patch_all();
  const KilledSleep k = nanosleep_killed({5, 0});
  CHECK(k.r == -1);
  CHECK(k.e == ECANCELED);
  CHECK(k.rem.tv_sec >= 3);  // the time not slept
}

GROVE_TEST("writing to a closed peer with SIGPIPE ignored fails with EPIPE, as without grove") {
  grove::monkey::patch_all();
  struct sigaction ign{}, old{};
  ign.sa_handler = SIG_IGN;
  REQUIRE(::sigaction(SIGPIPE, &ign, &old) == 0);
  Pair p;
  ::close(p.b);
  p.b = -1;
  int r = 0, e = 0;
  grove::spawn([&] {
    r = static_cast<int>(::write(p.a, "x", 1));
    e = errno;
  }).join();
  CHECK(r == -1);
  CHECK(e == EPIPE);
  ::sigaction(SIGPIPE, &old, nullptr);
}

GROVE_TEST("50 green threads blocked in recv() finish in about the time of one") {
  grove::monkey::patch_all();
  constexpr int kN = 50;
  std::vector<std::unique_ptr<Pair>> pairs;
  for (int i = 0; i < kN; ++i) pairs.push_back(std::make_unique<Pair>());
  int ok = 0;
  std::vector<grove::GreenThread<void>> gs;
  const double t0 = now_s();
  for (int i = 0; i < kN; ++i) {
    gs.push_back(grove::spawn([&, i] {
      grove::sleep(100ms);
      REQUIRE(::send(pairs[i]->b, "ping", 4, 0) == 4);
    }));
    gs.push_back(grove::spawn([&, i] {
      char buf[8];
      if (::recv(pairs[i]->a, buf, sizeof buf, 0) == 4) ++ok;
    }));
  }
  for (auto& g : gs) g.join();
  const double took = now_s() - t0;
  CHECK(ok == kN);
  CHECK(took >= 0.09);
  CHECK(took < 3.0);  // one after another: 5 s
  MESSAGE("50 recv waits of 100 ms took " << took << " s");
}

GROVE_TEST("without patch_sockets() a green thread's read blocks the OS thread") {
  grove::monkey::unpatch_all();
  Pair p(SOCK_STREAM, 0.2);  // created unpatched: untracked, a plain blocking fd
  bool other_ran = false, saw = true;
  int r = 0;
  auto g = grove::spawn([&] {
    char c;
    r = static_cast<int>(::read(p.a, &c, 1));
    saw = other_ran;
  });
  auto other = grove::spawn([&] { other_ran = true; });
  g.join();
  other.join();
  CHECK(r == -1);      // SO_RCVTIMEO expired in the kernel
  CHECK_FALSE(saw);    // nobody else ran meanwhile
  grove::monkey::patch_all();
}

GROVE_TEST("hooks called from an OS thread without a hub never create one") {
  grove::monkey::patch_all();
  bool had_hub = true;
  std::thread t = grove::monkey::real_thread([&] {
    ::usleep(1000);
    Pair p;
    ::write(p.b, "x", 1);
    char c;
    ::read(p.a, &c, 1);
    had_hub = grove::detail::Hub::current() != nullptr;
  });
  t.join();
  CHECK_FALSE(had_hub);
}

GROVE_TEST("shutdown() wakes a green thread parked in recv() with end of file") {
  grove::monkey::patch_all();
  Pair p;
  int r = -2;
  auto g = grove::spawn([&] {
    char c;
    r = static_cast<int>(::recv(p.a, &c, 1, 0));
  });
  grove::sleep(20ms);
  REQUIRE(::shutdown(p.a, SHUT_RDWR) == 0);
  g.join();
  CHECK(r == 0);
}

GROVE_TEST("fds created before patching are left alone") {
  grove::monkey::unpatch_all();
  Pair p;
  grove::monkey::patch_all();
  auto g = grove::spawn([&] {
    REQUIRE(::write(p.b, "x", 1) == 1);
    char c;
    CHECK(::read(p.a, &c, 1) == 1);
  });
  g.join();
  CHECK((kernel_flags(p.a) & O_NONBLOCK) == 0);
}

GROVE_TEST("green threads on two OS threads' hubs can wait on fds, and a hub's thread can exit") {
  grove::monkey::patch_all();
  Pair p1, p2;
  // Another OS thread with a hub of its own waits on p1 first (its hub then owns p1's
  // persistent watcher), reads, and exits: its watchers are released with its hub.
  std::atomic<int> got{0};
  std::thread t = grove::monkey::real_thread([&] {
    grove::spawn([&] {
      char c;
      if (::read(p1.a, &c, 1) == 1) ++got;
      if (::read(p2.a, &c, 1) == 1) ++got;
    }).join();
  });
  grove::sleep(30ms);
  REQUIRE(::write(p1.b, "a", 1) == 1);
  REQUIRE(::write(p2.b, "b", 1) == 1);
  t.join();
  CHECK(got == 2);
  // This hub can now wait on the same fds.
  CHECK(read_parks(p1.a, p1.b));
}

GROVE_TEST("an fd number closed and reused is watched afresh") {
  grove::monkey::patch_all();
  for (int round = 0; round < 3; ++round) {
    Pair p;
    CHECK(read_parks(p.a, p.b));
  }
}

// After a read that returns less than asked for, grove parks the next read before
// trying it (io.hpp, the short-read hint). These cases pin what a user must still see.

GROVE_TEST("after a short read, the next read returns data that arrived before it was called") {
  grove::monkey::patch_all();
  Pair p;
  auto g = grove::spawn([&] {
    char buf[100];
    REQUIRE(::write(p.b, "x", 1) == 1);
    CHECK(::read(p.a, buf, sizeof buf) == 1);  // short: the buffer is drained
    // More data arrives with no switch in between: the read must still return it.
    REQUIRE(::write(p.b, "yz", 2) == 2);
    const ssize_t n = ::read(p.a, buf, sizeof buf);
    REQUIRE(n == 2);  // Pair's 3 s SO_RCVTIMEO turns a lost wake-up into -1 here
    CHECK(std::string(buf, 2) == "yz");
    // recv() and recvfrom() take the same path.
    REQUIRE(::write(p.b, "abc", 3) == 3);
    CHECK(::recv(p.a, buf, sizeof buf, 0) == 3);
    REQUIRE(::write(p.b, "d", 1) == 1);
    CHECK(::recvfrom(p.a, buf, sizeof buf, 0, nullptr, nullptr) == 1);
    CHECK(buf[0] == 'd');
  });
  g.join();
}

GROVE_TEST("after a short read, end of file and SO_RCVTIMEO behave as without grove") {
  grove::monkey::patch_all();
  {
    Pair p;
    auto g = grove::spawn([&] {
      char buf[16];
      REQUIRE(::write(p.b, "x", 1) == 1);
      CHECK(::read(p.a, buf, sizeof buf) == 1);
      ::shutdown(p.b, SHUT_WR);
      CHECK(::read(p.a, buf, sizeof buf) == 0);
    });
    g.join();
  }
  {
    Pair p(SOCK_STREAM, 0.2);
    auto g = grove::spawn([&] {
      char buf[16];
      REQUIRE(::write(p.b, "x", 1) == 1);
      CHECK(::read(p.a, buf, sizeof buf) == 1);
      const double t0 = now_s();
      errno = 0;
      CHECK(::read(p.a, buf, sizeof buf) == -1);
      CHECK(errno == EAGAIN);
      CHECK(now_s() - t0 >= 0.19);
    });
    g.join();
  }
}

GROVE_TEST("a short peek does not hold back the data it saw") {
  grove::monkey::patch_all();
  Pair p;
  auto g = grove::spawn([&] {
    char buf[16];
    REQUIRE(::write(p.b, "pk", 2) == 2);
    CHECK(::recv(p.a, buf, sizeof buf, MSG_PEEK) == 2);
    CHECK(::recv(p.a, buf, sizeof buf, 0) == 2);
    CHECK(std::string(buf, 2) == "pk");
  });
  g.join();
}

GROVE_TEST("a ping-pong over read() costs one read syscall per message, not two") {
  // /proc/self/io's syscr counts read(2) calls, including ones that fail with EAGAIN.
  auto syscr = [] {
    std::FILE* f = std::fopen("/proc/self/io", "r");
    if (!f) return -1L;
    char line[128];
    long v = -1;
    while (std::fgets(line, sizeof line, f)) {
      if (std::sscanf(line, "syscr: %ld", &v) == 1) break;
    }
    std::fclose(f);
    return v;
  };
  if (syscr() < 0) {
    MESSAGE("no /proc/self/io here; skipped");
    return;
  }
  grove::monkey::patch_all();
  // Over pipes: a socket's read() is made as recv(MSG_DONTWAIT), which syscr does
  // not count; a pipe's as preadv2(RWF_NOWAIT), which it does.
  int up[2], down[2];
  REQUIRE(::pipe(up) == 0);
  REQUIRE(::pipe(down) == 0);
  constexpr int kRounds = 200;
  const long before = syscr();
  auto echo = grove::spawn([&] {
    char buf[64];
    for (int i = 0; i < kRounds; ++i) {
      if (::read(up[0], buf, sizeof buf) != 1) break;
      if (::write(down[1], buf, 1) != 1) break;
    }
  });
  auto client = grove::spawn([&] {
    char buf[64];
    for (int i = 0; i < kRounds; ++i) {
      REQUIRE(::write(up[1], "m", 1) == 1);
      REQUIRE(::read(down[0], buf, sizeof buf) == 1);
    }
  });
  client.join();
  echo.join();
  const long reads = syscr() - before;
  for (int fd : {up[0], up[1], down[0], down[1]}) ::close(fd);
  MESSAGE((2 * kRounds) << " messages took " << reads << " read syscalls");
  // Each side reads once per message; without the short-read hint every read after
  // the first would be preceded by one that fails with EAGAIN (4 per round).
  CHECK(reads <= 2 * kRounds + 10);
}

namespace {

void spin_for(double seconds) {
  const double t0 = now_s();
  while (now_s() - t0 < seconds) {
  }
}

// A connected loopback TCP pair, both tracked, whose server side `s` has a 3 s
// SO_RCVTIMEO (a lost wake-up fails instead of hanging) and has just had a short read,
// so its next read may park before trying (io.hpp's short-read hint).
struct TcpAfterShortRead {
  grove::test::Listener l;
  int c = l.connect_blocking();
  int s = ::accept(l.fd, nullptr, nullptr);
  TcpAfterShortRead() {
    REQUIRE(s >= 0);
    timeval tv{3, 0};
    ::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[64];
    REQUIRE(::send(c, "abc", 3, 0) == 3);
    grove::sleep(20ms);
    REQUIRE(::recv(s, buf, sizeof buf, 0) == 3);  // short
  }
  ~TcpAfterShortRead() {
    ::close(s);
    ::close(c);
  }
  TcpAfterShortRead(const TcpAfterShortRead&) = delete;
  TcpAfterShortRead& operator=(const TcpAfterShortRead&) = delete;
};

}  // namespace

GROVE_TEST("after a short read, queued data wins over a timeout that fires before the next poll") {
  grove::monkey::patch_all();
  for (const bool use_rcvtimeo : {true, false}) {
    Pair p(SOCK_STREAM, use_rcvtimeo ? 0.05 : 3);
    ssize_t r = -9;
    auto g = grove::spawn([&] {
      char buf[16];
      REQUIRE(::write(p.b, "x", 1) == 1);
      CHECK(::read(p.a, buf, sizeof buf) == 1);  // short: the hint is set
      REQUIRE(::write(p.b, "yz", 2) == 2);       // queued before the next read
      // Ready, and runs for longer than the timeout once this green thread parks.
      auto hog = grove::spawn([] { spin_for(0.2); });
      if (use_rcvtimeo) {
        r = ::read(p.a, buf, sizeof buf);
      } else {
        try {
          grove::Timeout t(50ms);
          r = ::read(p.a, buf, sizeof buf);
          grove::sleep(0ms);  // the pending TimeoutError is raised at this grove call
        } catch (const grove::TimeoutError&) {
        }
      }
      hog.join();
    });
    g.join();
    CHECK_MESSAGE(r == 2, (use_rcvtimeo ? "SO_RCVTIMEO" : "grove::Timeout"));
  }
}

GROVE_TEST("a green thread woken by data on an fd that another one closes first gets EBADF") {
  grove::monkey::patch_all();
  Pair p;
  const int fd = p.a;
  ssize_t ra = -9;
  int ea = 0;
  auto a = grove::spawn([&] {
    char buf[16];
    ra = ::read(fd, buf, sizeof buf);
    ea = errno;
  });
  grove::sleep(10ms);
  int reused = -1;
  auto b = grove::spawn([&] {
    char buf[16];
    CHECK(::read(fd, buf, sizeof buf) == 1);
    ::close(fd);
    reused = ::open("/dev/zero", O_RDONLY);  // likely takes the same number
  });
  grove::sleep(10ms);
  REQUIRE(::write(p.b, "x", 1) == 1);
  b.join();
  a.join();
  p.a = -1;
  CHECK(ra == -1);
  CHECK(ea == EBADF);
  if (reused >= 0) ::close(reused);
}

GROVE_TEST("after a short read, recv(MSG_OOB) returns the urgent byte at once") {
  grove::monkey::patch_all();
  TcpAfterShortRead t;
  REQUIRE(::send(t.c, "!", 1, MSG_OOB) == 1);
  grove::sleep(20ms);
  char u = 0;
  CHECK(::recv(t.s, &u, 1, MSG_OOB) == 1);  // epoll says EPOLLPRI, not readable: no park first
  CHECK(u == '!');
}

GROVE_TEST("after a short read, SO_RCVLOWAT does not hold back a read shorter than the mark") {
  grove::monkey::patch_all();
  TcpAfterShortRead t;
  const int lowat = 64;
  REQUIRE(::setsockopt(t.s, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof lowat) == 0);
  REQUIRE(::send(t.c, "0123456789", 10, 0) == 10);
  grove::sleep(20ms);
  char buf[64];
  const double t0 = now_s();
  CHECK(::read(t.s, buf, 8) == 8);  // a blocking read waits for min(mark, 8) bytes
  CHECK(now_s() - t0 < 2.5);       // not the 3 s SO_RCVTIMEO
}

GROVE_TEST("recv(MSG_WAITALL) waits for every byte, as a blocking recv does") {
  grove::monkey::patch_all();
  Pair p;
  Pair d(SOCK_DGRAM);
  auto g = grove::spawn([&] {
    make_grove_nonblocking(p.a, p.b);
    REQUIRE(::write(p.b, "abc", 3) == 3);
    auto w = grove::spawn([&] {
      grove::sleep(20ms);
      REQUIRE(::write(p.b, "defg", 4) == 4);
      grove::sleep(20ms);
      REQUIRE(::write(p.b, "hij", 3) == 3);
    });
    char buf[10];
    CHECK(::recv(p.a, buf, sizeof buf, MSG_WAITALL) == 10);
    CHECK(std::string(buf, 10) == "abcdefghij");
    w.join();
    // At end of file it returns what came before.
    REQUIRE(::write(p.b, "kl", 2) == 2);
    ::shutdown(p.b, SHUT_WR);
    CHECK(::recvfrom(p.a, buf, sizeof buf, MSG_WAITALL, nullptr, nullptr) == 2);
    // A datagram socket returns one datagram, however short.
    make_grove_nonblocking(d.a, d.b);
    REQUIRE(::write(d.b, "dg", 2) == 2);
    CHECK(::recv(d.a, buf, sizeof buf, MSG_WAITALL) == 2);
  });
  g.join();
}

GROVE_TEST("an interrupted sleep() returns the whole seconds left, truncated as glibc does") {
  grove::monkey::patch_all();
  unsigned left = 99;
  auto g = grove::spawn([&] {
    left = ::sleep(3);
    grove::yield();
  });
  grove::sleep(100ms);
  g.kill();
  CHECK(left == 2);  // 2.9 s left
}

GROVE_TEST("a failing dup2() or dup3() leaves the target fd and its parked readers alone") {
  grove::monkey::patch_all();
  Pair p;
  Pair q;
  make_grove_nonblocking(p.a, p.b);
  ssize_t r = -9;
  auto g = grove::spawn([&] {
    char c;
    r = ::read(p.a, &c, 1);
  });
  grove::sleep(10ms);
  errno = 0;
  CHECK(::dup2(100000, p.a) == -1);  // a bad source fd
  CHECK(errno == EBADF);
  errno = 0;
  CHECK(::dup3(q.a, p.a, 0x7fff0000) == -1);  // bad flags
  CHECK(errno == EINVAL);
  grove::sleep(10ms);
  CHECK(r == -9);  // still parked: nothing closed its fd
  CHECK((kernel_flags(p.a) & O_NONBLOCK) != 0);
  CHECK((::fcntl(p.a, F_GETFL) & O_NONBLOCK) == 0);  // still tracked: the user's view
  REQUIRE(::write(p.b, "k", 1) == 1);
  g.join();
  CHECK(r == 1);
}

GROVE_TEST("a blocking connect() to a Unix listener with a full queue waits for room, as the real call does") {
  grove::monkey::patch_all();
  const std::string path = "/tmp/grove-monkey-full-" + std::to_string(::getpid()) + ".sock";
  ::unlink(path.c_str());
  const int l = ::socket(AF_UNIX, SOCK_STREAM, 0);
  REQUIRE(l >= 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
  REQUIRE(::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(l, 0) == 0);
  timeval guard{3, 0};  // accept fails after 3 s instead of hanging if a connect gave up
  ::setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &guard, sizeof guard);
  constexpr int kClients = 4;
  int ok = 0;
  std::vector<int> fds(kClients, -1);
  std::vector<grove::GreenThread<void>> gs;
  for (int i = 0; i < kClients; ++i) {
    gs.push_back(grove::spawn([&, i] {
      fds[i] = ::socket(AF_UNIX, SOCK_STREAM, 0);
      timeval tv{5, 0};
      ::setsockopt(fds[i], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      if (::connect(fds[i], reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) ++ok;
    }));
  }
  grove::sleep(30ms);  // the queue is full now and the other connects wait
  std::vector<int> accepted;
  for (int i = 0; i < kClients; ++i) {
    const int c = ::accept(l, nullptr, nullptr);  // parks until a connect gets in
    if (c < 0) break;
    accepted.push_back(c);
  }
  for (auto& g : gs) g.join();
  CHECK(ok == kClients);
  CHECK(accepted.size() == kClients);
  for (int c : accepted) ::close(c);
  for (int f : fds) ::close(f);
  ::close(l);
  ::unlink(path.c_str());
}

// --------------------------------------------------------------- compared with the real call
//
// These cases run the same call twice: on fds monkey does not track (made by the raw
// system call, so every hook passes them to libc unchanged) or on a thread without a
// hub, which is the real behaviour; then from a green thread on a tracked fd.

namespace {

// A stream socketpair monkey does not track: its calls are libc's.
struct RawPair {
  int a = -1, b = -1;
  RawPair() {
    int sv[2];
    REQUIRE(::syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    a = sv[0];
    b = sv[1];
    timeval tv{3, 0};  // a guard against hanging
    ::setsockopt(a, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(b, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~RawPair() {
    ::close(a);
    ::close(b);
  }
};

// What `read(fd)` returns on a stream socketpair monkey does not track, called from a
// thread without a hub (libc's own call), while a writer sends "abc" and, 20 ms
// later, "defg".
ssize_t libc_split_read(const std::function<ssize_t(int)>& read) {
  RawPair r;
  std::thread w = grove::monkey::real_thread([&] {
    ::write(r.b, "abc", 3);
    std::this_thread::sleep_for(20ms);
    ::write(r.b, "defg", 4);
  });
  ssize_t n = -2;
  grove::monkey::real_thread([&] { n = read(r.a); }).join();
  w.join();
  return n;
}

// The same from a green thread on the tracked pair `p`, the writer a green thread
// that starts after `delay` (the reader parks first).
ssize_t grove_split_read(Pair& p, const std::function<ssize_t(int)>& read, grove::Duration delay) {
  ssize_t n = -2;
  grove::spawn([&] {
    auto w = grove::spawn([&] {
      grove::sleep(delay);
      ::write(p.b, "abc", 3);
      grove::sleep(20ms);
      ::write(p.b, "defg", 4);
    });
    n = read(p.a);
    w.join();
  }).join();
  return n;
}

ssize_t recvmsg_waitall(int fd, char* buf, size_t n) {
  iovec iov{buf, n};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  return ::recvmsg(fd, &m, MSG_WAITALL);
}

}  // namespace

GROVE_TEST("recvmsg(MSG_WAITALL) waits for every byte, as a blocking recvmsg does") {
  grove::monkey::patch_all();
  char buf[7];
  const auto read = [&](int fd) { return recvmsg_waitall(fd, buf, sizeof buf); };
  REQUIRE(libc_split_read(read) == 7);
  Pair p;  // grove: the same, with the read side made non-blocking by an earlier wait
  make_grove_nonblocking(p.a, p.b);
  CHECK(grove_split_read(p, read, 0ms) == 7);
  CHECK(std::string(buf, 7) == "abcdefg");
}

GROVE_TEST("recvmsg(MSG_WAITALL) fills every iovec in turn across short reads") {
  grove::monkey::patch_all();
  Pair p;
  char x[2], y[3], z[4];
  iovec iov[3] = {{x, sizeof x}, {y, sizeof y}, {z, sizeof z}};
  msghdr m{};
  m.msg_iov = iov;
  m.msg_iovlen = 3;
  ssize_t n = -2;
  grove::spawn([&] {
    auto w = grove::spawn([&] {
      for (const char* part : {"abc", "de", "fghi"}) {
        grove::sleep(10ms);
        ::write(p.b, part, std::strlen(part));
      }
    });
    n = ::recvmsg(p.a, &m, MSG_WAITALL);
    w.join();
  }).join();
  CHECK(n == 9);
  CHECK(std::string(x, 2) + std::string(y, 3) + std::string(z, 4) == "abcdefghi");
  CHECK(iov[1].iov_base == y);  // the caller's iovecs are left as passed
  CHECK(iov[1].iov_len == 3);
}

GROVE_TEST("recv(MSG_WAITALL) waits for every byte even as the first call on a new socket") {
  grove::monkey::patch_all();
  char buf[7];
  const auto read = [&](int fd) { return ::recv(fd, buf, sizeof buf, MSG_WAITALL); };
  REQUIRE(libc_split_read(read) == 7);
  Pair p;  // never waited on: grove has not made it non-blocking yet
  CHECK(grove_split_read(p, read, 20ms) == 7);
}

namespace {

// A connect that cannot finish yet: the listener's accept queue (backlog 0) is full,
// so the kernel drops the SYN and retransmits it 1 s later.
struct FullListener {
  grove::test::Listener l{0};
  int queued = -1;
  FullListener() { queued = l.connect_blocking(); }
  ~FullListener() { ::close(queued); }
};

void set_sndtimeo(int fd, long ms) {
  timeval tv{ms / 1000, (ms % 1000) * 1000};
  REQUIRE(::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == 0);
}

struct ConnectTwice {
  int first = 0, first_err = 0, second = 0, second_err = 0;
};

// connect with a 100 ms SO_SNDTIMEO (times out: EINPROGRESS), then make room in the
// queue and connect again on the same blocking socket with a 5 s SO_SNDTIMEO.
ConnectTwice connect_twice(int fd, FullListener& fl) {
  ConnectTwice o;
  set_sndtimeo(fd, 100);
  const auto* a = reinterpret_cast<const sockaddr*>(&fl.l.addr);
  o.first = ::connect(fd, a, sizeof fl.l.addr);
  o.first_err = errno;
  const int c = ::accept(fl.l.fd, nullptr, nullptr);
  REQUIRE(c >= 0);
  ::close(c);
  set_sndtimeo(fd, 5000);
  o.second = ::connect(fd, a, sizeof fl.l.addr);
  o.second_err = errno;
  return o;
}

}  // namespace

GROVE_TEST("a blocking connect() after one that ran out of SO_SNDTIMEO waits for the handshake, as the real call does") {
  grove::monkey::patch_all();
  ConnectTwice real;
  {
    FullListener fl;
    const int fd = static_cast<int>(::syscall(SYS_socket, AF_INET, SOCK_STREAM, 0));
    REQUIRE(fd >= 0);
    grove::monkey::real_thread([&] { real = connect_twice(fd, fl); }).join();  // no hub: libc's calls
    ::close(fd);
  }
  CHECK(real.first == -1);
  CHECK(real.first_err == EINPROGRESS);
  CHECK(real.second == 0);  // blocked until the retransmitted SYN got in
  ConnectTwice o;
  {
    FullListener fl;
    grove::spawn([&] {
      const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      REQUIRE(fd >= 0);
      o = connect_twice(fd, fl);
      ::close(fd);
    }).join();
  }
  CHECK(o.first == -1);
  CHECK(o.first_err == EINPROGRESS);
  CHECK(o.second == real.second);
  CHECK(o.second_err == real.second_err);  // a call that succeeds leaves errno alone
}

GROVE_TEST("connect() on a socket already connected fails with EISCONN, as the real call does") {
  grove::monkey::patch_all();
  grove::test::Listener l;
  int r = 0, e = 0;
  grove::spawn([&] {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    const auto* a = reinterpret_cast<const sockaddr*>(&l.addr);
    REQUIRE(::connect(fd, a, sizeof l.addr) == 0);
    r = ::connect(fd, a, sizeof l.addr);
    e = errno;
    ::close(fd);
  }).join();
  CHECK(r == -1);
  CHECK(e == EISCONN);
}

namespace {

int temp_file(size_t size) {
  char path[] = "/tmp/grove-monkey-sendfile-XXXXXX";
  const int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  ::unlink(path);
  REQUIRE(::ftruncate(fd, static_cast<off_t>(size)) == 0);
  return fd;
}

constexpr size_t kSendfileSize = 2u << 20;

}  // namespace

GROVE_TEST("sendfile() to a blocking socket sends the whole count, as the real call does") {
  grove::monkey::patch_all();
  const int file = temp_file(kSendfileSize);
  ssize_t real_n = -2;
  {
    RawPair r;
    std::thread reader = grove::monkey::real_thread([&] {
      std::vector<char> buf(65536);
      size_t got = 0;
      while (got < kSendfileSize) {
        const ssize_t k = ::read(r.b, buf.data(), buf.size());
        if (k <= 0) break;
        got += static_cast<size_t>(k);
        std::this_thread::sleep_for(1ms);
      }
    });
    grove::monkey::real_thread([&] {
      off_t off = 0;
      real_n = ::sendfile(r.a, file, &off, kSendfileSize);
    }).join();
    reader.join();
  }
  CHECK(real_n == static_cast<ssize_t>(kSendfileSize));
  Pair p;
  ssize_t n = -2;
  off_t off = 0;
  grove::spawn([&] {
    auto reader = grove::spawn([&] {
      std::vector<char> buf(65536);
      size_t got = 0;
      while (got < kSendfileSize) {
        const ssize_t k = ::read(p.b, buf.data(), buf.size());
        if (k <= 0) break;
        got += static_cast<size_t>(k);
        grove::sleep(1ms);
      }
    });
    n = ::sendfile(p.a, file, &off, kSendfileSize);
    if (n > 0 && static_cast<size_t>(n) < kSendfileSize) {  // let the reader finish
      off_t more = off;
      while (static_cast<size_t>(more) < kSendfileSize) {
        if (::sendfile(p.a, file, &more, kSendfileSize - static_cast<size_t>(more)) <= 0) break;
      }
    }
    reader.join();
  }).join();
  ::close(file);
  CHECK(n == real_n);
  CHECK(off == static_cast<off_t>(kSendfileSize));
}

namespace {
void on_usr1(int) {}
}  // namespace

GROVE_TEST("an interrupted nanosleep() of the longest time reports a positive time left, as the real call does") {
  grove::monkey::patch_all();
  struct sigaction sa{}, old{};
  sa.sa_handler = on_usr1;  // no SA_RESTART: the real call ends with EINTR
  ::sigaction(SIGUSR1, &sa, &old);
  timespec real_rem{-1, -1};
  int real_r = 0, real_e = 0;
  std::atomic<bool> started{false};
  std::thread t = grove::monkey::real_thread([&] {  // no hub: the real nanosleep
    started = true;
    timespec req{LONG_MAX, 0};
    real_r = ::nanosleep(&req, &real_rem);
    real_e = errno;
  });
  while (!started) std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(50ms);
  ::pthread_kill(t.native_handle(), SIGUSR1);
  t.join();
  ::sigaction(SIGUSR1, &old, nullptr);
  CHECK(real_r == -1);
  CHECK(real_e == EINTR);
  CHECK(real_rem.tv_sec > 0);
  const KilledSleep k = nanosleep_killed({LONG_MAX, 0});
  CHECK(k.r == -1);
  CHECK(k.e == ECANCELED);
  CHECK(k.rem.tv_sec > 0);
  CHECK(k.rem.tv_nsec >= 0);
  CHECK(k.rem.tv_nsec < 1000000000);
}

GROVE_TEST("recv(MSG_PEEK|MSG_WAITALL) on a blocking stream waits for every byte, as the real call does") {
  char buf[7];
  const auto read = [&](int fd) { return ::recv(fd, buf, sizeof buf, MSG_PEEK | MSG_WAITALL); };
  const ssize_t real_n = libc_split_read(read);
  Pair p;
  CHECK(grove_split_read(p, read, 20ms) == real_n);
}

GROVE_TEST("an interrupted absolute clock_nanosleep() returns the error number and leaves rem alone") {
  timespec rem{7, 7};
  int r = 0;
  auto g = grove::spawn([&] {
    timespec until{};
    ::clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += 5;
    r = ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, &rem);
    grove::yield();
  });
  grove::sleep(20ms);
  g.kill();
  CHECK(r == ECANCELED);
  CHECK(rem.tv_sec == 7);
  CHECK(rem.tv_nsec == 7);
}
