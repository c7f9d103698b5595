// million_test.cpp: one million green threads parked at once, on few mappings.
#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include "grove_test.hpp"

using namespace std::chrono_literals;

namespace {

constexpr int kGreenThreads = 1'000'000;

std::size_t maps_lines() {
  std::ifstream in("/proc/self/maps");
  std::size_t n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

// Something a million green threads can wait on: ready once set().
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

GROVE_TEST("a million green threads parked in sleep all finish, on fewer than 1000 mappings") {
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
  const std::size_t lines = maps_lines();
  MESSAGE("/proc/self/maps lines with 1M parked: " << lines);
  CHECK(lines < 1000);
  CHECK(grove::joinall(gs, 120s));
  CHECK(done == static_cast<std::size_t>(kGreenThreads));
  gs.clear();
}

GROVE_TEST("a million green threads parked on one waitable all wake when it is set") {
  Gate gate;
  std::size_t done = 0;
  for (int i = 0; i < kGreenThreads; ++i) grove::spawn([&] {
    grove::wait({&gate});
    ++done;
  });
  grove::yield();
  CHECK(grove::hub_stats().live_green_threads == static_cast<std::size_t>(kGreenThreads));
  const std::size_t lines = maps_lines();
  MESSAGE("/proc/self/maps lines with 1M parked: " << lines);
  CHECK(lines < 1000);
  gate.set();
  for (int i = 0; i < 10000 && grove::hub_stats().live_green_threads > 0; ++i) grove::sleep(1ms);
  CHECK(done == static_cast<std::size_t>(kGreenThreads));
}
