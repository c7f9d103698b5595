// pool_test.cpp: Pool bounds concurrency, hands slots out in FIFO order, and map /
// apply respect the bound.
#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <vector>

#include <grove/pool.hpp>

#include "grove_test.hpp"

using namespace std::chrono_literals;

GROVE_TEST("a pool of size 0 is a usage error") {
  CHECK_THROWS_AS(grove::Pool(0), grove::UsageError);
}

GROVE_TEST("spawn parks while the pool is full and resumes when a member dies") {
  grove::Pool pool(2);
  grove::Event release_second;
  auto first = pool.spawn([] { grove::sleep(10ms); });
  auto second = pool.spawn([&] { release_second.wait(); });
  CHECK(pool.full());
  CHECK(pool.free_count() == 0);
  auto third = pool.spawn([] { return 3; });  // parks until the first member is dead
  CHECK(first.dead());
  CHECK_FALSE(second.dead());
  CHECK(pool.size() == 2);
  CHECK(third.get() == 3);
  release_second.set();
  pool.join();
  CHECK(pool.free_count() == 2);
}

GROVE_TEST("never more than size members run at once") {
  grove::Pool pool(3);
  int running = 0, peak = 0;
  for (int i = 0; i < 20; ++i) {
    pool.spawn([&] {
      peak = std::max(peak, ++running);
      grove::sleep(1ms);
      --running;
    });
  }
  pool.join();
  CHECK(peak == 3);
}

GROVE_TEST("freed slots go to the spawners in the order they started waiting") {
  grove::Pool pool(1);
  pool.spawn([] { grove::sleep(5ms); });
  std::vector<int> order, waited;  // waited: the order the spawners started waiting in
  std::vector<grove::GreenThreadHandle> spawners;
  for (int i = 0; i < 4; ++i) {
    spawners.push_back(grove::spawn([&, i] {
      waited.push_back(i);
      pool.spawn([&, i] { order.push_back(i); });
    }));
  }
  grove::joinall(spawners);
  pool.join();
  CHECK(waited.size() == 4);
  CHECK(order == waited);
}

GROVE_TEST("a spawner killed while waiting for a slot takes nothing and the slot goes on") {
  grove::Pool pool(1);
  // The member holds the slot until the kill is done (a timer of its own could fire in
  // the same poll as the sleep below and, in either order, free the slot first).
  grove::Event release;
  pool.spawn([&] { release.wait(); });
  auto victim = grove::spawn([&] { pool.spawn([] {}); });
  bool later_ran = false;
  auto later = grove::spawn([&] { pool.spawn([&] { later_ran = true; }); });
  grove::sleep(1ms);  // both spawners park for the slot
  victim.kill();
  CHECK(victim.killed());
  release.set();
  later.join();
  pool.join();
  CHECK(later_ran);
  CHECK(pool.free_count() == 1);
}

GROVE_TEST("a spawner granted a slot and killed in the same turn still hands the slot on") {
  grove::Pool pool(1);
  auto first = pool.spawn([] { grove::sleep(2ms); });
  bool second_ran = false;
  auto spawner = grove::spawn([&] { pool.spawn([&] { second_ran = true; }); });
  grove::sleep(1ms);  // spawner is parked for a slot
  first.kill();       // frees the slot: granted to spawner...
  spawner.kill_nowait();  // ...which is killed before it runs again
  spawner.join();
  pool.join();
  // Either the spawner spawned its member before the kill landed, or the slot came
  // back; in both cases the pool is whole.
  CHECK(pool.free_count() == 1);
  CHECK(pool.empty());
  (void)second_ran;
}

// Accounting: a member killed before its function ran frees its slot, and the slot
// goes to the spawn() parked for it.
GROVE_TEST("a member killed before it ran gives its slot to the parked spawner") {
  grove::Pool pool(1);
  bool ran_first = false;
  bool ran_second = false;
  grove::GreenThreadHandle first;
  // Queued ahead of `first`: kills it before its function starts.
  auto killer = grove::spawn([&] { first.kill_nowait(); });
  first = pool.spawn([&] { ran_first = true; });
  CHECK(pool.free_count() == 0);
  // The root parks here (the pool is full) until `first` died unstarted.
  auto second = pool.spawn([&] { ran_second = true; });
  CHECK(first.dead());
  CHECK(first.killed());
  CHECK_FALSE(ran_first);
  CHECK(pool.join(2s));
  CHECK(ran_second);
  CHECK(killer.join(2s));
  CHECK(pool.size() == 0);
  CHECK(pool.free_count() == 1);
}

GROVE_TEST("wait_available parks until a slot is free, without taking it") {
  grove::Pool pool(1);
  pool.spawn([] { grove::sleep(5ms); });
  CHECK(pool.wait_available(0ms) == 0);
  CHECK(pool.wait_available() == 1);
  CHECK(pool.free_count() == 1);
  CHECK(pool.empty());
}

GROVE_TEST("wait_available with a timeout returns 0 when nothing frees up") {
  grove::Pool pool(1);
  auto m = pool.spawn([] { grove::sleep(10s); });
  CHECK(pool.wait_available(5ms) == 0);
  pool.kill();
  CHECK(m.killed());
}

GROVE_TEST("add parks while the pool is full") {
  grove::Pool pool(1);
  grove::Event release_outsider;
  pool.spawn([] { grove::sleep(5ms); });
  auto outsider = grove::spawn([&] { release_outsider.wait(); });
  pool.add(outsider);  // parks until the member dies
  CHECK(pool.contains(outsider));
  CHECK(pool.size() == 1);
  release_outsider.set();
  pool.join();
}

GROVE_TEST("discard frees a slot for a waiting spawner") {
  grove::Pool pool(1);
  auto long_one = pool.spawn([] { grove::sleep(30ms); });
  bool ran = false;
  auto spawner = grove::spawn([&] { pool.spawn([&] { ran = true; }); });
  grove::sleep(1ms);
  pool.discard(long_one);
  spawner.join();
  pool.join();
  CHECK(ran);
  long_one.join();
}

GROVE_TEST("map on a pool runs at most size calls at once and keeps the item order") {
  grove::Pool pool(2);
  int running = 0, peak = 0;
  std::vector<int> items{1, 2, 3, 4, 5, 6, 7};
  auto out = pool.map(
      [&](int x) {
        peak = std::max(peak, ++running);
        grove::sleep(1ms);
        --running;
        return x * x;
      },
      items);
  CHECK(out == std::vector<int>{1, 4, 9, 16, 25, 36, 49});
  CHECK(peak == 2);
}

GROVE_TEST("a failing call in a pool's map stops the items not yet spawned") {
  grove::Pool pool(1);
  std::vector<int> ran;
  auto run = [&] {
    pool.map([&](int x) { ran.push_back(x); if (x == 2) throw std::runtime_error("two"); return x; },
             std::vector<int>{1, 2, 3, 4, 5});
  };
  CHECK_THROWS_WITH_AS(run(), "two", std::runtime_error);
  // With one slot, items run one after another; after 2 failed, 4 and 5 never ran
  // (3 may have been spawned already when the failure was seen, and was killed).
  CHECK(ran.size() <= 3);
  CHECK(std::find(ran.begin(), ran.end(), 5) == ran.end());
  CHECK(pool.empty());
}

GROVE_TEST("apply from inside a full pool runs directly instead of deadlocking") {
  grove::Pool pool(1);
  auto outer = pool.spawn([&] { return pool.apply([] { return 9; }); });
  CHECK(outer.get() == 9);
}

GROVE_TEST("imap_unordered on a pool yields every result once") {
  grove::Pool pool(3);
  std::vector<int> items;
  for (int i = 0; i < 50; ++i) items.push_back(i);
  std::vector<int> seen;
  for (int v : pool.imap_unordered([](int x) { grove::sleep(std::chrono::microseconds(x * 10)); return x; }, items)) {
    seen.push_back(v);
  }
  std::sort(seen.begin(), seen.end());
  CHECK(seen == items);
}
