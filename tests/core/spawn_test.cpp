// spawn_test.cpp: spawn, join, get and the state of a green thread handle.
#include <chrono>
#include <cstddef>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "captured_log.hpp"
#include "grove_test.hpp"

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

GROVE_TEST("get returns the value the green thread's function returned") {
  auto g = grove::spawn([](int x) { grove::sleep(1ms); return x * 2; }, 21);
  CHECK(g.get() == 42);
  CHECK(g.get() == 42);  // a copyable value may be read again
}

GROVE_TEST("get on a void green thread returns once it has run") {
  bool ran = false;
  auto g = grove::spawn([&] { grove::sleep(1ms); ran = true; });
  g.get();
  CHECK(ran);
  CHECK(g.successful());
}

GROVE_TEST("get rethrows the exception that escaped the green thread") {
  auto g = grove::spawn([]() -> int { throw std::runtime_error("boom"); });
  CHECK_THROWS_WITH_AS(g.get(), "boom", std::runtime_error);
  CHECK(g.ready());
  CHECK_FALSE(g.successful());
  CHECK(g.exception() != nullptr);
}

GROVE_TEST("get moves a move-only result out once") {
  auto g = grove::spawn([] { return std::make_unique<int>(7); });
  std::unique_ptr<int> p = g.get();
  REQUIRE(p);
  CHECK(*p == 7);
  CHECK_THROWS_AS(g.get(), grove::UsageError);
}

GROVE_TEST("spawn does not run the function until the caller blocks") {
  bool ran = false;
  auto g = grove::spawn([&] { ran = true; });
  CHECK_FALSE(ran);
  CHECK_FALSE(g.started());
  g.join();
  CHECK(ran);
  CHECK(g.started());
}

GROVE_TEST("spawn_later runs the function after the delay") {
  const auto t0 = Clock::now();
  Clock::time_point ran_at{};
  auto g = grove::spawn_later(50ms, [&] { ran_at = Clock::now(); return 5; });
  CHECK(g.get() == 5);
  CHECK(ran_at - t0 >= 45ms);
  CHECK(ran_at - t0 < 2s);
}

GROVE_TEST("a spawn_later green thread killed before its delay never runs its function") {
  bool ran = false;
  auto g = grove::spawn_later(200ms, [&] { ran = true; });
  grove::sleep(10ms);
  g.kill();
  CHECK(g.killed());
  grove::sleep(300ms);
  CHECK_FALSE(ran);
}

GROVE_TEST("dropping the last handle does not stop the green thread") {
  bool finished = false;
  {
    auto g = grove::spawn([&] { grove::sleep(20ms); finished = true; });
  }
  CHECK_FALSE(finished);
  for (int i = 0; i < 200 && !finished; ++i) grove::sleep(5ms);
  CHECK(finished);
}

GROVE_TEST("join with a timeout returns false while it runs and true once it is dead") {
  auto g = grove::spawn([] { grove::sleep(100ms); });
  CHECK_FALSE(g.join(10ms));
  CHECK_FALSE(g.ready());
  CHECK(g.join(5s));
  CHECK(g.ready());
}

GROVE_TEST("ready successful killed and started describe a finished green thread") {
  auto g = grove::spawn([] { return 1; });
  CHECK_FALSE(g.ready());
  CHECK_FALSE(g.started());
  g.join();
  CHECK(g.ready());
  CHECK(g.dead());
  CHECK(g.started());
  CHECK(g.successful());
  CHECK_FALSE(g.killed());
  CHECK(g.exception() == nullptr);
}

GROVE_TEST("a green thread gets a default name and keeps the one it is given") {
  auto a = grove::spawn([] {});
  CHECK(a.name().rfind("GreenThread-", 0) == 0);
  grove::SpawnOptions o;
  o.name = "worker";
  auto b = grove::spawn(o, [] { return grove::current().name(); });
  CHECK(b.name() == "worker");
  b.set_name("renamed");
  CHECK(b.name() == "renamed");
  CHECK(b.get() == "renamed");
  a.join();
}

GROVE_TEST("the OS thread's original context is a green thread that can spawn and join") {
  auto me = grove::current();
  REQUIRE(me);
  CHECK_FALSE(me.ready());
  auto g = grove::spawn([] { return grove::current(); });
  CHECK_FALSE(g.get() == me);
  CHECK(grove::current() == me);
}

GROVE_TEST("a green thread runs on a stack of the size asked for") {
  grove::SpawnOptions o;
  o.stack_size = 256 * 1024;
  auto g = grove::spawn(o, [] {
    volatile char big[128 * 1024];
    for (std::size_t i = 0; i < sizeof big; i += 512) big[i] = static_cast<char>(i);
    return static_cast<int>(big[512]);
  });
  CHECK(g.get() == static_cast<int>(static_cast<char>(512)));
}

GROVE_TEST("join and get with a timeout of Duration::max() wait for the green thread like no timeout") {
  auto g = grove::spawn([] {
    grove::sleep(20ms);
    return 7;
  });
  CHECK(g.join(grove::Duration::max()));
  CHECK(g.ready());
  auto h = grove::spawn([] {
    grove::sleep(20ms);
    return 8;
  });
  int v = -1;
  CHECK_NOTHROW(v = h.get(grove::Duration::max()));
  CHECK(v == 8);
}

GROVE_TEST("spawn refuses a stack size above 1 GiB with a UsageError naming the size") {
  for (const std::size_t size : {(std::size_t{1} << 30) + 1, std::size_t{1} << 60, std::numeric_limits<std::size_t>::max()}) {
    grove::SpawnOptions o;
    o.stack_size = size;
    std::string msg;
    try {
      auto g = grove::spawn(o, [] { return 1; });
      g.join();
    } catch (const grove::UsageError& e) {
      msg = e.what();
    }
    INFO("stack size " << size);
    CHECK(msg.find(std::to_string(size)) != std::string::npos);
  }
  // The hub is unharmed: a green thread with the default stack still runs.
  CHECK(grove::spawn([] { return 3; }).get() == 3);
}

// An OS thread must run its hub for its green threads to run. One that spawns and
// returns loses them: before, only a warning said "still alive"; now an error names
// each one and says why it never ran.
GROVE_TEST("a std::thread that spawns and returns without running its hub logs an error naming what never ran") {
  grove::test::CapturedLog log;
  bool ran = false;
  std::thread t([&] {
    grove::spawn(grove::SpawnOptions{0, "lost-work"}, [&] { ran = true; });
  });
  t.join();
  CHECK_FALSE(ran);
  const std::string text = log.text();
  CHECK(text.find("[error]") != std::string::npos);
  CHECK(text.find("1 green thread(s) that never ran ('lost-work' (id 1))") != std::string::npos);
  CHECK(text.find("Join what a thread spawns") != std::string::npos);
  CHECK(text.find("still alive") == std::string::npos);  // nothing else was left
}

GROVE_TEST("a std::thread that joins what it spawns before returning logs nothing") {
  grove::test::CapturedLog log;
  bool ran = false;
  std::thread t([&] { grove::spawn([&] { ran = true; }).join(); });
  t.join();
  CHECK(ran);
  CHECK(log.text().empty());
}
