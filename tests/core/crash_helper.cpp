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
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <string>

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
  if (mode == "asan") {
    auto g = grove::spawn([] { return overflow_a_local(24); });
    g.join();
    std::fprintf(stderr, "crash_helper: the stack-buffer-overflow went unnoticed\n");
    return 0;
  }
  std::fprintf(stderr, "crash_helper: unknown mode %s\n", mode.c_str());
  return 2;
}
