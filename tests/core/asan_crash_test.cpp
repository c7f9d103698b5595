// asan_crash_test.cpp: proves the sanitizer build catches a real bug on a green
// thread's stack (in a child process). Built only in the AddressSanitizer build; a
// build where ASan is silently off does not compile, so it cannot pass.
#ifndef __SANITIZE_ADDRESS__
#error "asan_crash_test.cpp must be built with -fsanitize=address"
#endif

#include <string>

#include "child_process.hpp"
#include "grove_test.hpp"

GROVE_TEST("AddressSanitizer reports a stack-buffer-overflow on a green thread's stack") {
  auto r = grove::test::run_crash_helper("asan", {});
  INFO(r.err);
  CHECK_FALSE(r.timed_out);
  CHECK(r.failed());
  CHECK(r.err.find("AddressSanitizer") != std::string::npos);
  CHECK(r.err.find("stack-buffer-overflow") != std::string::npos);
  CHECK(r.err.find("went unnoticed") == std::string::npos);
}
