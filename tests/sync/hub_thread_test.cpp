// hub_thread_test.cpp: HubThread (an OS thread with a hub of its own) and HubRef::post,
// the way in from OS threads grove does not own.
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <memory>
#include <thread>
#include <vector>

#include <grove/hub_thread.hpp>
#include <grove/mt/async_result.hpp>
#include <grove/mt/event.hpp>
#include <grove/spawn_on.hpp>

#include "grove_test.hpp"

using namespace std::chrono_literals;

GROVE_TEST("HubThread runs its function as the root of a new OS thread with a hub, and join() waits for it") {
  std::thread::id ran_on;
  int spawned_result = 0;
  grove::HubThread t([&](int x) {
    ran_on = std::this_thread::get_id();
    auto g = grove::spawn([](int v) { grove::sleep(1ms); return v * 2; }, x);  // its own hub runs it
    spawned_result = g.get();
  }, 21);
  CHECK(t.hub());
  CHECK_FALSE(t.hub().is_current());
  t.join();
  CHECK(ran_on != std::this_thread::get_id());
  CHECK(spawned_result == 42);
  CHECK_FALSE(t.joinable());
}

GROVE_TEST("HubThread::join rethrows what the thread's function threw") {
  grove::HubThread t([] { throw std::runtime_error("boom on the hub thread"); });
  CHECK_THROWS_WITH_AS(t.join(), "boom on the hub thread", std::runtime_error);
}

GROVE_TEST("a serving HubThread runs what other OS threads post, until request_stop()") {
  grove::HubThread t;
  grove::mt::AsyncResult<std::thread::id> from_main, from_plain;
  CHECK(t.hub().post([&] { from_main.set(std::this_thread::get_id()); }));
  std::thread plain([&, hub = t.hub()] { hub.post([&] { from_plain.set(std::this_thread::get_id()); }); });
  plain.join();
  const auto a = from_main.get(10s);
  const auto b = from_plain.get(10s);
  CHECK(a == b);
  CHECK(a != std::this_thread::get_id());
  t.request_stop();
  t.join();
  CHECK_FALSE(t.hub().alive());
}

GROVE_TEST("posting or spawning onto a hub whose thread has exited fails clearly, naming the hub") {
  grove::HubRef hub;
  {
    grove::HubThread t([] {});
    hub = t.hub();
  }
  CHECK_FALSE(hub.alive());
  CHECK_FALSE(hub.post([] {}));
  try {
    grove::spawn_on(hub, [] { return 1; });
    FAIL("spawn_on an exited hub did not throw");
  } catch (const grove::HubExited& e) {
    CHECK(std::string(e.what()).find(hub.name()) != std::string::npos);
  }
  CHECK_THROWS_AS(grove::HubRef().post([] {}), grove::UsageError);
}

GROVE_TEST("joining a HubThread parks only the calling green thread") {
  grove::mt::Event release;
  grove::HubThread t([&] { release.wait(); });
  std::atomic<int> ticks{0};
  auto ticker = grove::spawn([&] {
    for (int i = 0; i < 5; ++i) {
      grove::sleep(2ms);
      ++ticks;
    }
    release.set();
  });
  t.join();  // the ticker runs while the root waits here, and sets what ends the thread
  CHECK(ticks.load() == 5);
  ticker.join();
}

GROVE_TEST("HubThread::join(timeout) gives up while the thread runs, and a later join() succeeds") {
  grove::HubThread t;
  CHECK_FALSE(t.join(20ms));
  CHECK(t.joinable());
  t.request_stop();
  t.join();
}

GROVE_TEST("HubThread::join on the hub thread itself is a UsageError") {
  grove::HubThread* self = nullptr;
  grove::mt::Event ready;
  std::string msg;
  grove::HubThread t([&] {
    ready.wait();
    try {
      self->join();
    } catch (const grove::UsageError& e) {
      msg = e.what();
    }
  });
  self = &t;
  ready.set();
  t.join();
  CHECK(msg.find("hub thread itself") != std::string::npos);
}

GROVE_TEST("posts from several OS threads at once each run exactly once, on the target hub") {
  grove::HubThread t;
  constexpr int kThreads = 3;
  constexpr int kPosts = 5000;
  std::atomic<int> ran{0}, elsewhere{0};
  grove::mt::Event all_ran;
  std::vector<std::thread> posters;
  for (int i = 0; i < kThreads; ++i) {
    posters.emplace_back([&, hub = t.hub()] {
      for (int k = 0; k < kPosts; ++k) {
        hub.post([&, id = std::this_thread::get_id()] {
          if (std::this_thread::get_id() == id) ++elsewhere;
          if (++ran == kThreads * kPosts) all_ran.set();
        });
      }
    });
  }
  for (auto& p : posters) p.join();
  CHECK(all_ran.wait(30s));
  grove::sleep(5ms);  // nothing runs twice
  CHECK(ran.load() == kThreads * kPosts);
  CHECK(elsewhere.load() == 0);
}

GROVE_TEST("this_hub() in a thread-pool job is a UsageError") {
  std::string msg = grove::run_in_thread([] {
    try {
      grove::this_hub();
      return std::string();
    } catch (const grove::UsageError& e) {
      return std::string(e.what());
    }
  });
  CHECK(msg.find("thread-pool job") != std::string::npos);
}

GROVE_TEST("a HubThread destroyed on its own hub thread stops it instead of terminating the process") {
  const auto fds_before = grove::test::open_fds();
  auto t = std::make_unique<grove::HubThread>();
  const grove::HubRef hub = t->hub();
  grove::mt::Event destroyed;
  grove::HubThread* raw = t.release();
  CHECK(hub.post([raw, &destroyed] {
    delete raw;  // on the thread itself: cannot join, detaches
    destroyed.set();
  }));
  CHECK(destroyed.wait(10s));
  // The detached thread ends by itself: its hub (and the hub's fds) go with it.
  for (int i = 0; i < 2000 && (hub.alive() || grove::test::open_fds() != fds_before); ++i) grove::sleep(1ms);
  CHECK_FALSE(hub.alive());
  CHECK(grove::test::open_fds() == fds_before);
}
