// lock_test.cpp: Lock and RLock: ownership, misuse, FIFO hand-off, guards, timeouts,
// kills, and the wake/kill and wake/timeout races.
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "grove_test.hpp"
#include "other_thread.hpp"

using namespace std::chrono_literals;

GROVE_TEST("Lock::acquire parks while another green thread holds the lock") {
  grove::Lock mu;
  CHECK(mu.acquire());
  CHECK(mu.locked());
  bool got = false;
  auto g = grove::spawn([&] {
    got = mu.acquire();
    mu.release();
  });
  grove::yield();
  CHECK_FALSE(got);
  mu.release();
  g.join();
  CHECK(got);
  CHECK_FALSE(mu.locked());
}

GROVE_TEST("acquiring a Lock twice from the same green thread is a UsageError") {
  grove::Lock mu;
  mu.acquire();
  CHECK_THROWS_AS(mu.acquire(), grove::UsageError);
  CHECK_THROWS_AS(mu.try_acquire(), grove::UsageError);
  CHECK(mu.locked());
  mu.release();
}

GROVE_TEST("releasing a Lock from a green thread that does not hold it is a UsageError") {
  grove::Lock mu;
  mu.acquire();
  bool misuse = false;
  auto g = grove::spawn([&] {
    try {
      mu.release();
    } catch (const grove::UsageError&) {
      misuse = true;
    }
  });
  g.join();
  CHECK(misuse);
  CHECK(mu.locked());
  mu.release();
}

GROVE_TEST("releasing a Lock that is not held is a UsageError") {
  grove::Lock mu;
  CHECK_THROWS_AS(mu.release(), grove::UsageError);
}

GROVE_TEST("Lock::try_acquire fails without parking while the lock is held elsewhere") {
  grove::Lock mu;
  bool tried = true;
  auto holder = grove::spawn([&] {
    mu.acquire();
    grove::sleep(5ms);
    mu.release();
  });
  grove::yield();
  tried = mu.try_acquire();
  CHECK_FALSE(tried);
  holder.join();
  CHECK(mu.try_acquire());
  mu.release();
}

GROVE_TEST("Lock::acquire with a timeout returns false without taking the lock") {
  grove::Lock mu;
  auto holder = grove::spawn([&] {
    mu.acquire();
    grove::sleep(50ms);
    mu.release();
  });
  grove::yield();
  CHECK_FALSE(mu.acquire(2ms));
  holder.join();
  CHECK_FALSE(mu.locked());
}

GROVE_TEST("Lock is handed to waiters in the order they started waiting") {
  grove::Lock mu;
  mu.acquire();
  std::vector<int> order;
  std::vector<grove::GreenThreadHandle> gs;
  for (int i = 0; i < 5; ++i) {
    gs.push_back(grove::spawn([&, i] {
      grove::LockGuard<grove::Lock> g(mu);
      order.push_back(i);
    }));
    grove::yield();
  }
  mu.release();
  // A green thread arriving now queues behind all of them.
  gs.push_back(grove::spawn([&] {
    grove::LockGuard<grove::Lock> g(mu);
    order.push_back(5);
  }));
  grove::joinall(gs);
  CHECK(order == std::vector<int>{0, 1, 2, 3, 4, 5});
}

GROVE_TEST("LockGuard and std::lock_guard release the Lock when they go out of scope") {
  grove::Lock mu;
  {
    grove::LockGuard<grove::Lock> g(mu);
    CHECK(mu.locked());
  }
  CHECK_FALSE(mu.locked());
  {
    std::lock_guard<grove::Lock> g(mu);
    CHECK(mu.locked());
  }
  CHECK_FALSE(mu.locked());
}

GROVE_TEST("a LockGuard releases the Lock when its green thread is killed") {
  grove::Lock mu;
  auto g = grove::spawn([&] {
    grove::LockGuard<grove::Lock> guard(mu);
    grove::sleep(10s);
  });
  grove::yield();
  CHECK(mu.locked());
  g.kill();
  CHECK_FALSE(mu.locked());
}

GROVE_TEST("killing a green thread parked in Lock::acquire unwinds it and the lock goes to the next waiter") {
  grove::Lock mu;
  mu.acquire();
  bool exited = false, victim_got = false, next_got = false;
  auto victim = grove::spawn([&] {
    try {
      victim_got = mu.acquire();
    } catch (const grove::GreenletExit&) {
      exited = true;
      throw;
    }
  });
  auto next = grove::spawn([&] {
    next_got = mu.acquire();
    mu.release();
  });
  grove::yield();
  victim.kill();
  CHECK(exited);
  CHECK_FALSE(victim_got);
  mu.release();
  next.join();
  CHECK(next_got);
  CHECK_FALSE(mu.locked());
}

GROVE_TEST("a Timeout interrupts Lock::acquire and the lock still works afterwards") {
  grove::Lock mu;
  auto holder = grove::spawn([&] {
    mu.acquire();
    grove::sleep(30ms);
    mu.release();
  });
  grove::yield();
  {
    grove::Timeout t(2ms);
    CHECK_THROWS_AS(mu.acquire(), grove::TimeoutError);
  }
  holder.join();
  CHECK_FALSE(mu.locked());
  CHECK(mu.acquire(0ms));
  mu.release();
}

GROVE_TEST("a Lock handed to a waiter killed in the same hub turn is owned by it and released by its guard (release, then kill)") {
  grove::Lock mu;
  mu.acquire();
  bool got = false;
  auto victim = grove::spawn([&] {
    grove::LockGuard<grove::Lock> g(mu);
    got = true;
    grove::sleep(10s);  // the kill is raised here; the guard releases
  });
  grove::yield();
  mu.release();
  victim.kill_nowait();
  victim.join();
  CHECK(got);
  CHECK(victim.killed());
  CHECK_FALSE(mu.locked());
}

GROVE_TEST("a Lock released after its waiter was killed in the same hub turn goes to the next waiter (kill, then release)") {
  grove::Lock mu;
  mu.acquire();
  bool victim_got = false, next_got = false;
  auto victim = grove::spawn([&] { victim_got = mu.acquire(); });
  auto next = grove::spawn([&] {
    next_got = mu.acquire();
    mu.release();
  });
  grove::yield();
  victim.kill_nowait();
  mu.release();
  victim.join();
  next.join();
  CHECK_FALSE(victim_got);
  CHECK(next_got);
  CHECK_FALSE(mu.locked());
}

GROVE_TEST("a Lock granted after the waiter's deadline passed is still taken by it") {
  grove::Lock mu;
  mu.acquire();
  bool got = false;
  auto waiter = grove::spawn([&] {
    got = mu.acquire(5ms);
    if (got) mu.release();
  });
  grove::yield();
  std::this_thread::sleep_for(15ms);  // the deadline passes, unprocessed
  mu.release();
  waiter.join();
  CHECK(got);
  CHECK_FALSE(mu.locked());
}

GROVE_TEST("a Lock released after the waiter's timeout fired in the same hub turn is left free") {
  grove::Lock mu;
  grove::sleep(1ms);  // a fresh poll: no poll until the green threads below have parked
  bool got = true;
  auto holder = grove::spawn([&] {
    mu.acquire();
    grove::sleep(1ms);  // expires before the waiter's timer: both fire in one poll, this first
    mu.release();
  });
  grove::yield();  // the holder takes the lock before the waiter comes (whatever the order)
  auto waiter = grove::spawn([&] { got = mu.acquire(20ms); });
  grove::yield();  // the waiter parks before the blocker holds the OS thread
  auto blocker = grove::spawn([] { std::this_thread::sleep_for(40ms); });
  grove::joinall({holder, waiter, blocker});
  CHECK_FALSE(got);
  CHECK_FALSE(mu.locked());
}

// ---- RLock

GROVE_TEST("RLock can be acquired again by its owner and is free after as many releases") {
  grove::RLock mu;
  CHECK(mu.acquire());
  CHECK(mu.acquire());
  CHECK(mu.try_acquire());
  CHECK(mu.depth() == 3);
  bool other = true;
  auto g = grove::spawn([&] { other = mu.try_acquire(); });
  g.join();
  CHECK_FALSE(other);
  mu.release();
  mu.release();
  CHECK(mu.locked());
  mu.release();
  CHECK_FALSE(mu.locked());
  CHECK(mu.depth() == 0);
}

GROVE_TEST("releasing an RLock from a green thread that does not own it is a UsageError") {
  grove::RLock mu;
  mu.acquire();
  bool misuse = false;
  auto g = grove::spawn([&] {
    try {
      mu.release();
    } catch (const grove::UsageError&) {
      misuse = true;
    }
  });
  g.join();
  CHECK(misuse);
  CHECK(mu.depth() == 1);
  mu.release();
  CHECK_THROWS_AS(mu.release(), grove::UsageError);
}

GROVE_TEST("RLock is handed to the next waiter with a depth of one when its owner releases it fully") {
  grove::RLock mu;
  mu.acquire();
  mu.acquire();
  std::size_t depth_seen = 0;
  auto g = grove::spawn([&] {
    mu.acquire();
    depth_seen = mu.depth();
    mu.release();
  });
  grove::yield();
  mu.release();
  grove::yield();
  CHECK_FALSE(g.ready());  // still one level held
  mu.release();
  g.join();
  CHECK(depth_seen == 1);
  CHECK_FALSE(mu.locked());
}

GROVE_TEST("RLock is handed to waiters in the order they started waiting") {
  grove::RLock mu;
  mu.acquire();
  std::vector<int> order;
  std::vector<grove::GreenThreadHandle> gs;
  for (int i = 0; i < 4; ++i) {
    gs.push_back(grove::spawn([&, i] {
      std::lock_guard<grove::RLock> g(mu);
      std::lock_guard<grove::RLock> again(mu);
      order.push_back(i);
    }));
    grove::yield();
  }
  mu.release();
  grove::joinall(gs);
  CHECK(order == std::vector<int>{0, 1, 2, 3});
}

GROVE_TEST("RLock::acquire with a timeout returns false without taking the lock") {
  grove::RLock mu;
  auto holder = grove::spawn([&] {
    mu.acquire();
    grove::sleep(50ms);
    mu.release();
  });
  grove::yield();
  CHECK_FALSE(mu.acquire(2ms));
  holder.join();
  CHECK_FALSE(mu.locked());
}

GROVE_TEST("killing a green thread parked in RLock::acquire unwinds it and the lock goes to the next waiter") {
  grove::RLock mu;
  mu.acquire();
  bool exited = false, next_got = false;
  auto victim = grove::spawn([&] {
    try {
      mu.acquire();
    } catch (const grove::GreenletExit&) {
      exited = true;
      throw;
    }
  });
  auto next = grove::spawn([&] {
    next_got = mu.acquire();
    mu.release();
  });
  grove::yield();
  victim.kill();
  CHECK(exited);
  mu.release();
  next.join();
  CHECK(next_got);
  CHECK_FALSE(mu.locked());
}

GROVE_TEST("a Timeout interrupts RLock::acquire and the lock still works afterwards") {
  grove::RLock mu;
  auto holder = grove::spawn([&] {
    mu.acquire();
    grove::sleep(30ms);
    mu.release();
  });
  grove::yield();
  {
    grove::Timeout t(2ms);
    CHECK_THROWS_AS(mu.acquire(), grove::TimeoutError);
  }
  holder.join();
  CHECK(mu.acquire(0ms));
  CHECK(mu.depth() == 1);
  mu.release();
}

GROVE_TEST("an RLock handed to a waiter killed in the same hub turn is owned by it with depth one (release, then kill)") {
  grove::RLock mu;
  mu.acquire();
  std::size_t depth_seen = 0;
  auto victim = grove::spawn([&] {
    grove::LockGuard<grove::RLock> g(mu);
    depth_seen = mu.depth();
    grove::sleep(10s);
  });
  grove::yield();
  mu.release();
  victim.kill_nowait();
  victim.join();
  CHECK(depth_seen == 1);
  CHECK_FALSE(mu.locked());
  CHECK(mu.depth() == 0);
}

GROVE_TEST("an RLock released after its waiter was killed in the same hub turn goes to the next waiter (kill, then release)") {
  grove::RLock mu;
  mu.acquire();
  bool victim_got = false, next_got = false;
  auto victim = grove::spawn([&] { victim_got = mu.acquire(); });
  auto next = grove::spawn([&] {
    next_got = mu.acquire();
    mu.release();
  });
  grove::yield();
  victim.kill_nowait();
  mu.release();
  grove::joinall({victim, next});
  CHECK_FALSE(victim_got);
  CHECK(next_got);
  CHECK_FALSE(mu.locked());
}

// A green thread of another OS thread could only park where the holder's release()
// cannot wake it.
GROVE_TEST("Lock::try_acquire from another OS thread while a green thread holds it is a usage error") {
  grove::Lock mu;
  mu.acquire();
  bool usage = false;
  std::thread t([&] {
    try {
      mu.try_acquire();
    } catch (const grove::UsageError&) {
      usage = true;
    }
  });
  t.join();
  CHECK(usage);
  CHECK(mu.locked());
  mu.release();
  CHECK_FALSE(mu.locked());
}

GROVE_TEST("Lock and RLock used from another OS thread while free are usage errors and stay free") {
  grove::Lock mu;
  mu.acquire();  // used here first: it belongs to this OS thread
  mu.release();
  const std::string msg = grove::test::usage_error_on_other_thread([&] { (void)mu.try_acquire(); });
  CHECK(msg.find("grove::Lock::try_acquire") != std::string::npos);
  CHECK(grove::test::usage_error_on_other_thread([&] { (void)mu.acquire(0ms); }) != "");
  CHECK_FALSE(mu.locked());
  grove::RLock rl;
  CHECK(rl.try_acquire());
  rl.release();
  CHECK(grove::test::usage_error_on_other_thread([&] { (void)rl.try_acquire(); }) != "");
  CHECK_FALSE(rl.locked());
  CHECK(mu.try_acquire());  // still work on their own OS thread
  mu.release();
  CHECK(rl.acquire(0ms));
  rl.release();
}
