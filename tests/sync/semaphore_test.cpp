// semaphore_test.cpp: Semaphore and BoundedSemaphore: counting, FIFO hand-off,
// timeouts, kills, and the wake/timeout and wake/kill races.
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "grove_test.hpp"
#include "other_thread.hpp"

using namespace std::chrono_literals;

GROVE_TEST("Semaphore::acquire takes free permits without parking and parks when none is left") {
  grove::Semaphore sem(2);
  CHECK(sem.acquire());
  CHECK(sem.acquire());
  CHECK(sem.value() == 0);
  CHECK(sem.locked());
  bool got = false;
  auto g = grove::spawn([&] { got = sem.acquire(); });
  grove::yield();
  CHECK_FALSE(got);
  CHECK(sem.waiting() == 1);
  sem.release();
  g.join();
  CHECK(got);
  CHECK(sem.value() == 0);
}

GROVE_TEST("Semaphore::try_acquire takes a free permit and never parks") {
  grove::Semaphore sem(1);
  CHECK(sem.try_acquire());
  CHECK_FALSE(sem.try_acquire());
  sem.release();
  CHECK(sem.value() == 1);
}

GROVE_TEST("Semaphore::acquire with a timeout returns false and takes nothing when no permit comes") {
  grove::Semaphore sem(0);
  CHECK_FALSE(sem.acquire(5ms));
  CHECK(sem.waiting() == 0);
  sem.release();
  CHECK(sem.value() == 1);
}

GROVE_TEST("Semaphore::release hands permits to waiters in the order they started waiting") {
  grove::Semaphore sem(0);
  std::vector<int> order;
  std::vector<grove::GreenThreadHandle> gs;
  for (int i = 0; i < 5; ++i) {
    gs.push_back(grove::spawn([&, i] {
      sem.acquire();
      order.push_back(i);
    }));
    grove::yield();  // i parks before i + 1 starts
  }
  // One permit at a time, each to the longest waiter, which then runs (the only green
  // thread ready besides this one, whatever order the hub picks under a schedule seed).
  for (std::size_t i = 0; i < 5; ++i) {
    sem.release();
    for (int k = 0; k < 100 && order.size() == i; ++k) grove::yield();
  }
  grove::joinall(gs);
  CHECK(order == std::vector<int>{0, 1, 2, 3, 4});
}

GROVE_TEST("a permit released to a waiter cannot be taken by a green thread arriving later") {
  grove::Semaphore sem(0);
  bool waiter_got = false;
  auto waiter = grove::spawn([&] { waiter_got = sem.acquire(); });
  grove::yield();
  sem.release();  // granted to the waiter, which has not run yet
  CHECK_FALSE(sem.try_acquire());
  CHECK(sem.value() == 0);
  waiter.join();
  CHECK(waiter_got);
}

GROVE_TEST("a Semaphore works as a BasicLockable with std::lock_guard") {
  grove::Semaphore sem(1);
  {
    std::lock_guard<grove::Semaphore> g(sem);
    CHECK(sem.value() == 0);
  }
  CHECK(sem.value() == 1);
}

GROVE_TEST("BoundedSemaphore::release beyond the initial count is a UsageError and changes nothing") {
  grove::BoundedSemaphore sem(2);
  CHECK_THROWS_AS(sem.release(), grove::UsageError);
  CHECK(sem.value() == 2);
  CHECK(sem.acquire());
  sem.release();
  CHECK_THROWS_AS(sem.release(), grove::UsageError);
  CHECK(sem.value() == 2);
}

GROVE_TEST("BoundedSemaphore::release hands its permit to a waiter while it is fully acquired") {
  grove::BoundedSemaphore sem(1);
  CHECK(sem.acquire());
  bool got = false;
  auto g = grove::spawn([&] {
    got = sem.acquire();
    sem.release();
  });
  grove::yield();
  sem.release();
  g.join();
  CHECK(got);
  CHECK(sem.value() == 1);
  CHECK_THROWS_AS(sem.release(), grove::UsageError);
}

GROVE_TEST("killing a green thread parked in Semaphore::acquire unwinds it and the next waiter gets the permit") {
  grove::Semaphore sem(0);
  bool exited = false;
  auto victim = grove::spawn([&] {
    try {
      sem.acquire();
    } catch (const grove::GreenletExit&) {
      exited = true;
      throw;
    }
  });
  bool other_got = false;
  auto other = grove::spawn([&] { other_got = sem.acquire(); });
  grove::yield();
  victim.kill();
  CHECK(exited);
  CHECK(victim.killed());
  CHECK(sem.waiting() == 1);
  sem.release();
  other.join();
  CHECK(other_got);
  CHECK(sem.value() == 0);
}

GROVE_TEST("a Timeout interrupts Semaphore::acquire and the permit released later is not lost") {
  grove::Semaphore sem(0);
  {
    grove::Timeout t(5ms);
    CHECK_THROWS_AS(sem.acquire(), grove::TimeoutError);
  }
  CHECK(sem.waiting() == 0);
  sem.release();
  CHECK(sem.value() == 1);
  CHECK(sem.acquire(0ms));
}

// The wake/kill race: release() and kill land in the same hub turn, before the waiter
// runs again. Whichever comes first decides; the permit is never lost.
GROVE_TEST("a permit granted to a waiter killed in the same hub turn is kept by it (release, then kill)") {
  grove::Semaphore sem(0);
  bool got = false;
  auto victim = grove::spawn([&] {
    got = sem.acquire();
    sem.release();  // it owns the permit and gives it back; the kill lands later
    grove::sleep(10s);
  });
  grove::yield();
  sem.release();
  victim.kill_nowait();
  victim.join();
  CHECK(got);
  CHECK(victim.killed());
  CHECK(sem.value() == 1);
}

GROVE_TEST("a permit released after the waiter was killed in the same hub turn goes to the next waiter (kill, then release)") {
  grove::Semaphore sem(0);
  bool victim_got = false, next_got = false;
  auto victim = grove::spawn([&] { victim_got = sem.acquire(); });
  auto next = grove::spawn([&] { next_got = sem.acquire(); });
  grove::yield();
  victim.kill_nowait();
  sem.release();
  victim.join();
  next.join();
  CHECK(victim.killed());
  CHECK_FALSE(victim_got);
  CHECK(next_got);
  CHECK(sem.value() == 0);
}

GROVE_TEST("a permit released after the only waiter was killed in the same hub turn stays in the count") {
  grove::Semaphore sem(0);
  auto victim = grove::spawn([&] { sem.acquire(); });
  grove::yield();
  victim.kill_nowait();
  sem.release();
  victim.join();
  CHECK(victim.killed());
  CHECK(sem.value() == 1);
  CHECK(sem.waiting() == 0);
}

// The wake/timeout race, release first: the deadline has passed (the OS thread was
// held past it) when the permit is granted, before the timer was processed. The grant
// wins.
GROVE_TEST("a permit granted after the waiter's deadline passed, before its timer was processed, is returned by acquire") {
  grove::Semaphore sem(0);
  bool got = false;
  auto waiter = grove::spawn([&] {
    got = sem.acquire(5ms);
    if (got) sem.release();
  });
  grove::yield();                             // the waiter parks with its 5 ms timer
  std::this_thread::sleep_for(15ms);          // its deadline passes, unprocessed
  sem.release();                              // granted now
  waiter.join();
  CHECK(got);
  CHECK(sem.value() == 1);
}

// The wake/timeout race, timeout first: a releaser's timer and the waiter's timer
// expire while the OS thread is held, and are processed in one poll, the releaser's
// first (it expires earlier), so the waiter is already woken by its timeout, but has not
// run, when release() comes.
GROVE_TEST("a permit released after the waiter's timeout fired in the same hub turn stays in the count (timeout, then release)") {
  grove::Semaphore sem(0);
  grove::sleep(1ms);  // start from a fresh poll: no poll until every green thread below has parked
  bool got = true;
  auto waiter = grove::spawn([&] { got = sem.acquire(20ms); });
  auto releaser = grove::spawn([&] {
    grove::sleep(1ms);
    sem.release();
  });
  auto blocker = grove::spawn([] { std::this_thread::sleep_for(40ms); });  // both timers expire meanwhile
  grove::joinall({waiter, releaser, blocker});
  CHECK_FALSE(got);
  CHECK(sem.value() == 1);
  CHECK(sem.waiting() == 0);
}

// The wake/Timeout race, grant first: the waiter's grove::Timeout fires while the
// waiter is granted but still queued to run. Green threads that yield ahead of it use
// up the hub's switch budget (64 switches after a poll), so the hub polls and fires the
// Timeout before the waiter runs again.
GROVE_TEST("a permit granted to a waiter whose Timeout fires before it runs again is kept by it") {
  grove::Semaphore sem(0);
  bool got = false, fired_before_running = false, timed_out = false;
  grove::sleep(1ms);  // a fresh poll: the switch budget is 64 again
  auto waiter = grove::spawn([&] {
    try {
      grove::Timeout t(1ms);
      got = sem.acquire();
      fired_before_running = t.expired();
      sem.release();
      grove::sleep(10s);  // the fired Timeout is raised here
    } catch (const grove::TimeoutError&) {
      timed_out = true;
    }
  });
  grove::yield();                     // the waiter parks
  std::this_thread::sleep_for(10ms);  // its deadline passes, unprocessed
  std::vector<grove::GreenThreadHandle> yielders;
  for (int i = 0; i < 200; ++i) yielders.push_back(grove::spawn([] { grove::yield(); }));
  sem.release();  // granted; the waiter is queued behind the 200 yielders
  waiter.join();
  grove::joinall(yielders);
  CHECK(got);
  // The race did happen. It is built from FIFO order (the waiter queued behind the
  // yielders); under a schedule seed the waiter may run first, and then it does not.
  if (!grove::schedule_seed()) CHECK(fired_before_running);
  CHECK(timed_out);
  CHECK(sem.value() == 1);
}

GROVE_TEST("Semaphore::acquire that nothing can ever satisfy raises LoopExit naming the wait") {
  grove::Semaphore sem(0);
  bool named = false;
  try {
    sem.acquire();
  } catch (const grove::LoopExit& e) {
    named = std::string(e.what()).find("Semaphore::acquire") != std::string::npos;
  }
  CHECK(named);
  CHECK(sem.waiting() == 0);
  sem.release();
  CHECK(sem.value() == 1);
}

GROVE_TEST("a Timeout cancelled by another green thread after it fired still ends the wait, and no permit is lost") {
  // The waiter's Timeout fires and wakes it; before it runs, another green thread
  // releases a permit (the waiter is no longer parked, so the permit stays free) and
  // cancels the fired Timeout. The waiter must not go back to sleep next to a free
  // permit: it gets its TimeoutError, and the permit is still there for the next one.
  grove::Semaphore sem(0);
  grove::Timeout* shared = nullptr;
  bool timed_out = false;
  auto waiter = grove::spawn([&] {
    grove::Timeout t(1ms);
    shared = &t;
    try {
      sem.acquire();
    } catch (const grove::TimeoutError& e) {
      timed_out = e.is(t);
    }
    shared = nullptr;
  });
  auto other = grove::spawn([&] {
    // Keeps running on the ready queue, so the waiter, woken by its timer, queues
    // behind this green thread and it runs first.
    for (int i = 0; i < 1'000'000 && !(shared && shared->expired()); ++i) grove::yield();
    REQUIRE(shared);
    REQUIRE(shared->expired());
    sem.release();
    shared->cancel();
  });
  other.join();
  REQUIRE(waiter.join(5s));
  CHECK(timed_out);
  CHECK(sem.value() == 1);
  CHECK(sem.acquire(0ms));
}

// A thread-pool worker has no hub of the green threads parked in acquire(): it can
// neither wake one nor skip it (the permit would be lost for good).
GROVE_TEST("Semaphore::release from a thread-pool worker while a green thread waits is a usage error and the waiter keeps its place") {
  grove::Semaphore sem(0);
  bool got = false;
  auto g = grove::spawn([&] { got = sem.acquire(); });
  grove::yield();
  REQUIRE(sem.waiting() == 1);
  std::string msg;
  try {
    grove::run_in_thread([&] { sem.release(); });
  } catch (const grove::UsageError& e) {
    msg = e.what();
  }
  CHECK(msg.find("grove::Semaphore::release") != std::string::npos);
  CHECK(msg.find("another OS thread") != std::string::npos);
  CHECK(sem.waiting() == 1);
  CHECK(sem.value() == 0);
  sem.release();  // from the waiter's own OS thread
  CHECK(g.join(5s));
  CHECK(got);
  if (!g.dead()) g.kill();
}

// A Semaphore belongs to the OS thread that first uses it; any other is refused even
// when no green thread waits (before, release() then raced silently with the owner's).
GROVE_TEST("Semaphore release and try_acquire from another OS thread with nobody waiting are usage errors and change nothing") {
  grove::Semaphore sem(0);
  CHECK_FALSE(sem.try_acquire());  // used here first: it belongs to this OS thread
  const std::string msg = grove::test::usage_error_on_other_thread([&] { sem.release(); });
  CHECK(msg.find("grove::Semaphore::release") != std::string::npos);
  CHECK(msg.find("another OS thread") != std::string::npos);
  CHECK(msg.find("the main thread") != std::string::npos);  // names the owner
  CHECK(grove::test::usage_error_on_other_thread([&] { (void)sem.try_acquire(); }) != "");
  CHECK(grove::test::usage_error_on_other_thread([&] { (void)sem.acquire(0ms); }) != "");
  CHECK(sem.value() == 0);
  sem.release();  // still works on its own OS thread
  CHECK(sem.acquire(0ms));
  grove::BoundedSemaphore bounded(1);
  CHECK(bounded.acquire(0ms));
  CHECK(grove::test::usage_error_on_other_thread([&] { bounded.release(); }) != "");
  bounded.release();
}

GROVE_TEST("a Semaphore made on one OS thread and first used on another belongs to that one") {
  grove::Semaphore sem(1);
  bool took = false;
  std::thread t([&] {
    took = sem.acquire(0ms);
    sem.release();
  });
  t.join();
  CHECK(took);
  std::string msg;
  try {
    sem.release();
  } catch (const grove::UsageError& e) {
    msg = e.what();
  }
  CHECK(msg.find("another OS thread") != std::string::npos);
}
