// deadlock_test.cpp: a wait that can never end raises LoopExit naming what is waited on.
#include <chrono>
#include <string>

#include "grove_test.hpp"

using namespace std::chrono_literals;

namespace {
// A Waitable that never becomes ready.
struct Never final : grove::Waitable {
  bool ready() const override { return false; }
  grove::detail::ObserverList& observers() const override { return list; }
  mutable grove::detail::ObserverList list;
};
}  // namespace

GROVE_TEST("joining a green thread stuck forever raises LoopExit naming the waits") {
  Never never;
  grove::SpawnOptions so;
  so.name = "stuck";
  auto stuck = grove::spawn(so, [&] { grove::wait({&never}); });
  grove::SpawnOptions jo;
  jo.name = "joiner";
  auto joiner = grove::spawn(jo, [&] { stuck.join(); });
  std::string msg;
  try {
    joiner.join();
  } catch (const grove::LoopExit& e) {
    msg = e.what();
  }
  INFO(msg);
  CHECK(msg.find("joiner") != std::string::npos);   // what main waits on
  CHECK(msg.find("stuck") != std::string::npos);    // what joiner waits on
  CHECK(msg.find("waits on wait") != std::string::npos);  // what stuck waits on
  joiner.kill();
  stuck.kill();
  CHECK(joiner.killed());
  CHECK(stuck.killed());
}

GROVE_TEST("waiting on a waitable that never becomes ready raises LoopExit in main") {
  Never never;
  CHECK_THROWS_AS(grove::wait({&never}), grove::LoopExit);
}

GROVE_TEST("a pending timer is not a deadlock") {
  auto g = grove::spawn([] { grove::sleep(30ms); return 1; });
  CHECK_NOTHROW(g.join());
}

GROVE_TEST("after LoopExit the hub still runs green threads") {
  Never never;
  CHECK_THROWS_AS(grove::wait({&never}), grove::LoopExit);
  auto g = grove::spawn([] { grove::sleep(1ms); return 4; });
  CHECK(g.get() == 4);
}
