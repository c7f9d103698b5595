// event_test.cpp: Event set / clear / wait, its timeouts and kills, misuse from another
// OS thread, and destruction with waiters.
#include <chrono>
#include <optional>
#include <thread>
#include <vector>

#include "grove_test.hpp"
#include "other_thread.hpp"

using namespace std::chrono_literals;

GROVE_TEST("Event::wait parks until set() and then returns true") {
  grove::Event ev;
  bool woke = false;
  auto g = grove::spawn([&] { woke = ev.wait(); });
  grove::sleep(2ms);
  CHECK_FALSE(woke);
  CHECK_FALSE(g.ready());
  ev.set();
  g.join();
  CHECK(woke);
  CHECK(ev.is_set());
}

GROVE_TEST("Event::set wakes every waiter") {
  grove::Event ev;
  int woke = 0;
  std::vector<grove::GreenThreadHandle> gs;
  for (int i = 0; i < 5; ++i) gs.push_back(grove::spawn([&] { if (ev.wait()) ++woke; }));
  grove::yield();
  CHECK(woke == 0);
  ev.set();
  grove::joinall(gs);
  CHECK(woke == 5);
}

GROVE_TEST("Event::wait returns true at once while the flag is set") {
  grove::Event ev;
  ev.set();
  CHECK(ev.wait());
  CHECK(ev.wait(0ms));
}

GROVE_TEST("Event::clear makes later waits park again") {
  grove::Event ev;
  ev.set();
  ev.clear();
  CHECK_FALSE(ev.is_set());
  CHECK_FALSE(ev.wait(5ms));
}

GROVE_TEST("Event::wait with a timeout returns false when it is not set in time") {
  grove::Event ev;
  bool other_ran = false;
  auto g = grove::spawn([&] { other_ran = true; });
  CHECK_FALSE(ev.wait(10ms));
  CHECK(other_ran);  // the caller parked meanwhile
  g.join();
}

GROVE_TEST("a waiter woken by set() stays woken when clear() follows at once") {
  grove::Event ev;
  bool woke = false;
  auto g = grove::spawn([&] { woke = ev.wait(5s); });
  grove::yield();
  ev.set();
  ev.clear();
  g.join();
  CHECK(woke);
}

GROVE_TEST("killing a green thread parked in Event::wait unwinds it with GreenletExit and leaves the Event working") {
  grove::Event ev;
  bool exited = false;
  auto victim = grove::spawn([&] {
    try {
      ev.wait();
    } catch (const grove::GreenletExit&) {
      exited = true;
      throw;
    }
  });
  bool other_woke = false;
  auto other = grove::spawn([&] { other_woke = ev.wait(); });
  grove::yield();
  victim.kill();
  CHECK(exited);
  CHECK(victim.killed());
  ev.set();
  other.join();
  CHECK(other_woke);
}

GROVE_TEST("a Timeout interrupts Event::wait with its TimeoutError and leaves the Event working") {
  grove::Event ev;
  {
    grove::Timeout t(5ms);
    CHECK_THROWS_AS(ev.wait(), grove::TimeoutError);
  }
  bool woke = false;
  auto g = grove::spawn([&] { woke = ev.wait(); });
  grove::yield();
  ev.set();
  g.join();
  CHECK(woke);
}

GROVE_TEST("grove::wait returns when an Event it watches is set") {
  grove::Event ev;
  auto g = grove::spawn([&] {
    grove::sleep(2ms);
    ev.set();
  });
  CHECK(grove::wait({&ev}, 5s).size() == 1);
  g.join();
}

GROVE_TEST("Event::set from a thread-pool worker while a green thread waits is a usage error and leaves it unset") {
  grove::Event ev;
  bool woke = false;
  auto g = grove::spawn([&] { woke = ev.wait(); });
  grove::yield();
  CHECK_THROWS_AS(grove::run_in_thread([&] { ev.set(); }), grove::UsageError);
  CHECK_FALSE(ev.is_set());
  ev.set();
  CHECK(g.join(5s));
  CHECK(woke);
  if (!g.dead()) g.kill();
}

// Destroying an Event unlinks its waiters: a timed wait then ends by its timeout
// (checked under ASan: nothing points into the freed Event).
GROVE_TEST("destroying an Event while a green thread waits on it with a timeout leaves nothing dangling") {
  std::optional<grove::Event> ev(std::in_place);
  bool result = true;
  auto a = grove::spawn([&] { result = ev->wait(20ms); });
  grove::yield();
  ev.reset();
  a.join();
  CHECK_FALSE(result);
}

GROVE_TEST("Event set, clear and wait from another OS thread with nobody waiting are usage errors and change nothing") {
  grove::Event ev;
  CHECK_FALSE(ev.wait(0ms));  // used here first: it belongs to this OS thread
  const std::string msg = grove::test::usage_error_on_other_thread([&] { ev.set(); });
  CHECK(msg.find("grove::Event::set") != std::string::npos);
  CHECK(msg.find("another OS thread") != std::string::npos);
  CHECK_FALSE(ev.is_set());
  CHECK(grove::test::usage_error_on_other_thread([&] { (void)ev.wait(0ms); }) != "");
  ev.set();  // still works on its own OS thread
  CHECK(grove::test::usage_error_on_other_thread([&] { ev.clear(); }) != "");
  CHECK(ev.is_set());
  CHECK(ev.wait());
}
