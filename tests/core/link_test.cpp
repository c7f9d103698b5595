// link_test.cpp: link callbacks, and the log line of an unobserved failure.
#include <chrono>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>

#include <spdlog/sinks/ostream_sink.h>

#include "captured_log.hpp"
#include "grove_test.hpp"

using namespace std::chrono_literals;

GROVE_TEST("link runs the callback in a new green thread after death, and it may block") {
  auto target = grove::spawn([] { grove::sleep(5ms); return 1; });
  bool target_dead = false, other_thread = false, blocked = false;
  grove::GreenThreadHandle cb_self;
  target.link([&](grove::GreenThreadHandle h) {
    target_dead = h.ready() && h == target;
    cb_self = grove::current();
    other_thread = !(cb_self == target) && !(cb_self == grove::GreenThreadHandle());
    grove::sleep(5ms);
    blocked = true;
  });
  target.join();
  for (int i = 0; i < 200 && !blocked; ++i) grove::sleep(1ms);
  CHECK(target_dead);
  CHECK(other_thread);
  CHECK(blocked);
  cb_self = {};
}

GROVE_TEST("link_value runs only on success and link_exception only on failure") {
  int values = 0, failures = 0;
  auto ok = grove::spawn([] { return 1; });
  auto bad = grove::spawn([]() -> int { throw std::runtime_error("bad"); });
  auto killed = grove::spawn([] { grove::sleep(10s); });
  for (const grove::GreenThreadHandle& h : {grove::GreenThreadHandle(ok), grove::GreenThreadHandle(bad),
                                            grove::GreenThreadHandle(killed)}) {
    h.link_value([&](grove::GreenThreadHandle) { ++values; });
    h.link_exception([&](grove::GreenThreadHandle) { ++failures; });
  }
  grove::sleep(1ms);
  killed.kill();
  grove::joinall({ok, bad, killed});
  for (int i = 0; i < 100 && values + failures < 3; ++i) grove::sleep(1ms);
  CHECK(values == 1);
  CHECK(failures == 2);
}

GROVE_TEST("linking to a dead green thread runs the callback") {
  auto g = grove::spawn([] {});
  g.join();
  bool ran = false;
  g.link([&](grove::GreenThreadHandle) { ran = true; });
  for (int i = 0; i < 100 && !ran; ++i) grove::sleep(1ms);
  CHECK(ran);
}

using grove::test::CapturedLog;

GROVE_TEST("an unobserved exception is logged with the green thread's name") {
  CapturedLog log;
  grove::SpawnOptions o;
  o.name = "doomed";
  {
    auto g = grove::spawn(o, [] { throw std::runtime_error("kaput"); });
  }
  grove::sleep(5ms);
  const std::string t = log.text();
  INFO(t);
  CHECK(t.find("doomed") != std::string::npos);
  CHECK(t.find("kaput") != std::string::npos);
}

GROVE_TEST("a joined or linked green thread's exception is not logged") {
  CapturedLog log;
  auto joined = grove::spawn([] { throw std::runtime_error("joined-error"); });
  auto linked = grove::spawn([] { throw std::runtime_error("linked-error"); });
  linked.link([](grove::GreenThreadHandle) {});
  joined.join();
  grove::sleep(5ms);
  CHECK(log.text().empty());
}

GROVE_TEST("a killed green thread is not logged as an error") {
  CapturedLog log;
  {
    auto g = grove::spawn([] { grove::sleep(10s); });
    grove::sleep(1ms);
    g.kill_nowait();
  }
  grove::sleep(5ms);
  CHECK(log.text().empty());
}
