// async_result_test.cpp: AsyncResult<T> set / set_exception / get, timeouts and kills.
#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "grove_test.hpp"
#include "other_thread.hpp"

using namespace std::chrono_literals;

GROVE_TEST("AsyncResult::get parks until set() and returns the value") {
  grove::AsyncResult<int> r;
  auto g = grove::spawn([&] {
    grove::sleep(2ms);
    r.set(42);
  });
  CHECK_FALSE(r.ready());
  CHECK(r.get() == 42);
  CHECK(r.ready());
  CHECK(r.successful());
  CHECK(r.get() == 42);  // get() again returns the value again
  g.join();
}

GROVE_TEST("AsyncResult::get rethrows the exception given to set_exception") {
  grove::AsyncResult<std::string> r;
  auto g = grove::spawn([&] { r.set_exception(std::make_exception_ptr(std::runtime_error("boom"))); });
  CHECK_THROWS_WITH_AS(r.get(), "boom", std::runtime_error);
  CHECK(r.ready());
  CHECK_FALSE(r.successful());
  CHECK(r.exception() != nullptr);
  g.join();
}

GROVE_TEST("AsyncResult<void>::get returns once set() was called") {
  grove::AsyncResult<void> r;
  auto g = grove::spawn([&] { r.set(); });
  r.get();
  CHECK(r.successful());
  g.join();
}

GROVE_TEST("AsyncResult::get with a timeout throws TimeoutError when nothing was set in time") {
  grove::AsyncResult<int> r;
  CHECK_THROWS_AS(r.get(5ms), grove::TimeoutError);
  CHECK_FALSE(r.wait(1ms));
  r.set(7);
  CHECK(r.get(1ms) == 7);
}

GROVE_TEST("setting an AsyncResult twice is a UsageError and keeps the first value") {
  grove::AsyncResult<int> r;
  r.set(1);
  CHECK_THROWS_AS(r.set(2), grove::UsageError);
  CHECK_THROWS_AS(r.set_exception(std::make_exception_ptr(std::runtime_error("x"))), grove::UsageError);
  CHECK(r.get() == 1);
}

GROVE_TEST("AsyncResult::set wakes every green thread parked in get") {
  grove::AsyncResult<int> r;
  int sum = 0;
  std::vector<grove::GreenThreadHandle> gs;
  for (int i = 0; i < 4; ++i) gs.push_back(grove::spawn([&] { sum += r.get(); }));
  grove::yield();
  r.set(5);
  grove::joinall(gs);
  CHECK(sum == 20);
}

GROVE_TEST("killing a green thread parked in AsyncResult::get unwinds it and the result still reaches others") {
  grove::AsyncResult<int> r;
  bool exited = false;
  auto victim = grove::spawn([&] {
    try {
      (void)r.get();
    } catch (const grove::GreenletExit&) {
      exited = true;
      throw;
    }
  });
  int other = 0;
  auto g = grove::spawn([&] { other = r.get(); });
  grove::yield();
  victim.kill();
  CHECK(exited);
  CHECK(victim.killed());
  r.set(3);
  g.join();
  CHECK(other == 3);
}

GROVE_TEST("a Timeout interrupts AsyncResult::get and the result can still be set and read") {
  grove::AsyncResult<int> r;
  grove::Timeout t(5ms);
  bool thrown = false;
  try {
    (void)r.get();
  } catch (const grove::TimeoutError& e) {
    thrown = e.is(t);
  }
  CHECK(thrown);
  r.set(9);
  CHECK(r.get() == 9);
}

GROVE_TEST("grove::wait returns when an AsyncResult it watches is set") {
  grove::AsyncResult<int> r;
  auto g = grove::spawn([&] { r.set(1); });
  CHECK(grove::wait({&r}, 5s).size() == 1);
  g.join();
}

// The natural mistake: completing an AsyncResult from run_in_thread's function (return
// the value from the function instead).
GROVE_TEST("AsyncResult::set from a thread-pool worker while a green thread waits is a usage error and changes nothing") {
  grove::AsyncResult<int> r;
  int seen = 0;
  auto g = grove::spawn([&] { seen = r.get(); });
  grove::yield();
  CHECK_THROWS_AS(grove::run_in_thread([&] { r.set(42); }), grove::UsageError);
  CHECK_FALSE(r.ready());
  r.set(7);  // from the waiter's own OS thread: not "set twice"
  CHECK(g.join(5s));
  CHECK(seen == 7);
  if (!g.dead()) g.kill();
}

GROVE_TEST("AsyncResult set from another OS thread with nobody waiting is a usage error and sets nothing") {
  grove::AsyncResult<int> r;
  CHECK_FALSE(r.wait(0ms));  // used here first: it belongs to this OS thread
  const std::string msg = grove::test::usage_error_on_other_thread([&] { r.set(1); });
  CHECK(msg.find("grove::AsyncResult::set") != std::string::npos);
  CHECK(grove::test::usage_error_on_other_thread([&] {
          r.set_exception(std::make_exception_ptr(std::runtime_error("x")));
        }) != "");
  CHECK_FALSE(r.ready());
  r.set(2);  // still works on its own OS thread
  CHECK(r.get() == 2);
  CHECK(grove::test::usage_error_on_other_thread([&] { (void)r.get(); }) != "");
}
