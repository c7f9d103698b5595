// monkey_threads_sync_test.cpp: with threads patched, pthread mutexes, condition
// variables, rwlocks, semaphores, barriers, spin locks and libstdc++'s futex waits
// (std::future) park green threads instead of blocking their OS thread, keep glibc's
// semantics (EBUSY, EDEADLK, EPERM, ETIMEDOUT, recursion), and still work between a
// green thread and a real OS thread (a thread-pool worker).
#include <dlfcn.h>
#include <pthread.h>
#include <semaphore.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <future>
#include <latch>
#include <mutex>
#include <semaphore>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include <grove/hub_thread.hpp>
#include <grove/monkey.hpp>
#include <grove/spawn_on.hpp>

#include "grove_test.hpp"

using namespace std::chrono_literals;

namespace {

// Patched before the first case; the hub's inbox (an eventfd, made by the first
// green wait that may be woken from another OS thread) and the thread pool are made
// here too, so that every case starts with the same open fds.
const bool g_patched_at_start = [] {
  grove::monkey::patch_threads();
  std::mutex mu;
  mu.lock();
  auto g = grove::spawn([&] { std::lock_guard<std::mutex> l(mu); });
  grove::sleep(1ms);
  mu.unlock();
  g.join();
  grove::run_in_thread([] {});
  return true;
}();

// A green thread that counts its turns until stopped: proof that the OS thread kept
// running green threads while another one waited.
struct Ticker {
  std::atomic<bool> stop{false};
  int ticks = 0;
  grove::GreenThread<void> g = grove::spawn([this] {
    while (!stop.load()) {
      ++ticks;
      grove::sleep(1ms);
    }
  });
  int finish() {
    stop = true;
    g.join();
    return ticks;
  }
};

timespec realtime_in(double s) {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  const long ns = ts.tv_nsec + static_cast<long>(s * 1e9);
  ts.tv_sec += ns / 1000000000L;
  ts.tv_nsec = ns % 1000000000L;
  return ts;
}

}  // namespace

GROVE_TEST("a std::mutex held across a park makes the next green thread park, not the OS thread") {
  std::mutex mu;
  std::vector<int> order;
  Ticker ticker;
  auto a = grove::spawn([&] {
    std::lock_guard<std::mutex> g(mu);
    order.push_back(1);
    grove::sleep(30ms);  // parks while holding it
    order.push_back(2);
  });
  auto b = grove::spawn([&] {
    grove::sleep(5ms);
    std::lock_guard<std::mutex> g(mu);  // parks until a unlocks
    order.push_back(3);
  });
  a.join();
  b.join();
  CHECK(order == std::vector<int>{1, 2, 3});
  CHECK(ticker.finish() >= 3);  // the OS thread ran the ticker meanwhile (a busy machine gives it fewer turns)
}

GROVE_TEST("trylock is EBUSY and timedlock ETIMEDOUT while another green thread holds the mutex") {
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  auto holder = grove::spawn([&] {
    REQUIRE(pthread_mutex_lock(&mu) == 0);
    grove::sleep(50ms);
    CHECK(pthread_mutex_unlock(&mu) == 0);
  });
  grove::sleep(1ms);
  CHECK(pthread_mutex_trylock(&mu) == EBUSY);
  const timespec soon = realtime_in(0.01);
  Ticker ticker;
  CHECK(pthread_mutex_timedlock(&mu, &soon) == ETIMEDOUT);
  const timespec bad{0, 2000000000L};
  CHECK(pthread_mutex_timedlock(&mu, &bad) == EINVAL);
  const timespec later = realtime_in(5);
  CHECK(pthread_mutex_timedlock(&mu, &later) == 0);  // the holder let go within 50 ms
  CHECK(pthread_mutex_unlock(&mu) == 0);
  holder.join();
  ticker.finish();
}

GROVE_TEST("error-checking and recursive mutexes tell green threads of one OS thread apart") {
  pthread_mutexattr_t at;
  pthread_mutexattr_init(&at);
  pthread_mutexattr_settype(&at, PTHREAD_MUTEX_ERRORCHECK);
  pthread_mutex_t ec;
  pthread_mutex_init(&ec, &at);
  pthread_mutexattr_settype(&at, PTHREAD_MUTEX_RECURSIVE);
  pthread_mutex_t rec;
  pthread_mutex_init(&rec, &at);
  pthread_mutexattr_destroy(&at);

  auto a = grove::spawn([&] {
    CHECK(pthread_mutex_lock(&ec) == 0);
    CHECK(pthread_mutex_lock(&ec) == EDEADLK);
    CHECK(pthread_mutex_trylock(&ec) == EBUSY);
    CHECK(pthread_mutex_lock(&rec) == 0);
    CHECK(pthread_mutex_lock(&rec) == 0);
    CHECK(pthread_mutex_trylock(&rec) == 0);
    grove::sleep(20ms);
    CHECK(pthread_mutex_unlock(&rec) == 0);
    CHECK(pthread_mutex_unlock(&rec) == 0);
    grove::sleep(20ms);
    CHECK(pthread_mutex_unlock(&rec) == 0);  // the third: now free
    CHECK(pthread_mutex_unlock(&ec) == 0);
  });
  bool b_got_rec = false;
  auto b = grove::spawn([&] {
    grove::sleep(5ms);
    CHECK(pthread_mutex_unlock(&ec) == EPERM);   // a holds it, not b
    CHECK(pthread_mutex_unlock(&rec) == EPERM);
    CHECK(pthread_mutex_trylock(&rec) == EBUSY);  // another owner's recursive mutex
    CHECK(pthread_mutex_lock(&rec) == 0);         // parks until a's third unlock
    b_got_rec = true;
    CHECK(pthread_mutex_unlock(&rec) == 0);
  });
  a.join();
  b.join();
  CHECK(b_got_rec);
  CHECK(pthread_mutex_unlock(&ec) == EPERM);  // not held at all
  CHECK(pthread_mutex_destroy(&ec) == 0);
  CHECK(pthread_mutex_destroy(&rec) == 0);
}

GROVE_TEST("a locked mutex cannot be destroyed (EBUSY), as with glibc") {
  pthread_mutex_t mu;
  pthread_mutex_init(&mu, nullptr);
  REQUIRE(pthread_mutex_lock(&mu) == 0);
  CHECK(pthread_mutex_destroy(&mu) == EBUSY);
  CHECK(pthread_mutex_unlock(&mu) == 0);
  CHECK(pthread_mutex_destroy(&mu) == 0);
}

GROVE_TEST("a mutex shared by green threads and thread-pool workers excludes all of them") {
  std::mutex mu;
  long counter = 0;
  constexpr int kGreen = 4, kWorkers = 2, kRounds = 2000;
  std::vector<grove::GreenThread<void>> gs;
  for (int i = 0; i < kWorkers; ++i) {
    gs.push_back(grove::spawn([&] {
      grove::run_in_thread([&] {  // a real OS thread: blocks in the kernel when contended
        for (int r = 0; r < kRounds; ++r) {
          std::lock_guard<std::mutex> g(mu);
          const long v = counter;
          if (r % 64 == 0) std::this_thread::yield();
          counter = v + 1;
        }
      });
    }));
  }
  for (int i = 0; i < kGreen; ++i) {
    gs.push_back(grove::spawn([&] {
      for (int r = 0; r < kRounds; ++r) {
        std::lock_guard<std::mutex> g(mu);
        const long v = counter;
        if (r % 64 == 0) grove::sleep(0ms);  // parks holding it
        counter = v + 1;
      }
    }));
  }
  for (auto& g : gs) g.join();
  CHECK(counter == static_cast<long>(kGreen + kWorkers) * kRounds);
}

// The waker of a green waiter on another OS thread posts to the waiter's hub inbox
// while it holds the waiter table's lock for that mutex, and the hub takes its inbox's
// own lock meanwhile. Everyone walks the same 512 mutexes (two per bucket of the
// table, on average) in step, so that most locks are contended and wakes land in the
// bucket of the inbox's lock too. That was once a deadlock: with 200 rounds it hung
// 3 runs in 60, with 10 rounds and the table narrowed to two buckets 74 in 100, and
// monkey_threads_sync_one_bucket (this file with one bucket) hung every time.
GROVE_TEST("thread-pool workers waking green waiters of many mutexes do not deadlock with the hub's inbox") {
  constexpr int kMutexes = 512, kGreen = 8, kWorkers = 2, kRounds = 20;
  std::vector<std::mutex> mus(kMutexes);
  std::vector<long> counts(kMutexes, 0);
  auto walk = [&](auto&& pause) {
    for (int r = 0; r < kRounds; ++r) {
      for (int i = 0; i < kMutexes; ++i) {
        std::lock_guard<std::mutex> g(mus[i]);
        ++counts[i];
        pause();  // holding it: the others queue behind
      }
    }
  };
  std::vector<grove::GreenThread<void>> gs;
  for (int w = 0; w < kWorkers; ++w) {
    gs.push_back(grove::spawn([&] {
      grove::run_in_thread([&] { walk([] { std::this_thread::yield(); }); });
    }));
  }
  for (int k = 0; k < kGreen; ++k) {
    gs.push_back(grove::spawn([&] { walk([] { grove::sleep(0ms); }); }));
  }
  for (auto& g : gs) g.join();
  int exact = 0;
  for (long c : counts) exact += c == static_cast<long>(kWorkers + kGreen) * kRounds;
  CHECK(exact == kMutexes);
}

GROVE_TEST("green threads of two hubs share a std::mutex and a condition variable") {
  grove::HubThread other;
  std::mutex mu;
  std::condition_variable cv;
  long counter = 0;
  int turn = 0;
  constexpr int kRounds = 300;
  auto work = [&] {
    for (int r = 0; r < kRounds; ++r) {
      std::lock_guard<std::mutex> g(mu);
      const long v = counter;
      if (r % 16 == 0) grove::sleep(0ms);  // parks holding it: the other hub's waiter parks too
      counter = v + 1;
    }
  };
  auto ping = [&](int me) {  // strict alternation: every hand-off crosses hubs
    std::unique_lock<std::mutex> lk(mu);
    for (int r = 0; r < kRounds; ++r) {
      cv.wait(lk, [&] { return turn == me; });
      turn = 1 - me;
      cv.notify_all();
    }
  };
  auto remote_work = grove::spawn_on(other.hub(), work);
  auto remote_ping = grove::spawn_on(other.hub(), ping, 1);
  auto local_work = grove::spawn(work);
  ping(0);
  local_work.join();
  remote_work.join();
  remote_ping.join();
  CHECK(counter == 2L * kRounds);
  CHECK(turn == 0);
}

GROVE_TEST("a condition variable hands items between green threads and a thread-pool worker") {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int> queue;
  bool done = false;
  long sum = 0;
  Ticker ticker;
  auto consumer = grove::spawn([&] {
    std::unique_lock<std::mutex> lk(mu);
    for (;;) {
      cv.wait(lk, [&] { return !queue.empty() || done; });
      if (queue.empty()) break;
      sum += queue.back();
      queue.pop_back();
    }
  });
  auto green_producer = grove::spawn([&] {
    for (int i = 1; i <= 100; ++i) {
      {
        std::lock_guard<std::mutex> g(mu);
        queue.push_back(i);
      }
      cv.notify_one();
      if (i % 10 == 0) grove::sleep(1ms);
    }
  });
  auto os_producer = grove::spawn([&] {
    grove::run_in_thread([&] {
      for (int i = 101; i <= 200; ++i) {
        {
          std::lock_guard<std::mutex> g(mu);
          queue.push_back(i);
        }
        cv.notify_one();
      }
    });
  });
  green_producer.join();
  os_producer.join();
  {
    std::lock_guard<std::mutex> g(mu);
    done = true;
  }
  cv.notify_all();
  consumer.join();
  CHECK(sum == 200 * 201 / 2);
  CHECK(ticker.finish() > 0);
}

GROVE_TEST("a green thread wakes an OS thread waiting on a condition variable") {
  std::mutex mu;
  std::condition_variable cv;
  bool ready = false;
  auto waiter = grove::spawn([&] {
    return grove::run_in_thread([&] {
      std::unique_lock<std::mutex> lk(mu);
      return cv.wait_for(lk, 5s, [&] { return ready; });
    });
  });
  grove::sleep(20ms);
  {
    std::lock_guard<std::mutex> g(mu);
    ready = true;
  }
  cv.notify_one();
  CHECK(waiter.get());
}

GROVE_TEST("condition variable timed waits time out on both clocks without blocking the OS thread") {
  std::mutex mu;
  std::condition_variable cv;
  Ticker ticker;
  auto t0 = std::chrono::steady_clock::now();
  {
    std::unique_lock<std::mutex> lk(mu);
    CHECK(cv.wait_until(lk, std::chrono::steady_clock::now() + 30ms) == std::cv_status::timeout);  // clockwait
    CHECK(cv.wait_until(lk, std::chrono::system_clock::now() + 30ms) == std::cv_status::timeout);  // timedwait
  }
  CHECK(std::chrono::steady_clock::now() - t0 >= 55ms);
  CHECK(ticker.finish() >= 3);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_t c;
  pthread_cond_init(&c, &ca);
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  ts.tv_nsec += 10000000;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec += 1;
    ts.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&m);
  CHECK(pthread_cond_timedwait(&c, &m, &ts) == ETIMEDOUT);  // the cond's own clock
  CHECK(pthread_mutex_trylock(&m) == EBUSY);                 // held again on return
  pthread_mutex_unlock(&m);
  pthread_cond_destroy(&c);
  pthread_condattr_destroy(&ca);
}

GROVE_TEST("std::future::get parks a green thread until another sets the promise") {
  std::promise<int> p;
  std::future<int> f = p.get_future();
  Ticker ticker;
  auto setter = grove::spawn([&] {
    grove::sleep(30ms);
    p.set_value(42);
  });
  CHECK(f.get() == 42);  // libstdc++'s futex wait, through syscall()
  setter.join();
  CHECK(ticker.finish() >= 3);
  std::promise<void> never;
  auto nf = never.get_future();
  CHECK(nf.wait_for(20ms) == std::future_status::timeout);
  std::promise<int> from_os;
  auto of = from_os.get_future();
  auto os = grove::spawn([&] {
    grove::run_in_thread([&] {
      std::this_thread::sleep_for(20ms);
      from_os.set_value(7);  // a real thread's futex wake reaches the green waiter
    });
  });
  CHECK(of.get() == 7);
  os.join();
}

GROVE_TEST("std::atomic::wait, std::latch and std::counting_semaphore park green threads") {
  std::atomic<int> flag{0};
  std::latch done(2);
  std::counting_semaphore<4> sem(0);
  Ticker ticker;
  auto waiter = grove::spawn([&] {
    flag.wait(0);  // libstdc++'s futex wait (private), through syscall()
    sem.acquire();
    done.count_down();
  });
  auto poster = grove::spawn([&] {
    grove::sleep(20ms);
    flag.store(1);
    flag.notify_one();
    grove::sleep(5ms);
    sem.release();
    done.count_down();
  });
  done.wait();
  waiter.join();
  poster.join();
  CHECK(flag.load() == 1);
  CHECK(ticker.finish() >= 3);
}

GROVE_TEST("two green threads deadlocked on two std::mutex raise LoopExit naming both") {
  std::mutex m1, m2;
  grove::SpawnOptions oa;
  oa.name = "lock-a-then-b";
  grove::SpawnOptions ob;
  ob.name = "lock-b-then-a";
  auto a = grove::spawn(oa, [&] {
    m1.lock();  // left held: the root unlocks it below to end the deadlock
    grove::sleep(5ms);
    std::lock_guard<std::mutex> g2(m2);
  });
  auto b = grove::spawn(ob, [&] {
    std::lock_guard<std::mutex> g2(m2);
    grove::sleep(5ms);
    std::lock_guard<std::mutex> g1(m1);
  });
  std::string msg;
  try {
    a.join();
  } catch (const grove::LoopExit& e) {
    msg = e.what();
  }
  INFO(msg);
  CHECK(msg.find("lock-a-then-b") != std::string::npos);
  CHECK(msg.find("lock-b-then-a") != std::string::npos);
  CHECK(msg.find("pthread_mutex_lock") != std::string::npos);
  // glibc lets any thread unlock a normal mutex: b then takes m1 and finishes, which
  // releases m2 to a.
  m1.unlock();
  b.join();
  a.join();
}

GROVE_TEST("a root deadlocked in pthread_mutex_lock gets EDEADLK, and LoopExit at its next grove call") {
  pthread_mutex_t m1 = PTHREAD_MUTEX_INITIALIZER, m2 = PTHREAD_MUTEX_INITIALIZER;
  REQUIRE(pthread_mutex_lock(&m1) == 0);
  auto a = grove::spawn([&] {
    pthread_mutex_lock(&m2);
    pthread_mutex_lock(&m1);  // held by the root
    pthread_mutex_unlock(&m1);
    pthread_mutex_unlock(&m2);
  });
  grove::sleep(5ms);
  CHECK(pthread_mutex_lock(&m2) == EDEADLK);  // a holds it and waits for m1: nothing can run
  CHECK(pthread_mutex_unlock(&m1) == 0);      // lets a finish
  CHECK_THROWS_AS(a.join(), grove::LoopExit);  // the pending LoopExit, at the next grove call
  a.join();
  CHECK(pthread_mutex_trylock(&m2) == 0);
  pthread_mutex_unlock(&m2);
}

GROVE_TEST("std::shared_mutex lets green readers share and a writer exclude them") {
  std::shared_mutex sm;
  int readers_in = 0, max_readers = 0;
  bool writer_saw_readers = false;
  std::vector<grove::GreenThread<void>> gs;
  for (int i = 0; i < 3; ++i) {
    gs.push_back(grove::spawn([&] {
      std::shared_lock<std::shared_mutex> lk(sm);
      ++readers_in;
      max_readers = std::max(max_readers, readers_in);
      grove::sleep(20ms);
      --readers_in;
    }));
  }
  gs.push_back(grove::spawn([&] {
    grove::sleep(5ms);
    std::unique_lock<std::shared_mutex> lk(sm);  // parks until the readers leave
    writer_saw_readers = readers_in != 0;
  }));
  for (auto& g : gs) g.join();
  CHECK(max_readers == 3);
  CHECK_FALSE(writer_saw_readers);
  pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
  CHECK(pthread_rwlock_wrlock(&rw) == 0);
  CHECK(pthread_rwlock_wrlock(&rw) == EDEADLK);
  CHECK(pthread_rwlock_tryrdlock(&rw) == EBUSY);
  auto other = grove::spawn([&] {
    const timespec soon = realtime_in(0.01);
    return pthread_rwlock_timedrdlock(&rw, &soon);
  });
  CHECK(other.get() == ETIMEDOUT);
  CHECK(pthread_rwlock_unlock(&rw) == 0);
  CHECK(pthread_rwlock_unlock(&rw) == EPERM);
}

GROVE_TEST("an unnamed semaphore parks green waiters and is posted from any thread") {
  sem_t s;
  REQUIRE(sem_init(&s, 0, 0) == 0);
  int got = 0;
  Ticker ticker;
  auto w1 = grove::spawn([&] {
    CHECK(sem_wait(&s) == 0);
    ++got;
  });
  auto w2 = grove::spawn([&] {
    CHECK(sem_wait(&s) == 0);
    ++got;
  });
  grove::sleep(10ms);
  CHECK(got == 0);
  CHECK(sem_post(&s) == 0);
  auto os = grove::spawn([&] { grove::run_in_thread([&] { sem_post(&s); }); });
  w1.join();
  w2.join();
  os.join();
  CHECK(got == 2);
  CHECK(sem_trywait(&s) == -1);
  CHECK(errno == EAGAIN);
  const timespec soon = realtime_in(0.01);
  CHECK(sem_timedwait(&s, &soon) == -1);
  CHECK(errno == ETIMEDOUT);
  int v = -1;
  sem_post(&s);
  sem_getvalue(&s, &v);
  CHECK(v == 1);
  CHECK(ticker.finish() > 0);
  sem_destroy(&s);
}

GROVE_TEST("a barrier releases its green threads together, one of them the serial thread") {
  pthread_barrier_t b;
  REQUIRE(pthread_barrier_init(&b, nullptr, 3) == 0);
  std::atomic<int> serial{0}, passed{0};
  std::vector<grove::GreenThread<void>> gs;
  for (int i = 0; i < 3; ++i) {
    gs.push_back(grove::spawn([&, i] {
      for (int round = 0; round < 3; ++round) {
        grove::sleep(std::chrono::milliseconds(i * 3));
        const int r = pthread_barrier_wait(&b);
        if (r == PTHREAD_BARRIER_SERIAL_THREAD) ++serial; else CHECK(r == 0);
        ++passed;
      }
    }));
  }
  for (auto& g : gs) g.join();
  CHECK(serial == 3);
  CHECK(passed == 9);
  CHECK(pthread_barrier_destroy(&b) == 0);
}

GROVE_TEST("a spin lock held by a parked green thread lets the spinning one's hub run it") {
  pthread_spinlock_t sl;
  pthread_spin_init(&sl, PTHREAD_PROCESS_PRIVATE);
  bool b_in = false;
  auto a = grove::spawn([&] {
    pthread_spin_lock(&sl);
    grove::sleep(10ms);
    pthread_spin_unlock(&sl);
  });
  auto b = grove::spawn([&] {
    grove::sleep(1ms);
    pthread_spin_lock(&sl);  // would spin the OS thread forever without the hook
    b_in = true;
    pthread_spin_unlock(&sl);
  });
  a.join();
  b.join();
  CHECK(b_in);
  pthread_spin_destroy(&sl);
}

// Code that ran before the area was patched (a library's constructor, grove's own
// thread pool started early) used glibc's own rwlock and condition variable
// algorithms; the objects must still work once the hooks take over.
TEST_CASE("a rwlock and a condition variable glibc used before the switch work after it") {
  void* libc = ::dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  REQUIRE(libc != nullptr);
  using RwFn = int (*)(pthread_rwlock_t*);
  using WaitFn = int (*)(pthread_cond_t*, pthread_mutex_t*);
  using CondFn = int (*)(pthread_cond_t*);
  const auto glibc_wrlock = reinterpret_cast<RwFn>(::dlsym(libc, "pthread_rwlock_wrlock"));
  const auto glibc_rwunlock = reinterpret_cast<RwFn>(::dlsym(libc, "pthread_rwlock_unlock"));
  const auto glibc_wait = reinterpret_cast<WaitFn>(::dlsym(libc, "pthread_cond_wait"));
  const auto glibc_broadcast = reinterpret_cast<CondFn>(::dlsym(libc, "pthread_cond_broadcast"));
  REQUIRE((glibc_wrlock && glibc_rwunlock && glibc_wait && glibc_broadcast));

  // glibc's write unlock with no reader waiting leaves its write-phase bit set.
  pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
  REQUIRE(glibc_wrlock(&rw) == 0);
  REQUIRE(glibc_rwunlock(&rw) == 0);
  CHECK(pthread_rwlock_trywrlock(&rw) == 0);  // free, not "one reader"
  CHECK(pthread_rwlock_unlock(&rw) == 0);
  CHECK(pthread_rwlock_tryrdlock(&rw) == 0);
  CHECK(pthread_rwlock_trywrlock(&rw) == EBUSY);
  CHECK(pthread_rwlock_unlock(&rw) == 0);
  CHECK(pthread_rwlock_unlock(&rw) == EPERM);

  // An OS thread asleep in glibc's condition wait is woken by the hooked signal.
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t c = PTHREAD_COND_INITIALIZER;
  std::atomic<bool> go{false}, done{false};
  std::thread t = grove::monkey::real_thread([&] {
    pthread_mutex_lock(&m);
    while (!go) glibc_wait(&c, &m);
    pthread_mutex_unlock(&m);
    done = true;
  });
  for (int i = 0; i < 5000 && (__atomic_load_n(&c.__data.__wrefs, __ATOMIC_ACQUIRE) >> 3) == 0; ++i) {
    grove::sleep(1ms);  // until it sleeps in glibc's wait (__wrefs counts its waiters)
  }
  REQUIRE((__atomic_load_n(&c.__data.__wrefs, __ATOMIC_ACQUIRE) >> 3) != 0);
  pthread_mutex_lock(&m);
  go = true;
  CHECK(pthread_cond_signal(&c) == 0);
  pthread_mutex_unlock(&m);
  for (int i = 0; i < 2000 && !done; ++i) grove::sleep(1ms);
  CHECK(done);
  if (!done) {  // rescue it, so the case ends
    pthread_mutex_lock(&m);
    glibc_broadcast(&c);
    pthread_mutex_unlock(&m);
  }
  t.join();
  CHECK(pthread_cond_destroy(&c) == 0);
}
