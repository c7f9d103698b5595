// cross_hub_bench: one-way hand-off latency between green threads on two hubs (two OS
// threads pinned to two cores) through grove::mt::Channel, with Go's unbuffered
// channel between two goroutines (GOMAXPROCS=2) measured in the same run when a Go
// toolchain is found (bench/core/go_chan/main.go; GROVE_GO or `go` on PATH).
//
//   build/bench/core/cross_hub_bench            full run (a few seconds)
//   build/bench/core/cross_hub_bench --smoke    tiny counts, for CI
//   build/bench/core/cross_hub_bench --only cross|plain|line|go   one measurement alone
//
// Each figure NAME comes with NAME_best_batch: the one-way time over the fastest batch
// of 1,000 round trips of the run (on a shared machine a run also holds its
// neighbours' time slices; the fastest batch is the hand-off undisturbed).
//
// Prints `name: value unit` lines:
//   cross_hub_handoff_ns        one-way: a ping-pong over two unbuffered mt::Channels,
//                               round-trip time / 2 (median of the repetitions)
//   plain_thread_handoff_ns     the same between two plain OS threads (condition variables)
//   cache_line_handoff_ns       two pinned plain threads spinning on an atomic each: the
//                               floor of any hand-off between the two cores
//   go_unbuffered_chan_ns       Go's ping-pong, same shape, same run (if Go is found),
//                               one repetition between each of grove's; Go runs a woken
//                               goroutine on the waker's P, so mostly on one OS thread
//   go_pinned_unbuffered_chan_ns  the same with each goroutine locked to an OS thread
//                               pinned to its own core: every hand-off crosses cores
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
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

// One-way ns per hand-off of a ping-pong: over the whole run, and over the fastest
// batch of kBatch round trips (on a shared machine, a run is also its neighbours'
// time slices; the fastest batch is the hand-off itself, undisturbed).
struct Timing {
  double mean = 0;
  double best = 0;
};
constexpr long kBatch = 1000;

template <class RoundTrip>
Timing time_round_trips(long round_trips, RoundTrip&& round_trip) {
  const auto t0 = Clock::now();
  auto batch_start = t0;
  double best = 1e300;
  for (long i = 1; i < round_trips; ++i) {
    round_trip(i);
    if (i % kBatch == 0) {
      const auto now = Clock::now();
      best = std::min(best, std::chrono::duration<double, std::nano>(now - batch_start).count());
      batch_start = now;
    }
  }
  const double dt = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
  Timing t;
  t.mean = dt / static_cast<double>(2 * (round_trips - 1));
  t.best = round_trips > kBatch ? best / static_cast<double>(2 * kBatch) : t.mean;
  return t;
}

// Ping-pong between a green thread on hub A (core 0) and one on hub B (core 1).
Timing cross_hub_ns(long round_trips) {
  grove::mt::Channel<long> ping, pong;
  grove::HubThread a([] { pin_to(0); grove::sleep(std::chrono::hours(1)); });  // killed at the end
  grove::HubThread b([] { pin_to(1); grove::sleep(std::chrono::hours(1)); });
  auto echo = grove::spawn_on(b.hub(), [&] {
    for (long i = 0; i < round_trips; ++i) pong.put(ping.get());
  });
  auto timed = grove::spawn_on(a.hub(), [&] {
    ping.put(-1);  // warm up: both sides parked once
    pong.get();
    return time_round_trips(round_trips, [&](long i) {
      ping.put(i);
      pong.get();
    });
  });
  const Timing t = timed.get();
  echo.join();
  return t;
}

Timing plain_threads_ns(long round_trips) {
  grove::mt::Channel<long> ping, pong;
  std::thread echo([&] {
    pin_to(1);
    for (long i = 0; i < round_trips; ++i) pong.put(ping.get());
  });
  Timing t;
  std::thread timed([&] {
    pin_to(0);
    ping.put(-1);
    pong.get();
    t = time_round_trips(round_trips, [&](long i) {
      ping.put(i);
      pong.get();
    });
  });
  timed.join();
  echo.join();
  return t;
}

// The hardware's floor for any hand-off between the two cores: two plain threads,
// pinned, each spinning on an atomic the other writes (one cache line crossing per
// one-way hand-off, nothing else).
Timing cache_line_ns(long round_trips) {
  struct alignas(64) Line {
    std::atomic<long> v{0};
  };
  Line a, b;
  std::thread echo([&] {
    pin_to(1);
    for (long i = 1; i < round_trips; ++i) {
      while (a.v.load(std::memory_order_acquire) != i) {
      }
      b.v.store(i, std::memory_order_release);
    }
  });
  Timing t;
  std::thread timed([&] {
    pin_to(0);
    t = time_round_trips(round_trips, [&](long i) {
      a.v.store(i, std::memory_order_release);
      while (b.v.load(std::memory_order_acquire) != i) {
      }
    });
  });
  timed.join();
  echo.join();
  return t;
}

// Go's peer (bench/core/go_chan/main.go), built once with `go build` into a temporary
// directory, then run once per repetition between grove's runs. Empty if there is no
// Go toolchain (GROVE_GO, or `go` on PATH) or the build fails (no network is needed:
// it uses only the standard library).
struct GoPeer {
  std::string exe;
  std::string why_not;

  GoPeer() {
    const std::string go = std::getenv("GROVE_GO") ? std::getenv("GROVE_GO") : "go";
    if (std::system((go + " version >/dev/null 2>&1").c_str()) != 0) {
      why_not = "no Go toolchain: apt-get install golang-go, or set GROVE_GO";
      return;
    }
    char dir[] = "/tmp/grove-go-chan-XXXXXX";
    if (!::mkdtemp(dir)) {
      why_not = "mkdtemp failed";
      return;
    }
    const std::string out = std::string(dir) + "/go_chan";
    const std::string cmd = "GOCACHE=${GOCACHE:-/tmp/grove-go-cache} GOFLAGS=-mod=mod GOPROXY=off " + go +
                            " build -o " + out + " " + GROVE_GO_CHAN_SOURCE + " 2>&1";
    if (std::system(cmd.c_str()) != 0) {
      why_not = "go build failed";
      return;
    }
    exe = out;
  }
  ~GoPeer() {
    if (exe.empty()) return;
    ::unlink(exe.c_str());
    ::rmdir(exe.substr(0, exe.rfind('/')).c_str());
  }

  // One repetition with GOMAXPROCS=2: the plain and the pinned figures, or false if
  // it failed.
  bool run(long round_trips, Timing& plain, Timing& pinned) const {
    const std::string cmd = "GOMAXPROCS=2 " + exe + " " + std::to_string(round_trips) + " 1";
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return false;
    plain = pinned = Timing{-1, -1};
    char line[256];
    while (std::fgets(line, sizeof line, p)) {
      std::sscanf(line, "go_unbuffered_chan_ns: %lf", &plain.mean);
      std::sscanf(line, "go_unbuffered_chan_ns_best_batch: %lf", &plain.best);
      std::sscanf(line, "go_pinned_unbuffered_chan_ns: %lf", &pinned.mean);
      std::sscanf(line, "go_pinned_unbuffered_chan_ns_best_batch: %lf", &pinned.best);
    }
    return ::pclose(p) == 0 && plain.mean > 0 && plain.best > 0 && pinned.mean > 0 && pinned.best > 0;
  }
};

}  // namespace

int main(int argc, char** argv) {
  bool smoke = false;
  std::string only;  // "cross", "plain", "line" or "go": that measurement alone (for perf / strace)
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--smoke") == 0) smoke = true;
    else if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) only = argv[++i];
  }
  const long round_trips = smoke ? 2000 : 200000;
  const int reps = smoke ? 1 : 5;
  const bool two_cpus = ::sysconf(_SC_NPROCESSORS_ONLN) >= 2;
  std::optional<GoPeer> go;
  if (!smoke && (only.empty() || only == "go")) go.emplace();
  std::vector<Timing> cross, plain, line, gos, gos_pinned;
  // Interleaved: each repetition runs grove, plain threads, the cache line and Go once,
  // so a noisy neighbour hits all of them alike.
  for (int r = 0; r < reps; ++r) {
    if (only.empty() || only == "cross") cross.push_back(cross_hub_ns(round_trips));
    if (only.empty() || only == "plain") plain.push_back(plain_threads_ns(round_trips));
    // Two threads spinning for each other need two CPUs (and a full run: on one CPU
    // each hand-off would wait for a time slice).
    if (two_cpus && !smoke && (only.empty() || only == "line")) line.push_back(cache_line_ns(round_trips));
    if (go && !go->exe.empty()) {
      Timing g, gp;
      if (go->run(round_trips, g, gp)) {
        gos.push_back(g);
        gos_pinned.push_back(gp);
      }
    }
  }
  auto all = [](const std::vector<double>& v) {
    std::string s;
    for (double x : v) {
      // Appended piecewise: GCC 12 warns falsely (-Wrestrict) on `"literal" + std::string&&`.
      if (!s.empty()) s.append(" ");
      s.append(std::to_string(static_cast<long>(x + 0.5)));
    }
    return s;
  };
  auto print = [&](const char* name, const std::vector<Timing>& ts) {
    if (ts.empty()) return;
    std::vector<double> mean, best;
    for (const Timing& t : ts) {
      mean.push_back(t.mean);
      best.push_back(t.best);
    }
    std::printf("%s: %.0f ns (runs: %s)\n", name, median(mean), all(mean).c_str());
    std::printf("%s_best_batch: %.0f ns (runs: %s)\n", name, median(best), all(best).c_str());
  };
  print("cross_hub_handoff_ns", cross);
  print("plain_thread_handoff_ns", plain);
  print("cache_line_handoff_ns", line);
  if (go) {
    if (!gos.empty()) {
      print("go_unbuffered_chan_ns", gos);
      print("go_pinned_unbuffered_chan_ns", gos_pinned);
    } else {
      std::printf("go_unbuffered_chan_ns: skipped (%s)\n", go->why_not.empty() ? "go_chan failed" : go->why_not.c_str());
    }
  }
  return 0;
}
