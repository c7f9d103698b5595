// Cancellation: kill() unwinds a green thread with GreenletExit, so RAII cleans up.
#include <chrono>
#include <cstdio>
#include <vector>

#include <grove/grove.hpp>

using namespace std::chrono_literals;

struct Connection {
  ~Connection() { std::puts("worker: connection closed by its destructor"); }
};

int main() {
  auto worker = grove::spawn([] {
    Connection conn;
    try {
      for (;;) grove::sleep(1ms);  // the kill lands at a parking call
    } catch (const grove::GreenletExit&) {
      std::puts("worker: killed, cleaning up");
      throw;  // always rethrow; catch (const std::exception&) never sees it
    }
  });
  grove::sleep(5ms);
  worker.kill();  // delivers GreenletExit, then parks until the worker is dead
  std::printf("worker killed: %s\n", worker.killed() ? "yes" : "no");

  // Kill many at once; kill_nowait() only delivers.
  std::vector<grove::GreenThreadHandle> crew;
  for (int i = 0; i < 3; ++i) crew.push_back(grove::spawn([] { grove::sleep(10s); }));
  bool all_dead = grove::killall(crew, 1s);

  // A green thread killed before it started never runs; get() reports the kill.
  auto never_ran = grove::spawn([] { return 1; });
  never_ran.kill_nowait();
  try {
    never_ran.get();
  } catch (const grove::GreenThreadKilled&) {
    std::puts("never_ran: killed before it started");
  }
  return worker.killed() && all_dead && !never_ran.started() ? 0 : 1;
}
