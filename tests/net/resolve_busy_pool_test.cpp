// resolve_busy_pool_test.cpp: resolve and create_connection while every worker of
// the default thread pool is busy (so a lookup waits in the queue). A process of its
// own, since it occupies the whole pool for a while.
#include <atomic>
#include <thread>
#include <vector>

#include <grove/net/resolve.hpp>
#include <grove/thread_pool.hpp>

#include "net_test.hpp"

using namespace net_test;

namespace {
// Occupies every worker of the default pool until release() (so a lookup queues).
struct PoolBlocker {
  std::atomic<bool> go{false};
  std::vector<grove::GreenThreadHandle> gs;
  PoolBlocker() {
    const std::size_t n = grove::default_thread_pool().size();
    for (std::size_t i = 0; i < n; ++i) {
      gs.push_back(grove::spawn([this] {
        grove::run_in_thread([this] {
          while (!go.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        });
      }));
    }
    grove::sleep(20ms);
  }
  void release() {
    go = true;
    for (auto& g : gs) g.join();
  }
};
void wait_pool_idle() {
  for (int i = 0; i < 2000 && (grove::default_thread_pool().pending() > 0 || grove::hub_stats().live_green_threads > 0);
       ++i) {
    grove::sleep(1ms);
  }
}
}  // namespace

GROVE_TEST("a resolve that times out in the pool queue finishes later without touching freed memory") {
  PoolBlocker block;
  std::error_code ec;
  {
    auto out = grove::net::resolve("localhost", 80, 30ms, ec);
    CHECK(out.empty());
  }
  CHECK(ec == std::errc::timed_out);
  block.release();
  wait_pool_idle();
  CHECK(grove::default_thread_pool().pending() == 0);
}

GROVE_TEST("killing a green thread in resolve lets go at once; the lookup ends later") {
  PoolBlocker block;
  bool returned = false;
  auto g = grove::spawn([&] {
    std::error_code ec;
    auto out = grove::net::resolve("localhost", 80, std::nullopt, ec);
    returned = true;
  });
  grove::sleep(20ms);
  CHECK(g.kill(2s));
  CHECK_FALSE(returned);
  block.release();
  wait_pool_idle();
}

GROVE_TEST("create_connection with a timeout spent in the lookup reports timed_out") {
  PoolBlocker block;
  Socket l = listener();
  std::error_code ec;
  Socket s = grove::net::create_connection("localhost", l.local_address().port(), 30ms, ec);
  CHECK(ec == std::errc::timed_out);
  CHECK_FALSE(s.is_open());
  block.release();
  wait_pool_idle();
}
