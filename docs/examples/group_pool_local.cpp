// Group, Pool and local: managing many green threads, and per-green-thread values.
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <grove/grove.hpp>

using namespace std::chrono_literals;

grove::local<std::string> request_id;  // each green thread sees its own value

std::size_t handle(std::string word) {
  request_id.set("req-" + word);
  grove::sleep(1ms);
  return request_id.get().size();  // still this green thread's value after parking
}

int main() {
  // Pool(2): spawn() parks while two members run (gevent.pool.Pool; a worker limit).
  grove::Pool pool(2);
  for (int i = 0; i < 5; ++i) pool.spawn([] { grove::sleep(2ms); });
  pool.join();  // parks until every member is dead

  // map: fn(item) in members, results in the order of the items.
  std::vector<std::string> words{"a", "bb", "ccc"};
  std::vector<std::size_t> sizes = pool.map(handle, words);
  for (std::size_t s : sizes) std::printf("%zu ", s);
  std::printf("\n");

  // Group: no bound; kill() stops every member at once.
  grove::Group group;
  for (int i = 0; i < 3; ++i) group.spawn([] { grove::sleep(10s); });
  group.kill();
  std::printf("group empty after kill: %s\n", group.empty() ? "yes" : "no");
  return sizes == std::vector<std::size_t>{5, 6, 7} && group.empty() ? 0 : 1;
}
