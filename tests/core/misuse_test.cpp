// misuse_test.cpp: misuse grove can name throws UsageError.
#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "grove_test.hpp"

using namespace std::chrono_literals;

GROVE_TEST("a green thread joining itself gets a UsageError") {
  std::string msg;
  auto g = grove::spawn([&] {
    try {
      grove::current().join();
    } catch (const grove::UsageError& e) {
      msg = e.what();
    }
  });
  g.join();
  CHECK(msg.find("itself") != std::string::npos);
}

GROVE_TEST("using a handle from another OS thread gets a UsageError") {
  auto g = grove::spawn([] { grove::sleep(20ms); });
  std::string join_msg;
  bool kill_threw = false;
  std::thread t([&] {
    try {
      g.join();
    } catch (const grove::UsageError& e) {
      join_msg = e.what();
    }
    try {
      g.kill();
    } catch (const grove::UsageError&) {
      kill_threw = true;
    }
  });
  t.join();
  CHECK(join_msg.find("another OS thread") != std::string::npos);
  CHECK(kill_threw);
  g.join();
}

GROVE_TEST("an empty handle gets a UsageError") {
  grove::GreenThreadHandle h;
  CHECK_THROWS_AS(h.join(), grove::UsageError);
}

GROVE_TEST("a handle from an exited OS thread's hub is refused by a later OS thread's hub") {
  // A hub created later may sit at the address of the dead one; the handle must still
  // be recognised as another hub's.
  int same_address = 0;
  for (int round = 0; round < 20; ++round) {
    grove::GreenThread<int> stale;
    const void* old_hub = nullptr;
    std::thread a([&] {
      stale = grove::spawn([] { return 1; });
      stale.join();
      old_hub = grove::current().state()->hub;
    });
    a.join();
    bool join_refused = false, joinall_refused = false;
    std::thread b([&] {
      if (grove::current().state()->hub == old_hub) ++same_address;
      try {
        stale.join();
      } catch (const grove::UsageError&) {
        join_refused = true;
      }
      try {
        grove::joinall({stale});
      } catch (const grove::UsageError&) {
        joinall_refused = true;
      }
    });
    b.join();
    CHECK(join_refused);
    CHECK(joinall_refused);
  }
  MESSAGE("a later hub reused the dead hub's address in " << same_address << " of 20 rounds");
}

// Handles are counted references that may be copied and destroyed on any OS thread,
// as a std::shared_ptr: a plain count raced (a wrong count, or "released while alive").
GROVE_TEST("copying and dropping handles on two OS threads at once keeps the count right") {
  auto g = grove::spawn([] { grove::sleep(10ms); });
  std::atomic<bool> go{false};
  auto churn = [&] {
    std::vector<grove::GreenThreadHandle> v;
    v.reserve(1000);
    for (int round = 0; round < 300; ++round) {
      for (int i = 0; i < 1000; ++i) v.push_back(g);
      v.clear();
    }
  };
  std::thread t([&] {
    while (!go.load()) std::this_thread::yield();
    churn();
  });
  go = true;
  churn();
  t.join();
  CHECK(static_cast<std::uint32_t>(g.state()->refs) == 1);  // g alone
  g.join();
  CHECK(g.ready());
}

namespace {
// Sets *destroyed when the value in a dead green thread's result slot is destroyed,
// which happens when its stack is freed (the last handle is gone).
struct DestroyFlag {
  std::atomic<bool>* destroyed;
  explicit DestroyFlag(std::atomic<bool>* d) : destroyed(d) {}
  DestroyFlag(DestroyFlag&& o) noexcept : destroyed(std::exchange(o.destroyed, nullptr)) {}
  DestroyFlag(const DestroyFlag&) = delete;
  ~DestroyFlag() {
    if (destroyed) *destroyed = true;
  }
};
}  // namespace

GROVE_TEST("the last handle of a dead green thread dropped on a std::thread frees it on its hub") {
  std::atomic<bool> destroyed{false};
  auto g = grove::spawn([&] { return DestroyFlag(&destroyed); });
  g.join();
  {
    // Copied here, dropped there once `g` is gone, so the std::thread drops the last one.
    std::promise<void> g_dropped;
    std::thread t([h = grove::GreenThreadHandle(g), f = g_dropped.get_future()] { f.wait(); });
    g = {};
    g_dropped.set_value();
    t.join();
  }
  CHECK_FALSE(destroyed.load());  // handed to the hub, which has not polled since
  for (int i = 0; i < 50 && !destroyed.load(); ++i) grove::sleep(1ms);
  CHECK(destroyed.load());
}

GROVE_TEST("the last handle of a running green thread may be dropped on a std::thread") {
  bool done = false;
  auto g = grove::spawn([&] {
    grove::sleep(20ms);
    done = true;
  });
  std::atomic<bool> go{false};
  std::thread t([g, &go] {
    while (!go.load()) std::this_thread::yield();
  });
  g = {};  // the std::thread's copy is the last handle, dropped there
  go = true;
  t.join();
  for (int i = 0; i < 100 && !done; ++i) grove::sleep(1ms);
  CHECK(done);
}

GROVE_TEST("every query of a handle from another OS thread is a UsageError, except id") {
  auto g = grove::spawn([] {
    grove::sleep(20ms);
    return 7;
  });
  int refused = 0;
  std::uint64_t id = 0;
  std::thread t([&] {
    auto count = [&](auto&& call) {
      try {
        call();
      } catch (const grove::UsageError& e) {
        if (std::string(e.what()).find("another OS thread") != std::string::npos) ++refused;
      }
    };
    count([&] { (void)g.ready(); });
    count([&] { (void)g.started(); });
    count([&] { (void)g.successful(); });
    count([&] { (void)g.exception(); });
    count([&] { (void)g.name(); });
    count([&] { (void)g.get(); });
    count([&] { g.kill_nowait(); });
    id = g.id();
  });
  t.join();
  CHECK(refused == 7);
  CHECK(id == g.id());
  CHECK(g.get() == 7);
}
