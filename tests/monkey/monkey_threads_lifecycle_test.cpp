// monkey_threads_lifecycle_test.cpp: pthreads made green (threads area): creating,
// joining, detaching, exiting, identity, keys, once, names, yield, and what stays real.
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include <grove/monkey.hpp>

#include "hub.hpp"
#include "monkey_util.hpp"

namespace {

const bool g_patched_at_start = [] {
  grove::monkey::patch_all();  // threads included
  return true;
}();

pid_t tid() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

int os_threads() {
  FILE* f = std::fopen("/proc/self/status", "r");
  char line[256];
  int n = -1;
  while (f && std::fgets(line, sizeof line, f)) {
    if (std::sscanf(line, "Threads: %d", &n) == 1) break;
  }
  if (f) std::fclose(f);
  return n;
}

// Every green thread of this OS thread's hub has ended (the root alone is left).
void check_clean() {
  grove::detail::Hub* hub = grove::detail::Hub::current();
  REQUIRE(hub != nullptr);
  CHECK(hub->live_count() == 0);
}

}  // namespace

TEST_CASE("patch_all() includes threads; patch_all_except_threads() leaves pthreads OS threads") {
  REQUIRE(g_patched_at_start);
  CHECK(grove::monkey::threads_patched());
  grove::monkey::unpatch_all();
  grove::monkey::patch_all_except_threads();
  CHECK(grove::monkey::sockets_patched());
  CHECK(grove::monkey::time_patched());
  CHECK(grove::monkey::dns_patched());
  CHECK_FALSE(grove::monkey::threads_patched());
  const pid_t me = tid();
  pid_t other = me;
  std::thread t([&] { other = tid(); });
  t.join();
  CHECK(other != me);  // an OS thread of its own
  grove::monkey::patch_all();
  CHECK(grove::monkey::threads_patched());
  std::thread g([&] { other = tid(); });
  g.join();
  CHECK(other == me);  // a green thread of this OS thread
}

TEST_CASE("std::thread made with threads patched is a green thread of the caller's OS thread") {
  REQUIRE(g_patched_at_start);
  const int before = os_threads();
  const pid_t me = tid();
  const std::thread::id main_id = std::this_thread::get_id();
  std::atomic<int> same_os_thread{0}, own_id{0}, running{0}, max_running{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 50; ++i) {
    ts.emplace_back([&] {
      if (tid() == me) ++same_os_thread;
      if (std::this_thread::get_id() != main_id) ++own_id;
      max_running = std::max(max_running.load(), ++running);
      ::usleep(20000);  // parks: the others run meanwhile
      --running;
    });
  }
  CHECK(os_threads() == before);
  const double t0 = grove::test::now_s();
  for (auto& t : ts) t.join();
  CHECK(grove::test::now_s() - t0 < 0.5);  // 50 sleeps of 20 ms, concurrent
  CHECK(same_os_thread == 50);
  CHECK(own_id == 50);
  CHECK(max_running == 50);
  CHECK(os_threads() == before);
  check_clean();
}

TEST_CASE("pthread_join returns the value of the start routine, or of pthread_exit, which unwinds that green thread only") {
  static std::atomic<int> destroyed{0};
  struct Guard {
    ~Guard() { ++destroyed; }
  };
  pthread_t a, b;
  REQUIRE(pthread_create(&a, nullptr, [](void*) -> void* { return reinterpret_cast<void*>(7); }, nullptr) == 0);
  REQUIRE(pthread_create(
              &b, nullptr,
              [](void*) -> void* {
                Guard g;
                [] {
                  Guard inner;
                  pthread_exit(reinterpret_cast<void*>(42));
                }();
                return nullptr;  // never reached
              },
              nullptr) == 0);
  void* va = nullptr;
  void* vb = nullptr;
  CHECK(pthread_join(a, &va) == 0);
  CHECK(pthread_join(b, &vb) == 0);
  CHECK(va == reinterpret_cast<void*>(7));
  CHECK(vb == reinterpret_cast<void*>(42));
  CHECK(destroyed == 2);  // both destructors ran on the way out
  check_clean();
}

TEST_CASE("pthread_detach lets a green thread run to its end; joining a detached one is EINVAL") {
  static std::atomic<bool> ran{false};
  pthread_t t;
  REQUIRE(pthread_create(&t, nullptr, [](void*) -> void* {
    ::usleep(1000);
    ran = true;
    return nullptr;
  }, nullptr) == 0);
  CHECK(pthread_detach(t) == 0);
  CHECK(pthread_detach(t) == EINVAL);
  CHECK(pthread_join(t, nullptr) == EINVAL);
  for (int i = 0; i < 100 && !ran; ++i) ::usleep(1000);
  CHECK(ran);
  check_clean();
}

TEST_CASE("pthread_self names the green thread; pthread_equal compares; the root keeps its real pthread_t") {
  static pthread_t seen;
  const pthread_t root = pthread_self();
  CHECK(pthread_equal(root, pthread_self()));
  pthread_t t;
  REQUIRE(pthread_create(&t, nullptr, [](void*) -> void* {
    seen = pthread_self();
    return nullptr;
  }, nullptr) == 0);
  REQUIRE(pthread_join(t, nullptr) == 0);
  CHECK(pthread_equal(seen, t));
  CHECK(!pthread_equal(seen, root));
  CHECK(pthread_self() == root);
  check_clean();
}

TEST_CASE("pthread_join of itself is EDEADLK; tryjoin is EBUSY while it runs; timedjoin times out") {
  static pthread_t self_seen;
  static int self_join = 0;
  pthread_t t;
  REQUIRE(pthread_create(&t, nullptr, [](void*) -> void* {
    self_seen = pthread_self();
    self_join = pthread_join(self_seen, nullptr);
    ::usleep(50000);
    return nullptr;
  }, nullptr) == 0);
  CHECK(pthread_tryjoin_np(t, nullptr) == EBUSY);
  timespec until;
  ::clock_gettime(CLOCK_REALTIME, &until);
  until.tv_nsec += 10 * 1000 * 1000;
  if (until.tv_nsec >= 1000000000) {
    until.tv_sec += 1;
    until.tv_nsec -= 1000000000;
  }
  CHECK(pthread_timedjoin_np(t, nullptr, &until) == ETIMEDOUT);
  CHECK(self_join == EDEADLK);
  CHECK(pthread_join(t, nullptr) == 0);
  check_clean();
}

TEST_CASE("thread-specific values are per green thread, and their destructors run when it ends") {
  static pthread_key_t key;
  static std::atomic<int> destroyed{0};
  REQUIRE(pthread_key_create(&key, [](void* v) {
    delete static_cast<int*>(v);
    ++destroyed;
  }) == 0);
  REQUIRE(pthread_setspecific(key, nullptr) == 0);  // the root's own (glibc's) value
  static std::atomic<int> own{0};
  std::vector<pthread_t> ts(10);
  for (int i = 0; i < 10; ++i) {
    REQUIRE(pthread_create(&ts[i], nullptr, [](void* arg) -> void* {
      const int i = static_cast<int>(reinterpret_cast<std::intptr_t>(arg));
      if (pthread_getspecific(key) == nullptr) {
        pthread_setspecific(key, new int(i));
      }
      ::usleep(1000);  // the others set theirs meanwhile
      if (*static_cast<int*>(pthread_getspecific(key)) == i) ++own;
      return nullptr;
    }, reinterpret_cast<void*>(static_cast<std::intptr_t>(i))) == 0);
  }
  for (pthread_t t : ts) REQUIRE(pthread_join(t, nullptr) == 0);
  CHECK(own == 10);
  CHECK(destroyed == 10);
  CHECK(pthread_getspecific(key) == nullptr);
  CHECK(pthread_key_delete(key) == 0);
  check_clean();
}

TEST_CASE("pthread_once runs its routine once, and callers wait green while the routine parks") {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  static std::atomic<int> runs{0}, after{0};
  std::vector<pthread_t> ts(8);
  for (auto& t : ts) {
    REQUIRE(pthread_create(&t, nullptr, [](void*) -> void* {
      pthread_once(&once, [] {
        ::usleep(20000);  // parks inside the routine
        ++runs;
      });
      if (runs == 1) ++after;
      return nullptr;
    }, nullptr) == 0);
  }
  for (pthread_t t : ts) REQUIRE(pthread_join(t, nullptr) == 0);
  CHECK(runs == 1);
  CHECK(after == 8);  // nobody returned from pthread_once before the routine ended
  check_clean();
}

TEST_CASE("pthread_setname_np names the green thread (getname_np; ERANGE past 15 bytes)") {
  static char inside[16];
  pthread_t t;
  REQUIRE(pthread_create(&t, nullptr, [](void*) -> void* {
    pthread_setname_np(pthread_self(), "conn-7");
    pthread_getname_np(pthread_self(), inside, sizeof inside);
    ::usleep(1000);
    return nullptr;
  }, nullptr) == 0);
  CHECK(pthread_setname_np(t, "a-name-that-is-too-long") == ERANGE);
  ::usleep(200);  // let it start and name itself
  char out[16] = {};
  CHECK(pthread_getname_np(t, out, sizeof out) == 0);
  CHECK(std::string(out) == "conn-7");
  REQUIRE(pthread_join(t, nullptr) == 0);
  CHECK(std::string(inside) == "conn-7");
  check_clean();
}

TEST_CASE("attributes: detach state and stack size are honoured") {
  static std::atomic<bool> done{false};
  pthread_attr_t attr;
  REQUIRE(pthread_attr_init(&attr) == 0);
  REQUIRE(pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0);
  REQUIRE(pthread_attr_setstacksize(&attr, 1024 * 1024) == 0);
  pthread_t t;
  REQUIRE(pthread_create(&t, &attr, [](void*) -> void* {
    volatile char big[512 * 1024];  // far beyond grove's default 64 KiB
    for (std::size_t i = 0; i < sizeof big; i += 4096) big[i] = 1;
    ::usleep(1000);
    done = big[4096] == 1;
    return nullptr;
  }, nullptr) == 0);
  pthread_attr_destroy(&attr);
  CHECK(pthread_join(t, nullptr) == EINVAL);  // detached
  for (int i = 0; i < 200 && !done; ++i) ::usleep(1000);
  CHECK(done);
  check_clean();
}

TEST_CASE("sched_yield in a green thread lets the other ready green threads run") {
  static std::vector<int> order;
  order.clear();
  auto body = [](void* arg) -> void* {
    for (int i = 0; i < 3; ++i) {
      order.push_back(static_cast<int>(reinterpret_cast<std::intptr_t>(arg)));
      sched_yield();
    }
    return nullptr;
  };
  pthread_t a, b;
  REQUIRE(pthread_create(&a, nullptr, body, reinterpret_cast<void*>(1)) == 0);
  REQUIRE(pthread_create(&b, nullptr, body, reinterpret_cast<void*>(2)) == 0);
  REQUIRE(pthread_join(a, nullptr) == 0);
  REQUIRE(pthread_join(b, nullptr) == 0);
  CHECK(order == std::vector<int>{1, 2, 1, 2, 1, 2});
  check_clean();
}

TEST_CASE("real_thread and CPU affinity make OS threads; such a thread's own std::thread makes it a hub") {
  const pid_t me = tid();
  pid_t worker_tid = 0, child_tid = 0;
  bool had_hub = true, has_hub = false;
  std::thread real = grove::monkey::real_thread([&] {
    worker_tid = tid();
    had_hub = grove::detail::Hub::current() != nullptr;
    std::thread child([&] { child_tid = tid(); });  // the first one: this OS thread gets a hub
    has_hub = grove::detail::Hub::current() != nullptr;
    child.join();
  });
  real.join();
  CHECK(worker_tid != me);
  CHECK(!had_hub);
  CHECK(has_hub);
  CHECK(child_tid == worker_tid);

  static pid_t pinned_tid = 0;
  pthread_attr_t attr;
  REQUIRE(pthread_attr_init(&attr) == 0);
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  CPU_SET(0, &cpus);
  REQUIRE(pthread_attr_setaffinity_np(&attr, sizeof cpus, &cpus) == 0);
  pthread_t t;
  REQUIRE(pthread_create(&t, &attr, [](void*) -> void* {
    pinned_tid = tid();
    return nullptr;
  }, nullptr) == 0);
  pthread_attr_destroy(&attr);
  REQUIRE(pthread_join(t, nullptr) == 0);
  CHECK(pinned_tid != me);
  check_clean();
}

TEST_CASE("an OS thread may join a green thread, and its pthread_join waits for it") {
  static std::atomic<bool> joined{false};
  static int join_result = -1;
  static void* value = nullptr;
  pthread_t green;
  REQUIRE(pthread_create(&green, nullptr, [](void*) -> void* {
    ::usleep(20000);
    return reinterpret_cast<void*>(5);
  }, nullptr) == 0);
  std::thread real = grove::monkey::real_thread([green] {
    join_result = pthread_join(green, &value);
    joined = true;
  });
  for (int i = 0; i < 2000 && !joined; ++i) ::usleep(1000);  // parks: the green thread runs
  real.join();
  CHECK(join_result == 0);
  CHECK(value == reinterpret_cast<void*>(5));
  check_clean();
}

TEST_CASE("pthread_getattr_np gives the green stack; pthread_kill(t, 0) tells whether it runs; pthread_cancel is ENOTSUP") {
  static bool stack_ok = false;
  pthread_t t;
  REQUIRE(pthread_create(&t, nullptr, [](void*) -> void* {
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
      void* lo = nullptr;
      std::size_t size = 0;
      pthread_attr_getstack(&attr, &lo, &size);
      const char here = 0;
      stack_ok = &here > static_cast<char*>(lo) && &here < static_cast<char*>(lo) + size && size >= 128 * 1024;
      pthread_attr_destroy(&attr);
    }
    ::usleep(5000);
    return nullptr;
  }, nullptr) == 0);
  CHECK(pthread_kill(t, 0) == 0);
  CHECK(pthread_cancel(t) == ENOTSUP);
  ::usleep(20000);  // it ends, not yet joined
  CHECK(pthread_kill(t, 0) == ESRCH);
  REQUIRE(pthread_join(t, nullptr) == 0);
  CHECK(stack_ok);
  check_clean();
}
