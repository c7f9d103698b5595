// Queue and Channel: passing work between green threads.
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include <grove/grove.hpp>

int main() {
  // Queue<T>(n): a bounded FIFO (gevent.queue.Queue; a buffered channel in Go).
  // put() parks while it is full, get() while it is empty.
  grove::Queue<std::optional<std::string>> jobs(2);
  std::vector<std::string> done;
  auto worker = [&](int id) {
    while (std::optional<std::string> job = jobs.get()) {  // nullopt: no more work
      done.push_back(*job + " by worker " + std::to_string(id));
      jobs.task_done();
    }
    jobs.task_done();
  };
  auto w1 = grove::spawn(worker, 1);
  auto w2 = grove::spawn(worker, 2);
  for (int i = 0; i < 5; ++i) jobs.put("job " + std::to_string(i));
  jobs.join();  // parks until every job put so far is task_done()
  jobs.put(std::nullopt);
  jobs.put(std::nullopt);
  grove::joinall({w1, w2});
  for (const auto& d : done) std::printf("%s\n", d.c_str());

  // Channel<T>: unbuffered; put() parks until a getter takes the item (Go's chan T).
  grove::Channel<int> ch;
  auto sender = grove::spawn([&] {
    for (int i = 1; i <= 3; ++i) ch.put(i * i);
  });
  int sum = 0;
  for (int i = 0; i < 3; ++i) sum += ch.get();
  sender.join();
  std::printf("sum of squares: %d\n", sum);
  return done.size() == 5 && sum == 14 ? 0 : 1;
}
