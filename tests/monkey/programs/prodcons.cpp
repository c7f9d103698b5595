// prodcons.cpp: producers and consumers on a bounded queue (std::mutex and two
// std::condition_variable), a std::thread pool whose tasks return std::future
// (std::packaged_task), std::async(std::launch::async), a std::promise chain and a
// std::latch. Nothing of grove's: tests/monkey/programs/run_prodcons.py runs it
// natively and under LD_PRELOAD=libgrove_monkey.so with threads patched and compares
// what it prints on stdout. On stderr: "threads <n>", the OS threads the process had
// while every thread it started was alive (from /proc/self/status).
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <future>
#include <latch>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

int os_threads() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  }
  return -1;
}

class BoundedQueue {
 public:
  explicit BoundedQueue(size_t cap) : cap_(cap) {}
  void push(long v) {
    std::unique_lock<std::mutex> lk(mu_);
    not_full_.wait(lk, [&] { return q_.size() < cap_; });
    q_.push_back(v);
    not_empty_.notify_one();
  }
  bool pop(long* v) {
    std::unique_lock<std::mutex> lk(mu_);
    not_empty_.wait(lk, [&] { return !q_.empty() || closed_; });
    if (q_.empty()) return false;
    *v = q_.front();
    q_.pop_front();
    not_full_.notify_one();
    return true;
  }
  void close() {
    std::lock_guard<std::mutex> g(mu_);
    closed_ = true;
    not_empty_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable not_full_, not_empty_;
  std::deque<long> q_;
  size_t cap_;
  bool closed_ = false;
};

class ThreadPool {
 public:
  explicit ThreadPool(int n) {
    for (int i = 0; i < n; ++i) workers_.emplace_back([this] { run(); });
  }
  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> g(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
  }
  template <class F>
  auto submit(F f) -> std::future<decltype(f())> {
    auto task = std::make_shared<std::packaged_task<decltype(f())()>>(std::move(f));
    auto fut = task->get_future();
    {
      std::lock_guard<std::mutex> g(mu_);
      jobs_.push_back([task] { (*task)(); });
    }
    cv_.notify_one();
    return fut;
  }

 private:
  void run() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return stop_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> workers_;
  bool stop_ = false;
};

}  // namespace

int main() {
  constexpr int kProducers = 8, kConsumers = 8, kItems = 5000, kPool = 16, kTasks = 200, kAsync = 16;
  // Every thread this program starts passes the first gate, then waits at the second
  // until main has read the OS thread count, so the count covers all of them.
  std::latch all_started(kProducers + kConsumers + 1);
  std::latch counted(1);

  BoundedQueue q(16);
  std::mutex sum_mu;
  long consumed_sum = 0, consumed_n = 0;
  std::vector<std::thread> producers, consumers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      all_started.arrive_and_wait();
      counted.wait();
      for (int i = 1; i <= kItems; ++i) q.push(static_cast<long>(p) * kItems + i);
    });
  }
  for (int c = 0; c < kConsumers; ++c) {
    consumers.emplace_back([&] {
      all_started.arrive_and_wait();
      counted.wait();
      long local = 0, n = 0, v;
      while (q.pop(&v)) {
        local += v;
        ++n;
      }
      std::lock_guard<std::mutex> g(sum_mu);
      consumed_sum += local;
      consumed_n += n;
    });
  }
  all_started.arrive_and_wait();
  const int during = os_threads();
  counted.count_down();
  for (auto& t : producers) t.join();
  q.close();
  for (auto& t : consumers) t.join();
  const long n_all = static_cast<long>(kProducers) * kItems;
  std::printf("queue: %ld items, sum %ld (expected %ld)\n", consumed_n, consumed_sum, n_all * (n_all + 1) / 2);

  long pool_sum = 0;
  int pool_threads = 0;
  {
    ThreadPool pool(kPool);
    std::vector<std::future<long>> fs;
    for (int t = 0; t < kTasks; ++t) {
      fs.push_back(pool.submit([t] {
        long s = 0;
        for (int i = 0; i <= t; ++i) s += i;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        return s;
      }));
    }
    pool_threads = os_threads();
    for (auto& f : fs) pool_sum += f.get();
  }
  std::printf("pool: %d tasks, sum %ld\n", kTasks, pool_sum);

  std::vector<std::future<std::string>> as;
  for (int i = 0; i < kAsync; ++i) {
    as.push_back(std::async(std::launch::async, [i] {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      std::string s = "a";  // appended: GCC 12 warns falsely (-Wrestrict) on "a" + std::string
      return s.append(std::to_string(i * i));
    }));
  }
  std::string joined;
  for (auto& f : as) joined += f.get() + " ";
  std::printf("async: %s\n", joined.c_str());

  // A relay: each thread waits for its predecessor's promise and passes the value on.
  constexpr int kRelay = 32;
  std::vector<std::promise<long>> ps(kRelay + 1);
  std::vector<std::thread> relay;
  for (int i = 0; i < kRelay; ++i) {
    relay.emplace_back([&, i] { ps[i + 1].set_value(ps[i].get_future().get() * 2 % 1000003 + i); });
  }
  ps[0].set_value(1);
  const long relayed = ps[kRelay].get_future().get();
  for (auto& t : relay) t.join();
  std::printf("relay: %ld\n", relayed);
  std::fprintf(stderr, "threads %d %d\n", during, pool_threads);
  return 0;
}
