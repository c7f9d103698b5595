// timeout_test.cpp: scoped deadlines, nested, and the calls' own timeouts.
#include <chrono>
#include <optional>
#include <stdexcept>

#include "grove_test.hpp"

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

GROVE_TEST("a Timeout interrupts sleep with a TimeoutError whose source is that Timeout") {
  const auto t0 = Clock::now();
  grove::Timeout t(20ms);
  bool thrown = false;
  try {
    grove::sleep(10s);
  } catch (const grove::TimeoutError& e) {
    thrown = true;
    CHECK(e.source() == &t);
    CHECK(e.is(t));
  }
  CHECK(thrown);
  CHECK(t.expired());
  CHECK(Clock::now() - t0 >= 15ms);
  CHECK(Clock::now() - t0 < 5s);
}

GROVE_TEST("with nested Timeouts the inner one fires first and is the source") {
  grove::Timeout outer(5s);
  grove::Timeout inner(20ms);
  bool thrown = false;
  try {
    grove::sleep(10s);
  } catch (const grove::TimeoutError& e) {
    thrown = true;
    CHECK(e.is(inner));
    CHECK_FALSE(e.is(outer));
  }
  CHECK(thrown);
  CHECK_FALSE(outer.expired());
}

GROVE_TEST("an outer Timeout that fires first is the source and passes through an inner with_timeout") {
  grove::Timeout outer(20ms);
  bool inner_returned = false;
  bool thrown = false;
  try {
    (void)grove::with_timeout(5s, [] { grove::sleep(10s); });
    inner_returned = true;
  } catch (const grove::TimeoutError& e) {
    thrown = true;
    CHECK(e.is(outer));
  }
  CHECK(thrown);
  CHECK_FALSE(inner_returned);
}

GROVE_TEST("with_timeout returns nullopt when its own deadline expires") {
  std::optional<int> r = grove::with_timeout(10ms, [] {
    grove::sleep(10s);
    return 1;
  });
  CHECK_FALSE(r.has_value());
  bool ok = grove::with_timeout(10ms, [] { grove::sleep(10s); });
  CHECK_FALSE(ok);
}

GROVE_TEST("with_timeout returns the value when the function finishes in time") {
  std::optional<int> r = grove::with_timeout(5s, [] {
    grove::sleep(1ms);
    return 9;
  });
  REQUIRE(r.has_value());
  CHECK(*r == 9);
  CHECK(grove::with_timeout(5s, [] {}));
}

GROVE_TEST("a cancelled Timeout never fires later") {
  {
    grove::Timeout t(20ms);
    t.cancel();
    CHECK_NOTHROW(grove::sleep(60ms));
    CHECK_FALSE(t.expired());
  }
  CHECK_NOTHROW(grove::sleep(10ms));
}

GROVE_TEST("a Timeout that went out of scope never fires later") {
  { grove::Timeout t(20ms); }
  CHECK_NOTHROW(grove::sleep(60ms));
}

GROVE_TEST("a Timeout fires in the green thread that created it, not in others") {
  bool other_ok = false;
  auto other = grove::spawn([&] {
    grove::sleep(60ms);
    other_ok = true;
  });
  grove::Timeout t(10ms);
  CHECK_THROWS_AS(grove::sleep(10s), grove::TimeoutError);
  t.cancel();
  other.join();
  CHECK(other_ok);
}

GROVE_TEST("join with its own timeout and sleep leave no Timeout behind") {
  auto g = grove::spawn([] { grove::sleep(100ms); });
  CHECK_FALSE(g.join(10ms));
  CHECK_NOTHROW(grove::sleep(20ms));
  CHECK(g.join(5s));
}

GROVE_TEST("a Timeout interrupts join and leaves the joined green thread running") {
  // g ends when told (a timer of its own could expire in the same poll as the Timeout
  // on a loaded machine and, in either order under a schedule seed, end g first).
  grove::Event finish;
  auto g = grove::spawn([&] { finish.wait(); return 2; });
  {
    grove::Timeout t(5ms);
    CHECK_THROWS_AS(g.join(), grove::TimeoutError);
  }
  CHECK_FALSE(g.ready());
  finish.set();
  CHECK(g.get() == 2);
}

namespace {
// Runs for `d` without parking, so the hub's cached time falls behind by `d`.
void busy_for(std::chrono::milliseconds d) {
  const auto end = Clock::now() + d;
  while (Clock::now() < end) {
  }
}
}  // namespace

GROVE_TEST("sleep and a Timeout count from the call, even after running without parking") {
  grove::sleep(1ms);  // start right after a poll
  busy_for(30ms);
  auto t0 = Clock::now();
  grove::sleep(20ms);
  CHECK(Clock::now() - t0 >= 20ms);

  busy_for(30ms);
  t0 = Clock::now();
  grove::Timeout t(20ms);
  CHECK_THROWS_AS(grove::sleep(10s), grove::TimeoutError);
  CHECK(Clock::now() - t0 >= 20ms);
}

GROVE_TEST("a Timeout that expires while a destructor parks during unwinding lets the unwinding finish") {
  // Raising TimeoutError out of the destructor would call std::terminate: the expiry is
  // held back, the destructor's wait completes and the exception reaches its handler.
  bool cleanup_done = false;
  auto g = grove::spawn([&] {
    grove::Timeout t(10ms);
    try {
      struct SlowCleanup {
        bool& done;
        ~SlowCleanup() {
          grove::sleep(50ms);  // parks while an exception unwinds; the Timeout expires here
          done = true;
        }
      } cleanup{cleanup_done};
      throw std::runtime_error("request failed");
    } catch (const grove::TimeoutError&) {
      return 2;
    } catch (const std::runtime_error&) {
      return 1;
    }
  });
  CHECK(g.get() == 1);
  CHECK(cleanup_done);
}

GROVE_TEST("blocking calls take a timeout of Duration::max() as a very long wait") {
  constexpr auto forever = grove::Duration::max();
  grove::Event ev;
  auto setter = grove::spawn([&] {
    grove::sleep(5ms);
    ev.set();
  });
  CHECK(ev.wait(forever));

  grove::Queue<int> q;
  auto putter = grove::spawn([&] {
    grove::sleep(5ms);
    q.put(4);
  });
  const int* first = q.peek(forever);
  REQUIRE(first != nullptr);
  CHECK(*first == 4);
  CHECK(q.get(forever) == 4);

  grove::Group group;
  group.spawn([] { grove::sleep(5ms); });
  CHECK(group.join(forever));

  grove::Pool pool(1);
  pool.spawn([] { grove::sleep(5ms); });
  CHECK(pool.wait_available(forever) == 1);

  grove::Event late;
  auto late_setter = grove::spawn([&] {
    grove::sleep(5ms);
    late.set();
  });
  CHECK(grove::wait({&late}, forever).size() == 1);
  grove::Event later;
  auto later_setter = grove::spawn([&] {
    grove::sleep(5ms);
    later.set();
  });
  for (const grove::Waitable* w : grove::iwait({&later}, forever)) CHECK(w == &later);
  CHECK(grove::joinall({setter, putter, late_setter, later_setter}, forever));
}

GROVE_TEST("a Timeout from before an unwinding stays pending in its destructors while their own Timeouts fire") {
  // `outer` expires while a destructor waits under a Timeout of its own: raising
  // `outer` there would throw out of the destructor (std::terminate), so it stays
  // pending until the unwinding is over; the destructor's own Timeout fires on time
  // and is caught where it was made.
  grove::Event never;  // nothing sets it (except release, below, if a check failed)
  int inner = 0;       // 1: the destructor's with_timeout expired; 2: it did not
  auto g = grove::spawn([&] {
    grove::Timeout outer(10ms);
    try {
      struct Goodbye {
        grove::Event& never;
        int& inner;
        ~Goodbye() { inner = grove::with_timeout(100ms, [&] { never.wait(); }) ? 2 : 1; }
      } bye{never, inner};
      throw std::runtime_error("request failed");
    } catch (const grove::TimeoutError&) {
      return 3;
    } catch (const std::runtime_error&) {
    }
    try {
      grove::sleep(10s);  // `outer`, pending since 10 ms, is raised here
    } catch (const grove::TimeoutError& e) {
      return e.is(outer) ? 1 : 4;
    }
    return 5;
  });
  const auto t0 = Clock::now();
  const bool done = g.join(1s);
  const auto took = Clock::now() - t0;
  CHECK(done);
  CHECK(took >= 95ms);
  CHECK(took < 1s);
  if (!g.ready()) never.set();
  CHECK(g.get() == 1);
  CHECK(inner == 1);
}

GROVE_TEST("a destructor's Timeout that expires during a deeper unwinding is raised once that unwinding is over") {
  // The Timeout is made at unwinding depth 1 and expires while a nested exception
  // (depth 2) unwinds through ~Nested, which parks: it waits there, then fires at
  // the destructor's next blocking call, back at depth 1.
  grove::Event never;
  int outcome = 0;  // 1: with_timeout expired after the nested unwinding; 2: it did not
  bool nested_done = false;
  auto g = grove::spawn([&] {
    struct Goodbye {
      grove::Event& never;
      int& outcome;
      bool& nested_done;
      ~Goodbye() {
        outcome = grove::with_timeout(10ms, [&] {
          try {
            struct Nested {
              bool& done;
              ~Nested() {
                grove::sleep(50ms);  // the Timeout expires here; raising it would terminate
                done = true;
              }
            } nested{nested_done};
            throw std::logic_error("nested");
          } catch (const std::logic_error&) {
          }
          never.wait();  // the pending Timeout is raised here
        }) ? 2 : 1;
      }
    } bye{never, outcome, nested_done};
    throw std::runtime_error("request failed");
  });
  const bool done = g.join(1s);
  CHECK(done);
  if (!g.ready()) never.set();
  CHECK_THROWS_AS(g.get(), std::runtime_error);
  CHECK(nested_done);
  CHECK(outcome == 1);
}
