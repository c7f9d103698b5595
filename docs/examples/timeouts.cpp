// Timeouts: a scoped grove::Timeout, with_timeout, and calls that take their own.
#include <chrono>
#include <cstdio>
#include <optional>

#include <grove/grove.hpp>

using namespace std::chrono_literals;

int main() {
  // A deadline for everything in a scope (gevent.Timeout; Go's context.WithTimeout).
  try {
    grove::Timeout t(20ms);
    grove::sleep(10s);  // any parking call: throws TimeoutError after 20 ms
  } catch (const grove::TimeoutError&) {
    std::puts("deadline passed");
  }

  // with_timeout: the value, or nullopt (false for void) if this deadline fired.
  std::optional<int> v = grove::with_timeout(1s, [] { grove::sleep(1ms); return 7; });
  bool finished = grove::with_timeout(10ms, [] { grove::sleep(10s); });
  std::printf("v=%d finished=%s\n", v.value_or(-1), finished ? "yes" : "no");

  // An inner with_timeout never swallows an outer deadline: it rethrows it.
  try {
    grove::Timeout outer(10ms);
    grove::with_timeout(1s, [] { grove::sleep(10s); });
  } catch (const grove::TimeoutError&) {
    std::puts("outer deadline reached the outer handler");
  }

  // Many calls take a timeout of their own and report it instead of throwing.
  grove::Event never;
  bool was_set = never.wait(10ms);                      // false: timed out
  auto g = grove::spawn([] { grove::sleep(10s); });
  bool dead = g.join(10ms);                             // false: still running
  g.kill();
  std::printf("was_set=%s dead=%s\n", was_set ? "yes" : "no", dead ? "yes" : "no");
  return (v == 7 && !finished && !was_set && !dead) ? 0 : 1;
}
