// signal_test.cpp: grove::signal_handler, grove::wait_signal, grove::interrupt_on_sigint
// (grove/signal.hpp).
//
// A separate executable: dispositions are process-wide. The process signals itself
// (kill(getpid(), ...)), spacing the signals so the kernel does not merge them. A signal
// sent while grove watches nothing would take its default disposition (SIGUSR1 ends the
// process), so each case sends only signals it is watching. Every wait is bounded.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <chrono>
#include <cstring>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <grove/hub_thread.hpp>
#include <grove/mt/event.hpp>
#include <grove/signal.hpp>
#include <grove/spawn_on.hpp>

#include "grove_test.hpp"

using namespace std::chrono_literals;

namespace {

void send(int signo) { REQUIRE(::kill(::getpid(), signo) == 0); }

// Sleeps in steps until pred() or `limit`; returns pred().
template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds limit = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred() && std::chrono::steady_clock::now() < deadline) grove::sleep(1ms);
  return pred();
}

using Handler = void (*)(int);
std::uintptr_t addr(Handler h) { return reinterpret_cast<std::uintptr_t>(h); }
// The handler installed for `signo` now, as a number (doctest prints numbers).
std::uintptr_t current_handler(int signo) {
  struct sigaction sa;
  ::sigaction(signo, nullptr, &sa);
  return addr(sa.sa_handler);
}
const std::uintptr_t kDefault = addr(SIG_DFL);

// How many OS threads the process has now.
std::size_t os_threads() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

extern "C" void previous_handler(int) {}

}  // namespace

GROVE_TEST("a signal handler's function runs in a new green thread, once per signal that arrives") {
  int runs = 0;
  std::vector<std::uint64_t> ids;
  auto h = grove::signal_handler(SIGUSR1, [&] {
    ++runs;
    ids.push_back(grove::current().id());
  });
  CHECK(h.active());
  CHECK(h.signo() == SIGUSR1);
  for (int i = 1; i <= 3; ++i) {
    send(SIGUSR1);
    CHECK(wait_until([&] { return runs == i; }));
    grove::sleep(10ms);  // no second run of one signal
    CHECK(runs == i);
  }
  REQUIRE(ids.size() == 3);
  for (const auto id : ids) CHECK(id != 0);  // a green thread, not the root
  CHECK(ids[0] != ids[1]);                   // a new one each time
  CHECK(ids[1] != ids[2]);
}

GROVE_TEST("several handlers of one signal each run; a cancelled one does not") {
  int a = 0, b = 0, c = 0;
  auto ha = grove::signal_handler(SIGUSR1, [&] { ++a; });
  auto hb = grove::signal_handler(SIGUSR1, [&] { ++b; });
  auto hc = grove::signal_handler(SIGUSR2, [&] { ++c; });
  send(SIGUSR1);
  CHECK(wait_until([&] { return a == 1 && b == 1; }));
  hb.cancel();
  CHECK(!hb.active());
  send(SIGUSR1);
  CHECK(wait_until([&] { return a == 2; }));
  grove::sleep(10ms);
  CHECK(b == 1);
  CHECK(c == 0);  // another signal's handler is not told
  send(SIGUSR2);
  CHECK(wait_until([&] { return c == 1; }));
  CHECK(a == 2);
}

GROVE_TEST("a handler cancelled right after its signal arrived does not run") {
  auto keep = grove::signal_handler(SIGUSR1, [] {});  // keeps the disposition
  int runs = 0;
  auto h = grove::signal_handler(SIGUSR1, [&] { ++runs; });
  ::raise(SIGUSR1);  // the handler has run (this thread) by the time raise returns
  h.cancel();        // whether or not the reader has posted the run yet
  grove::sleep(30ms);
  CHECK(runs == 0);
}

GROVE_TEST("a moved handler handle keeps the registration; destroying it removes it") {
  int runs = 0;
  grove::SignalHandler outer;
  CHECK(!outer.active());
  {
    auto h = grove::signal_handler(SIGUSR1, [&] { ++runs; });
    outer = std::move(h);
    CHECK(!h.active());
  }
  CHECK(outer.active());
  send(SIGUSR1);
  CHECK(wait_until([&] { return runs == 1; }));
  outer = grove::SignalHandler();
  CHECK(current_handler(SIGUSR1) == kDefault);
}

GROVE_TEST("an exception from a handler's function is logged and the handler runs again") {
  int runs = 0;
  auto h = grove::signal_handler(SIGUSR1, [&] {
    ++runs;
    throw std::runtime_error("handler failed (expected by the test)");
  });
  send(SIGUSR1);
  CHECK(wait_until([&] { return runs == 1; }));
  grove::sleep(10ms);
  send(SIGUSR1);
  CHECK(wait_until([&] { return runs == 2; }));
}

GROVE_TEST("wait_signal returns the signal that arrived, and 0 once its timeout passes") {
  auto sender = grove::spawn([] {
    grove::sleep(20ms);
    send(SIGUSR2);
  });
  CHECK(grove::wait_signal({SIGUSR1, SIGUSR2}, 5s) == SIGUSR2);
  sender.join();
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(grove::wait_signal({SIGUSR1}, 30ms) == 0);
  CHECK(std::chrono::steady_clock::now() - t0 >= 25ms);
}

GROVE_TEST("two waiters and a handler of one signal are each told of it") {
  int handled = 0;
  auto h = grove::signal_handler(SIGUSR1, [&] { ++handled; });
  int got1 = -1, got2 = -1;
  auto w1 = grove::spawn([&] { got1 = grove::wait_signal({SIGUSR1}, 5s); });
  auto w2 = grove::spawn([&] { got2 = grove::wait_signal({SIGUSR1, SIGUSR2}, 5s); });
  grove::sleep(5ms);  // both wait
  send(SIGUSR1);
  w1.join();
  w2.join();
  CHECK(got1 == SIGUSR1);
  CHECK(got2 == SIGUSR1);
  CHECK(wait_until([&] { return handled == 1; }));
}

GROVE_TEST("a waiter killed while it waits leaves no registration behind") {
  auto w = grove::spawn([] { (void)grove::wait_signal({SIGUSR1}, 5s); });
  grove::sleep(5ms);
  CHECK(current_handler(SIGUSR1) != kDefault);
  w.kill();
  CHECK(current_handler(SIGUSR1) == kDefault);
}

GROVE_TEST("removing the last handler or waiter of a signal restores the disposition it replaced") {
  struct sigaction prev;
  std::memset(&prev, 0, sizeof prev);
  prev.sa_handler = &previous_handler;
  sigemptyset(&prev.sa_mask);
  struct sigaction original;
  REQUIRE(::sigaction(SIGUSR1, &prev, &original) == 0);
  {
    auto h1 = grove::signal_handler(SIGUSR1, [] {});
    const auto grove_handler = current_handler(SIGUSR1);
    CHECK(grove_handler != addr(&previous_handler));
    {
      auto h2 = grove::signal_handler(SIGUSR1, [] {});
      CHECK(current_handler(SIGUSR1) == grove_handler);
    }
    CHECK(current_handler(SIGUSR1) == grove_handler);  // h1 still there
  }
  CHECK(current_handler(SIGUSR1) == addr(&previous_handler));
  CHECK(grove::wait_signal({SIGUSR1}, 1ms) == 0);
  CHECK(current_handler(SIGUSR1) == addr(&previous_handler));
  ::sigaction(SIGUSR1, &original, nullptr);
}

GROVE_TEST("a signal wakes a hub blocked in epoll_wait at once, for a waiter and for a handler") {
  std::atomic<std::int64_t> sent_ns{0};
  auto at = [] { return std::chrono::steady_clock::now().time_since_epoch().count(); };
  // A plain OS thread sends it while the hub sleeps in its poll with nothing else to do.
  std::thread t([&] {
    std::this_thread::sleep_for(50ms);
    sent_ns = at();
    ::kill(::getpid(), SIGUSR1);
  });
  CHECK(grove::wait_signal({SIGUSR1}, 5s) == SIGUSR1);
  const std::int64_t waiter_ns = at() - sent_ns.load();
  t.join();
  CHECK(waiter_ns < std::chrono::nanoseconds(100ms).count());

  grove::Event ran;
  std::int64_t handler_ns = 0;
  auto h = grove::signal_handler(SIGUSR1, [&] {
    handler_ns = at() - sent_ns.load();
    ran.set();
  });
  std::thread t2([&] {
    std::this_thread::sleep_for(50ms);
    sent_ns = at();
    ::kill(::getpid(), SIGUSR1);
  });
  CHECK(ran.wait(5s));  // its timer keeps the hub in epoll_wait, not in the deadlock check
  t2.join();
  CHECK(handler_ns < std::chrono::nanoseconds(100ms).count());
}

GROVE_TEST("handlers and waiters on a HubThread's hub are told; a handler runs on the hub that registered it") {
  auto keep = grove::signal_handler(SIGUSR1, [] {});  // so that an early SIGUSR1 does not end the process
  grove::HubThread other;
  auto waiter = grove::spawn_on(other.hub(), [] { return grove::wait_signal({SIGUSR1}, 5s); });
  grove::mt::Event handled;
  std::atomic<bool> on_other{false};
  const grove::HubRef other_hub = other.hub();
  auto registered = grove::spawn_on(other.hub(), [&] {
    auto h = grove::signal_handler(SIGUSR2, [&] {
      on_other = other_hub.is_current();
      handled.set();
    });
    handled.wait(5s);
  });
  // The waiter registers on the other OS thread when it gets to it: send until it is told.
  for (int i = 0; i < 200 && !waiter.join(10ms); ++i) send(SIGUSR1);
  CHECK(waiter.get() == SIGUSR1);
  for (int i = 0; i < 200 && !handled.wait(10ms); ++i) {
    if (current_handler(SIGUSR2) != kDefault) send(SIGUSR2);  // only once registered
  }
  registered.join();
  CHECK(handled.is_set());
  CHECK(on_other.load());
  other.request_stop();
  other.join();
}

GROVE_TEST("a hub's signal handler adds no OS thread to the process: the hub itself reads the signals") {
  const std::size_t before = os_threads();
  int runs = 0;
  auto h = grove::signal_handler(SIGUSR1, [&] { ++runs; });
  CHECK(os_threads() == before);
  send(SIGUSR1);
  CHECK(wait_until([&] { return runs == 1; }));
  CHECK(os_threads() == before);
  // A green thread's wait_signal on the same hub: still none.
  auto sender = grove::spawn([] {
    grove::sleep(10ms);
    send(SIGUSR2);
  });
  CHECK(grove::wait_signal({SIGUSR2}, 5s) == SIGUSR2);
  sender.join();
  CHECK(os_threads() == before);
}

GROVE_TEST("when the hub that reads the signals exits, another hub with a handler takes over") {
  std::optional<grove::HubThread> other(std::in_place);
  std::optional<grove::SignalHandler> kept;  // outlives its hub: that hub exits while registered
  std::atomic<int> other_runs{0};
  grove::spawn_on(other->hub(), [&] { kept = grove::signal_handler(SIGUSR2, [&] { ++other_runs; }); }).join();
  int runs = 0;
  auto h = grove::signal_handler(SIGUSR1, [&] { ++runs; });  // the other hub registered first: it reads
  send(SIGUSR1);
  CHECK(wait_until([&] { return runs == 1; }));
  send(SIGUSR2);
  CHECK(wait_until([&] { return other_runs.load() == 1; }));
  other->request_stop();
  other->join();
  other.reset();
  for (int i = 2; i <= 4; ++i) {  // read by main's hub now
    send(SIGUSR1);
    CHECK(wait_until([&] { return runs == i; }));
  }
  kept.reset();  // a registration of an exited hub is removed from here
  CHECK(current_handler(SIGUSR2) == kDefault);
  send(SIGUSR1);
  CHECK(wait_until([&] { return runs == 5; }));
}

GROVE_TEST("when the reading hub's last handler goes, another hub with a handler takes over, none lost") {
  grove::HubThread other;
  grove::mt::Event drop_it, dropped;
  std::atomic<int> other_runs{0};
  auto registered = grove::spawn_on(other.hub(), [&] {
    auto mine = grove::signal_handler(SIGUSR2, [&] { ++other_runs; });
    dropped.set();  // registered (this hub reads: it registered first)
    (void)drop_it.wait(5s);
    mine.cancel();  // on its own hub, which then reads no more
  });
  REQUIRE(dropped.wait(5s));
  int runs = 0;
  auto h = grove::signal_handler(SIGUSR1, [&] { ++runs; });
  auto keep2 = grove::signal_handler(SIGUSR2, [] {});
  send(SIGUSR1);
  CHECK(wait_until([&] { return runs == 1; }));
  // Signals sent while the role moves: each is delivered once.
  drop_it.set();
  for (int i = 2; i <= 6; ++i) {
    send(SIGUSR1);
    CHECK(wait_until([&] { return runs == i; }));
  }
  registered.join();
  grove::sleep(10ms);
  CHECK(runs == 6);
  other.request_stop();
  other.join();
}

GROVE_TEST("signal_handler and wait_signal refuse what cannot be watched") {
  CHECK_THROWS_AS((void)grove::signal_handler(SIGKILL, [] {}), grove::UsageError);
  CHECK_THROWS_AS((void)grove::signal_handler(SIGSTOP, [] {}), grove::UsageError);
  CHECK_THROWS_AS((void)grove::signal_handler(SIGSEGV, [] {}), grove::UsageError);
  CHECK_THROWS_AS((void)grove::signal_handler(0, [] {}), grove::UsageError);
  CHECK_THROWS_AS((void)grove::signal_handler(NSIG, [] {}), grove::UsageError);
  CHECK_THROWS_AS((void)grove::signal_handler(SIGUSR1, std::function<void()>()), grove::UsageError);
  CHECK_THROWS_AS((void)grove::wait_signal({}), grove::UsageError);
  CHECK_THROWS_AS((void)grove::wait_signal({SIGUSR1, SIGKILL}, 1ms), grove::UsageError);
  CHECK(current_handler(SIGUSR1) == kDefault);  // nothing half-registered
}

GROVE_TEST("wait_signal on a plain OS thread (no hub) blocks it until the signal arrives") {
  auto keep = grove::signal_handler(SIGUSR1, [] {});  // so that an early SIGUSR1 does not end the process
  std::atomic<int> got{-1};
  std::thread t([&got] { got = grove::wait_signal({SIGUSR1, SIGUSR1}, 5s); });  // listed twice: once
  for (int i = 0; i < 500 && got.load() == -1; ++i) {
    send(SIGUSR1);
    grove::sleep(10ms);
  }
  t.join();
  CHECK(got.load() == SIGUSR1);
}

GROVE_TEST("a reader thread serves a plain OS thread's wait_signal only until a hub registers") {
  const std::size_t before = os_threads();
  std::atomic<int> got{-1};
  std::atomic<bool> waiting{false};
  std::thread t([&] {
    waiting = true;
    got = grove::wait_signal({SIGUSR1}, 5s);
  });
  // The waiter's thread and the reader thread ("grove-signals"): no hub has a registration.
  CHECK(wait_until([&] { return waiting.load() && os_threads() == before + 2; }));
  int runs = 0;
  auto h = grove::signal_handler(SIGUSR1, [&] { ++runs; });  // this hub reads from now on
  CHECK(os_threads() == before + 1);
  send(SIGUSR1);
  CHECK(wait_until([&] { return runs == 1 && got.load() != -1; }));
  t.join();
  CHECK(got.load() == SIGUSR1);
  CHECK(os_threads() == before);
}

GROVE_TEST("interrupt_on_sigint: Ctrl-C raises KeyboardInterrupt in main where it waits, and main's destructors run") {
  static_assert(!std::is_base_of_v<std::exception, grove::KeyboardInterrupt>);
  const std::uintptr_t before = current_handler(SIGINT);  // doctest's own
  auto ki = grove::interrupt_on_sigint();
  CHECK(ki.signo() == SIGINT);
  struct Flag {
    bool& set;
    ~Flag() { set = true; }
  };
  bool destroyed = false, caught = false, other_interrupted = false;
  auto other = grove::spawn([&] {  // another green thread is not interrupted
    try {
      grove::sleep(200ms);
    } catch (...) {
      other_interrupted = true;
    }
  });
  auto sender = grove::spawn([] {
    grove::sleep(20ms);
    send(SIGINT);
  });
  const auto t0 = std::chrono::steady_clock::now();
  try {
    Flag flag{destroyed};
    grove::sleep(5s);  // main parks here
  } catch (const grove::KeyboardInterrupt& e) {
    caught = true;
    CHECK(destroyed);
    CHECK(std::string(e.what()) == "grove::KeyboardInterrupt");
  }
  CHECK(caught);
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);
  sender.join();
  other.join();
  CHECK(!other_interrupted);
  ki.cancel();
  CHECK(current_handler(SIGINT) == before);
}

GROVE_TEST("interrupt_on_sigint: a Ctrl-C while main runs without blocking is raised at its next blocking point") {
  auto ki = grove::interrupt_on_sigint();
  ::raise(SIGINT);  // handled (its byte written) before raise returns; main does not block yet
  const auto busy_until = std::chrono::steady_clock::now() + 30ms;
  while (std::chrono::steady_clock::now() < busy_until) {
  }
  bool caught = false;
  try {
    for (int i = 0; i < 1000; ++i) grove::sleep(1ms);  // the first of these raises it
  } catch (const grove::KeyboardInterrupt&) {
    caught = true;
  }
  CHECK(caught);
}
