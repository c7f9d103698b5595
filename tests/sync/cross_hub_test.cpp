// cross_hub_test.cpp: grove::mt::Channel, Queue, Event and AsyncResult between green
// threads on several hubs and plain OS threads: exactly-once delivery under load,
// parking only the caller, timeouts, and a kill racing a hand-over.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <grove/hub_thread.hpp>
#include <grove/mt/async_result.hpp>
#include <grove/mt/channel.hpp>
#include <grove/mt/event.hpp>
#include <grove/mt/queue.hpp>
#include <grove/spawn_on.hpp>

#include "grove_test.hpp"

using namespace std::chrono_literals;

namespace {

constexpr int kHubs = 4;
constexpr int kPerHub = 20000;    // values each hub's producer sends
constexpr int kPerPlain = 5000;   // values each plain producer thread sends
constexpr int kTotal = kHubs * kPerHub + 2 * kPerPlain;

// Producers on 4 hubs and 2 plain threads; consumers: 2 green threads per hub and 2
// plain threads. Every value must arrive exactly once, within a time bound.
template <class Ch>
void exactly_once_under_load(Ch& ch) {
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::unique_ptr<grove::HubThread>> hubs;
  for (int i = 0; i < kHubs; ++i) hubs.push_back(std::make_unique<grove::HubThread>());
  constexpr int kConsumers = kHubs * 2 + 2;
  std::vector<std::vector<int>> got(kConsumers);
  auto consume = [&ch](std::vector<int>& out) {
    for (;;) {
      const int v = ch.get();
      if (v < 0) return;
      out.push_back(v);
    }
  };
  std::vector<grove::RemoteGreenThread<void>> green;
  for (int i = 0; i < kHubs; ++i) {
    for (int j = 0; j < 2; ++j) green.push_back(grove::spawn_on(hubs[i]->hub(), consume, std::ref(got[i * 2 + j])));
  }
  std::vector<std::thread> plain;
  for (int j = 0; j < 2; ++j) plain.emplace_back(consume, std::ref(got[kHubs * 2 + j]));
  std::vector<grove::RemoteGreenThread<void>> producers;
  for (int i = 0; i < kHubs; ++i) {
    producers.push_back(grove::spawn_on(hubs[i]->hub(), [&ch, i] {
      for (int k = 0; k < kPerHub; ++k) ch.put(i * kPerHub + k);
    }));
  }
  std::vector<std::thread> plain_producers;
  for (int j = 0; j < 2; ++j) {
    plain_producers.emplace_back([&ch, j] {
      for (int k = 0; k < kPerPlain; ++k) ch.put(kHubs * kPerHub + j * kPerPlain + k);
    });
  }
  for (auto& p : producers) p.join();
  for (auto& t : plain_producers) t.join();
  for (int c = 0; c < kConsumers; ++c) ch.put(-1);  // one end mark per consumer
  for (auto& g : green) g.join();
  for (auto& t : plain) t.join();
  hubs.clear();
  const auto elapsed = std::chrono::steady_clock::now() - t0;

  std::vector<int> all;
  for (auto& v : got) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  CHECK(all.size() == static_cast<std::size_t>(kTotal));
  bool each_once = all.size() == static_cast<std::size_t>(kTotal);
  for (int k = 0; each_once && k < kTotal; ++k) each_once = all[static_cast<std::size_t>(k)] == k;
  CHECK(each_once);
  CHECK(elapsed < 60s);
  // Each plain producer's values come out in its order for a consumer (FIFO per side).
}

}  // namespace

GROVE_TEST("mt::Channel (unbuffered): 4 hubs and 2 plain threads, every value delivered exactly once") {
  grove::mt::Channel<int> ch;
  exactly_once_under_load(ch);
}

GROVE_TEST("mt::Channel (buffered) and mt::Queue (bounded, unbounded): every value delivered exactly once") {
  grove::mt::Channel<int> buffered(16);
  exactly_once_under_load(buffered);
  grove::mt::Queue<int> bounded(8);
  exactly_once_under_load(bounded);
  grove::mt::Queue<int> unbounded;
  exactly_once_under_load(unbounded);
}

GROVE_TEST("a green thread waiting on an mt::Channel parks only itself") {
  grove::mt::Channel<int> ch;
  int ticks = 0;
  auto ticker = grove::spawn([&] {
    for (int i = 0; i < 5; ++i) {
      grove::sleep(2ms);
      ++ticks;
    }
  });
  std::thread plain([&] {
    std::this_thread::sleep_for(30ms);
    ch.put(9);
  });
  CHECK(ch.get() == 9);
  plain.join();
  ticker.join();
  CHECK(ticks == 5);
}

GROVE_TEST("a cross-hub receive times out: get(timeout), a grove::Timeout, and on a plain thread") {
  grove::mt::Channel<int> ch;
  CHECK_FALSE(ch.get(10ms).has_value());
  {
    grove::Timeout t(10ms);
    CHECK_THROWS_AS(ch.get(), grove::TimeoutError);
  }
  std::optional<int> plain_got = 1;
  std::thread plain([&] { plain_got = ch.get(10ms); });
  plain.join();
  CHECK_FALSE(plain_got.has_value());
  int v = 3;
  CHECK_FALSE(ch.try_put(v));  // nobody is left waiting
  grove::mt::Queue<int> q(1);
  CHECK(q.put(1));
  CHECK_FALSE(q.put(2, 10ms));
  CHECK(q.get() == 1);
}

GROVE_TEST("a kill racing a cross-hub send loses no value and delivers none twice") {
  grove::mt::Channel<int> ch;
  constexpr int kValues = 400;
  grove::HubThread sender_hub;
  auto sender = grove::spawn_on(sender_hub.hub(), [&] {
    for (int k = 0; k < kValues; ++k) ch.put(k);
  });
  std::vector<int> got;
  const auto t0 = std::chrono::steady_clock::now();
  for (int round = 0; !sender.ready() && round < 100000 && std::chrono::steady_clock::now() - t0 < 60s; ++round) {
    auto receiver = grove::spawn([&] {
      for (;;) got.push_back(ch.get());  // no blocking call between get() and the push
    });
    grove::sleep(std::chrono::microseconds(50 * (round % 7)));
    receiver.kill();
  }
  sender.join();  // an unbuffered put() returns once a receiver took the value
  for (;;) {
    auto v = ch.try_get();
    if (!v) break;
    got.push_back(*v);
  }
  std::sort(got.begin(), got.end());
  REQUIRE(got.size() == static_cast<std::size_t>(kValues));
  for (int k = 0; k < kValues; ++k) CHECK(got[static_cast<std::size_t>(k)] == k);
}

GROVE_TEST("a value handed over at the moment its receiver is killed is returned, and the kill comes after") {
  grove::mt::Channel<int> ch;
  std::vector<int> got;
  auto receiver = grove::spawn([&] {
    for (;;) got.push_back(ch.get());  // no blocking call between get() and the push
  });
  grove::sleep(2ms);  // the receiver waits in get()
  // A plain thread hands it 7 and returns (a getter waited); this OS thread blocks in
  // join(), so the receiver's hub has not yet run the wake when the kill lands.
  std::thread plain([&] { ch.put(7); });
  plain.join();
  receiver.kill();
  CHECK(got == std::vector<int>{7});
  CHECK(receiver.killed());
  // The same with a Timeout: the value is taken, the timeout raised at the next get().
  std::vector<int> got2;
  auto timed = grove::spawn([&] {
    grove::Timeout t(5ms);
    try {
      for (;;) got2.push_back(ch.get());
    } catch (const grove::TimeoutError&) {
      got2.push_back(-1);
    }
  });
  grove::sleep(1ms);
  std::thread plain2([&] {
    ch.put(8);
    std::this_thread::sleep_for(10ms);  // the Timeout expires meanwhile, in the hub's next poll
  });
  plain2.join();
  timed.join();
  CHECK(got2 == std::vector<int>{8, -1});
}

GROVE_TEST("a receiver abandoned when its hub exited is skipped: the value goes to the next receiver") {
  grove::mt::Channel<int> ch;
  auto hub = std::make_unique<grove::HubThread>();
  std::atomic<bool> waiting{false};
  auto abandoned = grove::spawn_on(hub->hub(), [&] {
    waiting = true;
    return ch.get();  // still parked here when its hub's thread exits
  });
  for (int i = 0; i < 5000 && !waiting; ++i) grove::sleep(1ms);
  grove::sleep(2ms);
  hub.reset();  // the root is stopped; the receiver is abandoned, still linked in ch
  CHECK_THROWS_AS(abandoned.get(), grove::HubExited);
  int v = 5;
  CHECK_FALSE(ch.try_put(v));  // nobody alive waits: not taken
  CHECK(v == 5);
  auto next = grove::spawn([&] { return ch.get(); });
  grove::sleep(1ms);
  CHECK(ch.put(6, 1s));
  CHECK(next.get() == 6);
}

GROVE_TEST("close() wakes waiters on other hubs and plain threads with ChannelClosed; buffered items are still got") {
  grove::mt::Channel<int> ch;
  grove::HubThread other;
  auto getter_there = grove::spawn_on(other.hub(), [&] {
    try {
      return std::to_string(ch.get());
    } catch (const grove::ChannelClosed& e) {
      return std::string(e.what());
    }
  });
  std::string plain_msg;
  std::thread plain([&] {
    try {
      plain_msg = std::to_string(ch.get());
    } catch (const grove::ChannelClosed& e) {
      plain_msg = e.what();
    }
  });
  grove::sleep(20ms);  // both getters wait
  ch.close();
  plain.join();
  CHECK(getter_there.get().find("closed") != std::string::npos);
  CHECK(plain_msg.find("closed") != std::string::npos);
  CHECK(ch.closed());
  CHECK_THROWS_AS(ch.put(2), grove::ChannelClosed);

  grove::mt::Channel<int> lonely;  // a putter waiting for a getter that never comes
  auto putter = grove::spawn([&] {
    try {
      lonely.put(1);
      return std::string("taken");
    } catch (const grove::ChannelClosed& e) {
      return std::string(e.what());
    }
  });
  grove::sleep(5ms);
  std::thread closer([&] { lonely.close(); });
  closer.join();
  CHECK(putter.get().find("closed") != std::string::npos);

  grove::mt::Queue<int> q;
  q.put(1);
  q.put(2);
  q.close();
  CHECK(q.get() == 1);  // what was queued before close() is still got
  CHECK(q.get() == 2);
  CHECK_THROWS_AS(q.get(), grove::ChannelClosed);
  CHECK_FALSE(q.try_get().has_value());
}

GROVE_TEST("mt::Event set by a plain thread wakes green threads on two hubs and a plain waiter") {
  grove::mt::Event ev;
  grove::HubThread other;
  auto there = grove::spawn_on(other.hub(), [&] { return ev.wait(10s); });
  auto here = grove::spawn([&] { return ev.wait(10s); });
  bool plain_woke = false;
  std::thread waiter([&] { plain_woke = ev.wait(10s); });
  grove::sleep(10ms);
  std::thread setter([&] { ev.set(); });
  CHECK(there.get());
  CHECK(here.get());
  waiter.join();
  setter.join();
  CHECK(plain_woke);
  CHECK(ev.is_set());
  ev.clear();
  CHECK_FALSE(ev.wait(5ms));
}

GROVE_TEST("mt::AsyncResult set on a library's callback thread wakes the green thread waiting for it") {
  grove::mt::AsyncResult<std::string> r;
  std::thread callback([&] {
    std::this_thread::sleep_for(5ms);
    r.set("row 1");
  });
  CHECK(r.get(10s) == "row 1");
  callback.join();
  CHECK_THROWS_AS(r.set("again"), grove::UsageError);
  grove::mt::AsyncResult<int> failed;
  std::thread t([&] { failed.set_exception(std::make_exception_ptr(std::runtime_error("driver error"))); });
  t.join();
  CHECK_THROWS_WITH_AS(failed.get(), "driver error", std::runtime_error);
  grove::mt::AsyncResult<void> never;
  CHECK_THROWS_AS(never.get(5ms), grove::TimeoutError);
}
