// Green threads: spawn, get, join, sleep, spawn_later, joinall.
#include <chrono>
#include <cstdio>
#include <stdexcept>

#include <grove/grove.hpp>

using namespace std::chrono_literals;

int fetch(int id) {
  grove::sleep(id * 10ms);  // parks this green thread only
  return id * 100;
}

int main() {
  // gevent.spawn(fetch, 1) / `go fetch(1)`: queued now, runs once main parks.
  grove::GreenThread<int> a = grove::spawn(fetch, 1);
  auto b = grove::spawn(fetch, 2);
  auto later = grove::spawn_later(5ms, [] { std::puts("spawn_later ran"); });

  // get() parks main (itself a green thread) until the value is there.
  std::printf("a=%d b=%d\n", a.get(), b.get());

  grove::joinall({a, b, later});  // gevent.joinall
  std::printf("all dead: %s\n", a.dead() && b.dead() && later.dead() ? "yes" : "no");

  // An exception leaving a green thread is rethrown by get().
  auto bad = grove::spawn([]() -> int { throw std::runtime_error("boom"); });
  try {
    bad.get();
  } catch (const std::runtime_error& e) {
    std::printf("bad.get() threw: %s\n", e.what());
  }
  return bad.successful() ? 1 : 0;
}
