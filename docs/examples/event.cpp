// Event and AsyncResult: one green thread signals, others wait.
#include <chrono>
#include <cstdio>
#include <string>

#include <grove/grove.hpp>

using namespace std::chrono_literals;

int main() {
  // Event: a flag; wait() parks until set() (gevent.event.Event; a closed channel in Go).
  grove::Event ready;
  std::string config;
  auto loader = grove::spawn([&] {
    grove::sleep(5ms);
    config = "loaded";
    ready.set();  // wakes every waiter
  });
  auto user1 = grove::spawn([&] { ready.wait(); std::printf("user1 sees %s\n", config.c_str()); });
  auto user2 = grove::spawn([&] { ready.wait(); std::printf("user2 sees %s\n", config.c_str()); });
  grove::joinall({loader, user1, user2});

  // AsyncResult<T>: a value (or an exception) delivered once; a future to park on.
  grove::AsyncResult<int> answer;
  auto producer = grove::spawn([&] { grove::sleep(1ms); answer.set(42); });
  std::printf("answer: %d\n", answer.get());  // parks until set
  producer.join();
  return answer.get() == 42 ? 0 : 1;
}
