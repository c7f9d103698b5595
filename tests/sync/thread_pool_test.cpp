// thread_pool_test.cpp: ThreadPool and run_in_thread: results, exceptions, many
// callers, parking only the caller, and the cancellation contract (a kill or Timeout
// completes only after the worker returned).
#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "grove_test.hpp"

using namespace std::chrono_literals;

namespace {

// The first run_in_thread on a hub starts its completion watcher, which opens the
// loop's wake-up fd for good; do that before any case counts open fds.
const bool inbox_ready = (grove::run_in_thread([] {}), true);

// Spins the calling green thread (yielding, up to 10 s) until `flag` is set by a worker.
bool wait_for_flag(const std::atomic<bool>& flag) {
  for (int i = 0; i < 10000 && !flag.load(); ++i) grove::sleep(1ms);
  return flag.load();
}

}  // namespace

GROVE_TEST("run_in_thread returns the function's value, computed on another OS thread") {
  const auto hub_thread = std::this_thread::get_id();
  std::thread::id worker_thread;
  std::string s = grove::run_in_thread([&] {
    worker_thread = std::this_thread::get_id();
    return std::string("done");
  });
  CHECK(s == "done");
  CHECK(worker_thread != hub_thread);
}

GROVE_TEST("run_in_thread rethrows the function's exception in the calling green thread") {
  CHECK_THROWS_WITH_AS(grove::run_in_thread([]() -> int { throw std::runtime_error("worker failed"); }),
                       "worker failed", std::runtime_error);
}

GROVE_TEST("run_in_thread of a void function returns once it ran") {
  int x = 0;
  grove::run_in_thread([&] { x = 5; });
  CHECK(x == 5);
}

GROVE_TEST("run_in_thread moves a move-only result back") {
  std::unique_ptr<int> p = grove::run_in_thread([] { return std::make_unique<int>(11); });
  REQUIRE(p);
  CHECK(*p == 11);
}

GROVE_TEST("run_in_thread parks only the calling green thread while others keep running") {
  std::atomic<bool> go{false};
  int ticks_while_parked = 0;
  bool caller_done = false;
  auto caller = grove::spawn([&] {
    grove::run_in_thread([&] {
      while (!go.load()) std::this_thread::sleep_for(100us);
    });
    caller_done = true;
  });
  auto ticker = grove::spawn([&] {
    for (int i = 0; i < 3; ++i) {
      grove::sleep(1ms);
      if (!caller_done) ++ticks_while_parked;
    }
    go = true;
  });
  grove::joinall({caller, ticker}, 10s);
  CHECK(caller_done);
  CHECK(ticks_while_parked == 3);
}

GROVE_TEST("1,000 green threads calling run_in_thread at once all get their own results") {
  constexpr int kCallers = 1000;
  std::vector<long> results(kCallers, -1);
  std::vector<grove::GreenThreadHandle> gs;
  gs.reserve(kCallers);
  for (int i = 0; i < kCallers; ++i) {
    gs.push_back(grove::spawn([&results, i] { results[i] = grove::run_in_thread([i] { return long(i) * i; }); }));
  }
  CHECK(grove::joinall(gs, 60s));
  int wrong = 0;
  for (int i = 0; i < kCallers; ++i) wrong += results[i] != long(i) * i;
  CHECK(wrong == 0);
}

GROVE_TEST("a ThreadPool of its own runs calls on its workers") {
  grove::ThreadPool pool(2);
  CHECK(pool.size() == 2);
  CHECK(pool.run([] { return 3; }) == 3);
  CHECK(pool.pending() == 0);
}

GROVE_TEST("a ThreadPool asked for zero workers starts one") {
  grove::ThreadPool pool(0);
  CHECK(pool.size() == 1);
  CHECK(pool.run([] { return 4; }) == 4);
}

// Before, run() on an OS thread without a hub ran the function inline: the first
// grove call of a thread behaved unlike every later one.
GROVE_TEST("ThreadPool::run as the first grove call of an OS thread runs the function on a worker") {
  grove::ThreadPool pool(1);
  std::thread::id ran_on, caller;
  std::thread t([&] {
    caller = std::this_thread::get_id();
    pool.run([&] { ran_on = std::this_thread::get_id(); });
  });
  t.join();
  CHECK(ran_on != caller);
}

GROVE_TEST("run_in_thread called in a thread-pool job runs the function inline, on that worker") {
  grove::ThreadPool pool(1);
  std::thread::id outer, inner;
  pool.run([&] {
    outer = std::this_thread::get_id();
    pool.run([&] { inner = std::this_thread::get_id(); });  // a pool of one: queued, it would wait for itself
  });
  CHECK(outer == inner);
}

// Before, the green thread was queued on the worker's hub, which no one runs between
// jobs: it ran later, inside whichever job on that worker parked next.
GROVE_TEST("spawn in a thread-pool job is a usage error and spawns nothing") {
  grove::ThreadPool pool(1);
  bool ran = false;
  std::string msg;
  pool.run([&] {
    try {
      grove::spawn([&] { ran = true; });
    } catch (const grove::UsageError& e) {
      msg = e.what();
    }
  });
  CHECK(msg.find("grove::spawn: called in a thread-pool job") != std::string::npos);
  pool.run([] { grove::sleep(5ms); });  // a later job on that worker that parks
  CHECK_FALSE(ran);
}

// The cancellation contract: a kill waits for the worker; the worker may keep using
// the caller's stack until it returns.
GROVE_TEST("killing a green thread parked in run_in_thread completes only after the worker returned") {
  std::atomic<bool> started{false}, go{false}, worker_returned{false};
  bool unwound = false;
  auto victim = grove::spawn([&] {
    std::vector<int> on_my_stack(64, 1);  // used by the worker after the kill arrived
    try {
      grove::run_in_thread([&] {
        started = true;
        while (!go.load()) std::this_thread::sleep_for(100us);
        for (int& v : on_my_stack) v = 2;
        worker_returned = true;
      });
    } catch (const grove::GreenletExit&) {
      unwound = worker_returned.load() && on_my_stack[63] == 2;
      throw;
    }
  });
  REQUIRE(wait_for_flag(started));
  CHECK_FALSE(victim.kill(20ms));  // the worker is still running: the kill cannot complete
  CHECK_FALSE(victim.ready());
  go = true;
  CHECK(victim.join(10s));
  CHECK(victim.killed());
  CHECK(unwound);
}

GROVE_TEST("a Timeout expiring in run_in_thread raises TimeoutError only after the worker returned") {
  std::atomic<bool> started{false}, go{false}, worker_returned{false};
  bool returned_normally = false;
  bool timed_out_after_worker = false;
  auto caller = grove::spawn([&] {
    grove::Timeout t(5ms);
    try {
      grove::run_in_thread([&] {
        started = true;
        while (!go.load()) std::this_thread::sleep_for(100us);
        worker_returned = true;
        return 1;
      });
      returned_normally = true;
    } catch (const grove::TimeoutError& e) {
      timed_out_after_worker = e.is(t) && worker_returned.load();
    }
  });
  REQUIRE(wait_for_flag(started));
  grove::sleep(20ms);  // the Timeout expires meanwhile
  CHECK_FALSE(caller.ready());
  go = true;
  CHECK(caller.join(10s));
  CHECK_FALSE(returned_normally);
  CHECK(timed_out_after_worker);
}

GROVE_TEST("a kill already pending when run_in_thread is called is raised before the function is queued") {
  grove::Event ev;
  std::atomic<bool> ran{false};
  bool unwound = false;
  auto g = grove::spawn([&] {
    ev.wait();  // granted, and the kill lands before it runs again
    try {
      grove::run_in_thread([&] { ran = true; });
    } catch (const grove::GreenletExit&) {
      unwound = true;
      throw;
    }
  });
  grove::yield();
  ev.set();
  g.kill();
  CHECK(g.killed());
  CHECK(unwound);
  CHECK_FALSE(ran.load());
}

GROVE_TEST("run_in_thread still works for others after a caller was killed and another timed out") {
  std::atomic<bool> go{false};
  auto slow = [&] {
    while (!go.load()) std::this_thread::sleep_for(100us);
    return 1;
  };
  auto killed = grove::spawn([&] { return grove::run_in_thread(slow); });
  auto timed = grove::spawn([&] {
    grove::Timeout t(2ms);
    return grove::run_in_thread(slow);
  });
  int other = 0;
  auto fine = grove::spawn([&] { other = grove::run_in_thread([] { return 7; }); });
  grove::yield();
  killed.kill_nowait();
  grove::sleep(10ms);
  go = true;
  CHECK(grove::joinall({killed, timed, fine}, 10s));
  CHECK(killed.killed());
  CHECK_THROWS_AS(timed.get(), grove::TimeoutError);
  CHECK(other == 7);
  CHECK(grove::run_in_thread([] { return 8; }) == 8);
}

GROVE_TEST("run_in_thread works on the hub of another OS thread, which can then exit") {
  int sum = 0;
  std::thread t([&] {
    std::vector<grove::GreenThreadHandle> gs;
    for (int i = 1; i <= 8; ++i) gs.push_back(grove::spawn([&sum, i] { sum += grove::run_in_thread([i] { return i; }); }));
    grove::joinall(gs);
  });
  t.join();
  CHECK(sum == 36);
}

// Regression: a worker delivered its result into the exited thread's freed inbox and
// woke its destroyed loop (use after free, seen by AddressSanitizer).
GROVE_TEST("a worker finishing after its caller's OS thread exited (the caller abandoned) touches nothing freed") {
  grove::ThreadPool pool(1);
  std::atomic<bool> started{false}, go{false}, worker_returned{false};
  std::thread t([&] {
    grove::spawn([&] {
      pool.run([&] {
        started = true;
        while (!go.load()) std::this_thread::sleep_for(100us);
        worker_returned = true;
      });
    });
    // Bounded: the worker starts at once.
    for (int i = 0; i < 10000 && !started.load(); ++i) grove::sleep(1ms);
  });  // exits with the green thread still parked in run(): it is abandoned
  t.join();
  REQUIRE(started.load());
  go = true;
  for (int i = 0; i < 10000 && !worker_returned.load(); ++i) std::this_thread::sleep_for(1ms);
  CHECK(worker_returned.load());
  // ~ThreadPool joins the worker, so its delivery has happened before the case ends.
}
