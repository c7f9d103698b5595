// yield_test.cpp: yield() gives way to every ready green thread, and cannot starve timers.
#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include "grove_test.hpp"

using namespace std::chrono_literals;

GROVE_TEST("yield lets every other ready green thread run before the caller") {
  std::vector<int> order;
  std::vector<grove::GreenThreadHandle> gs;
  for (int i = 1; i <= 5; ++i) gs.push_back(grove::spawn([&order, i] { order.push_back(i); }));
  grove::yield();
  order.push_back(0);
  CHECK(order == std::vector<int>{1, 2, 3, 4, 5, 0});
  grove::joinall(gs);
}

GROVE_TEST("two yielding green threads alternate") {
  std::string trace;
  auto a = grove::spawn([&] {
    for (int i = 0; i < 3; ++i) { trace += 'a'; grove::yield(); }
  });
  auto b = grove::spawn([&] {
    for (int i = 0; i < 3; ++i) { trace += 'b'; grove::yield(); }
  });
  a.join();
  b.join();
  CHECK(trace == "ababab");
}

GROVE_TEST("sleep of zero behaves as yield") {
  std::vector<int> order;
  auto g = grove::spawn([&] { order.push_back(1); });
  grove::sleep(0ms);
  order.push_back(0);
  CHECK(order == std::vector<int>{1, 0});
  g.join();
}

GROVE_TEST("a loop of yields does not starve a green thread sleeping 10 ms") {
  bool woke = false;
  auto sleeper = grove::spawn([&] {
    grove::sleep(10ms);
    woke = true;
  });
  const auto t0 = std::chrono::steady_clock::now();
  long n = 0;
  while (!woke && std::chrono::steady_clock::now() - t0 < 10s) {
    grove::yield();
    ++n;
  }
  CHECK(woke);
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
  MESSAGE("yields before the sleeper woke: " << n);
  sleeper.join();
}

GROVE_TEST("a ring of yielding green threads does not starve a sleeper") {
  bool woke = false;
  bool stop = false;
  std::vector<grove::GreenThreadHandle> ring;
  for (int i = 0; i < 4; ++i)
    ring.push_back(grove::spawn([&] {
      while (!stop) grove::yield();
    }));
  auto sleeper = grove::spawn([&] {
    grove::sleep(10ms);
    woke = true;
    stop = true;
  });
  CHECK(sleeper.join(10s));
  CHECK(woke);
  stop = true;
  CHECK(grove::joinall(ring, 5s));
}

GROVE_TEST("idle returns once every other green thread has finished or parked") {
  std::vector<int> steps;
  auto worker = grove::spawn([&] {
    for (int i = 0; i < 3; ++i) {
      steps.push_back(i);
      grove::yield();
    }
  });
  auto sleeper = grove::spawn([&] { grove::sleep(10s); });
  grove::idle();
  CHECK(steps == std::vector<int>{0, 1, 2});  // the busy one ran to the end
  CHECK(worker.dead());
  CHECK_FALSE(sleeper.dead());  // the parked one is still parked
  sleeper.kill();
}
