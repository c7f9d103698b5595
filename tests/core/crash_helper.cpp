// crash_helper.cpp: a child process for the tests that must crash, block or signal a
// process (crash_test.cpp, asan_crash_test.cpp). Usage: crash_helper MODE
//   main-join   main spawns a green thread and joins it, with no loop call; exits 0
//   monitor     green thread 'busy' spins 300 ms without yielding (run with
//               GROVE_MAX_BLOCKING_MS set); exits 0
//   dump-env    two parked green threads, then raise(SIGUSR1) (run with
//               GROVE_DUMP_ON_SIGUSR1=1); exits 0
//   dump-call   as dump-env, enabling the dump with grove::dump_on_signal()
//   overflow    green thread 'deep' recurses without bound; dies
//   overflow-bounded  green thread 'deep' overflows its usable stack by less than the
//               guard (half of it), returns, then yields (canary checked at switch-out)
//   asan        a stack-buffer-overflow on a green thread's stack; dies under ASan
//   dump-two-threads  an OS thread's hub dumps on SIGUSR2 and exits, then main's hub
//               takes SIGUSR2 over and a third OS thread asks for it too; prints what
//               each got; exits 0
//   hub-no-memory  grove::current() twice under an address-space limit too small for
//               a hub's stacks; prints what each call did; exits 0 if both failed
//   stack-default  spawns and joins a green thread with the default stack size and
//               prints that size; exits 0
// With CRASH_HELPER_COLD_STACKS=1 in the environment, the mode's green threads get
// stacks the pool has given the pages of back (cold slots, core/src/stack_pool.hpp):
// 64 green threads exit first, and parked green threads hold the warm slots left.
#include <signal.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <grove/grove.hpp>
#include <grove/log.hpp>
#include <grove/thread_pool.hpp>

using namespace std::chrono_literals;

namespace {

volatile bool keep_going = true;

// Non-tail recursion with a 512-byte frame buffer that is fully written.
__attribute__((noinline)) int recurse_forever(int n) {
  volatile char buf[512];
  for (std::size_t i = 0; i < sizeof buf; ++i) buf[i] = static_cast<char>(n + i);
  int r = keep_going ? recurse_forever(n + 1) : 0;
  return r + buf[n % 512];
}

// Recurses until the frames reach `limit` bytes below `top`, then returns.
__attribute__((noinline)) int recurse_until(const char* top, std::size_t limit, int n) {
  volatile char buf[512];
  for (std::size_t i = 0; i < sizeof buf; ++i) buf[i] = static_cast<char>(n + i);
  int r = 0;
  if (static_cast<std::size_t>(top - reinterpret_cast<const volatile char*>(&buf[0])) < limit) {
    r = recurse_until(top, limit, n + 1);
  }
  return r + buf[n % 512];
}

// UBSan's bounds and object-size checks would report this first; the point here is
// ASan's stack redzone, so UBSan is off for this one function.
__attribute__((noinline, no_sanitize_undefined)) int overflow_a_local(int at) {
  volatile int index = at;
  volatile char buf[16];
  for (int i = 0; i < 16; ++i) buf[i] = static_cast<char>(i);
  buf[index] = 1;  // index 24: past the end of buf, inside ASan's redzone
  return buf[3];
}

grove::SpawnOptions named(const char* name) {
  grove::SpawnOptions o;
  o.name = name;
  return o;
}

int dump_mode(bool call) {
  if (call) grove::dump_on_signal();
  auto a = grove::spawn(named("sleeper-alpha"), [] { grove::sleep(10s); });
  auto b = grove::spawn(named("sleeper-beta"), [] { grove::sleep(10s); });
  grove::sleep(5ms);
  ::raise(SIGUSR1);
  grove::sleep(10ms);
  grove::sleep(10ms);
  grove::killall({a, b});
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: crash_helper MODE\n");
    return 2;
  }
  const std::string mode = argv[1];
  static grove::Event hold_warm;  // never set: the holders stay parked until exit
  if (std::getenv("CRASH_HELPER_COLD_STACKS")) {
    std::vector<grove::GreenThreadHandle> burst;
    for (int i = 0; i < 64; ++i) burst.push_back(grove::spawn([] { grove::yield(); }));
    for (const auto& g : burst) g.join();
    burst.clear();  // 64 stacks back in the pool, warm
    // The pool's trim (two periods of kStackTrimSeconds, 0.5 s) gives back the pages of
    // the 48 oldest: the last 16 stay warm, the others are cold.
    grove::sleep(std::chrono::milliseconds(1300));
    for (std::size_t i = 0; i < 16; ++i) grove::spawn([] { hold_warm.wait(); });
  }
  if (mode == "main-join") {
    auto g = grove::spawn([] {
      grove::sleep(1ms);
      return 42;
    });
    g.join();
    return g.get() == 42 ? 0 : 1;
  }
  if (mode == "monitor") {
    auto g = grove::spawn(named("busy"), [] {
      const auto t0 = std::chrono::steady_clock::now();
      while (std::chrono::steady_clock::now() - t0 < 300ms) {
      }
    });
    g.join();
    grove::sleep(50ms);
    return 0;
  }
  if (mode == "env-config") {  // what the environment set: on stderr, then one log line per level
    std::fprintf(stderr, "threadpool %zu stack %zu\n", grove::default_thread_pool().size(),
                 grove::detail::default_stack_size());
    grove::logger().warn("config-probe warn");
    grove::logger().info("config-probe info");
    return 0;
  }
  if (mode == "dump-env") return dump_mode(false);
  if (mode == "dump-call") return dump_mode(true);
  if (mode == "overflow") {
    auto g = grove::spawn(named("deep"), [] { return recurse_forever(0); });
    g.join();
    std::fprintf(stderr, "crash_helper: the unbounded recursion returned\n");
    return 0;
  }
  if (mode == "overflow-bounded") {
    // The usable stack is kDefaultStackSize (GROVE_STACK_SIZE unset); the function
    // object sits at its top. Go 8 KiB past its low end: inside the 16 KiB guard.
    auto g = grove::spawn(named("deep"), [] {
      volatile char top_marker = 0;
      const char* top = const_cast<const char*>(&top_marker);
      int r = recurse_until(top, grove::kDefaultStackSize + 8 * 1024, 0);
      grove::yield();
      return r;
    });
    g.join();
    std::fprintf(stderr, "crash_helper: the overflow went unnoticed\n");
    return 0;
  }
  if (mode == "dump-two-threads") {
    auto try_dump = [](const char* who) {
      try {
        grove::dump_on_signal(SIGUSR2);
        std::fprintf(stderr, "%s: enabled\n", who);
      } catch (const grove::UsageError& e) {
        std::fprintf(stderr, "%s: refused: %s\n", who, e.what());
      }
    };
    std::thread first([&] { try_dump("first"); });
    first.join();  // its hub is gone, and with it its claim on SIGUSR2
    try_dump("main");
    std::thread third([&] { try_dump("third"); });
    third.join();
    auto g = grove::spawn(named("sleeper-gamma"), [] { grove::sleep(10s); });
    grove::sleep(5ms);
    ::raise(SIGUSR2);
    grove::sleep(10ms);
    grove::sleep(10ms);
    g.kill();
    return 0;
  }
  if (mode == "hub-no-memory") {
    // Leave ~1 MiB of address space: enough for the libev loop, not for the hub's
    // stack arena (about 4 MiB).
    long pages = 0;
    if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
      if (std::fscanf(f, "%ld", &pages) != 1) pages = 0;
      std::fclose(f);
    }
    struct rlimit rl;
    rl.rlim_cur = rl.rlim_max = static_cast<rlim_t>(pages) * 4096 + (1 << 20);
    ::setrlimit(RLIMIT_AS, &rl);
    for (const char* which : {"first", "second"}) {
      try {
        auto h = grove::current();
        std::fprintf(stderr, "%s call returned a handle, id %llu\n", which, static_cast<unsigned long long>(h.id()));
        return 1;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "%s call failed: %s\n", which, e.what());
      }
    }
    return 0;
  }
  if (mode == "stack-default") {
    auto g = grove::spawn([] { return 5; });
    std::fprintf(stderr, "default stack %zu, green thread returned %d\n", grove::detail::default_stack_size(), g.get());
    return 0;
  }
  if (mode == "asan") {
    auto g = grove::spawn([] { return overflow_a_local(24); });
    g.join();
    std::fprintf(stderr, "crash_helper: the stack-buffer-overflow went unnoticed\n");
    return 0;
  }
  std::fprintf(stderr, "crash_helper: unknown mode %s\n", mode.c_str());
  return 2;
}
