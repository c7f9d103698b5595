// stack_pool_test.cpp: what the stack pool does with the stacks of green threads that
// have exited (core/src/stack_pool.hpp): after a burst their pages go back to the
// kernel, the stacks are reused before new ones are carved, and a reused stack's
// guard still catches an overflow, whatever its kind.
#include <algorithm>
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
  const long after = rss_kb();
  INFO("RSS before " << before << " kB, peak " << peak << " kB, after " << after << " kB");
  CHECK(peak - before > 100 * 1024);           // the burst did touch its stacks
  CHECK(after - before < 4 * 1024);            // and they are gone (16 warm slots stay)
#endif
}

GROVE_TEST("a second burst reuses the stacks of the first instead of mapping new ones") {
  const auto [lo1, hi1] = burst(500, 4096);
  const auto [lo2, hi2] = burst(500, 4096);
  CHECK(lo2 >= lo1 - 256 * 1024);
  CHECK(hi2 <= hi1 + 256 * 1024);
}

GROVE_TEST("a reused stack starts with zeroed pages after its pages went back") {
  burst(200, 8192);  // 184 of these stacks are cold now
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
