// fork_test.cpp: fork() with a live hub (core/src/fork.cpp). The child continues only
// in the green thread that called fork(), on a loop of its own; every other green
// thread is abandoned there, and the parent's green threads keep their sockets.
//
// A separate executable: a fork never happens in the middle of another test file's
// state. Children report through their exit status (and pipes), and always leave with
// _exit(); an alarm() bounds each child, and wait_child() bounds each wait for one.
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <system_error>

#include <grove/net/socket.hpp>

#include "grove_test.hpp"

using namespace std::chrono_literals;
using grove::net::Socket;

namespace {

// The child's exit status, or -1 if it did not exit within `limit` (it is killed then).
// Polls without blocking the hub, so the parent's green threads keep running.
int wait_child(pid_t pid, std::chrono::milliseconds limit = 15s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    int st = 0;
    const pid_t r = ::waitpid(pid, &st, WNOHANG);
    if (r == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (r < 0 || std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &st, 0);
      return -1;
    }
    grove::sleep(2ms);
  }
}

volatile int g_step = 0;  // how far child_uses_its_hub() got
// In a child: gives up (status 100 + g_step) if the child is stuck for 10 s.
void bound_child() {
  ::alarm(10);
  ::signal(SIGALRM, [](int) { ::_exit(100 + g_step); });
}

// A green thread parked in a read on `a` (up to 5 s), storing how many bytes it got.
grove::GreenThreadHandle parked_reader(Socket& a, std::size_t& got) {
  auto reader = grove::spawn([&a, &got] {
    a.settimeout(5s);
    char buf[4];
    std::error_code ec;
    got = a.recv_into(buf, sizeof buf, ec);
  });
  grove::yield();
  return reader;
}

// What the child's hub must still do: sleep, spawn + join, run_in_thread (new workers:
// the parent's do not exist here), and socket I/O on a pair of its own. Returns 0 if
// all of it worked, else which step failed.
//
// Under ASan (GCC 12's libasan has no fork handling for its allocator), threads
// started in a child sometimes waited forever for an allocator lock that was held at
// the fork (about 1 child in 100 here; never in release builds, whose glibc malloc is
// fork-safe). A flaky CI run helps nobody: under ASan no child starts threads, and
// the thread pool in a child is checked by the release build.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kThreadsInChild = false;
#else
constexpr bool kThreadsInChild = true;
#endif
int child_uses_its_hub(bool thread_pool) noexcept {
  thread_pool = thread_pool && kThreadsInChild;
  try {
    g_step = 1;
    grove::sleep(1ms);
    g_step = 2;
    if (grove::spawn([] { return 6; }).get() != 6) return 10;
    g_step = 3;
    if (thread_pool && grove::run_in_thread([] { return 7; }) != 7) return 11;
    g_step = 4;
    auto [c, d] = Socket::pair();
    auto writer = grove::spawn([&d] {
      grove::sleep(2ms);
      d.sendall("z", 1);
    });
    char buf[4];
    c.settimeout(2s);
    if (c.recv_into(buf, sizeof buf) != 1 || buf[0] != 'z') return 12;
    writer.join();
    return 0;
  } catch (...) {
    return 13;
  }
}

double cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

}  // namespace

GROVE_TEST("a reader parked across fork() gets every byte the parent is sent, in 20 forks") {
  constexpr int kForks = 20, kMessages = 5;
  for (int round = 0; round < kForks; ++round) {
    auto [a, b] = Socket::pair();
    std::string got;
    auto reader = grove::spawn([&a, &got] {
      a.settimeout(2s);
      char buf[8];
      std::error_code ec;
      while (got.size() < kMessages) {
        const std::size_t n = a.recv_into(buf, sizeof buf, ec);
        if (ec || n == 0) return;
        got.append(buf, n);
      }
    });
    grove::yield();  // the reader parks: its watcher is in the loop at the fork
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      bound_child();
      // The child's loop runs while the parent is sent its bytes.
      grove::sleep(20ms);
      ::_exit(child_uses_its_hub(round == 0));
    }
    for (int i = 0; i < kMessages; ++i) {
      grove::sleep(2ms);
      b.sendall(std::string(1, static_cast<char>('0' + i)));
    }
    reader.join();
    CHECK(got == "01234");
    CHECK(wait_child(pid) == 0);
    if (got != "01234") break;
  }
}

namespace {

std::uintptr_t g_deep_addr = 0;  // a byte a green thread touched deep in its stack, then left

// 32 KiB of stack touched, then returned from: below where its caller parks next.
[[gnu::noinline]] void touch_deep_stack() {
  volatile char big[32 * 1024];
  for (std::size_t i = 0; i < sizeof big; i += 256) big[i] = 1;
  g_deep_addr = reinterpret_cast<std::uintptr_t>(&big[0]);
}

bool page_resident(std::uintptr_t addr) {
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  unsigned char v = 0;
  if (::mincore(reinterpret_cast<void*>(addr & ~(page - 1)), page, &v) != 0) return true;
  return (v & 1) != 0;
}

}  // namespace

GROVE_TEST("in the child, an abandoned green thread's stack below its frames is given back, its frames stay") {
  auto [a, b] = Socket::pair();
  std::uintptr_t local_addr = 0;
  auto parked = grove::spawn([&] {
    touch_deep_stack();
    volatile int local = 4242;  // in the frame it parks in; the child reads it by address
    local_addr = reinterpret_cast<std::uintptr_t>(&local);
    a.settimeout(5s);
    char buf[4];
    std::error_code ec;
    (void)a.recv_into(buf, sizeof buf, ec);
    (void)local;
  });
  grove::yield();  // it runs and parks
  REQUIRE(g_deep_addr != 0);
  REQUIRE(local_addr != 0);
  REQUIRE(local_addr > g_deep_addr + 4096);
  CHECK(page_resident(g_deep_addr));  // the parent's: touched and kept
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    bound_child();
    int status = 0;
    if (page_resident(g_deep_addr)) status = 1;  // given back at the fork
    if (*reinterpret_cast<volatile int*>(local_addr) != 4242) status = 2;  // the frame stays
    ::_exit(status);
  }
  CHECK(wait_child(pid) == 0);
  CHECK(page_resident(g_deep_addr));  // the parent's stack is its own
  b.sendall("x", 1);
  parked.join();
}

GROVE_TEST("a green thread that was ready but had not run at fork() never runs in the child") {
  int p[2];
  REQUIRE(::pipe(p) == 0);
  const pid_t parent = ::getpid();
  auto ready = grove::spawn([&p] {
    (void)!::write(p[1], "r", 1);
  });
  const pid_t pid = ::fork();  // `ready` is queued and has not started
  REQUIRE(pid >= 0);
  if (pid == 0) {
    bound_child();
    grove::sleep(10ms);  // anything queued would run now
    grove::yield();
    ::_exit(grove::hub_stats().live_green_threads == 0 ? 0 : 1);
  }
  CHECK(wait_child(pid) == 0);
  ready.join();
  CHECK(::getpid() == parent);
  char buf[8];
  ::close(p[1]);
  const ssize_t n = ::read(p[0], buf, sizeof buf);
  ::close(p[0]);
  CHECK(n == 1);  // only the parent's run wrote
}

GROVE_TEST("in the child, joining or killing a green thread abandoned at fork() raises UsageError") {
  auto [a, b] = Socket::pair();
  std::size_t got = 0;
  auto reader = parked_reader(a, got);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    bound_child();
    int status = 0;
    try {
      reader.join();
      status = 1;  // returned: it ran in the child
    } catch (const grove::UsageError& e) {
      if (std::string(e.what()).find("abandoned at fork") == std::string::npos) status = 2;
    } catch (...) {
      status = 3;
    }
    try {
      reader.kill();
      status = 4;
    } catch (const grove::UsageError&) {
    } catch (...) {
      status = 5;
    }
    if (grove::format_run_info().find("abandoned at fork") == std::string::npos) status = 6;
    ::_exit(status);
  }
  CHECK(wait_child(pid) == 0);
  b.sendall("k", 1);  // the parent's reader is still there, and gets it
  reader.join();
  CHECK(got == 1);
}

GROVE_TEST("an abandoned reader's watcher does not spin the child's hub while its fd is readable") {
  auto [a, b] = Socket::pair();
  std::size_t got = 0;
  auto reader = parked_reader(a, got);
  b.sendall("x", 1);  // readable in both processes until the parent's reader runs
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    bound_child();
    const double before = cpu_seconds();
    grove::sleep(300ms);
    const double used = cpu_seconds() - before;
    ::_exit(used < 0.1 ? 0 : 1);
  }
  // The parent does not run its hub until the child is done: the byte stays unread.
  int st = 0;
  REQUIRE(::waitpid(pid, &st, 0) == pid);
  CHECK(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 0);
  reader.join();
  CHECK(got == 1);
}

GROVE_TEST("in the child, a socket an abandoned green thread was parked in can be used") {
  auto [a, b] = Socket::pair();
  std::size_t got = 0;
  auto reader = parked_reader(a, got);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    bound_child();
    int status = 0;
    try {
      auto writer = grove::spawn([&b] {
        grove::sleep(5ms);
        b.sendall("q", 1);
      });
      a.settimeout(2s);
      char buf[4];  // nothing to read yet: this recv waits, where the abandoned reader did
      if (a.recv_into(buf, sizeof buf) != 1 || buf[0] != 'q') status = 1;
      writer.join();
    } catch (...) {
      status = 2;  // UsageError: "another green thread is already waiting"
    }
    ::_exit(status);
  }
  // The parent does not run its hub until the child is done, so the child reads 'q'.
  int st = 0;
  REQUIRE(::waitpid(pid, &st, 0) == pid);
  CHECK(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 0);
  b.sendall("k", 1);
  reader.join();
  CHECK(got == 1);
}

GROVE_TEST("fork() in a spawned green thread: the child continues in it alone and exits when it returns") {
  int p[2];
  REQUIRE(::pipe(p) == 0);
  const pid_t parent = ::getpid();
  int child_status = -2;
  auto forker = grove::spawn([&] {
    std::fflush(nullptr);  // the child flushes stdio when it ends: not our buffered output too
    const pid_t pid = ::fork();
    if (pid == 0) {
      bound_child();
      const char c = child_uses_its_hub(true) == 0 ? 'c' : 'x';
      (void)!::write(p[1], &c, 1);
      return;  // no _exit: the child ends when this green thread does
    }
    child_status = wait_child(pid);
  });
  forker.join();
  if (::getpid() != parent) ::_exit(3);  // main ran on in the child
  CHECK(child_status == 0);
  ::close(p[1]);
  char buf[8];
  const ssize_t n = ::read(p[0], buf, sizeof buf);
  ::close(p[0]);
  REQUIRE(n == 1);
  CHECK(buf[0] == 'c');
}
