// monkey_interrupt_test.cpp: a kill or grove::Timeout reaches C code once. C code that
// ignores the error (a retry loop) must not spin the OS thread: its next hooked calls
// block as usual, other green threads keep running, one log line says so, and grove
// raises the interrupt when the green thread calls grove again.
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>

#include <grove/monkey.hpp>

#include "captured_log.hpp"
#include "monkey_util.hpp"

using namespace std::chrono_literals;
using grove::test::CapturedLog;
using grove::test::Pair;

namespace {

const bool g_patched_at_start = [] {
  grove::monkey::patch_all();
  grove::current();
  return true;
}();

// What a C library's "retry forever, 20 ms apart" loop saw. Bounded by kMaxCalls so
// that a broken hook (every call failing at once) ends the loop instead of the test.
struct RetryLoop {
  static constexpr int kMaxCalls = 5000;
  std::atomic<int> calls{0};
  int failures = 0;
  int first_errno = 0;
  bool stop = false;
  bool returned = false;
  // `call` is one blocking libc call; returns -1 with errno on failure.
  template <class Call>
  void run(Call&& call) {
    for (int i = 0; i < kMaxCalls && !stop; ++i) {
      ++calls;
      if (call() < 0) {
        if (failures++ == 0) first_errno = errno;
      }
    }
    returned = true;
  }
};

// The phrase of the one warning monkey logs per green thread.
const std::string kIgnoredLog = "ignored the error";

}  // namespace

GROVE_TEST("C code that ignores ECANCELED after a kill sleeps again instead of spinning, and others run") {
  CapturedLog log;
  RetryLoop loop;
  std::atomic<int> ticks{0};
  bool after_c = false;
  auto ticker = grove::spawn([&] {
    for (int i = 0; i < 1000; ++i) {
      grove::sleep(5ms);
      ++ticks;
    }
  });
  auto lib = grove::spawn([&] {
    loop.run([] { return ::usleep(20000); });
    grove::sleep(0ms);  // back in grove: the kill, still pending, is raised here
    after_c = true;
  });
  grove::sleep(50ms);
  lib.kill_nowait();
  const int calls_at_kill = loop.calls;
  const int ticks_at_kill = ticks;
  grove::sleep(300ms);  // never returns if the killed green thread spins
  const int calls_in_window = loop.calls - calls_at_kill;
  CHECK(ticks - ticks_at_kill > 10);  // the other green thread kept running
  CHECK(calls_in_window < 40);        // ~15 sleeps of 20 ms, not thousands of calls
  CHECK(loop.failures == 1);          // told once
  CHECK(loop.first_errno == ECANCELED);
  CHECK(log.count(kIgnoredLog) == 1);
  CHECK(log.count("monkey: usleep") >= 1);
  loop.stop = true;
  lib.join();
  CHECK(loop.returned);
  CHECK_FALSE(after_c);
  CHECK(lib.killed());
  ticker.kill();
}

GROVE_TEST("C code that ignores ETIMEDOUT parks on its fd again; the TimeoutError is raised back in grove") {
  CapturedLog log;
  Pair p;
  RetryLoop loop;
  bool caught = false;
  char got = 0;
  auto g = grove::spawn([&] {
    try {
      grove::Timeout t(30ms);
      loop.run([&] {
        const ssize_t r = ::read(p.a, &got, 1);
        if (r == 1) loop.stop = true;  // the byte the test writes ends the loop
        return static_cast<int>(r);
      });
      grove::sleep(0ms);
    } catch (const grove::TimeoutError&) {
      caught = true;
    }
  });
  grove::sleep(150ms);
  CHECK(loop.calls <= 3);  // one read timed out, the next one waits for data
  CHECK(loop.failures == 1);
  CHECK(loop.first_errno == ETIMEDOUT);
  CHECK(log.count(kIgnoredLog) == 1);
  CHECK(log.count("monkey: read") >= 1);
  REQUIRE(::write(p.b, "x", 1) == 1);
  g.join();
  CHECK(got == 'x');
  CHECK(caught);
}

GROVE_TEST("a second kill of a green thread in C code is reported to C code again") {
  CapturedLog log;
  RetryLoop loop;
  auto g = grove::spawn([&] {
    loop.run([] { return ::poll(nullptr, 0, 20); });
    grove::sleep(0ms);
  });
  grove::sleep(30ms);
  g.kill_nowait();
  grove::sleep(50ms);
  CHECK(loop.failures == 1);
  g.kill_nowait();
  grove::sleep(50ms);
  CHECK(loop.failures == 2);
  CHECK(loop.first_errno == ECANCELED);
  CHECK(loop.calls < 40);
  CHECK(log.count(kIgnoredLog) == 1);  // once per green thread
  loop.stop = true;
  g.join();
  CHECK(g.killed());
}
