// grove/mt/async_result.hpp: grove::mt::AsyncResult<T>, a value (or exception) set once
// on any OS thread and awaited by green threads on any hub and by plain OS threads.
//
// A library's callback thread sets it; the green thread waiting for it parks only
// itself and wakes through its hub's inbox. grove::AsyncResult (grove/async_result.hpp)
// is the hub-bound, lock-free one.
#pragma once

#include <exception>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>

#include <grove/detail/cross_wait.hpp>
#include <grove/duration.hpp>
#include <grove/errors.hpp>

namespace grove::mt {

// A value or exception set once, awaited from any hub or OS thread (see the comment
// at the top of grove/mt/async_result.hpp). Neither copyable nor movable.
template <class T>
class AsyncResult {
 public:
  AsyncResult() = default;
  AsyncResult(const AsyncResult&) = delete;
  AsyncResult& operator=(const AsyncResult&) = delete;

  // Stores the value and wakes every waiter. Any OS thread; never waits. UsageError
  // if it was set already (nothing changes).
  template <class U = T>
    requires(!std::is_void_v<T>)
  void set(U&& value) {
    std::lock_guard<std::mutex> lk(mu_);
    check_unset();
    value_.emplace(std::forward<U>(value));
    publish();
  }
  // For AsyncResult<void>.
  void set()
    requires std::is_void_v<T>
  {
    std::lock_guard<std::mutex> lk(mu_);
    check_unset();
    publish();
  }
  // Stores an exception get() rethrows, and wakes every waiter. UsageError if set already.
  void set_exception(std::exception_ptr e) {
    std::lock_guard<std::mutex> lk(mu_);
    check_unset();
    error_ = std::move(e);
    publish();
  }

  // True once set (value or exception).
  bool ready() const {
    std::lock_guard<std::mutex> lk(mu_);
    return done_;
  }

  // Waits until set; returns whether it was before `timeout`. GreenletExit /
  // TimeoutError if the waiting green thread is interrupted; UsageError on the hub.
  bool wait(std::optional<Duration> timeout = std::nullopt) {
    std::unique_lock<std::mutex> lk(mu_);
    return wait_locked(lk, timeout);
  }
  // Waits until set, then returns a copy of the value or rethrows the exception;
  // TimeoutError (source() nullptr) if `timeout` passes first. Errors as wait().
  T get(std::optional<Duration> timeout = std::nullopt) {
    std::unique_lock<std::mutex> lk(mu_);
    if (!wait_locked(lk, timeout)) throw TimeoutError(nullptr, "grove::mt::AsyncResult::get: timed out");
    if (error_) std::rethrow_exception(error_);
    if constexpr (!std::is_void_v<T>) return *value_;
  }

 private:
  void check_unset() const {
    if (done_) throw UsageError("grove::mt::AsyncResult: set twice");
  }
  void publish() noexcept {
    done_ = true;
    detail::cross_grant_all(waiters_);
  }
  bool wait_locked(std::unique_lock<std::mutex>& lk, std::optional<Duration> timeout) {
    while (!done_) {
      detail::CrossWaiter w;
      if (!detail::cross_wait(lk, waiters_, w, "mt::AsyncResult::wait", timeout ? &*timeout : nullptr)) return done_;
    }
    return true;
  }
  struct Empty {};
  mutable std::mutex mu_;
  bool done_ = false;
  std::conditional_t<std::is_void_v<T>, Empty, std::optional<T>> value_;
  std::exception_ptr error_;
  detail::CrossWaitList waiters_;
};

}  // namespace grove::mt
