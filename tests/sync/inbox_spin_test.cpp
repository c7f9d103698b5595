// inbox_spin_test.cpp: the spin of an idle hub for its inbox (core/src/sync/hub_inbox.hpp):
// a hub fed by a spinning ping-pong still runs its timers, and a hub woken by its
// timers does not spin.
#include <time.h>

#include <atomic>
#include <chrono>
#include <thread>

#include <grove/hub_thread.hpp>
#include <grove/mt/channel.hpp>
#include <grove/spawn_on.hpp>

#include "grove_test.hpp"

using namespace std::chrono_literals;

namespace {

// CPU time of the calling OS thread (the hub's, when called from a green thread).
std::chrono::nanoseconds thread_cpu() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

// Echoes every value of `in` to `out` until it gets a negative one.
void echo(grove::mt::Channel<int>& in, grove::mt::Channel<int>& out) {
  for (;;) {
    const int v = in.get();
    if (v < 0) return;
    out.put(v);
  }
}

// CPU time its OS thread spends on `n` sleeps of 1 ms (a timer wake-up each).
std::chrono::nanoseconds cpu_of_sleeps(int n) {
  const auto t0 = thread_cpu();
  for (int i = 0; i < n; ++i) grove::sleep(1ms);
  return thread_cpu() - t0;
}

}  // namespace

GROVE_TEST("a hub that takes cross-hub posts by spinning still polls: its timers fire during a ping-pong") {
  grove::HubThread a, b;
  grove::mt::Channel<int> ping, pong;
  auto echoer = grove::spawn_on(a.hub(), echo, std::ref(ping), std::ref(pong));
  std::atomic<bool> slept{false};
  // On b: a ping-pong with a as fast as it goes, and a green thread sleeping 5 x 2 ms.
  // Without a poll now and then, b would take every pong by spinning and never run
  // its timers: the sleeper would finish only after the ping-pong gave up. (Spins
  // fail, and b polls, whenever a thread is descheduled for longer than the spin:
  // meson's sync-inbox-spin-long runs this with a 10 s spin, where none fails.)
  auto sleeper = grove::spawn_on(b.hub(), [&slept] {
    for (int i = 0; i < 5; ++i) grove::sleep(2ms);
    slept = true;
  });
  auto pinger = grove::spawn_on(b.hub(), [&] {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    int rounds = 0;
    while (!slept && std::chrono::steady_clock::now() < deadline) {
      ping.put(rounds++);
      CHECK(pong.get() == rounds - 1);
    }
    const bool sleeper_first = slept;
    ping.put(-1);
    MESSAGE("round trips while the sleeper slept 10 ms: " << rounds);
    return sleeper_first;
  });
  CHECK(pinger.get());  // the sleeper finished while the ping-pong ran
  sleeper.join();
  echoer.join();
}

GROVE_TEST("a hub spins for its inbox only while posts come soon: a hub woken by its timers does not spin") {
  constexpr int kSleeps = 100;
  grove::HubThread a, b;  // b serves: it waits for other OS threads all along (hold())
  grove::mt::Channel<int> ping, pong;
  auto echoer = grove::spawn_on(a.hub(), echo, std::ref(ping), std::ref(pong));
  // CPU time on a machine busy with other work is noisy: up to three tries, each
  // against a reference taken just before it. A hub that spun at every idle moment
  // would fail all three by kSleeps * 50 us.
  bool ok = false;
  for (int attempt = 0; attempt < 3 && !ok; ++attempt) {
    // Reference: a hub with no inbox, hence no spin.
    std::chrono::nanoseconds reference{};
    std::thread([&reference] { reference = cpu_of_sleeps(kSleeps); }).join();
    auto measured = grove::spawn_on(b.hub(), [&] {
      for (int i = 0; i < 1000; ++i) {  // posts arrive within microseconds: b spins for them
        ping.put(i);
        pong.get();
      }
      // Now only its timers wake b: one spin at most finds nothing, and then no more.
      return cpu_of_sleeps(kSleeps);
    });
    const std::chrono::nanoseconds spent = measured.get();
    MESSAGE("CPU for " << kSleeps << " sleeps: " << spent.count() / 1000 << " us; on a hub without an inbox "
                       << reference.count() / 1000 << " us");
    ok = spent < reference + kSleeps * 20us;
  }
  ping.put(-1);
  echoer.join();
  CHECK(ok);
}
