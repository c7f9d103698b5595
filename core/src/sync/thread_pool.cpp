// thread_pool.cpp: worker threads, and the per-hub inbox their completions go to.
#include <grove/errors.hpp>
#include <grove/thread_pool.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "fork.hpp"
#include "hub.hpp"
#include "pool_worker.hpp"

namespace grove {

namespace detail {

constinit thread_local bool tls_in_pool_worker __attribute__((tls_model("initial-exec"))) = false;

// One per hub (OS thread): where workers leave finished jobs. The async watcher is
// ev_unref'd while no job is pending, so an idle inbox does not keep the loop alive,
// and ev_ref'd while some are, so the hub blocks in epoll_wait for it instead of
// spinning (the hub's deadlock check counts pending jobs separately).
//
// Lifetime: the inbox is closed at thread exit, before the hub and its loop go. A
// worker delivers and wakes the loop under mu_, so once close() has taken mu_ no worker
// touches the loop again. If jobs are still out (their green threads were abandoned
// at thread exit, parked in run_in_thread), workers will still deliver them here, so
// the inbox is then left allocated, as the hub leaves those green threads' stacks
// mapped.
class Inbox {
 public:
  explicit Inbox(Hub& hub) : hub_(hub) {
    ev_async_init(&async_, &Inbox::on_async);
    async_.data = this;
    ev_async_start(hub_.loop(), &async_);
    ev_unref(hub_.loop());
  }
  Inbox(const Inbox&) = delete;
  Inbox& operator=(const Inbox&) = delete;

  void job_submitted() {
    if (pending_++ == 0) ev_ref(hub_.loop());
    hub_.job_started();
  }

  // Called on a worker thread.
  void deliver(ThreadJob* job) {
    std::lock_guard<std::mutex> lk(mu_);
    if (closed_) return;  // the hub is gone; the job stays where it is
    job->next = done_;
    done_ = job;
    ev_async_send(hub_.loop(), &async_);  // coalesced by libev while one is pending
  }

  static Inbox& of_this_thread(Hub& hub) {
    Owner& owner = this_thread_owner();
    if (!owner.inbox) owner.inbox = new Inbox(hub);
    return *owner.inbox;
  }

  // In the child process of a fork() (core/src/fork.cpp): no worker exists there, so
  // nothing will deliver the jobs of the green threads abandoned at the fork; a worker
  // may have held mu_ at that moment. The async watcher stays (libev keeps it working).
  static void after_fork() noexcept {
    Inbox* in = this_thread_owner().inbox;
    if (!in) return;
    new (&in->mu_) std::mutex();
    in->done_ = nullptr;
    if (in->pending_ > 0) ev_unref(in->hub_.loop());  // as when the last pending job drains
    in->pending_ = 0;
  }

 private:
  struct Owner {
    Inbox* inbox = nullptr;
    ~Owner() {
      if (inbox) inbox->close();
    }
  };
  static Owner& this_thread_owner() {
    thread_local Owner owner;
    return owner;
  }

  ~Inbox() = default;

  // Thread exit: stop the watcher while the loop still exists; free the inbox unless a
  // worker may still deliver to it.
  void close() noexcept {
    {
      std::lock_guard<std::mutex> lk(mu_);
      closed_ = true;
    }
    if (pending_ == 0) ev_ref(hub_.loop());  // balance the unref before stopping
    ev_async_stop(hub_.loop(), &async_);
    if (pending_ == 0) delete this;
  }

  static void on_async(struct ev_loop*, ev_async* w, int) noexcept {
    static_cast<Inbox*>(w->data)->drain();
  }
  void drain() noexcept {
    ThreadJob* list;
    {
      std::lock_guard<std::mutex> lk(mu_);
      list = done_;
      done_ = nullptr;
    }
    while (list) {
      ThreadJob* job = list;
      list = list->next;
      job->completed = true;
      hub_.job_finished();
      if (--pending_ == 0) ev_unref(hub_.loop());
      hub_.wake(static_cast<GreenThreadState*>(job->waiter));
    }
  }

  Hub& hub_;
  ev_async async_;
  std::size_t pending_ = 0;  // submitted and not drained; only the hub's thread touches it
  std::mutex mu_;
  ThreadJob* done_ = nullptr;  // guarded by mu_
  bool closed_ = false;        // guarded by mu_
};

void thread_pool_inbox_after_fork() noexcept { Inbox::after_fork(); }

}  // namespace detail

namespace {
// ThreadPool::impl_ is replaced at most once per fork() (in the child, at first use),
// possibly while another OS thread of the child reads it.
template <class T>
T* load_impl(T* const& p) noexcept {
  return __atomic_load_n(&p, __ATOMIC_ACQUIRE);
}
}  // namespace

struct ThreadPool::Impl {
  explicit Impl(std::size_t n) : threads(n) {
    for (std::size_t& l : limit) l = n;
    limit[static_cast<std::size_t>(JobKind::kDns)] = n / 2 > 0 ? n / 2 : 1;
  }
  void start() {
    workers.reserve(threads);
    for (std::size_t i = 0; i < threads; ++i) workers.emplace_back([this] { worker(); });
  }

  // One FIFO queue per JobKind. A job's `next` links it in its kind's queue.
  struct Queue {
    detail::ThreadJob* head = nullptr;
    detail::ThreadJob* tail = nullptr;
    std::size_t running = 0;  // taken by a worker and not finished
  };

  const std::size_t threads;
  // The fork() generation it was made in: in a child process (core/src/fork.cpp) the
  // parent's workers do not exist, and its queue and mutex may be mid-use by one.
  const unsigned generation = detail::fork_generation();
  std::mutex mu;
  std::condition_variable cv;
  Queue queues[kJobKinds];         // guarded by mu
  std::size_t limit[kJobKinds]{};  // guarded by mu
  std::size_t last_taken = 0;      // guarded by mu: the kind of the last job taken
  bool stopping = false;
  std::atomic<std::size_t> pending{0};
  std::vector<std::thread> workers;

  void push(detail::ThreadJob& job, JobKind kind) {  // under mu
    Queue& q = queues[static_cast<std::size_t>(kind)];
    if (q.tail) q.tail->next = &job; else q.head = &job;
    q.tail = &job;
  }
  // A kind with a queued job and below its bound, or -1; the kinds take turns
  // (round robin from the one after the last taken), so none waits behind another's
  // backlog. Under mu.
  int eligible() const {
    for (std::size_t i = 1; i <= kJobKinds; ++i) {
      const std::size_t k = (last_taken + i) % kJobKinds;
      if (queues[k].head && queues[k].running < limit[k]) return static_cast<int>(k);
    }
    return -1;
  }
  bool all_empty() const {
    for (const Queue& q : queues) {
      if (q.head) return false;
    }
    return true;
  }

  void worker() {
    detail::tls_in_pool_worker = true;
    int done_kind = -1;  // the kind of the job this worker just finished
    for (;;) {
      detail::ThreadJob* job;
      int k;
      {
        std::unique_lock<std::mutex> lk(mu);
        if (done_kind >= 0) --queues[done_kind].running;
        cv.wait(lk, [&] { return (k = eligible()) >= 0 || (stopping && all_empty()); });
        if (k < 0) return;  // stopping and drained
        Queue& q = queues[k];
        job = q.head;
        q.head = job->next;
        if (!q.head) q.tail = nullptr;
        ++q.running;
        last_taken = static_cast<std::size_t>(k);
        // Workers that found only bounded kinds queued wait for the queues to drain.
        if (stopping && all_empty()) cv.notify_all();
      }
      done_kind = k;
      job->execute();
      pending.fetch_sub(1, std::memory_order_relaxed);
      static_cast<detail::Inbox*>(job->inbox)->deliver(job);
    }
  }
};

ThreadPool::ThreadPool(std::size_t threads) : impl_(new Impl(threads == 0 ? 1 : threads)) { impl_->start(); }

ThreadPool::~ThreadPool() {
  // Made before a fork() and never used in this child: its workers are the parent's.
  if (impl_->generation != detail::fork_generation()) return;
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  for (auto& t : impl_->workers) t.join();
  delete impl_;
}

std::size_t ThreadPool::size() const noexcept { return load_impl(impl_)->threads; }
std::size_t ThreadPool::pending() const noexcept {
  const Impl* impl = load_impl(impl_);
  if (impl->generation != detail::fork_generation()) return 0;  // the parent's calls
  return impl->pending.load(std::memory_order_relaxed);
}

void ThreadPool::set_limit(JobKind kind, std::size_t n) {
  const std::size_t k = static_cast<std::size_t>(kind);
  Impl* impl = load_impl(impl_);
  if (k >= kJobKinds || n == 0 || n > impl->threads) {
    throw UsageError("grove::ThreadPool::set_limit: the bound must be from 1 to the pool's size (" +
                     std::to_string(impl->threads) + "), got " + std::to_string(n));
  }
  {
    std::lock_guard<std::mutex> lk(impl->mu);
    impl->limit[k] = n;
  }
  impl->cv.notify_all();  // a raised bound may let queued jobs start
}

std::size_t ThreadPool::limit(JobKind kind) const noexcept {
  const std::size_t k = static_cast<std::size_t>(kind);
  if (k >= kJobKinds) return 0;
  Impl* impl = load_impl(impl_);
  std::lock_guard<std::mutex> lk(impl->mu);
  return impl->limit[k];
}

bool ThreadPool::submit_and_wait(detail::ThreadJob& job, bool raise) {
  return submit_and_wait(job, raise, JobKind::kUser);
}

bool ThreadPool::submit_and_wait(detail::ThreadJob& job, bool raise, JobKind kind) {
  // In a job: inline. A worker waiting for another job of a full pool could wait for
  // itself, and it runs no hub anyway (pool_worker.hpp).
  if (detail::tls_in_pool_worker) return false;
  detail::Hub* hub = detail::Hub::current();
  if (!hub) {
    // run_nothrow (libc hooks) on an OS thread grove does not run: inline, as the call
    // it replaces. run() creates this thread's hub, as any grove call that parks does.
    if (!raise) return false;
    hub = &detail::Hub::get();
  }
  if (!raise && hub->on_hub()) return false;  // nothrow on the hub: run inline
  hub->check_may_block("run_in_thread");
  detail::GreenThreadState* me = hub->running();
  if (raise && me->pending) hub->raise_pending(me);  // an interrupt already due: do not start

  Impl* impl = load_impl(impl_);
  if (impl->generation != detail::fork_generation()) [[unlikely]] {
    // First use in the child of a fork(): leave the parent's state alone (leaked) and
    // start as many workers of this process's own. Another OS thread may race us.
    auto* fresh = new Impl(impl->threads);
    for (std::size_t k = 0; k < kJobKinds; ++k) fresh->limit[k] = impl->limit[k];  // the parent's bounds
    if (__atomic_compare_exchange_n(&impl_, &impl, fresh, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
      fresh->start();
      impl = fresh;
    } else {
      delete fresh;  // `impl` is the other thread's
    }
  }

  detail::Inbox& inbox = detail::Inbox::of_this_thread(*hub);
  job.inbox = &inbox;
  job.waiter = me;
  job.next = nullptr;
  inbox.job_submitted();
  impl->pending.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lk(impl->mu);
    impl->push(job, kind);
  }
  impl->cv.notify_one();

  // The job lives on this stack, and the worker may use the caller's stack too: do not
  // leave before it completed, whatever interrupts arrive (they stay pending).
  while (!job.completed) hub->park_nothrow("run_in_thread");
  if (raise && me->pending) hub->raise_pending(me);
  return true;
}

ThreadPool& default_thread_pool() {
  static ThreadPool pool([] {
    const char* v = std::getenv("GROVE_THREADPOOL_SIZE");
    long n = v ? std::strtol(v, nullptr, 10) : 0;
    return static_cast<std::size_t>(n > 0 ? n : 10);
  }());
  return pool;
}

}  // namespace grove
