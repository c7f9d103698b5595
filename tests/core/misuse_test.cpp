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
