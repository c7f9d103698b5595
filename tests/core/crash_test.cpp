// crash_test.cpp: behaviour seen from outside a process: the blocked-hub monitor, the
// SIGUSR1 dump, the stack overflow report per guard mechanism, the settings read from
// the environment, a bare main(), and a hub that cannot be created.
#include <string>

#include "child_process.hpp"
#include "grove_test.hpp"

using grove::test::run_crash_helper;

namespace {
bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }
}  // namespace

GROVE_TEST("main spawns and joins a green thread with no explicit loop call") {
  auto r = run_crash_helper("main-join", {});
  INFO(r.err);
  CHECK(r.exited_ok());
}

GROVE_TEST("the monitor names the green thread that blocked the hub for 300 ms") {
  auto r = run_crash_helper("monitor", {"GROVE_MAX_BLOCKING_MS=100"});
  INFO(r.err);
  CHECK(r.exited_ok());
  CHECK(contains(r.err, "'busy'"));
  CHECK(contains(r.err, "blocked"));
}

GROVE_TEST("without GROVE_MAX_BLOCKING_MS a 300 ms busy loop is not reported") {
  auto r = run_crash_helper("monitor", {"GROVE_MAX_BLOCKING_MS="});
  INFO(r.err);
  CHECK(r.exited_ok());
  CHECK_FALSE(contains(r.err, "blocked"));
}

GROVE_TEST("GROVE_THREADPOOL_SIZE and GROVE_STACK_SIZE set the default pool's threads and stack size") {
  auto r = run_crash_helper("env-config", {"GROVE_THREADPOOL_SIZE=3", "GROVE_STACK_SIZE=131072"});
  INFO(r.err);
  CHECK(r.exited_ok());
  CHECK(contains(r.err, "threadpool 3 stack 131072"));
}

GROVE_TEST("GROVE_LOG sets the log level: warn by default, off silences, info shows more") {
  auto def = run_crash_helper("env-config", {"GROVE_LOG="});
  CHECK(def.exited_ok());
  CHECK(contains(def.err, "config-probe warn"));
  CHECK_FALSE(contains(def.err, "config-probe info"));
  auto off = run_crash_helper("env-config", {"GROVE_LOG=off"});
  CHECK(off.exited_ok());
  CHECK_FALSE(contains(off.err, "config-probe"));
  auto info = run_crash_helper("env-config", {"GROVE_LOG=info"});
  CHECK(info.exited_ok());
  CHECK(contains(info.err, "config-probe warn"));
  CHECK(contains(info.err, "config-probe info"));
}

GROVE_TEST("SIGUSR1 with GROVE_DUMP_ON_SIGUSR1=1 dumps the parked green threads") {
  auto r = run_crash_helper("dump-env", {"GROVE_DUMP_ON_SIGUSR1=1"});
  INFO(r.err);
  CHECK(r.exited_ok());
  CHECK(contains(r.err, "sleeper-alpha"));
  CHECK(contains(r.err, "sleeper-beta"));
  CHECK(contains(r.err, "parked"));
}

GROVE_TEST("SIGUSR1 after grove::dump_on_signal dumps the parked green threads") {
  auto r = run_crash_helper("dump-call", {"GROVE_DUMP_ON_SIGUSR1="});
  INFO(r.err);
  CHECK(r.exited_ok());
  CHECK(contains(r.err, "sleeper-alpha"));
  CHECK(contains(r.err, "parked"));
}

GROVE_TEST("a stack overflow is reported through the madvise guard") {
  auto r = run_crash_helper("overflow", {"GROVE_STACK_GUARD=madvise"});
  INFO(r.err);
  CHECK(r.signaled());
  CHECK(contains(r.err, "stack overflow in green thread 'deep'"));
  CHECK(contains(r.err, "guard: madvise"));
}

GROVE_TEST("a stack overflow is reported through the mprotect guard") {
  auto r = run_crash_helper("overflow", {"GROVE_STACK_GUARD=mprotect"});
  INFO(r.err);
  CHECK(r.signaled());
  CHECK(contains(r.err, "stack overflow in green thread 'deep'"));
  CHECK(contains(r.err, "guard: mprotect"));
}

GROVE_TEST("a stack overflow is reported through the stack canary at the next switch") {
  auto r = run_crash_helper("overflow-bounded", {"GROVE_STACK_GUARD=canary"});
  INFO(r.err);
  CHECK(r.signaled());
  CHECK(contains(r.err, "stack overflow in green thread 'deep'"));
  CHECK(contains(r.err, "canary"));
}

GROVE_TEST("dump_on_signal for a signal another OS thread's hub dumps on gets a UsageError") {
  auto r = run_crash_helper("dump-two-threads", {"GROVE_DUMP_ON_SIGUSR1="});
  INFO(r.err);
  CHECK(r.exited_ok());
  CHECK(contains(r.err, "first: enabled"));
  CHECK(contains(r.err, "main: enabled"));  // the exited thread's hub released the signal
  CHECK(contains(r.err, "third: refused"));
  CHECK(contains(r.err, "sleeper-gamma"));  // and main's hub dumps on it
}

GROVE_TEST("GROVE_STACK_SIZE above 1 GiB is ignored with a warning and the default stack is used") {
  for (const char* value : {"1152921504606846976", "18446744073709551615"}) {
    auto r = run_crash_helper("stack-default", {std::string("GROVE_STACK_SIZE=") + value});
    INFO(r.err);
    CHECK(r.exited_ok());
    CHECK(contains(r.err, "default stack 65536, green thread returned 5"));
    CHECK(contains(r.err, "GROVE_STACK_SIZE="));
  }
}

GROVE_TEST("a hub whose creation failed for lack of memory is not handed out by the next grove call") {
#if defined(__SANITIZE_ADDRESS__)
  // ASan reserves terabytes of shadow memory: an address-space limit cannot be used.
  MESSAGE("skipped under AddressSanitizer");
  return;
#endif
  auto r = run_crash_helper("hub-no-memory", {});
  INFO(r.err);
  CHECK(r.exited_ok());
  CHECK(contains(r.err, "first call failed"));
  CHECK(contains(r.err, "second call failed"));
}
