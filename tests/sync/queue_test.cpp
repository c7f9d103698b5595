// queue_test.cpp: Queue, LifoQueue and PriorityQueue: bounded and unbounded, timeouts,
// kills, the hand-off races, task_done / join, peek, move-only items, and many
// producers and consumers.
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "grove_test.hpp"
#include "other_thread.hpp"

using namespace std::chrono_literals;

namespace {
struct DerefGreater {  // largest pointee first
  bool operator()(const std::unique_ptr<int>& a, const std::unique_ptr<int>& b) const { return *a > *b; }
};
}  // namespace

GROVE_TEST("an unbounded Queue takes every put without parking and returns items in FIFO order") {
  grove::Queue<int> q;
  for (int i = 0; i < 100; ++i) CHECK(q.put(i));
  CHECK(q.size() == 100);
  CHECK_FALSE(q.full());
  for (int i = 0; i < 100; ++i) CHECK(q.get() == i);
  CHECK(q.empty());
}

GROVE_TEST("Queue::get parks until an item is put") {
  grove::Queue<std::string> q;
  std::string got;
  auto g = grove::spawn([&] { got = q.get(); });
  grove::yield();
  CHECK(got.empty());
  q.put("hello");
  g.join();
  CHECK(got == "hello");
}

GROVE_TEST("Queue::put parks while a bounded queue is full until a get frees a slot") {
  grove::Queue<int> q(2);
  q.put(1);
  q.put(2);
  CHECK(q.full());
  bool put_done = false;
  auto g = grove::spawn([&] { put_done = q.put(3); });
  grove::yield();
  CHECK_FALSE(put_done);
  CHECK(q.size() == 2);
  CHECK(q.get() == 1);
  g.join();
  CHECK(put_done);
  CHECK(q.get() == 2);
  CHECK(q.get() == 3);
}

GROVE_TEST("Queue::put with a timeout on a full queue returns false and adds nothing") {
  grove::Queue<int> q(1);
  q.put(1);
  CHECK_FALSE(q.put(2, 5ms));
  CHECK(q.size() == 1);
  CHECK(q.get() == 1);
  CHECK(q.empty());
}

GROVE_TEST("Queue::get with a timeout on an empty queue returns nullopt") {
  grove::Queue<int> q;
  CHECK_FALSE(q.get(5ms).has_value());
  q.put(4);
  CHECK(q.get(5ms) == std::optional<int>(4));
}

GROVE_TEST("put_nowait on a full queue throws QueueFull and adds nothing") {
  grove::Queue<int> q(1);
  q.put_nowait(1);
  CHECK_THROWS_WITH_AS(q.put_nowait(2), "grove::Queue: full", grove::QueueFull);
  CHECK(q.size() == 1);
  CHECK(q.get_nowait() == 1);
}

GROVE_TEST("get_nowait and peek_nowait on an empty queue throw QueueEmpty") {
  grove::Queue<int> q;
  CHECK_THROWS_WITH_AS(q.get_nowait(), "grove::Queue: empty", grove::QueueEmpty);
  CHECK_THROWS_AS(q.peek_nowait(), grove::QueueEmpty);
}

GROVE_TEST("Queue::join parks until task_done was called for every item put") {
  grove::Queue<int> q;
  q.put(1);
  q.put(2);
  CHECK(q.unfinished_tasks() == 2);
  bool joined = false;
  auto worker = grove::spawn([&] {
    for (int i = 0; i < 2; ++i) {
      (void)q.get();
      grove::sleep(1ms);
      q.task_done();
    }
  });
  auto joiner = grove::spawn([&] { joined = q.join(); });
  grove::sleep(1ms);
  CHECK_FALSE(joined);
  grove::joinall({worker, joiner});
  CHECK(joined);
  CHECK(q.unfinished_tasks() == 0);
  CHECK(q.join(0ms));
}

GROVE_TEST("Queue::join with a timeout returns false while tasks are unfinished") {
  grove::Queue<int> q;
  q.put(1);
  CHECK_FALSE(q.join(5ms));
  (void)q.get();
  q.task_done();
  CHECK(q.join(5ms));
}

GROVE_TEST("Queue::task_done called more often than items were put is a UsageError") {
  grove::Queue<int> q;
  q.put(1);
  (void)q.get();
  q.task_done();
  CHECK_THROWS_AS(q.task_done(), grove::UsageError);
}

GROVE_TEST("Queue::peek parks until an item is there and leaves it queued") {
  grove::Queue<int> q;
  int seen = 0;
  auto g = grove::spawn([&] { seen = *q.peek(); });
  grove::yield();
  CHECK(seen == 0);
  q.put(8);
  g.join();
  CHECK(seen == 8);
  CHECK(q.size() == 1);
  CHECK(q.peek_nowait() == 8);
  CHECK(q.get() == 8);
  CHECK(q.peek(2ms) == nullptr);
}

// Regression: peek() restarted its whole timeout each time it was woken by an item
// that a parked getter then took, so it could wait far past its deadline.
GROVE_TEST("Queue::peek with a timeout gives up at its deadline even after waking for an item a getter took") {
  grove::Queue<int> q;
  auto getter = grove::spawn([&] { (void)q.get(); });
  const int* seen = nullptr;
  bool peeked = false;
  auto peeker = grove::spawn([&] {
    seen = q.peek(10ms);
    peeked = true;
  });
  grove::yield();                     // both park, the getter first
  std::this_thread::sleep_for(20ms);  // the peeker's deadline passes, unprocessed
  q.put(1);                           // promised to the getter; wakes the peeker too
  grove::yield();                     // the getter takes it; the peeker must give up now
  CHECK(peeked);
  CHECK(seen == nullptr);
  q.put(2);  // a peek still waiting would see this one
  grove::joinall({getter, peeker});
  CHECK(seen == nullptr);
  CHECK(q.get_nowait() == 2);
}

GROVE_TEST("LifoQueue returns the most recently put item first") {
  grove::LifoQueue<int> q;
  for (int i = 0; i < 4; ++i) q.put(i);
  CHECK(q.peek_nowait() == 3);
  std::vector<int> out;
  while (!q.empty()) out.push_back(q.get());
  CHECK(out == std::vector<int>{3, 2, 1, 0});
}

GROVE_TEST("PriorityQueue returns the smallest item first") {
  grove::PriorityQueue<int> q;
  for (int v : {5, 1, 4, 2, 3}) q.put(v);
  CHECK(q.peek_nowait() == 1);
  std::vector<int> out;
  while (!q.empty()) out.push_back(q.get());
  CHECK(out == std::vector<int>{1, 2, 3, 4, 5});
}

GROVE_TEST("PriorityQueue with std::greater returns the largest item first") {
  grove::PriorityQueue<int, std::greater<int>> q;
  for (int v : {5, 1, 4, 2, 3}) q.put(v);
  std::vector<int> out;
  while (!q.empty()) out.push_back(q.get());
  CHECK(out == std::vector<int>{5, 4, 3, 2, 1});
}

GROVE_TEST("green threads parked in Queue::get are served in the order they started waiting") {
  grove::Queue<int> q;
  std::vector<std::pair<int, int>> got;  // (waiter, item)
  std::vector<grove::GreenThreadHandle> gs;
  for (int i = 0; i < 5; ++i) {
    gs.push_back(grove::spawn([&, i] { got.emplace_back(i, q.get()); }));
    grove::yield();
  }
  // One item at a time: each put wakes the longest waiter, which then runs (the only
  // green thread ready besides this one, whatever order the hub picks under a schedule
  // seed). Several items at once go to the woken getters in the order they run.
  for (std::size_t i = 0; i < 5; ++i) {
    q.put(100 + static_cast<int>(i));
    for (int k = 0; k < 100 && got.size() == i; ++k) grove::yield();
  }
  grove::joinall(gs);
  REQUIRE(got.size() == 5);
  for (int i = 0; i < 5; ++i) {
    CHECK(got[i].first == i);
    CHECK(got[i].second == 100 + i);
  }
}

GROVE_TEST("green threads parked in Queue::put are served in the order they started waiting") {
  grove::Queue<int> q(1);
  q.put(-1);
  std::vector<grove::GreenThreadHandle> gs;
  for (int i = 0; i < 5; ++i) {
    gs.push_back(grove::spawn([&, i] { q.put(i); }));
    grove::yield();
  }
  // A put_nowait from a newcomer cannot take a slot freed for a parked putter.
  std::vector<int> out;
  out.push_back(q.get());
  CHECK_THROWS_AS(q.put_nowait(99), grove::QueueFull);
  for (int i = 0; i < 5; ++i) out.push_back(q.get());
  grove::joinall(gs);
  CHECK(out == std::vector<int>{-1, 0, 1, 2, 3, 4});
}

GROVE_TEST("an item put for a parked getter cannot be taken by a green thread arriving later") {
  grove::Queue<int> q;
  int got = 0;
  auto g = grove::spawn([&] { got = q.get(); });
  grove::yield();
  q.put(5);  // promised to the parked getter
  CHECK_THROWS_AS(q.get_nowait(), grove::QueueEmpty);
  CHECK_FALSE(q.get(0ms).has_value());
  g.join();
  CHECK(got == 5);
}

GROVE_TEST("killing a green thread parked in Queue::get unwinds it and the next item goes to the next getter") {
  grove::Queue<int> q;
  bool exited = false;
  auto victim = grove::spawn([&] {
    try {
      (void)q.get();
    } catch (const grove::GreenletExit&) {
      exited = true;
      throw;
    }
  });
  int got = 0;
  auto next = grove::spawn([&] { got = q.get(); });
  grove::yield();
  victim.kill();
  CHECK(exited);
  q.put(3);
  next.join();
  CHECK(got == 3);
  CHECK(q.empty());
}

GROVE_TEST("killing a green thread parked in Queue::put on a full queue unwinds it without adding its item") {
  grove::Queue<int> q(1);
  q.put(1);
  bool exited = false;
  auto victim = grove::spawn([&] {
    try {
      q.put(2);
    } catch (const grove::GreenletExit&) {
      exited = true;
      throw;
    }
  });
  auto next = grove::spawn([&] { q.put(3); });
  grove::yield();
  victim.kill();
  CHECK(exited);
  CHECK(q.get() == 1);
  next.join();
  CHECK(q.get() == 3);
  CHECK(q.empty());
}

GROVE_TEST("a Timeout interrupts Queue::get on an empty queue and the queue still works afterwards") {
  grove::Queue<int> q;
  {
    grove::Timeout t(2ms);
    CHECK_THROWS_AS((void)q.get(), grove::TimeoutError);
  }
  q.put(1);
  CHECK(q.get() == 1);
}

GROVE_TEST("a Timeout interrupts Queue::put on a full queue and the queue still works afterwards") {
  grove::Queue<int> q(1);
  q.put(1);
  {
    grove::Timeout t(2ms);
    CHECK_THROWS_AS(q.put(2), grove::TimeoutError);
  }
  CHECK(q.size() == 1);
  CHECK(q.get() == 1);
  CHECK(q.put(3, 0ms));
  CHECK(q.get() == 3);
}

// The wake/kill races. The item is put (or the slot freed) and the waiter killed in the
// same hub turn; in both orders every item ends up exactly once somewhere.
GROVE_TEST("an item put for a getter killed in the same hub turn is taken by it (put, then kill)") {
  grove::Queue<int> q;
  int got = 0;
  auto victim = grove::spawn([&] {
    got = q.get();
    grove::sleep(10s);
  });
  grove::yield();
  q.put(7);
  victim.kill_nowait();
  victim.join();
  CHECK(victim.killed());
  CHECK(got == 7);
  CHECK(q.empty());
}

GROVE_TEST("an item put after its getter was killed in the same hub turn goes to the next getter (kill, then put)") {
  grove::Queue<int> q;
  int victim_got = 0, next_got = 0;
  auto victim = grove::spawn([&] { victim_got = q.get(); });
  auto next = grove::spawn([&] { next_got = q.get(); });
  grove::yield();
  victim.kill_nowait();
  q.put(7);
  grove::joinall({victim, next});
  CHECK(victim_got == 0);
  CHECK(next_got == 7);
  CHECK(q.empty());
}

GROVE_TEST("an item put after its only getter was killed in the same hub turn stays queued") {
  grove::Queue<int> q;
  auto victim = grove::spawn([&] { (void)q.get(); });
  grove::yield();
  victim.kill_nowait();
  q.put(7);
  victim.join();
  CHECK(q.size() == 1);
  CHECK(q.get_nowait() == 7);
}

GROVE_TEST("a slot freed for a putter killed in the same hub turn is filled by it (get, then kill)") {
  grove::Queue<int> q(1);
  q.put(1);
  bool put_done = false;
  auto victim = grove::spawn([&] {
    put_done = q.put(2);
    grove::sleep(10s);
  });
  grove::yield();
  CHECK(q.get() == 1);
  victim.kill_nowait();
  victim.join();
  CHECK(put_done);
  CHECK(q.size() == 1);
  CHECK(q.get_nowait() == 2);
}

GROVE_TEST("a slot freed after its putter was killed in the same hub turn goes to the next putter (kill, then get)") {
  grove::Queue<int> q(1);
  q.put(1);
  auto victim = grove::spawn([&] { q.put(2); });
  auto next = grove::spawn([&] { q.put(3); });
  grove::yield();
  victim.kill_nowait();
  CHECK(q.get() == 1);
  grove::joinall({victim, next});
  CHECK(q.size() == 1);
  CHECK(q.get_nowait() == 3);
}

GROVE_TEST("a slot freed after its only putter was killed in the same hub turn is free for anyone") {
  grove::Queue<int> q(1);
  q.put(1);
  auto victim = grove::spawn([&] { q.put(2); });
  grove::yield();
  victim.kill_nowait();
  CHECK(q.get() == 1);
  victim.join();
  CHECK(q.empty());
  q.put_nowait(4);
  CHECK(q.get() == 4);
}

GROVE_TEST("an item put after the getter's deadline passed, before its timer was processed, is taken by it") {
  grove::Queue<int> q;
  std::optional<int> got;
  auto getter = grove::spawn([&] { got = q.get(5ms); });
  grove::yield();
  std::this_thread::sleep_for(15ms);
  q.put(6);
  getter.join();
  CHECK(got == std::optional<int>(6));
  CHECK(q.empty());
}

GROVE_TEST("an item put after the getter's timeout fired in the same hub turn stays queued") {
  grove::Queue<int> q;
  grove::sleep(1ms);  // a fresh poll: no poll until the green threads below have parked
  std::optional<int> got(0);
  auto getter = grove::spawn([&] { got = q.get(20ms); });
  auto putter = grove::spawn([&] {
    grove::sleep(1ms);  // expires before the getter's timer: both fire in one poll, this first
    q.put(6);
  });
  auto blocker = grove::spawn([] { std::this_thread::sleep_for(40ms); });
  grove::joinall({getter, putter, blocker});
  CHECK_FALSE(got.has_value());
  CHECK(q.size() == 1);
  CHECK(q.get_nowait() == 6);
}

GROVE_TEST("a slot freed after the putter's timeout fired in the same hub turn stays free") {
  grove::Queue<int> q(1);
  q.put(1);
  grove::sleep(1ms);  // a fresh poll: no poll until the green threads below have parked
  bool put_done = true;
  auto putter = grove::spawn([&] { put_done = q.put(2, 20ms); });
  auto getter = grove::spawn([&] {
    grove::sleep(1ms);  // expires before the putter's timer: both fire in one poll, this first
    CHECK(q.get() == 1);
  });
  auto blocker = grove::spawn([] { std::this_thread::sleep_for(40ms); });
  grove::joinall({putter, getter, blocker});
  CHECK_FALSE(put_done);
  CHECK(q.empty());
  q.put_nowait(3);
  CHECK(q.get() == 3);
}

GROVE_TEST("a slot freed after the putter's deadline passed, before its timer was processed, is filled by it") {
  grove::Queue<int> q(1);
  q.put(1);
  bool put_done = false;
  auto putter = grove::spawn([&] { put_done = q.put(2, 5ms); });
  grove::yield();
  std::this_thread::sleep_for(15ms);
  CHECK(q.get() == 1);
  putter.join();
  CHECK(put_done);
  CHECK(q.get_nowait() == 2);
}

// ---- move-only items

GROVE_TEST("Queue carries move-only items, also through parked getters and putters") {
  grove::Queue<std::unique_ptr<int>> q(1);
  std::unique_ptr<int> got;
  auto getter = grove::spawn([&] { got = q.get(); });
  grove::yield();
  q.put(std::make_unique<int>(1));
  getter.join();
  REQUIRE(got);
  CHECK(*got == 1);
  q.put_nowait(std::make_unique<int>(2));
  auto putter = grove::spawn([&] { q.put(std::make_unique<int>(3)); });
  grove::yield();
  CHECK(*q.get_nowait() == 2);
  putter.join();
  CHECK(*q.peek_nowait() == 3);
  std::optional<std::unique_ptr<int>> last = q.get(1ms);
  REQUIRE(last.has_value());
  CHECK(**last == 3);
}

GROVE_TEST("LifoQueue carries move-only items") {
  grove::LifoQueue<std::unique_ptr<int>> q;
  std::unique_ptr<int> got;
  auto getter = grove::spawn([&] { got = q.get(); });
  grove::yield();
  q.put(std::make_unique<int>(1));
  getter.join();
  REQUIRE(got);
  CHECK(*got == 1);
  q.put(std::make_unique<int>(2));
  q.put_nowait(std::make_unique<int>(3));
  CHECK(*q.get() == 3);
  CHECK(*q.get_nowait() == 2);
}

GROVE_TEST("PriorityQueue carries move-only items, ordered by a custom comparator") {
  grove::PriorityQueue<std::unique_ptr<int>, DerefGreater> q;
  std::unique_ptr<int> got;
  auto getter = grove::spawn([&] { got = q.get(); });
  grove::yield();
  q.put(std::make_unique<int>(1));
  getter.join();
  REQUIRE(got);
  CHECK(*got == 1);
  for (int v : {2, 9, 5}) q.put(std::make_unique<int>(v));
  CHECK(*q.peek_nowait() == 9);
  CHECK(*q.get() == 9);
  CHECK(*q.get_nowait() == 5);
  CHECK(*q.get() == 2);
}

// ---- many green threads

GROVE_TEST("10,000 green threads pass items through a bounded queue and every item arrives exactly once") {
  constexpr int kProducers = 5000, kConsumers = 5000, kPerProducer = 4;
  constexpr int kItems = kProducers * kPerProducer;
  static_assert(kItems % kConsumers == 0);
  grove::Queue<int> q(16);
  std::vector<int> seen(kItems, 0);
  std::vector<grove::GreenThreadHandle> gs;
  gs.reserve(kProducers + kConsumers);
  for (int c = 0; c < kConsumers; ++c) {
    gs.push_back(grove::spawn([&] {
      for (int i = 0; i < kItems / kConsumers; ++i) ++seen[q.get()];
    }));
  }
  for (int p = 0; p < kProducers; ++p) {
    gs.push_back(grove::spawn([&, p] {
      for (int i = 0; i < kPerProducer; ++i) q.put(p * kPerProducer + i);
    }));
  }
  CHECK(grove::joinall(gs, 60s));
  int wrong = 0;
  for (int n : seen) wrong += n != 1;
  CHECK(wrong == 0);
  CHECK(q.empty());
}

// From a thread-pool worker, an item handed to a parked getter could never reach it:
// refused before the queue changes.
GROVE_TEST("Queue::put_nowait from a thread-pool worker while a getter waits is a usage error and adds nothing") {
  grove::Queue<int> q;
  std::optional<int> got;
  auto g = grove::spawn([&] { got = q.get(); });
  grove::yield();
  CHECK_THROWS_AS(grove::run_in_thread([&] { q.put_nowait(1); }), grove::UsageError);
  CHECK(q.size() == 0);
  CHECK(q.unfinished_tasks() == 0);
  q.put_nowait(2);
  CHECK(g.join(5s));
  CHECK(got == 2);
  if (!g.dead()) g.kill();
}

GROVE_TEST("PriorityQueue::put_nowait from a thread-pool worker while a getter waits is a usage error and adds nothing") {
  grove::PriorityQueue<int> q;
  std::optional<int> got;
  auto g = grove::spawn([&] { got = q.get(); });
  grove::yield();
  CHECK_THROWS_AS(grove::run_in_thread([&] { q.put_nowait(1); }), grove::UsageError);
  CHECK(q.size() == 0);
  q.put_nowait(2);
  CHECK(g.join(5s));
  CHECK(got == 2);
  if (!g.dead()) g.kill();
}

GROVE_TEST("Queue::get_nowait from a thread-pool worker while a putter waits is a usage error and takes nothing") {
  grove::Queue<int> q(1);
  q.put(1);
  bool put = false;
  auto p = grove::spawn([&] { put = q.put(2); });
  grove::yield();
  CHECK_THROWS_AS(grove::run_in_thread([&] { return q.get_nowait(); }), grove::UsageError);
  CHECK(q.size() == 1);
  CHECK(q.get() == 1);
  CHECK(p.join(5s));
  CHECK(put);
  CHECK(q.get() == 2);
  if (!p.dead()) p.kill();
}

// Destroying a Queue unlinks its waiters: a timed get then ends by its timeout
// (checked under ASan: nothing points into the freed Queue).
GROVE_TEST("destroying a Queue while a green thread waits in get with a timeout leaves nothing dangling") {
  std::optional<grove::Queue<int>> q(std::in_place);
  bool empty = false;
  auto b = grove::spawn([&] { empty = !q->get(20ms).has_value(); });
  grove::yield();
  q.reset();
  b.join();
  CHECK(empty);
}

GROVE_TEST("Queue put, get and peek from another OS thread with nobody waiting are usage errors and change nothing") {
  grove::Queue<int> q;
  q.put(1);  // used here first: it belongs to this OS thread
  const std::string msg = grove::test::usage_error_on_other_thread([&] { q.put(2); });
  CHECK(msg.find("grove::Queue::put") != std::string::npos);
  CHECK(msg.find("another OS thread") != std::string::npos);
  CHECK(grove::test::usage_error_on_other_thread([&] { q.put_nowait(2); }) != "");
  CHECK(grove::test::usage_error_on_other_thread([&] { (void)q.get_nowait(); }) != "");
  CHECK(grove::test::usage_error_on_other_thread([&] { (void)q.peek_nowait(); }) != "");
  CHECK(grove::test::usage_error_on_other_thread([&] { q.task_done(); }) != "");
  CHECK(q.size() == 1);
  CHECK(q.unfinished_tasks() == 1);
  CHECK(q.get() == 1);  // still works on its own OS thread
  q.task_done();
  CHECK(q.join(0ms));
}
