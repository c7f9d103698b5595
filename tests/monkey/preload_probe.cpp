// preload_probe.cpp: a grove program that does NOT link libgrove_monkey. Run with
// LD_PRELOAD=libgrove_monkey.so GROVE_MONKEY=1 its plain libc calls become
// cooperative; without, they block the OS thread. argv[1] says which is expected:
// "cooperative" or "serial". Exit status 0 when the expectation holds.
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include <grove/grove.hpp>

using namespace std::chrono_literals;

static double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int main(int argc, char** argv) {
  const bool want_coop = argc > 1 && std::strcmp(argv[1], "cooperative") == 0;

  // 10 green threads in usleep(100 ms).
  std::vector<grove::GreenThread<void>> gs;
  double t0 = now_s();
  for (int i = 0; i < 10; ++i) gs.push_back(grove::spawn([] { ::usleep(100000); }));
  for (auto& g : gs) g.join();
  const double sleeps = now_s() - t0;

  // A read on a socketpair that another green thread writes 50 ms later. SO_RCVTIMEO
  // of 1 s keeps a blocking read from hanging the probe.
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 2;
  timeval tv{1, 0};
  ::setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ssize_t got = 0;
  auto reader = grove::spawn([&] {
    char c;
    got = ::read(sv[0], &c, 1);
  });
  auto writer = grove::spawn([&] {
    grove::sleep(50ms);
    (void)!::write(sv[1], "x", 1);
  });
  reader.join();
  writer.join();
  ::close(sv[0]);
  ::close(sv[1]);

  std::printf("10 x usleep(100 ms): %.3f s; read got %zd\n", sleeps, got);
  const bool coop = sleeps < 0.6 && got == 1;
  const bool serial = sleeps >= 0.95 && got == -1;
  return (want_coop ? coop : serial) ? 0 : 1;
}
