// grove/thread_pool.hpp: run blocking functions on OS worker threads while only the
// calling green thread waits.
//
//   auto text = grove::run_in_thread([&] { return read_whole_file(path); });
//
// The calling green thread parks; other green threads keep running. The worker's
// return value comes back, or its exception is rethrown in the caller. Completions
// reach the hub through one libev async watcher per hub; a burst of completions costs
// one wake-up of the hub, not one each.
//
// Cancellation contract: a worker cannot be interrupted. If the waiting green thread
// is killed, or its grove::Timeout expires, while the function runs, the kill /
// timeout completes only after the function has returned: then GreenletExit /
// TimeoutError is raised in the caller and the result is dropped. So the function may
// safely use anything on the caller's stack (capture by reference), and nothing it
// uses is freed under it. The price: such a kill waits for the function. If the OS
// thread exits while one of its green threads waits here (it is abandoned), the
// function still runs to its end and its result is dropped.
//
// Kinds of work and their bounds: every job has a JobKind (users' jobs kUser, grove's
// file calls kFile, DNS lookups kDns), and a pool runs at most limit(kind) jobs of a
// kind at once; the others of that kind wait in their own queue while jobs of other
// kinds pass them. By default only kDns is bounded below the pool's size, to half of
// it: a lookup is the one job whose caller may leave (resolve's timeout) while the
// worker stays busy, so hung lookups would otherwise take every worker and stop file
// reads and run_in_thread. ThreadPool::set_limit changes a bound.
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

#include <grove/export.hpp>

namespace grove {

namespace detail {

// One call in flight: lives on the waiting green thread's stack.
struct GROVE_API ThreadJob {
  virtual void execute() noexcept = 0;  // runs on a worker
  void* inbox = nullptr;                // the submitting hub's completion inbox
  void* waiter = nullptr;               // the parked green thread
  ThreadJob* next = nullptr;            // worker queue / inbox list link
  bool completed = false;               // set on the hub's thread
  std::exception_ptr error;

 protected:
  ~ThreadJob() = default;
};

template <class R, class F>
struct TypedThreadJob final : ThreadJob {
  explicit TypedThreadJob(F& f) : fn(f) {}
  void execute() noexcept override {
    try {
      if constexpr (std::is_void_v<R>) {
        std::invoke(fn);
      } else {
        result.emplace(std::invoke(fn));
      }
    } catch (...) {
      error = std::current_exception();
    }
  }
  F& fn;
  std::conditional_t<std::is_void_v<R>, bool, std::optional<R>> result{};
};

}  // namespace detail

// What a thread-pool job does, for the pool's per-kind bounds (see the top of
// grove/thread_pool.hpp).
enum class JobKind : unsigned char {
  kUser,  // run_in_thread, ThreadPool::run without a kind
  kFile,  // grove::File's calls (grove/file.hpp)
  kDns,   // grove::net::resolve's getaddrinfo
};
// The number of JobKind values (the pool keeps a queue and a bound per kind).
inline constexpr std::size_t kJobKinds = 3;

// A fixed set of OS worker threads that run blocking functions while only the calling
// green thread parks (see the comment at the top of grove/thread_pool.hpp and its
// cancellation contract). Thread-safe: green threads of any number of OS threads may
// share one pool.
class GROVE_API ThreadPool {
 public:
  // Starts `threads` worker threads (at least 1). std::system_error if a thread
  // cannot be started.
  explicit ThreadPool(std::size_t threads);
  // Finishes the queued calls, then joins the workers. Must not be destroyed while
  // green threads wait on it.
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Runs fn() on a worker and parks the calling green thread until it returns; gives
  // back its value or rethrows its exception. Like every grove call that parks, the
  // first one on an OS thread (main, a std::thread) creates its hub and parks its root
  // green thread. Called in a job of any ThreadPool (nested run_in_thread) it runs
  // fn() inline, on that worker: a worker waiting for a full pool could wait for
  // itself. UsageError on the hub. See the cancellation contract above: if the caller is killed or its Timeout
  // expires meanwhile, GreenletExit / TimeoutError is raised only after fn returned,
  // and the result is dropped. An interrupt already pending on entry is raised at
  // once, and fn never runs.
  template <class F>
  std::invoke_result_t<F&> run(F&& fn) {
    return run(JobKind::kUser, std::forward<F>(fn));
  }
  // As run(fn), counted as a job of `kind` (at most limit(kind) of them run at once).
  template <class F>
  std::invoke_result_t<F&> run(JobKind kind, F&& fn) {
    using R = std::invoke_result_t<F&>;
    detail::TypedThreadJob<R, std::remove_reference_t<F>> job(fn);
    if (!submit_and_wait(job, true, kind)) return std::invoke(fn);  // no hub on this thread
    if (job.error) std::rethrow_exception(job.error);
    if constexpr (!std::is_void_v<R>) return std::move(*job.result);
  }

  // For code that must not throw through C frames (monkey's libc hooks): as run(),
  // but fn must not throw, and a kill or Timeout that lands meanwhile is not raised:
  // it stays pending, for the next grove call that may throw. Same contract: returns
  // only after fn returned. On an OS thread without a hub (one grove does not run),
  // on the hub, or in a job, it runs fn() inline.
  template <class F>
  void run_nothrow(F&& fn) noexcept {
    run_nothrow(JobKind::kUser, std::forward<F>(fn));
  }
  // As run_nothrow(fn), counted as a job of `kind`.
  template <class F>
  void run_nothrow(JobKind kind, F&& fn) noexcept {
    detail::TypedThreadJob<void, std::remove_reference_t<F>> job(fn);
    if (!submit_and_wait(job, false, kind)) std::invoke(fn);
  }

  // At most `n` jobs of `kind` run at once (n from 1 to size(), else UsageError);
  // the others wait for one of them to finish. Takes effect for the next job taken.
  void set_limit(JobKind kind, std::size_t n);
  // The bound of `kind`: size() for kUser and kFile, size() / 2 (at least 1) for kDns
  // unless set_limit changed it. (A pool of one worker thus leaves no worker out of
  // reach of lookups: give the default pool at least 2, GROVE_THREADPOOL_SIZE.)
  std::size_t limit(JobKind kind) const noexcept;

  // The number of worker threads.
  std::size_t size() const noexcept;
  // Calls queued or running right now (from every hub).
  std::size_t pending() const noexcept;

 private:
  // Queues the job and parks until it completed; false (nothing queued) if the
  // calling thread has no hub. Raises a pending kill / timeout after completion
  // unless !raise (then it never throws).
  bool submit_and_wait(detail::ThreadJob& job, bool raise = true);
  bool submit_and_wait(detail::ThreadJob& job, bool raise, JobKind kind);

  struct Impl;
  Impl* impl_;
};

// The process-wide pool run_in_thread() uses: created on first use with
// GROVE_THREADPOOL_SIZE workers (default 10).
GROVE_API ThreadPool& default_thread_pool();

// default_thread_pool().run(fn): parks the calling green thread while fn runs on a
// worker; errors and cancellation as ThreadPool::run().
template <class F>
std::invoke_result_t<F&> run_in_thread(F&& fn) {
  return default_thread_pool().run(std::forward<F>(fn));
}

}  // namespace grove
