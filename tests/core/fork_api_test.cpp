// fork_api_test.cpp: grove::fork() (grove/fork.hpp): thread-pool jobs in flight, a
// forking green thread other than main, green threads and sockets in the child, the
// parent unaffected, signal handlers across the fork.
//
// A separate executable, as fork_test.cpp: children report through their exit status
// and always leave with _exit(); an alarm() bounds each child, wait_child() each wait.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <grove/fork.hpp>
#include <grove/hub_thread.hpp>
#include <grove/spawn_on.hpp>
#include <grove/net/address.hpp>
#include <grove/net/socket.hpp>
#include <grove/signal.hpp>

#include "grove_test.hpp"

using namespace std::chrono_literals;
using grove::net::Address;
using grove::net::Socket;

namespace {

// The child's exit status (128 + signal if killed), or -1 if it did not exit within
// `limit` (it is killed then). Polls, so the parent's green threads keep running.
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

// In a child: exits with status 99 if it is stuck for 10 s.
void bound_child() {
  ::alarm(10);
  ::signal(SIGALRM, [](int) { ::_exit(99); });
}

// Under ASan (GCC 12's libasan), a thread started in the child of a multi-threaded
// process sometimes waits forever for an allocator lock held at the fork (see
// fork_test.cpp): the cases that start threads in the child run in release builds only.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kThreadsInChild = false;
#else
constexpr bool kThreadsInChild = true;
#endif

// A loopback echo inside the calling process: a listener, a server green thread, a
// client. Returns 0 if "ping" came back, else a step number.
int loopback_echo() {
  Socket listener = Socket::tcp();
  listener.bind(Address::ip("127.0.0.1", 0));
  listener.listen();
  const Address addr = listener.local_address();
  auto server = grove::spawn([&listener] {
    auto acc = listener.accept();
    char buf[16];
    acc.socket.settimeout(2s);
    const std::size_t n = acc.socket.recv_into(buf, sizeof buf);
    acc.socket.sendall(buf, n);
  });
  Socket client = Socket::tcp();
  client.settimeout(2s);
  client.connect(addr);
  client.sendall("ping");
  char buf[16];
  if (client.recv_exactly(buf, 4) != 4 || std::string(buf, 4) != "ping") return 1;
  server.join();
  return server.successful() ? 0 : 2;
}

}  // namespace

GROVE_TEST("grove::fork() while thread-pool jobs run: the parent's complete in the parent, the child's new ones in the child") {
  std::vector<grove::GreenThread<int>> jobs;
  for (int i = 0; i < 3; ++i) {
    jobs.push_back(grove::spawn([i] {
      return grove::run_in_thread([i] {
        std::this_thread::sleep_for(100ms);
        return i * 10;
      });
    }));
  }
  grove::sleep(20ms);  // all three are in workers now
  REQUIRE(grove::hub_stats().pending_jobs == 3);
  const pid_t pid = grove::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    bound_child();
    int status = 0;
    try {
      if (grove::hub_stats().pending_jobs != 0) status = 1;      // the parent's are not the child's
      if (grove::hub_stats().live_green_threads != 0) status = 2;  // their green threads are abandoned
      if (kThreadsInChild) {
        std::vector<grove::GreenThread<int>> mine;
        for (int i = 0; i < 4; ++i) {
          mine.push_back(grove::spawn([i] {
            return grove::run_in_thread([i] {
              std::this_thread::sleep_for(5ms);
              return i + 1;
            });
          }));
        }
        int sum = 0;
        for (auto& g : mine) sum += g.get();
        if (sum != 10) status = 3;
      }
    } catch (...) {
      status = 4;
    }
    ::_exit(status);
  }
  int sum = 0;
  for (auto& g : jobs) sum += g.get();
  CHECK(sum == 30);
  CHECK(wait_child(pid) == 0);
}

GROVE_TEST("grove::fork() in a spawned green thread: the child ends when it ends, 0 on return, 1 on an exception or a kill") {
  for (const int mode : {0, 1, 2}) {
    CAPTURE(mode);
    const pid_t parent = ::getpid();
    int child_status = -2;
    auto forker = grove::spawn([&] {
      const pid_t pid = grove::fork();
      if (pid == 0) {
        bound_child();
        grove::sleep(1ms);  // its hub runs in the child
        if (mode == 1) throw std::runtime_error("the forked child fails (expected by the test)");
        if (mode == 2) grove::current().kill();
        return;  // no _exit: the child process ends with this green thread
      }
      child_status = wait_child(pid);
    });
    forker.join();
    if (::getpid() != parent) ::_exit(50);  // main went on in the child
    CHECK(child_status == (mode == 0 ? 0 : 1));
  }
}

GROVE_TEST("after grove::fork() the child runs green threads and a loopback echo, and the parent's parked reader and sockets still work") {
  auto [a, b] = Socket::pair();
  std::string got;
  auto reader = grove::spawn([&a, &got] {
    a.settimeout(5s);
    char buf[8];
    const std::size_t n = a.recv_into(buf, sizeof buf);
    got.assign(buf, n);
  });
  grove::yield();  // parked in recv at the fork
  const pid_t pid = grove::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    bound_child();
    int status = 0;
    try {
      int ran = 0;
      std::vector<grove::GreenThreadHandle> gs;
      for (int i = 0; i < 50; ++i) {
        gs.push_back(grove::spawn([&ran] {
          grove::sleep(1ms);
          ++ran;
        }));
      }
      for (auto& g : gs) g.join();
      if (ran != 50) status = 1;
      if (status == 0) status = 10 * loopback_echo();
    } catch (...) {
      status = 2;
    }
    ::_exit(status);
  }
  CHECK(wait_child(pid) == 0);
  b.sendall("after");  // the parent's reader, parked since before the fork
  reader.join();
  CHECK(got == "after");
  CHECK(loopback_echo() == 0);
}

GROVE_TEST("a signal handler registered before grove::fork() runs in the child, and the child's signals do not reach the parent's") {
  // No thread in the child (kThreadsInChild): the forking thread's hub reads the new pipe.
  std::atomic<int> runs{0};
  auto h = grove::signal_handler(SIGUSR1, [&runs] { ++runs; });
  const pid_t pid = grove::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    bound_child();
    ::kill(::getpid(), SIGUSR1);
    for (int i = 0; i < 2000 && runs.load() == 0; ++i) grove::sleep(1ms);
    ::_exit(runs.load() == 1 ? 0 : 1);
  }
  CHECK(wait_child(pid) == 0);
  grove::sleep(20ms);
  CHECK(runs.load() == 0);  // the child's SIGUSR1 went to its own pipe
  ::kill(::getpid(), SIGUSR1);
  for (int i = 0; i < 2000 && runs.load() == 0; ++i) grove::sleep(1ms);
  CHECK(runs.load() == 1);
}

GROVE_TEST("in the child of grove::fork(), another OS thread's hub is gone: posts fail, waits on it end with HubExited") {
  grove::HubThread other;
  auto sleeper = grove::spawn_on(other.hub(), [] { grove::sleep(3s); });
  const pid_t pid = grove::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    bound_child();
    int status = 0;
    if (other.hub().alive()) status |= 1;
    try {
      if (other.hub().post([] {})) status |= 2;
    } catch (...) {
      status |= 4;
    }
    try {
      (void)grove::spawn_on(other.hub(), [] { return 1; }).get(300ms);
      status |= 8;
    } catch (const grove::HubExited&) {
    } catch (...) {
      status |= 16;
    }
    try {
      (void)sleeper.join(300ms);
      status |= 32;
    } catch (const grove::HubExited&) {
    } catch (...) {
      status |= 64;
    }
    ::_exit(status);
  }
  CHECK(wait_child(pid) == 0);
  sleeper.kill();
  other.request_stop();
  other.join();
}
