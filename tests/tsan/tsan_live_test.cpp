// tsan_live_test.cpp: proves the ThreadSanitizer build catches a data race between
// green threads of two hubs (in a child process, tsan_race_helper.cpp). Built only in
// the TSan build; a build where TSan is silently off does not compile, so it cannot pass.
#if !defined(__SANITIZE_THREAD__)
#if !defined(__has_feature)
#error "tsan_live_test.cpp must be built with -fsanitize=thread"
#elif !__has_feature(thread_sanitizer)
#error "tsan_live_test.cpp must be built with -fsanitize=thread"
#endif
#endif

#include <chrono>
#include <string>
#include <thread>

#include "child_process.hpp"
#include "grove_test.hpp"

GROVE_TEST("ThreadSanitizer reports a data race between green threads of two hubs") {
  auto r = grove::test::run_crash_helper("race", {});
  INFO(r.err);
  CHECK_FALSE(r.timed_out);
  CHECK(r.failed());
  CHECK(r.err.find("WARNING: ThreadSanitizer: data race") != std::string::npos);
  CHECK(r.err.find("racing_increment") != std::string::npos);  // the green thread's stack
}

GROVE_TEST("ThreadSanitizer reports nothing when the same increments hold a mutex") {
  auto r = grove::test::run_crash_helper("locked", {});
  INFO(r.err);
  CHECK_FALSE(r.timed_out);
  CHECK(r.exited_ok());
  CHECK(r.err.find("ThreadSanitizer") == std::string::npos);
  CHECK(r.err.find("counter 2") != std::string::npos);
}

// Each hub's own context is a TSan fiber, and TSan keeps at most 8,128 threads (fibers
// included): one left behind per hub would end a long-running program that starts
// OS threads with hubs one after another ("Thread limit exceeded. Dying.").
GROVE_TEST("more OS threads with a hub than TSan's thread limit, one after another") {
  for (int i = 0; i < 8200; ++i) {
    std::thread([] { grove::sleep(std::chrono::microseconds(1)); }).join();  // runs its hub's loop
  }
}
