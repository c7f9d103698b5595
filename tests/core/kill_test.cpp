// kill_test.cpp: kill() delivers GreenletExit so destructors run.
#include <chrono>
#include <stdexcept>

#include "grove_test.hpp"

using namespace std::chrono_literals;

namespace {
struct SetOnDestroy {
  bool& flag;
  ~SetOnDestroy() { flag = true; }
};
}  // namespace

GROVE_TEST("kill while parked in sleep runs the green thread's destructors") {
  bool destroyed = false, after = false;
  auto g = grove::spawn([&] {
    SetOnDestroy guard{destroyed};
    grove::sleep(10s);
    after = true;
  });
  grove::sleep(5ms);
  REQUIRE(g.started());
  g.kill();
  CHECK(g.ready());
  CHECK(g.killed());
  CHECK(destroyed);
  CHECK_FALSE(after);
}

GROVE_TEST("kill while parked in join runs destructors and leaves the joined one running") {
  bool destroyed = false;
  grove::Event release_target;
  auto target = grove::spawn([&] { release_target.wait(); return 3; });
  auto joiner = grove::spawn([&] {
    SetOnDestroy guard{destroyed};
    target.join();
  });
  grove::sleep(5ms);
  joiner.kill();
  CHECK(joiner.killed());
  CHECK(destroyed);
  CHECK_FALSE(target.ready());
  release_target.set();
  CHECK(target.get() == 3);
}

GROVE_TEST("a green thread killed before it started never runs its function") {
  bool ran = false;
  auto g = grove::spawn([&] { ran = true; });
  g.kill();
  CHECK(g.ready());
  CHECK(g.killed());
  CHECK_FALSE(g.started());
  CHECK_FALSE(ran);
}

GROVE_TEST("kill with a timeout returns false while the victim is still cleaning up") {
  auto g = grove::spawn([] {
    try {
      grove::sleep(10s);
    } catch (const grove::GreenletExit&) {
      // Cleanup that itself takes a while; then the kill proceeds.
      grove::sleep(100ms);
      throw;
    }
  });
  grove::sleep(5ms);
  CHECK_FALSE(g.kill(10ms));
  CHECK_FALSE(g.ready());
  CHECK(g.join(5s));
  CHECK(g.killed());
}

GROVE_TEST("kill with a timeout returns true once the victim is dead") {
  auto g = grove::spawn([] { grove::sleep(10s); });
  grove::sleep(1ms);
  CHECK(g.kill(2s));
  CHECK(g.killed());
}

GROVE_TEST("kill_nowait returns before the victim has died") {
  bool destroyed = false;
  auto g = grove::spawn([&] {
    SetOnDestroy guard{destroyed};
    grove::sleep(10s);
  });
  grove::sleep(1ms);
  g.kill_nowait();
  CHECK_FALSE(destroyed);
  g.join();
  CHECK(destroyed);
  CHECK(g.killed());
}

GROVE_TEST("a green thread that kills itself gets GreenletExit at once") {
  bool caught = false, after = false;
  auto g = grove::spawn([&] {
    try {
      grove::current().kill();
      after = true;
    } catch (const grove::GreenletExit&) {
      caught = true;
      throw;
    }
  });
  g.join();
  CHECK(caught);
  CHECK_FALSE(after);
  CHECK(g.killed());
}

GROVE_TEST("catch of std::exception does not swallow a kill") {
  bool swallowed = false;
  auto g = grove::spawn([&] {
    try {
      grove::sleep(10s);
    } catch (const std::exception&) {
      swallowed = true;
    }
  });
  grove::sleep(1ms);
  g.kill();
  CHECK_FALSE(swallowed);
  CHECK(g.killed());
}

GROVE_TEST("get on a killed green thread throws GreenThreadKilled") {
  auto g = grove::spawn([] { grove::sleep(10s); return 1; });
  grove::sleep(1ms);
  g.kill();
  CHECK_THROWS_AS(g.get(), grove::GreenThreadKilled);
  CHECK(g.exception() == nullptr);
}

GROVE_TEST("killing a dead green thread does nothing") {
  auto g = grove::spawn([] { return 1; });
  CHECK(g.get() == 1);
  g.kill();
  CHECK(g.successful());
  CHECK_FALSE(g.killed());
}

GROVE_TEST("kill with a timeout of Duration::max() waits for the green thread to die") {
  auto g = grove::spawn([] {
    try {
      grove::sleep(1h);
    } catch (const grove::GreenletExit&) {
      grove::sleep(20ms);  // unwinding takes a while
      throw;
    }
  });
  grove::sleep(1ms);
  CHECK(g.kill(grove::Duration::max()));
  CHECK(g.killed());
}

namespace {
// A destructor that parks for 30 ms (a clean-up that talks to the network), then
// sets `done`.
struct SlowCleanup {
  bool& done;
  ~SlowCleanup() {
    grove::sleep(30ms);
    done = true;
  }
};
}  // namespace

GROVE_TEST("a second kill while the green thread unwinds from the first waits for it to finish dying") {
  // kill(Duration) may return while the target still unwinds, parked in a destructor;
  // killing it again must not throw out of that destructor (std::terminate), nor cut
  // the destructor's wait short.
  bool cleanup_done = false;
  auto g = grove::spawn([&] {
    SlowCleanup cleanup{cleanup_done};
    grove::sleep(1h);
  });
  grove::sleep(0ms);  // g starts and parks in sleep(1h)
  g.kill_nowait();
  grove::sleep(0ms);  // g unwinds and parks in ~SlowCleanup
  CHECK_FALSE(g.ready());
  g.kill();
  CHECK(g.killed());
  CHECK(cleanup_done);
}

GROVE_TEST("a kill that arrives while a green thread unwinds another exception is raised at its next blocking call") {
  bool cleanup_done = false, caught = false, after = false;
  auto g = grove::spawn([&] {
    try {
      SlowCleanup cleanup{cleanup_done};
      throw std::runtime_error("request failed");
    } catch (const std::runtime_error&) {
      caught = true;
    }
    grove::sleep(1h);  // the pending kill is raised here
    after = true;
  });
  grove::sleep(1ms);  // g throws and parks in ~SlowCleanup
  CHECK_FALSE(g.ready());
  g.kill();
  CHECK(cleanup_done);
  CHECK(caught);
  CHECK_FALSE(after);
  CHECK(g.killed());
}

namespace {
// A clean-up that waits at most 50 ms for something (a goodbye, a flush): here an
// Event nothing sets, so only the Timeout ends the wait. `outcome` is 1 when
// with_timeout reported its own deadline, 2 when the wait ended some other way.
struct TimedGoodbye {
  grove::Event& never;
  int& outcome;
  ~TimedGoodbye() { outcome = grove::with_timeout(50ms, [&] { never.wait(); }) ? 2 : 1; }
};

// Lets a green thread the test could not kill in time finish (set the Event its
// destructor waits on), so that a failing case still leaves the hub clean.
void release_straggler(const grove::GreenThreadHandle& g, grove::Event& never) {
  if (g.ready()) return;
  never.set();
  g.join(5s);
}
}  // namespace

GROVE_TEST("a Timeout made in a destructor while a kill unwinds the green thread fires in that destructor") {
  // The Timeout belongs to the unwinding it was made in: its TimeoutError is raised
  // and caught inside the destructor. Before, it stayed pending until the unwinding
  // was over, so the destructor (and kill) waited until something else woke it.
  grove::Event never;
  int outcome = 0;
  auto g = grove::spawn([&] {
    TimedGoodbye bye{never, outcome};
    grove::sleep(1h);
  });
  grove::sleep(1ms);  // g parks in sleep(1h)
  const auto t0 = std::chrono::steady_clock::now();
  const bool dead = g.kill(1s);
  const auto took = std::chrono::steady_clock::now() - t0;
  CHECK(dead);
  CHECK(outcome == 1);
  CHECK(took >= 45ms);
  CHECK(took < 1s);
  release_straggler(g, never);
  CHECK(g.killed());
}

GROVE_TEST("a kill that arrives while a destructor waits under its own Timeout stays pending, and the Timeout still fires") {
  grove::Event never;
  int outcome = 0;
  bool caught = false, after = false;
  auto g = grove::spawn([&] {
    try {
      TimedGoodbye bye{never, outcome};
      throw std::runtime_error("request failed");
    } catch (const std::runtime_error&) {
      caught = true;
    }
    grove::sleep(1h);  // the pending kill is raised here
    after = true;
  });
  grove::sleep(1ms);  // g throws and parks in ~TimedGoodbye, under its Timeout
  CHECK_FALSE(g.ready());
  const bool dead = g.kill(1s);  // stays pending while g unwinds the runtime_error
  CHECK(dead);
  CHECK(outcome == 1);
  release_straggler(g, never);
  CHECK(caught);
  CHECK_FALSE(after);
  CHECK(g.killed());
}
