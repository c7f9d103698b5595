// grove/spawn_on.hpp: spawning a green thread on another hub, from any OS thread.
//
//   grove::HubThread worker;
//   grove::RemoteGreenThread<int> g = grove::spawn_on(worker.hub(), [](int x) { return x * 2; }, 21);
//   int v = g.get();   // 42: parks this green thread only (or blocks a plain OS thread)
//
// The green thread runs on the target hub (queued through its inbox, started after
// its next poll) and never moves. Its RemoteGreenThread<T> handle works from any hub
// and any OS thread: join(), get(), kill(), ready(). A waiting green thread parks on
// its own hub, and the wake crosses through that hub's inbox (one ev_async, batched);
// a plain OS thread blocks on a condition variable. If the target hub's OS thread
// exits before the green thread finished (it is abandoned, as at any thread exit),
// every waiter wakes with HubExited naming the hub.
//
// A GreenThread<T> (grove/green_thread.hpp) stays hub-bound and lock-free; this handle
// pays a mutex per call for working everywhere.
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include <grove/detail/cross_wait.hpp>
#include <grove/duration.hpp>
#include <grove/errors.hpp>
#include <grove/green_thread.hpp>
#include <grove/hub_ref.hpp>

namespace grove {

namespace detail {

// What every RemoteGreenThread<T> of one green thread shares (core/src/sync/remote_green_thread.cpp).
struct GROVE_API RemoteStateBase : ExitHook {
  enum class Phase : std::uint8_t { kQueued, kRunning, kDone, kHubExited };

  explicit RemoteStateBase(HubRef h) : hub(std::move(h)) {}
  virtual ~RemoteStateBase();
  RemoteStateBase(const RemoteStateBase&) = delete;
  RemoteStateBase& operator=(const RemoteStateBase&) = delete;

  // On the target hub: the green thread was spawned (kills it if a kill came first).
  void started(GreenThreadHandle g) noexcept;
  // On the target hub: it ended (value stored by the caller under mu, or error / killed).
  void complete(std::unique_lock<std::mutex>& lk, std::exception_ptr e, bool was_killed) noexcept;
  void hub_exited() noexcept override;

  // Anywhere: waits until done; false on timeout; HubExited if the hub exited first.
  bool wait(const Duration* timeout, const char* what);
  // Anywhere: delivers a kill (queued if the green thread has not been spawned yet).
  void request_kill();
  // After wait() returned true: rethrows the error or GreenThreadKilled (lk held).
  void rethrow_if_failed(const char* what) const;

  std::mutex mu;
  CrossWaitList waiters;
  Phase phase = Phase::kQueued;
  bool killed = false;
  bool kill_requested = false;
  std::exception_ptr error;
  GreenThreadHandle target;  // while running
  const HubRef hub;
};

template <class T>
struct RemoteState final : RemoteStateBase {
  using RemoteStateBase::RemoteStateBase;
  std::conditional_t<std::is_void_v<T>, bool, std::optional<T>> value{};
};

// Inside the spawned green thread's function object: destroyed on its hub when the
// function object is (after it ran, or when it was killed before starting), it marks
// the handle killed unless the function stored a result.
template <class T>
struct RemoteFinisher {
  std::shared_ptr<RemoteState<T>> st;
  explicit RemoteFinisher(std::shared_ptr<RemoteState<T>> s) noexcept : st(std::move(s)) {}
  RemoteFinisher(RemoteFinisher&&) noexcept = default;
  RemoteFinisher(const RemoteFinisher&) = delete;
  ~RemoteFinisher() {
    if (!st) return;
    std::unique_lock<std::mutex> lk(st->mu);
    if (st->phase < RemoteStateBase::Phase::kDone) st->complete(lk, nullptr, true);
  }
};

template <class R, class F, class... Args>
struct SpawnOnEntry final : InboxEntry {
  SpawnOnEntry(std::shared_ptr<RemoteState<R>> s, F&& f, Args&&... a)
      : st(std::move(s)), call(std::forward<F>(f), std::forward<Args>(a)...) {}

  void run() noexcept override {
    try {
      auto g = grove::spawn([fin = RemoteFinisher<R>(st), c = std::move(call)]() mutable {
        try {
          if constexpr (std::is_void_v<R>) {
            std::apply([](auto& fn, auto&... a) { std::invoke(std::move(fn), std::move(a)...); }, c);
            std::unique_lock<std::mutex> lk(fin.st->mu);
            fin.st->complete(lk, nullptr, false);
          } else {
            R v = std::apply([](auto& fn, auto&... a) -> R { return std::invoke(std::move(fn), std::move(a)...); }, c);
            std::unique_lock<std::mutex> lk(fin.st->mu);
            fin.st->value.emplace(std::move(v));
            fin.st->complete(lk, nullptr, false);
          }
        } catch (const GreenletExit&) {
          throw;  // the finisher records the kill
        } catch (...) {
          // Kept for the handle's get() (not logged by this hub).
          std::unique_lock<std::mutex> lk(fin.st->mu);
          fin.st->complete(lk, std::current_exception(), false);
        }
      });
      st->started(std::move(g));
    } catch (...) {
      std::unique_lock<std::mutex> lk(st->mu);  // no stack or memory for it
      st->complete(lk, std::current_exception(), false);
    }
    delete this;
  }
  void drop() noexcept override {
    st->hub_exited();
    delete this;
  }

  std::shared_ptr<RemoteState<R>> st;
  std::tuple<std::decay_t<F>, std::decay_t<Args>...> call;
};

}  // namespace detail

// A handle to a green thread running on some hub, usable from any hub and any OS
// thread (see the comment at the top of grove/spawn_on.hpp). Copyable (shared).
template <class T>
class RemoteGreenThread {
 public:
  // The function's return type.
  using value_type = T;
  // An empty handle (every call but operator bool is a UsageError).
  RemoteGreenThread() noexcept = default;
  // Shares `st` (spawn_on() makes handles this way).
  explicit RemoteGreenThread(std::shared_ptr<detail::RemoteState<T>> st) noexcept : st_(std::move(st)) {}

  // Waits until the green thread is dead (it returned, threw or was killed). A green
  // thread parks only itself; a plain OS thread blocks. GreenletExit / TimeoutError if
  // the waiting green thread is interrupted (the target keeps running); HubExited if
  // the target's hub exited first; UsageError on an empty handle, on the hub itself,
  // or when the green thread joins itself.
  void join() const { st()->wait(nullptr, "grove::RemoteGreenThread::join"); }
  // As join(), but gives up after `timeout`; returns whether it is dead.
  bool join(Duration timeout) const { return st()->wait(&timeout, "grove::RemoteGreenThread::join"); }

  // Joins, then returns a copy of the value (moves a move-only one out, once), or
  // rethrows the exception the function threw, or GreenThreadKilled if it was killed.
  T get() const {
    st()->wait(nullptr, "grove::RemoteGreenThread::get");
    return take();
  }
  // As get(), but TimeoutError (source() nullptr) if `timeout` passes first.
  T get(Duration timeout) const {
    if (!st()->wait(&timeout, "grove::RemoteGreenThread::get")) {
      throw TimeoutError(nullptr, "grove::RemoteGreenThread::get: timed out");
    }
    return take();
  }

  // Delivers a kill (GreenletExit in the green thread at its current or next blocking
  // point, or never running it if it has not started) and waits until it is dead.
  // Errors as join(); an interrupted caller leaves the kill delivered.
  void kill() const {
    st()->request_kill();
    join();
  }
  // As kill(), waiting at most `timeout`; returns whether it is dead.
  bool kill(Duration timeout) const {
    st()->request_kill();
    return join(timeout);
  }
  // Delivers the kill and returns at once.
  void kill_nowait() const { st()->request_kill(); }

  // True once it is dead. False if its hub exited while it was alive (see join()).
  bool ready() const {
    std::lock_guard<std::mutex> lk(st()->mu);
    return st_->phase == detail::RemoteStateBase::Phase::kDone;
  }
  // True if it is dead and returned normally.
  bool successful() const {
    std::lock_guard<std::mutex> lk(st()->mu);
    return st_->phase == detail::RemoteStateBase::Phase::kDone && !st_->error && !st_->killed;
  }
  // The hub it runs on.
  HubRef hub() const { return st()->hub; }

  // True unless empty.
  explicit operator bool() const noexcept { return st_ != nullptr; }

 private:
  detail::RemoteState<T>* st() const {
    if (!st_) throw UsageError("grove::RemoteGreenThread: empty handle");
    return st_.get();
  }
  T take() const {
    std::lock_guard<std::mutex> lk(st_->mu);
    st_->rethrow_if_failed("grove::RemoteGreenThread::get");
    if constexpr (!std::is_void_v<T>) {
      if constexpr (std::is_copy_constructible_v<T>) {
        return *st_->value;
      } else {
        if (!st_->value) throw UsageError("grove::RemoteGreenThread::get: move-only value was already taken");
        T v = std::move(*st_->value);
        st_->value.reset();
        return v;
      }
    }
  }

  std::shared_ptr<detail::RemoteState<T>> st_;
};

// Spawns std::invoke(fn, args...) (decayed copies) as a green thread on `hub`, from any
// OS thread, and returns its handle at once. The green thread starts after the target
// hub's next poll. HubExited if the hub's OS thread has exited; UsageError on an empty
// HubRef; std::bad_alloc if the request cannot be allocated (a stack that cannot be
// mapped on the target fails the handle: get() rethrows that).
template <class F, class... Args>
RemoteGreenThread<spawn_result_t<F, Args...>> spawn_on(const HubRef& hub, F&& fn, Args&&... args) {
  using R = spawn_result_t<F, Args...>;
  static_assert(!std::is_reference_v<R>, "grove::spawn_on: the function must not return a reference");
  auto st = std::make_shared<detail::RemoteState<R>>(hub);
  auto* e = new detail::SpawnOnEntry<R, F, Args...>(st, std::forward<F>(fn), std::forward<Args>(args)...);
  bool posted = false;
  try {
    posted = detail::post_entry(hub, e, "grove::spawn_on");
  } catch (...) {
    delete e;
    throw;
  }
  if (!posted) {
    delete e;
    throw HubExited("grove::spawn_on: " + hub.name() + " has exited");
  }
  return RemoteGreenThread<R>(std::move(st));
}

}  // namespace grove
