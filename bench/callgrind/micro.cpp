// micro: N yields (two green threads alternating), N spawn+join, or N one-way channel
// hand-offs (two green threads ping-ponging an int through two unbuffered Channels, as
// sync_bench's channel_handoff_ns), for callgrind (micro_instructions.sh) and for
// interleaved wall-clock A/B runs of two builds (micro_ab.sh). Prints `WHAT_ns: X` per
// yield-loop iteration / spawn+join / hand-off.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <grove/grove.hpp>
int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: micro yield|spawn|channel N\n");
    return 2;
  }
  const char* what = argv[1];
  long n = std::atol(argv[2]);
  const auto t0 = std::chrono::steady_clock::now();
  if (!std::strcmp(what, "yield")) {
    auto other = grove::spawn([n] { for (long i = 0; i < n; ++i) grove::yield(); });
    for (long i = 0; i < n; ++i) grove::yield();
    other.join();
  } else if (!std::strcmp(what, "channel")) {
    grove::Channel<long> ping, pong;
    auto echo = grove::spawn([&, n] { for (long i = 0; i < n / 2; ++i) pong.put(ping.get()); });
    for (long i = 0; i < n / 2; ++i) {
      ping.put(i);
      pong.get();
    }
    echo.join();
  } else {
    for (long i = 0; i < n; ++i) grove::spawn([] {}).join();
  }
  const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%s_ns: %.2f\n", what, ns / static_cast<double>(n));
}
