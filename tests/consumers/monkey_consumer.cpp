// Links libgrove_monkey (pkg-config grove-monkey): after patch_all(), libc's usleep
// parks only the calling green thread, so a second green thread finishes while the
// first one sleeps. Prints one line and exits 0.
#include <unistd.h>

#include <cstdio>
#include <string>

#include <grove/grove.hpp>
#include <grove/monkey.hpp>

int main() {
  grove::monkey::patch_all();
  if (!grove::monkey::time_patched()) return 1;

  std::string order;
  auto sleeper = grove::spawn([&] {
    order += "a";
    ::usleep(50 * 1000);  // plain libc: cooperative once patched
    order += "c";
  });
  auto other = grove::spawn([&] { order += "b"; });
  grove::joinall({sleeper, other});
  if (order != "abc") {
    std::printf("monkey consumer: order %s, expected abc\n", order.c_str());
    return 2;
  }
  std::printf("grove %s monkey consumer ok\n", GROVE_VERSION);
  return 0;
}
