// gdb_target.cpp: the program tests/core/gdb_test.sh runs under gdb. Two green threads
// park in functions of their own, then the root calls gdb_target_all_parked(), where
// the test stops it (live) and writes a core file; then everything ends cleanly.
#include <chrono>

#include <grove/event.hpp>
#include <grove/grove.hpp>

// Set by the functions below so the compiler keeps their frames (no tail call).
volatile int gdb_target_sink = 0;

[[gnu::noinline]] void gdb_target_waits_on_event(grove::Event& ev) {
  ev.wait();
  gdb_target_sink = gdb_target_sink + 1;
}

[[gnu::noinline]] void gdb_target_sleeps() {
  grove::sleep(std::chrono::hours(1));
  gdb_target_sink = gdb_target_sink + 1;
}

// The test's breakpoint: every other green thread is parked when the root gets here.
extern "C" [[gnu::noinline]] void gdb_target_all_parked() { gdb_target_sink = gdb_target_sink + 1; }

int main() {
  grove::Event ev;
  auto waiter = grove::spawn(grove::SpawnOptions{0, "gdb-waiter"}, [&] { gdb_target_waits_on_event(ev); });
  auto sleeper = grove::spawn(grove::SpawnOptions{0, "gdb-sleeper"}, [] { gdb_target_sleeps(); });
  grove::yield();  // both run and park
  gdb_target_all_parked();
  ev.set();
  waiter.join();
  sleeper.kill();
  return 0;
}
