// wait_test.cpp: joinall, killall, wait and iwait over several green threads, and the
// handles they refuse (empty, the caller's own, another OS thread's).
#include <chrono>
#include <thread>
#include <vector>

#include "grove_test.hpp"

using namespace std::chrono_literals;

GROVE_TEST("joinall waits for every green thread") {
  std::vector<grove::GreenThreadHandle> gs;
  for (int i = 0; i < 5; ++i) gs.push_back(grove::spawn([i] { grove::sleep(std::chrono::milliseconds(i * 5)); }));
  CHECK(grove::joinall(gs));
  for (auto& g : gs) CHECK(g.ready());
}

GROVE_TEST("joinall with a timeout returns false while one still runs") {
  auto fast = grove::spawn([] {});
  auto slow = grove::spawn([] { grove::sleep(200ms); });
  CHECK_FALSE(grove::joinall({fast, slow}, 20ms));
  CHECK(fast.ready());
  CHECK_FALSE(slow.ready());
  CHECK(grove::joinall({fast, slow}, 5s));
}

GROVE_TEST("killall kills every green thread") {
  std::vector<grove::GreenThreadHandle> gs;
  for (int i = 0; i < 5; ++i) gs.push_back(grove::spawn([] { grove::sleep(10s); }));
  grove::sleep(1ms);
  CHECK(grove::killall(gs, 5s));
  for (auto& g : gs) CHECK(g.killed());
}

GROVE_TEST("wait with a count returns as soon as that many are ready, in the order they became ready") {
  auto a = grove::spawn([] { grove::sleep(60ms); });
  auto b = grove::spawn([] { grove::sleep(5ms); });
  auto c = grove::spawn([] { grove::sleep(10s); });
  auto r = grove::wait({&a, &b, &c}, std::nullopt, 2);
  REQUIRE(r.size() == 2);
  CHECK(r[0] == &b);
  CHECK(r[1] == &a);
  CHECK_FALSE(c.ready());
  c.kill();
}

GROVE_TEST("wait with a timeout returns only the ready ones") {
  auto a = grove::spawn([] {});
  auto b = grove::spawn([] { grove::sleep(10s); });
  auto r = grove::wait({&a, &b}, 20ms);
  REQUIRE(r.size() == 1);
  CHECK(r[0] == &a);
  b.kill();
}

GROVE_TEST("wait returns the ones ready on entry first, in argument order") {
  auto a = grove::spawn([] {});
  auto b = grove::spawn([] {});
  grove::joinall({a, b});
  auto r = grove::wait({&b, &a});
  REQUIRE(r.size() == 2);
  CHECK(r[0] == &b);
  CHECK(r[1] == &a);
}

GROVE_TEST("iwait yields the green threads in the order they finish") {
  auto a = grove::spawn([] { grove::sleep(60ms); });
  auto b = grove::spawn([] { grove::sleep(30ms); });
  auto c = grove::spawn([] { grove::sleep(1ms); });
  std::vector<const grove::Waitable*> order;
  for (const grove::Waitable* w : grove::iwait({&a, &b, &c})) order.push_back(w);
  CHECK(order == std::vector<const grove::Waitable*>{&c, &b, &a});
}

GROVE_TEST("iwait stops at its timeout") {
  auto a = grove::spawn([] { grove::sleep(1ms); });
  auto b = grove::spawn([] { grove::sleep(10s); });
  std::vector<const grove::Waitable*> order;
  for (const grove::Waitable* w : grove::iwait({&a, &b}, 50ms)) order.push_back(w);
  CHECK(order == std::vector<const grove::Waitable*>{&a});
  b.kill();
}

GROVE_TEST("an object that becomes ready while an iwait loop's body sleeps does not cut the sleep short") {
  grove::Event e1, e2;
  auto setter = grove::spawn([&] {
    e1.set();
    grove::sleep(20ms);
    e2.set();  // while the loop body below sleeps
  });
  std::vector<double> slept;
  for (const grove::Waitable* w : grove::iwait({&e1, &e2})) {
    if (w == &e1) {
      const auto t0 = std::chrono::steady_clock::now();
      grove::sleep(100ms);
      slept.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
  }
  REQUIRE(slept.size() == 1);
  CHECK(slept[0] >= 0.095);
  setter.join();
}

GROVE_TEST("joinall with an empty handle is a usage error") {
  grove::GreenThreadHandle empty;
  CHECK_THROWS_AS(grove::joinall({empty}, 10ms), grove::UsageError);
}

GROVE_TEST("wait on an empty handle is a usage error") {
  grove::GreenThreadHandle empty;
  CHECK_THROWS_AS(grove::wait({&empty}, 10ms), grove::UsageError);
}

GROVE_TEST("iwait on an empty handle is a usage error") {
  grove::GreenThreadHandle empty;
  auto g = grove::spawn([] {});
  CHECK_THROWS_AS(grove::iwait({&g, &empty}, 10ms), grove::UsageError);
  g.join();
}

// joinall() refuses the caller's own handle (it would wait for itself); so do wait()
// and iwait(), instead of timing out or parking for ever.
GROVE_TEST("wait on the calling green thread's own handle is a usage error") {
  auto g = grove::spawn([] {
    grove::GreenThreadHandle self = grove::current();
    return grove::wait({&self}, 50ms).size();
  });
  CHECK_THROWS_AS(g.get(), grove::UsageError);
}

GROVE_TEST("iwait on the calling green thread's own handle is a usage error") {
  auto g = grove::spawn([] {
    grove::GreenThreadHandle self = grove::current();
    grove::IWait it({&self}, 50ms);
    return it.next() != nullptr;
  });
  CHECK_THROWS_AS(g.get(), grove::UsageError);
}

GROVE_TEST("wait on a green thread of another OS thread is a usage error") {
  auto g = grove::spawn([] { grove::sleep(20ms); });
  bool usage = false;
  std::thread t([&] {
    try {
      grove::wait({&g}, 10ms);
    } catch (const grove::UsageError&) {
      usage = true;
    }
  });
  t.join();
  CHECK(usage);
  g.join();
}
