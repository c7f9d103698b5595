// spawn_on_test.cpp: spawn_on and RemoteGreenThread: results, exceptions, kill and
// join across hubs and from plain OS threads, and a hub that exits under its waiters.
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

#include <grove/hub_thread.hpp>
#include <grove/mt/event.hpp>
#include <grove/spawn_on.hpp>

#include "grove_test.hpp"

using namespace std::chrono_literals;

GROVE_TEST("spawn_on runs the function on the target hub; get() works from a green thread and a plain OS thread") {
  grove::HubThread worker;
  auto g = grove::spawn_on(worker.hub(), [](int x) { return std::make_pair(x * 2, std::this_thread::get_id()); }, 21);
  const auto [v, where] = g.get();
  CHECK(v == 42);
  CHECK(where != std::this_thread::get_id());
  CHECK(g.ready());
  CHECK(g.successful());
  int from_plain = 0;
  std::thread plain([&] { from_plain = grove::spawn_on(worker.hub(), [] { return 7; }).get(); });
  plain.join();
  CHECK(from_plain == 7);
}

GROVE_TEST("spawn_on from a green thread of one hub onto another, joined from a third") {
  grove::HubThread a, b;
  auto outer = grove::spawn_on(a.hub(), [hub_b = b.hub()] {
    auto inner = grove::spawn_on(hub_b, [] {
      grove::sleep(1ms);
      return std::string("from b");
    });
    return inner.get() + " via a";
  });
  CHECK(outer.get() == "from b via a");
}

GROVE_TEST("RemoteGreenThread::get rethrows the function's exception; join() does not") {
  grove::HubThread worker;
  auto g = grove::spawn_on(worker.hub(), []() -> int { throw std::runtime_error("remote failure"); });
  g.join();
  CHECK(g.ready());
  CHECK_FALSE(g.successful());
  CHECK_THROWS_WITH_AS(g.get(), "remote failure", std::runtime_error);
}

GROVE_TEST("kill() from another hub raises GreenletExit in the remote green thread and waits for its death") {
  grove::HubThread worker;
  std::atomic<bool> started{false}, unwound{false};
  auto g = grove::spawn_on(worker.hub(), [&] {
    struct Guard {
      std::atomic<bool>& flag;
      ~Guard() { flag = true; }
    } guard{unwound};
    started = true;
    grove::sleep(30s);
  });
  for (int i = 0; i < 5000 && !started; ++i) grove::sleep(1ms);
  REQUIRE(started);
  const auto t0 = std::chrono::steady_clock::now();
  g.kill();
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
  CHECK(unwound);
  CHECK(g.ready());
  CHECK_THROWS_AS(g.get(), grove::GreenThreadKilled);
}

GROVE_TEST("kill() from a plain OS thread, before the remote green thread started: its function never runs") {
  grove::HubThread worker;
  std::atomic<bool> ran{false};
  // Hold the worker's hub in a function that does not park (it spins), so the spawn
  // stays queued in the hub's inbox.
  std::atomic<bool> go{false}, busy{false};
  worker.hub().post([&] {
    busy = true;
    for (int i = 0; i < 10000 && !go; ++i) std::this_thread::sleep_for(1ms);
  });
  for (int i = 0; i < 10000 && !busy; ++i) grove::sleep(1ms);
  auto g = grove::spawn_on(worker.hub(), [&] { ran = true; });
  std::thread plain([&] {
    g.kill_nowait();
    go = true;
    g.join();
  });
  plain.join();
  CHECK_FALSE(ran);
  CHECK_THROWS_AS(g.get(), grove::GreenThreadKilled);
}

GROVE_TEST("join(timeout) and a grove::Timeout on a remote join leave the remote green thread running") {
  grove::HubThread worker;
  grove::mt::Event release;
  auto g = grove::spawn_on(worker.hub(), [&] { release.wait(); return 5; });
  CHECK_FALSE(g.join(10ms));
  CHECK_THROWS_AS(g.get(20ms), grove::TimeoutError);
  {
    grove::Timeout t(10ms);
    CHECK_THROWS_AS(g.join(), grove::TimeoutError);
  }
  CHECK_FALSE(g.ready());
  release.set();
  CHECK(g.get() == 5);
}

GROVE_TEST("a hub that exits while other hubs and a plain thread wait on its green thread wakes them with HubExited") {
  auto worker = std::make_unique<grove::HubThread>();
  const std::string hub_name = worker->hub().name();
  auto g = grove::spawn_on(worker->hub(), [] { grove::sleep(30s); });
  grove::HubThread other;
  auto waiter_elsewhere = grove::spawn_on(other.hub(), [g] {
    try {
      g.join();
      return std::string("joined");
    } catch (const grove::HubExited& e) {
      return std::string(e.what());
    }
  });
  auto waiter_here = grove::spawn([g] {
    try {
      g.join();
      return std::string("joined");
    } catch (const grove::HubExited& e) {
      return std::string(e.what());
    }
  });
  std::string plain_msg;
  std::thread plain([&] {
    try {
      g.join();
    } catch (const grove::HubExited& e) {
      plain_msg = e.what();
    }
  });
  grove::sleep(20ms);  // every waiter is parked (or blocked) on g
  worker.reset();      // request_stop + join: the sleeping green thread is abandoned
  plain.join();
  CHECK(waiter_here.get().find(hub_name) != std::string::npos);
  CHECK(waiter_elsewhere.get().find(hub_name) != std::string::npos);
  CHECK(plain_msg.find("exited") != std::string::npos);
  CHECK_FALSE(g.ready());
}
