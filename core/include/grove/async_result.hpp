// grove/async_result.hpp: AsyncResult<T>, a value or an exception delivered once
// (a future that green threads park on).
//
//   grove::AsyncResult<int> r;
//   grove::spawn([&] { r.set(compute()); });
//   int v = r.get();               // parks until set, then the value (or rethrows)
#pragma once

#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include <grove/duration.hpp>
#include <grove/errors.hpp>
#include <grove/event.hpp>

namespace grove {

// A value (or exception) set once and awaited by any number of green threads (see the
// comment at the top of grove/async_result.hpp). A Waitable. For the green threads of
// one OS thread (no locking): it belongs to the OS thread that first sets it or waits
// on it, and those calls from another OS thread throw UsageError and change nothing
// (ready(), successful() and exception() are plain reads, not checked: from another OS
// thread their answer is undefined). Neither copyable nor movable.
template <class T>
class AsyncResult : public Waitable {
 public:
  // Not set yet.
  AsyncResult() = default;
  AsyncResult(const AsyncResult&) = delete;
  AsyncResult& operator=(const AsyncResult&) = delete;

  // Stores the value and wakes every waiter. Does not park. Setting twice (value or
  // exception) is a UsageError and changes nothing; so is setting it from another OS
  // thread than the AsyncResult's (a run_in_thread worker: return the value from the
  // worker's function instead).
  template <class U = T>
    requires(!std::is_void_v<T>)
  void set(U&& value) {
    check_unset("grove::AsyncResult::set");
    value_.emplace(std::forward<U>(value));
    publish("grove::AsyncResult::set");
  }
  // For AsyncResult<void>: marks it set and wakes every waiter. Does not park;
  // UsageError if it was set already, or as set(value) from another OS thread.
  void set()
    requires std::is_void_v<T>
  {
    check_unset("grove::AsyncResult::set");
    publish("grove::AsyncResult::set");
  }
  // Stores an exception that get() will rethrow, and wakes every waiter. Does not
  // park; UsageError if it was set already, or as set(value) from another OS thread.
  void set_exception(std::exception_ptr e) {
    check_unset("grove::AsyncResult::set_exception");
    error_ = std::move(e);
    publish("grove::AsyncResult::set_exception");
  }

  // True once set (with a value or an exception).
  bool ready() const override { return done_.is_set(); }
  // True once set with a value.
  bool successful() const noexcept { return done_.is_set() && !error_; }
  // The stored exception, or null.
  std::exception_ptr exception() const noexcept { return error_; }

  // Parks until set (returns at once if it is); returns whether it was set before
  // `timeout`. UsageError on the hub; GreenletExit / TimeoutError if interrupted
  // (nothing changes); UsageError from another OS thread than the AsyncResult's.
  bool wait(std::optional<Duration> timeout = std::nullopt) {
    done_.check_thread("grove::AsyncResult::wait");
    return done_.wait(timeout);
  }

  // Parks until set, then returns a copy of the value or rethrows the exception.
  // With a timeout, throws TimeoutError (source() is nullptr) if it passes first.
  // Parks and fails as wait(); any number of green threads may get() the same value.
  T get(std::optional<Duration> timeout = std::nullopt) const {
    done_.check_thread("grove::AsyncResult::get");
    if (!const_cast<Event&>(done_).wait(timeout)) throw TimeoutError(nullptr, "grove::AsyncResult::get: timed out");
    if (error_) std::rethrow_exception(error_);
    if constexpr (!std::is_void_v<T>) return *value_;
  }

  // Waitable: notified when it is set.
  detail::ObserverList& observers() const override { return done_.observers(); }

 private:
  void check_unset(const char* what) const {
    done_.check_thread(what);
    if (done_.is_set()) throw UsageError("grove::AsyncResult: set twice");
  }
  // Marks it set and wakes the waiters; if that is refused (UsageError: a waiter of
  // another OS thread's hub, see detail/wait_queue.hpp), forgets what set() stored, so
  // that nothing changes.
  void publish(const char* what) {
    try {
      done_.set_as(what);
    } catch (...) {
      if constexpr (!std::is_void_v<T>) value_.reset();
      error_ = nullptr;
      throw;
    }
  }
  struct Empty {};
  std::conditional_t<std::is_void_v<T>, Empty, std::optional<T>> value_;
  std::exception_ptr error_;
  Event done_;
};

}  // namespace grove
