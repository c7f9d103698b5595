// cross_hub_bench: one-way hand-off latency between green threads on two hubs (two OS
// threads pinned to two cores) through grove::mt::Channel, with Go's unbuffered
// channel between two goroutines (GOMAXPROCS=2) measured in the same run when a Go
// toolchain is found (bench/core/go_chan/main.go; GROVE_GO or `go` on PATH).
//
//   build/bench/core/cross_hub_bench            full run (a few seconds)
//   build/bench/core/cross_hub_bench --smoke    tiny counts, for CI
//   build/bench/core/cross_hub_bench --only cross|plain|go   one measurement alone
//
// Prints `name: value unit` lines:
//   cross_hub_handoff_ns        one-way: a ping-pong over two unbuffered mt::Channels,
//                               round-trip time / 2 (median of the repetitions)
//   plain_thread_handoff_ns     the same between two plain OS threads (condition variables)
//   go_unbuffered_chan_ns       Go's ping-pong, same shape, same run (if Go is found)
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <grove/grove.hpp>
#include <grove/hub_thread.hpp>
#include <grove/mt/channel.hpp>
#include <grove/spawn_on.hpp>

namespace {

using Clock = std::chrono::steady_clock;

void pin_to(int cpu) {
  const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 2) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(static_cast<unsigned>(cpu % n), &set);
  ::pthread_setaffinity_np(::pthread_self(), sizeof(set), &set);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Ping-pong between a green thread on hub A (core 0) and one on hub B (core 1).
double cross_hub_ns(long round_trips) {
  grove::mt::Channel<long> ping, pong;
  grove::HubThread a([] { pin_to(0); grove::sleep(std::chrono::hours(1)); });  // killed at the end
  grove::HubThread b([] { pin_to(1); grove::sleep(std::chrono::hours(1)); });
  auto echo = grove::spawn_on(b.hub(), [&] {
    for (long i = 0; i < round_trips; ++i) pong.put(ping.get());
  });
  auto timed = grove::spawn_on(a.hub(), [&] {
    ping.put(-1);  // warm up: both sides parked once
    pong.get();
    const auto t0 = Clock::now();
    for (long i = 1; i < round_trips; ++i) {
      ping.put(i);
      pong.get();
    }
    return std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
  });
  const double dt = timed.get();
  echo.join();
  return dt / static_cast<double>(2 * (round_trips - 1));
}

double plain_threads_ns(long round_trips) {
  grove::mt::Channel<long> ping, pong;
  std::thread echo([&] {
    pin_to(1);
    for (long i = 0; i < round_trips; ++i) pong.put(ping.get());
  });
  double dt = 0;
  std::thread timed([&] {
    pin_to(0);
    ping.put(-1);
    pong.get();
    const auto t0 = Clock::now();
    for (long i = 1; i < round_trips; ++i) {
      ping.put(i);
      pong.get();
    }
    dt = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
  });
  timed.join();
  echo.join();
  return dt / static_cast<double>(2 * (round_trips - 1));
}

// Runs the Go peer (bench/core/go_chan/main.go) with `go run`; prints its line as is.
void go_peer(long round_trips, const char* self) {
  std::string go = std::getenv("GROVE_GO") ? std::getenv("GROVE_GO") : "go";
  std::string src = GROVE_GO_CHAN_SOURCE;
  if (std::system((go + " version >/dev/null 2>&1").c_str()) != 0) {
    std::printf("go_unbuffered_chan_ns: skipped (no Go toolchain: apt-get install golang-go, or set GROVE_GO)\n");
    return;
  }
  const std::string cmd = "GOMAXPROCS=2 GOCACHE=${GOCACHE:-/tmp/grove-go-cache} " + go + " run " + src + " " +
                          std::to_string(round_trips);
  std::fflush(stdout);
  if (std::system(cmd.c_str()) != 0) std::printf("go_unbuffered_chan_ns: failed (%s)\n", self);
}

}  // namespace

int main(int argc, char** argv) {
  bool smoke = false;
  std::string only;  // "cross", "plain" or "go": that measurement alone (for perf / strace)
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--smoke") == 0) smoke = true;
    else if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) only = argv[++i];
  }
  const long round_trips = smoke ? 2000 : 200000;
  const int reps = smoke ? 1 : 5;
  std::vector<double> cross, plain;
  for (int r = 0; r < reps; ++r) {
    if (only.empty() || only == "cross") cross.push_back(cross_hub_ns(round_trips));
    if (only.empty() || only == "plain") plain.push_back(plain_threads_ns(round_trips));
  }
  if (!cross.empty()) std::printf("cross_hub_handoff_ns: %.0f ns\n", median(cross));
  if (!plain.empty()) std::printf("plain_thread_handoff_ns: %.0f ns\n", median(plain));
  if (!smoke && (only.empty() || only == "go")) go_peer(round_trips, argv[0]);
  return 0;
}
