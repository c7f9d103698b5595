// parked_100k_test.cpp: 100,000 green threads parked at once, on few mappings.
// (A million, with timings and memory, is bench/core/million_bench: about 9 GB at
// its peak, more than the test suite may need; this check peaks under 1 GB.)
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "grove_test.hpp"

using namespace std::chrono_literals;

namespace {

constexpr int kGreenThreads = 100'000;
// Stacks come from a few large arenas, so mappings must not grow with the count: at
// most one more line of /proc/self/maps per 1,000 green threads (a million took
// fewer than 1,000 lines in all).
constexpr std::size_t kMaxNewMapsLines = kGreenThreads / 1000;

std::size_t maps_lines() {
  std::ifstream in("/proc/self/maps");
  std::size_t n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

// The mapping bound holds with madvise guard pages (Linux 6.13+), which do not split
// a mapping; mprotect guards take a mapping each (GROVE_STACK_GUARD, README.md).
bool madvise_guards() {
  const char* forced = std::getenv("GROVE_STACK_GUARD");
  if (forced != nullptr && *forced != '\0' && std::strcmp(forced, "madvise") != 0) return false;
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  void* p = ::mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return false;
  const bool ok = ::madvise(p, page, 102 /* MADV_GUARD_INSTALL */) == 0;
  ::munmap(p, 2 * page);
  return ok;
}

void check_maps_bound(std::size_t before) {
  const std::size_t lines = maps_lines();
  MESSAGE("/proc/self/maps lines: " << before << " before, " << lines << " with 100,000 parked");
  if (madvise_guards()) {
    CHECK(lines - before <= kMaxNewMapsLines);
  } else {
    MESSAGE("no madvise guard pages on this kernel: the mapping bound is not checked");
  }
}

// Something 100,000 green threads can wait on: ready once set().
struct Gate final : grove::Waitable {
  bool ready() const override { return open; }
  grove::detail::ObserverList& observers() const override { return list; }
  void set() {
    open = true;
    list.notify_all();
  }
  bool open = false;
  mutable grove::detail::ObserverList list;
};

}  // namespace

GROVE_TEST("100,000 green threads parked in sleep all finish, on few mappings") {
  grove::spawn([] { grove::sleep(1ms); }).join();  // the first arena and the hub's timers
  const std::size_t before = maps_lines();
  std::size_t done = 0;
  std::vector<grove::GreenThreadHandle> gs;
  gs.reserve(kGreenThreads);
  for (int i = 0; i < kGreenThreads; ++i) gs.push_back(grove::spawn([&done] {
    grove::sleep(200ms);
    ++done;
  }));
  grove::yield();  // every one of them starts and parks
  CHECK(grove::hub_stats().live_green_threads == static_cast<std::size_t>(kGreenThreads));
  CHECK(done == 0);
  check_maps_bound(before);
  CHECK(grove::joinall(gs, 60s));
  CHECK(done == static_cast<std::size_t>(kGreenThreads));
  gs.clear();
}

GROVE_TEST("100,000 green threads parked on one waitable all wake when it is set") {
  const std::size_t before = maps_lines();
  Gate gate;
  std::size_t done = 0;
  for (int i = 0; i < kGreenThreads; ++i) grove::spawn([&] {
    grove::wait({&gate});
    ++done;
  });
  grove::yield();
  CHECK(grove::hub_stats().live_green_threads == static_cast<std::size_t>(kGreenThreads));
  check_maps_bound(before);
  gate.set();
  for (int i = 0; i < 10000 && grove::hub_stats().live_green_threads > 0; ++i) grove::sleep(1ms);
  CHECK(done == static_cast<std::size_t>(kGreenThreads));
}
