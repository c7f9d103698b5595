// schedule_seed_test.cpp: a schedule seed reorders what FIFO fixes, replays exactly, and
// keeps the guarantees that do not depend on timing.
#include <algorithm>
#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <grove/schedule_seed.hpp>

#include "grove_test.hpp"

using namespace std::chrono_literals;

namespace {

// Restores FIFO scheduling when a case ends, whatever it set.
struct SeedScope {
  explicit SeedScope(std::uint64_t seed) { grove::set_schedule_seed(seed); }
  ~SeedScope() { grove::clear_schedule_seed(); }
};

// The order in which 8 green threads, spawned together, first run and then resume
// after one yield each.
std::vector<int> run_order() {
  std::vector<int> order;
  std::vector<grove::GreenThreadHandle> gs;
  for (int i = 0; i < 8; ++i) {
    gs.push_back(grove::spawn([&order, i] {
      order.push_back(i);
      grove::yield();
      order.push_back(100 + i);
    }));
  }
  grove::joinall(gs);
  return order;
}

}  // namespace

GROVE_TEST("without a seed, ready green threads run oldest first") {
  CHECK_FALSE(grove::schedule_seed().has_value());
  const std::vector<int> order = run_order();
  std::vector<int> fifo;
  for (int i = 0; i < 8; ++i) fifo.push_back(i);
  for (int i = 0; i < 8; ++i) fifo.push_back(100 + i);
  CHECK(order == fifo);
}

GROVE_TEST("a seed replays the same schedule, and different seeds make different ones") {
  std::set<std::vector<int>> seen;
  for (std::uint64_t seed = 1; seed <= 12; ++seed) {
    std::vector<int> first, second;
    {
      SeedScope s(seed);
      CHECK(grove::schedule_seed() == seed);
      first = run_order();
    }
    {
      SeedScope s(seed);
      second = run_order();
    }
    CHECK(first == second);
    // Every green thread still ran once before it yielded and once after.
    std::vector<int> sorted = first;
    std::sort(sorted.begin(), sorted.end());
    std::vector<int> expected;
    for (int i = 0; i < 8; ++i) expected.push_back(i);
    for (int i = 0; i < 8; ++i) expected.push_back(100 + i);
    CHECK(sorted == expected);
    seen.insert(first);
  }
  // 12 seeds over 8 green threads: FIFO's one order every time would mean no exploring.
  CHECK(seen.size() >= 10);
  CHECK_FALSE(grove::schedule_seed().has_value());
}

GROVE_TEST("under a seed a yield still lets another ready green thread run first") {
  SeedScope s(7);
  for (int round = 0; round < 50; ++round) {
    bool other_ran = false;
    auto g = grove::spawn([&] { other_ran = true; });
    grove::yield();
    CHECK(other_ran);
    g.join();
  }
}

GROVE_TEST("under a seed two timers that expire before one poll come in either order") {
  std::set<std::string> orders;
  std::string fifo;
  for (std::uint64_t seed = 0; seed <= 40 && orders.size() < 2; ++seed) {
    std::optional<SeedScope> s;
    if (seed > 0) s.emplace(seed);
    std::string order;
    auto early = grove::spawn([&] { grove::sleep(1ms); order += 'e'; });
    auto late = grove::spawn([&] { grove::sleep(2ms); order += 'l'; });
    grove::yield();  // both park on their timers
    // Both deadlines pass while the root runs without giving way: one poll sees both.
    const auto until = std::chrono::steady_clock::now() + 5ms;
    while (std::chrono::steady_clock::now() < until) {
    }
    early.join();
    late.join();
    if (seed == 0) {
      fifo = order;
    } else {
      orders.insert(order);
    }
  }
  CHECK(fifo == "el");  // FIFO: the earlier deadline first
  CHECK(orders.size() == 2);
}

GROVE_TEST("a deadlock found under a seed names the seed") {
  SeedScope s(424242);
  grove::Event never;
  std::string msg;
  try {
    never.wait();
  } catch (const grove::LoopExit& e) {
    msg = e.what();
  }
  INFO(msg);
  CHECK(msg.find("schedule seed 424242") != std::string::npos);
}
