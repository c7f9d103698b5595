// misuse_test.cpp: misuse grove can name throws UsageError.
#include <chrono>
#include <string>
#include <thread>

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
