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

#include <string>

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
