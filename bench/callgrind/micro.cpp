// micro: N yields (two green threads alternating) or N spawn+join, for callgrind.
#include <cstdlib>
#include <cstring>
#include <grove/grove.hpp>
int main(int argc, char** argv) {
  const char* what = argv[1];
  long n = std::atol(argv[2]);
  if (!std::strcmp(what, "yield")) {
    auto other = grove::spawn([n] { for (long i = 0; i < n; ++i) grove::yield(); });
    for (long i = 0; i < n; ++i) grove::yield();
    other.join();
  } else {
    for (long i = 0; i < n; ++i) grove::spawn([] {}).join();
  }
}
