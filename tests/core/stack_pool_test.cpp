// stack_pool_test.cpp: what the stack pool does with the stacks of green threads that
// have exited (core/src/stack_pool.hpp): after a burst their pages go back to the
// kernel (within about a second: the pool's lazy trim), steady churn keeps reusing
// warm stacks without faulting their pages in again, the stacks are reused before new
// ones are carved, and a reused stack's guard still catches an overflow, whatever its
// kind.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <grove/event.hpp>

#include "child_process.hpp"
#include "grove_test.hpp"

using grove::test::run_crash_helper;

namespace {

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

long rss_kb() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long v = -1;
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, "VmRSS:", 6) == 0) v = std::strtol(line + 6, nullptr, 10);
  }
  std::fclose(f);
  return v;
}

// Writes `n` bytes of the calling green thread's stack; returns an address inside it.
[[gnu::noinline]] std::uintptr_t touch_stack(std::size_t n) {
  auto* p = static_cast<volatile char*>(__builtin_alloca(n));
  for (std::size_t i = 0; i < n; i += 64) p[i] = 1;
  return reinterpret_cast<std::uintptr_t>(p);
}

// `count` green threads alive at once, each touching `touch` bytes of stack; returns
// the lowest and highest stack address they touched. All have exited on return.
std::pair<std::uintptr_t, std::uintptr_t> burst(int count, std::size_t touch, long* peak_kb = nullptr) {
  grove::Event go;
  std::vector<std::uintptr_t> where(static_cast<std::size_t>(count));
  std::vector<grove::GreenThreadHandle> all;
  for (int i = 0; i < count; ++i) {
    all.push_back(grove::spawn([&go, &where, i, touch] {
      where[static_cast<std::size_t>(i)] = touch_stack(touch);
      go.wait();
    }));
  }
  grove::idle();
  if (peak_kb) *peak_kb = rss_kb();
  go.set();
  for (const auto& g : all) g.join();
  return {*std::min_element(where.begin(), where.end()), *std::max_element(where.begin(), where.end())};
}

}  // namespace

GROVE_TEST("the stack pages of a burst of green threads go back to the kernel when they exit") {
#if defined(__SANITIZE_ADDRESS__)
  MESSAGE("skipped under ASan: its shadow of the touched stacks stays resident");
#else
  burst(64, 1024);  // the pool's first arenas and warm slots, this test's own heap
  const long before = rss_kb();
  long peak = 0;
  burst(4000, 32 * 1024, &peak);  // about 140 MB touched
  // The pages go back at the pool's trim, one to two periods (0.5 s each) after the
  // warm list grew past 16: wait up to 5 s for them.
  const auto t0 = std::chrono::steady_clock::now();
  long after = rss_kb();
  while (after - before >= 4 * 1024 && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5)) {
    grove::sleep(std::chrono::milliseconds(20));
    after = rss_kb();
  }
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  INFO("RSS before " << before << " kB, peak " << peak << " kB, after " << after << " kB, " << waited
                     << " s after the burst");
  CHECK(peak - before > 100 * 1024);           // the burst did touch its stacks
  CHECK(after - before < 4 * 1024);            // and they are gone (16 warm slots stay)
#endif
}

namespace {
long minor_faults() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return ru.ru_minflt;
}
}  // namespace

GROVE_TEST("green threads that come and go, 64 at a time, reuse warm stacks without faulting them in again") {
  // Each round touches 16 KB (4 pages) of 64 stacks: were the pages of the 48 beyond
  // the 16 always-warm slots given back at each exit, every round would fault about
  // 190 pages in again. Rounds follow each other faster than the trim period, so the
  // pool sees all 64 in use and keeps them.
  burst(64, 16 * 1024);
  burst(64, 16 * 1024);
  const long f0 = minor_faults();
  for (int i = 0; i < 20; ++i) burst(64, 16 * 1024);
  const long faults = minor_faults() - f0;
  INFO(faults << " minor faults in 20 rounds");
  CHECK(faults < 20 * 48);
}

GROVE_TEST("a second burst reuses the stacks of the first instead of mapping new ones") {
  const auto [lo1, hi1] = burst(500, 4096);
  const auto [lo2, hi2] = burst(500, 4096);
  CHECK(lo2 >= lo1 - 256 * 1024);
  CHECK(hi2 <= hi1 + 256 * 1024);
}

GROVE_TEST("a reused stack starts with zeroed pages after its pages went back") {
  burst(200, 8192);
  grove::sleep(std::chrono::milliseconds(1300));  // the trim: 184 of these stacks are cold now
  std::vector<int> bad(200, -1);
  std::vector<grove::GreenThreadHandle> all;
  grove::Event go;
  for (int i = 0; i < 200; ++i) {
    all.push_back(grove::spawn([&bad, &go, i] {
      // Fresh pages read as zero; then a pattern written and read back across a switch.
      volatile unsigned char buf[6000];
      int wrong = 0;
      for (std::size_t k = 0; k < sizeof buf; ++k) buf[k] = static_cast<unsigned char>(k * 7 + i);
      go.wait();
      for (std::size_t k = 0; k < sizeof buf; ++k) wrong += buf[k] != static_cast<unsigned char>(k * 7 + i);
      bad[static_cast<std::size_t>(i)] = wrong;
    }));
  }
  grove::idle();
  go.set();
  for (const auto& g : all) g.join();
  CHECK(std::count(bad.begin(), bad.end(), 0) == 200);
}

GROVE_TEST("an overflow on a stack reused after its pages went back hits the madvise guard") {
  auto r = run_crash_helper("overflow", {"GROVE_STACK_GUARD=madvise", "CRASH_HELPER_COLD_STACKS=1"});
  INFO(r.err);
  CHECK(r.signaled());
  CHECK(contains(r.err, "stack overflow in green thread 'deep'"));
  CHECK(contains(r.err, "guard: madvise"));
}

GROVE_TEST("an overflow on a stack reused after its pages went back hits the mprotect guard") {
  auto r = run_crash_helper("overflow", {"GROVE_STACK_GUARD=mprotect", "CRASH_HELPER_COLD_STACKS=1"});
  INFO(r.err);
  CHECK(r.signaled());
  CHECK(contains(r.err, "stack overflow in green thread 'deep'"));
  CHECK(contains(r.err, "guard: mprotect"));
}

GROVE_TEST("an overflow on a stack reused after its pages went back breaks its canary") {
  auto r = run_crash_helper("overflow-bounded", {"GROVE_STACK_GUARD=canary", "CRASH_HELPER_COLD_STACKS=1"});
  INFO(r.err);
  CHECK(r.signaled());
  CHECK(contains(r.err, "stack overflow in green thread 'deep'"));
  CHECK(contains(r.err, "canary"));
}

GROVE_TEST("a canary stack reused after its pages went back runs without a false alarm") {
  auto r = run_crash_helper("main-join", {"GROVE_STACK_GUARD=canary", "CRASH_HELPER_COLD_STACKS=1"});
  INFO(r.err);
  CHECK(r.exited_ok());
}
