// Several hubs: one hub per OS thread, work handed between them; green threads stay put.
#include <cstdio>
#include <string>
#include <thread>

#include <grove/grove.hpp>
#include <grove/hub_thread.hpp>
#include <grove/mt/async_result.hpp>
#include <grove/mt/channel.hpp>
#include <grove/spawn_on.hpp>

int main() {
  grove::HubThread worker;  // an OS thread with a hub of its own, serving until stopped

  // spawn_on: a green thread on the worker's hub; its handle works from anywhere.
  auto g = grove::spawn_on(worker.hub(), [](int x) { return x * 2; }, 21);
  int doubled = g.get();  // parks main only; the wake crosses through main's hub inbox

  // A channel any hub (or plain thread) can use: grove::Channel would refuse this.
  grove::mt::Channel<std::string> lines;
  auto producer = grove::spawn_on(worker.hub(), [&lines] {
    for (const char* s : {"one", "two", "three"}) lines.put(s);
  });
  std::string got;
  for (int i = 0; i < 3; ++i) got += lines.get() + " ";
  producer.join();

  // A library's callback thread hands a value back to a waiting green thread.
  grove::mt::AsyncResult<int> reply;
  std::thread callback([&reply] { reply.set(200); });
  int status = reply.get();
  callback.join();

  std::printf("%d, %s, %d\n", doubled, got.c_str(), status);
  worker.request_stop();
  worker.join();
  return doubled == 42 && got == "one two three " && status == 200 ? 0 : 1;
}
