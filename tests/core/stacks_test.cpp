// stacks_test.cpp: format_run_info() shows where each green thread is: the call stack
// of every parked one (unwound from its saved context, without resuming it) and of the
// running one, with function names and, where there is debug info, file:line.
#include <chrono>
#include <string>
#include <vector>

#include <grove/diagnostics.hpp>
#include <grove/event.hpp>

#include "child_process.hpp"
#include "grove_test.hpp"

namespace {

// Set by the functions below so the compiler keeps their frames (no tail call).
volatile int stacks_test_sink = 0;

bool built_without_stacks(const std::string& info) {
  if (info.find("built without libunwind") == std::string::npos) return false;
  MESSAGE("skipped: grove was built without libunwind (no stacks in dumps)");
  return true;
}

[[gnu::noinline]] void stacks_test_parked_in_here(grove::Event& ev) {
  ev.wait();
  stacks_test_sink = stacks_test_sink + 1;
}

[[gnu::noinline]] void stacks_test_calls_parking(grove::Event& ev) {
  stacks_test_parked_in_here(ev);
  stacks_test_sink = stacks_test_sink + 1;
}

[[gnu::noinline]] std::string stacks_test_running_here() {
  std::string info = grove::format_run_info();
  stacks_test_sink = stacks_test_sink + 1;
  return info;
}

}  // namespace

GROVE_TEST("format_run_info shows the call stack of each parked green thread and of the running one") {
  grove::Event ev;
  auto g = grove::spawn(grove::SpawnOptions{0, "stacks-waiter"}, [&] { stacks_test_calls_parking(ev); });
  grove::yield();  // it runs and parks on the Event
  const std::string info = stacks_test_running_here();
  INFO(info);
  if (!built_without_stacks(info)) {
    const auto waiter = info.find("stacks-waiter");
    REQUIRE(waiter != std::string::npos);
    // Its stack follows its line: innermost (grove's park) first, then the callers.
    const auto parked = info.find("stacks_test_parked_in_here", waiter);
    const auto caller = info.find("stacks_test_calls_parking", waiter);
    CHECK(parked != std::string::npos);
    CHECK(caller != std::string::npos);
    CHECK(parked < caller);
    CHECK(info.find("grove::detail::Hub::park", waiter) < parked);
    // This file is built with -g: its frames carry file:line.
    CHECK(info.find("stacks_test.cpp:", waiter) != std::string::npos);
    // The running green thread (the root, "main") shows the code running now.
    const auto root = info.find("main");
    REQUIRE(root != std::string::npos);
    CHECK(info.find("stacks_test_running_here", root) != std::string::npos);
    CHECK(info.find("stacks_test_running_here") < waiter);  // the root is listed first
  }
  ev.set();
  g.join();
}

GROVE_TEST("a dump of 10,000 parked green threads, each with its stack, takes well under a second") {
  grove::Event ev;
  std::vector<grove::GreenThread<void>> threads;
  constexpr int kThreads = 10000;
  threads.reserve(kThreads);
  for (int i = 0; i < kThreads; ++i) {
    threads.push_back(grove::spawn([&] { stacks_test_calls_parking(ev); }));
  }
  grove::yield();  // all of them run and park
  const auto t0 = std::chrono::steady_clock::now();
  const std::string info = grove::format_run_info();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!built_without_stacks(info)) {
    std::size_t stacks = 0;
    for (auto at = info.find("stacks_test_parked_in_here"); at != std::string::npos;
         at = info.find("stacks_test_parked_in_here", at + 1)) {
      ++stacks;
    }
    CHECK(stacks == kThreads);
    MESSAGE("format_run_info of 10,000 parked green threads: " << seconds << " s, " << info.size() << " bytes");
    // Generous for sanitizer builds and a loaded machine; release runs are far below
    // (bench/core/dump_bench prints the figure).
    CHECK(seconds < 5.0);
  }
  ev.set();
  for (auto& t : threads) t.join();
}

GROVE_TEST("the blocked-hub monitor's report carries the stack of the green thread that blocks the hub") {
  // crash_helper's 'busy' green thread spins 300 ms in steady_clock::now() calls.
  auto r = grove::test::run_crash_helper("monitor", {"GROVE_MAX_BLOCKING_MS=100"});
  INFO(r.err);
  CHECK(r.exited_ok());
  const auto report = r.err.find("blocked for");
  REQUIRE(report != std::string::npos);
  const auto stack = r.err.find("its stack now:", report);
  REQUIRE(stack != std::string::npos);
  // Sampled on the hub's thread by a signal: from the interrupted code (the busy loop
  // in main's lambda, run by its Task) down to where every green thread starts.
  CHECK(r.err.find("#0 ", stack) != std::string::npos);
  CHECK(r.err.find("main::{lambda()", stack) != std::string::npos);
  CHECK(r.err.find("grove::detail::ContextEntry::run", stack) != std::string::npos);
}

GROVE_TEST("the stack overflow report carries the overflowing green thread's stack as module+offset") {
  auto r = grove::test::run_crash_helper("overflow", {"GROVE_STACK_GUARD=mprotect"});
  INFO(r.err);
  CHECK(r.signaled());
  const auto report = r.err.find("stack overflow in green thread 'deep'");
  REQUIRE(report != std::string::npos);
  const auto stack = r.err.find("its stack (module+offset", report);
  REQUIRE(stack != std::string::npos);
  // recurse_forever calls itself: many frames, all in the executable, each with an
  // offset addr2line takes.
  CHECK(r.err.find("#0 0x", stack) != std::string::npos);
  CHECK(r.err.find("#20 0x", stack) != std::string::npos);
  CHECK(r.err.find("(the executable+0x", stack) != std::string::npos);
}
