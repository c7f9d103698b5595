// group_test.cpp: Group membership, join, kill, and map / imap / imap_unordered / apply.
#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <grove/group.hpp>

#include "grove_test.hpp"
#include "other_thread.hpp"

using namespace std::chrono_literals;

GROVE_TEST("a member leaves the group by itself when it dies") {
  grove::Group g;
  grove::Event release_b;
  auto a = g.spawn([] { grove::sleep(1ms); });
  auto b = g.spawn([&] { release_b.wait(); });
  CHECK(g.size() == 2);
  CHECK(g.contains(a));
  a.join();
  CHECK(g.size() == 1);
  CHECK_FALSE(g.contains(a));
  CHECK(g.contains(b));
  release_b.set();
  g.join();
  CHECK(g.empty());
}

GROVE_TEST("join parks until every member is dead, then returns true") {
  grove::Group g;
  int done = 0;
  for (int i = 0; i < 10; ++i) g.spawn([&done, i] { grove::sleep(std::chrono::milliseconds(i)); ++done; });
  CHECK(g.join());
  CHECK(done == 10);
}

GROVE_TEST("join with a timeout returns false and leaves the members running") {
  grove::Group g;
  auto m = g.spawn([] { grove::sleep(10s); });
  CHECK_FALSE(g.join(5ms));
  CHECK_FALSE(m.dead());
  CHECK(g.kill());
  CHECK(m.killed());
}

GROVE_TEST("join returns at once for an empty group") {
  grove::Group g;
  CHECK(g.join(0ms));
}

GROVE_TEST("kill kills every member, runs their destructors and empties the group") {
  grove::Group g;
  int unwound = 0;
  struct Count {
    int& n;
    ~Count() { ++n; }
  };
  for (int i = 0; i < 5; ++i) g.spawn([&] { Count c{unwound}; grove::sleep(10s); });
  grove::sleep(1ms);
  CHECK(g.kill());
  CHECK(g.empty());
  CHECK(unwound == 5);
}

GROVE_TEST("kill with a timeout returns false while a member is still cleaning up") {
  grove::Group g;
  auto m = g.spawn([] {
    try {
      grove::sleep(10s);
    } catch (const grove::GreenletExit&) {
      grove::sleep(30ms);  // slow cleanup
      throw;
    }
  });
  grove::sleep(1ms);
  CHECK_FALSE(g.kill(5ms));
  CHECK(g.join());
  CHECK(m.killed());
}

GROVE_TEST("kill from a member of the group is a usage error") {
  grove::Group g;
  auto m = g.spawn([&] { g.kill(); });
  CHECK_THROWS_AS(m.get(), grove::UsageError);
}

GROVE_TEST("join from a member of the group is a usage error, not a wait for itself") {
  grove::Group g;
  auto m = g.spawn([&] { return g.join(50ms); });
  CHECK_THROWS_AS(m.get(), grove::UsageError);
}

// group.hpp promises it, as gevent does: a member that joins while kill() waits for
// the group to empty is killed too, instead of being waited for until it finishes.
GROVE_TEST("kill also kills a member added while it waits") {
  grove::Group group;
  bool late_finished = false;
  grove::GreenThreadHandle late;
  auto first = group.spawn([] { grove::sleep(10s); });
  grove::yield();  // `first` parks in its sleep
  // Runs after kill() delivered the kill to `first`, before `first` unwinds.
  auto adder = grove::spawn([&] {
    late = group.spawn([&] {
      grove::sleep(1s);
      late_finished = true;
    });
  });
  CHECK(group.kill(5s));
  CHECK(first.killed());
  REQUIRE(late);
  CHECK(late.dead());
  CHECK(late.killed());
  CHECK_FALSE(late_finished);
  adder.join();
  if (!late.dead()) late.kill();
}

GROVE_TEST("a member's exception does not touch the other members") {
  grove::Group g;
  auto bad = g.spawn([]() -> int { throw std::runtime_error("boom"); });
  auto good = g.spawn([] { grove::sleep(5ms); return 7; });
  g.join();
  CHECK_THROWS_WITH_AS(bad.get(), "boom", std::runtime_error);
  CHECK(good.get() == 7);
}

GROVE_TEST("add and discard manage green threads spawned elsewhere") {
  grove::Group g;
  auto t = grove::spawn([] { grove::sleep(10ms); });
  g.add(t);
  g.add(t);  // again: nothing changes
  CHECK(g.size() == 1);
  g.discard(t);
  CHECK(g.empty());
  CHECK(g.join(0ms));  // discarded: join does not wait for it
  CHECK_FALSE(t.dead());
  t.join();
  g.add(t);  // dead: not added
  CHECK(g.empty());
}

// A member's death notification runs on its own OS thread: a Group of another OS
// thread would be touched from there.
GROVE_TEST("add of a green thread of another OS thread is a usage error and adds nothing") {
  auto g = grove::spawn([] { grove::sleep(20ms); });
  bool usage = false;
  std::size_t size_after = 0;
  std::thread t([&] {
    grove::Group group;
    try {
      group.add(g);
    } catch (const grove::UsageError&) {
      usage = true;
    }
    size_after = group.size();
  });
  t.join();
  CHECK(usage);
  CHECK(size_after == 0);
  g.join();
}

GROVE_TEST("a killed caller of join leaves the group intact") {
  grove::Group g;
  grove::Event release_m;
  auto m = g.spawn([&] { release_m.wait(); return 1; });
  auto waiter = grove::spawn([&] { g.join(); });
  grove::sleep(1ms);
  waiter.kill();
  CHECK(waiter.killed());
  CHECK(g.size() == 1);
  release_m.set();
  CHECK(g.join());
  CHECK(m.get() == 1);
}

GROVE_TEST("destroying a group neither kills nor waits for its members") {
  grove::GreenThread<int> m;
  {
    grove::Group g;
    m = g.spawn([] { grove::sleep(5ms); return 4; });
  }
  CHECK_FALSE(m.dead());
  CHECK(m.get() == 4);
}

GROVE_TEST("map returns the results in the order of the items") {
  grove::Group g;
  std::vector<int> items{5, 1, 4, 2, 3};
  auto out = g.map([](int ms) { grove::sleep(std::chrono::milliseconds(ms)); return ms * 10; }, items);
  CHECK(out == std::vector<int>{50, 10, 40, 20, 30});
  CHECK(g.empty());
}

GROVE_TEST("map over no items returns an empty vector") {
  grove::Group g;
  std::vector<std::string> none;
  auto out = g.map([](const std::string& s) { return s.size(); }, none);
  CHECK(out.empty());
}

GROVE_TEST("map with a void function runs every call") {
  grove::Group g;
  int sum = 0;
  g.map([&](int x) { grove::sleep(1ms); sum += x; }, std::vector<int>{1, 2, 3});
  CHECK(sum == 6);
}

GROVE_TEST("map kills the calls still running and rethrows the first failure once they are dead") {
  grove::Group g;
  int finished = 0, killed = 0;
  std::vector<int> items{1, 2, 3, 4};
  grove::Event third_failing;
  auto run = [&] {
    g.map(
        [&](int x) {
          if (x == 2) {
            // Fails right after item 3 (not after a longer sleep: two timers that expire
            // before one poll fire in any order under a schedule seed), unless map has
            // killed it by then: either way map rethrows item 3's failure.
            third_failing.wait();
            throw std::runtime_error("item 2 failed");
          }
          if (x == 3) {
            grove::sleep(1ms);
            third_failing.set();
            throw std::runtime_error("item 3 failed");  // fails first in time
          }
          try {
            grove::sleep(x == 1 ? 0ms : 10s);
          } catch (const grove::GreenletExit&) {
            ++killed;
            throw;
          }
          ++finished;
          return x;
        },
        items);
  };
  CHECK_THROWS_WITH_AS(run(), "item 3 failed", std::runtime_error);
  CHECK(finished == 1);  // item 1 finished before the failure
  CHECK(killed == 1);    // item 4 was killed, and is dead by the time map threw
  CHECK(g.empty());
}

GROVE_TEST("a killed caller of map kills the calls it started") {
  grove::Group g;
  int started = 0;
  auto caller = grove::spawn([&] {
    g.map([&](int) { ++started; grove::sleep(10s); return 0; }, std::vector<int>{1, 2, 3});
  });
  grove::sleep(2ms);
  CHECK(started == 3);
  caller.kill();
  CHECK(caller.killed());
  CHECK(g.join(1s));
}

GROVE_TEST("map under a Timeout raises TimeoutError and stops its calls") {
  grove::Group g;
  const bool finished = grove::with_timeout(5ms, [&] {
    g.map([](int) { grove::sleep(10s); return 0; }, std::vector<int>{1, 2});
  });
  CHECK_FALSE(finished);
  CHECK(g.join(1s));
}

GROVE_TEST("imap yields results in item order while they are computed concurrently") {
  grove::Group g;
  std::vector<int> items{40, 1, 25, 10};
  std::vector<int> order_done;
  std::vector<int> seen;
  for (int v : g.imap([&](int ms) { grove::sleep(std::chrono::milliseconds(ms)); order_done.push_back(ms); return ms; },
                      items)) {
    seen.push_back(v);
  }
  CHECK(seen == items);
  // Computed concurrently: the 1 ms call ended before the 40 ms one ahead of it.
  REQUIRE(order_done.size() == 4);
  CHECK(std::find(order_done.begin(), order_done.end(), 1) < std::find(order_done.begin(), order_done.end(), 40));
}

GROVE_TEST("imap_unordered yields results as the calls finish") {
  grove::Group g;
  std::vector<int> seen, done;
  for (int v : g.imap_unordered([&](int ms) { grove::sleep(std::chrono::milliseconds(ms)); done.push_back(ms); return ms; },
                                std::vector<int>{20, 1, 10})) {
    seen.push_back(v);
  }
  // In the order the calls ended (timers that expire before one poll fire in any order
  // under a schedule seed, so that order is not always the deadlines').
  CHECK(seen == done);
  std::sort(seen.begin(), seen.end());
  CHECK(seen == std::vector<int>{1, 10, 20});
}

GROVE_TEST("imap rethrows a failed call when iteration reaches it and can go on") {
  grove::Group g;
  auto it = g.imap([](int x) { if (x == 2) throw std::runtime_error("two"); return x; }, std::vector<int>{1, 2, 3});
  CHECK(*it.next() == 1);
  CHECK_THROWS_WITH_AS(it.next(), "two", std::runtime_error);
  CHECK(*it.next() == 3);
  CHECK_FALSE(it.next().has_value());
}

GROVE_TEST("destroying an imap before the end kills what is still running") {
  grove::Group g;
  int killed = 0;
  {
    auto it = g.imap_unordered(
        [&](int ms) {
          try {
            grove::sleep(std::chrono::milliseconds(ms));
          } catch (const grove::GreenletExit&) {
            ++killed;
            throw;
          }
          return ms;
        },
        std::vector<int>{1, 10000, 10000});
    CHECK(*it.next() == 1);
  }
  CHECK(g.join(1s));
  CHECK(killed == 2);
}

GROVE_TEST("imap works with move-only results") {
  grove::Group g;
  int sum = 0;
  for (auto& p : g.imap([](int x) { return std::make_unique<int>(x); }, std::vector<int>{1, 2, 3})) sum += *p;
  CHECK(sum == 6);
}

GROVE_TEST("apply runs the function in a member and returns its value or exception") {
  grove::Group g;
  CHECK(g.apply([](int a, int b) { grove::sleep(1ms); return a + b; }, 2, 3) == 5);
  CHECK_THROWS_AS(g.apply([]() -> int { throw std::runtime_error("x"); }), std::runtime_error);
  CHECK(g.empty());
}

GROVE_TEST("Group spawn and join from another OS thread are usage errors and change nothing") {
  grove::Group group;
  CHECK(group.join(0ms));  // used here first: it belongs to this OS thread
  bool ran = false;
  const std::string msg = grove::test::usage_error_on_other_thread([&] { group.spawn([&] { ran = true; }); });
  CHECK(msg.find("grove::Group::spawn") != std::string::npos);
  CHECK(grove::test::usage_error_on_other_thread([&] { (void)group.join(0ms); }) != "");
  CHECK(grove::test::usage_error_on_other_thread([&] { group.kill_nowait(); }) != "");
  CHECK(group.empty());
  CHECK_FALSE(ran);
  group.spawn([&] { ran = true; });  // still works on its own OS thread
  CHECK(group.join(5s));
  CHECK(ran);
}
