// grove/green_thread.hpp: spawning green threads and the handles that refer to them.
//
//   auto g = grove::spawn([](int x) { grove::sleep(10ms); return x * 2; }, 21);
//   int v = g.get();           // parks the caller until g is dead, then 42
//
// A green thread runs on its own pooled stack on the calling OS thread's hub. spawn()
// does not run it: it is queued, and starts the next time the caller blocks or yields
// (as in gevent and Go). Destroying every handle does not stop it (as in gevent); it
// runs to completion, detached.
//
// Handles are reference counted and cheap to copy. A handle may be copied, moved and
// destroyed on any OS thread, as a std::shared_ptr (capturing one in a std::thread's
// lambda is fine); everything else it does (join, get, kill, ready, name, link, ...)
// belongs to the OS thread that spawned the green thread, and throws UsageError on any
// other. The green thread's stack is freed on its own OS thread once it is dead and its
// last handle is gone (a last handle dropped on another OS thread hands that to the
// hub, which frees it after its next poll).
#pragma once

#include <cstddef>
#include <functional>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include <grove/detail/green_thread_state.hpp>
#include <grove/duration.hpp>
#include <grove/errors.hpp>
#include <grove/export.hpp>
#include <grove/waitable.hpp>

namespace grove {

// Stack size used when SpawnOptions::stack_size is 0: 64 KiB of usable stack (plus a
// 16 KiB guard region). GROVE_STACK_SIZE (bytes) changes it for the whole process.
inline constexpr std::size_t kDefaultStackSize = 64 * 1024;

// Options for spawn(SpawnOptions, fn, args...); `{}` gives the defaults.
struct SpawnOptions {
  // Usable stack bytes; 0 means the default (kDefaultStackSize or GROVE_STACK_SIZE).
  // Rounded up to a power of two.
  std::size_t stack_size = 0;
  // Shown in logs, dump() and errors; empty means "GreenThread-<id>".
  std::string name;
};

// An untyped, reference-counted reference to a green thread (see the comment at the
// top of grove/green_thread.hpp): join, kill, state queries and links. GreenThread<T>
// adds get(). A Waitable, so grove::wait() / iwait() accept it. Every call that acts
// on the green thread (join, kill, set_name, link) throws UsageError on an empty
// handle; it and every query (ready(), name(), ...) throws UsageError from another OS
// thread, except id(), operator bool and ==. Copying, moving and destroying are fine
// on any OS thread. The queries never park.
class GROVE_API GreenThreadHandle : public Waitable {
 public:
  // An empty handle: refers to no green thread (operator bool is false).
  GreenThreadHandle() noexcept = default;
  // Takes a new reference to `s` (spawn() and current() make handles this way).
  explicit GreenThreadHandle(detail::GreenThreadState* s) noexcept : s_(s) {
    if (s_) detail::add_ref(s_);
  }
  // Takes over the reference a fresh green thread starts with (spawn() only).
  GreenThreadHandle(detail::AdoptRef, detail::GreenThreadState* s) noexcept : s_(s) {}
  // Another reference to the same green thread. Fine on any OS thread.
  GreenThreadHandle(const GreenThreadHandle& o) noexcept : Waitable(o), s_(o.s_) {
    if (s_) detail::add_ref(s_);
  }
  // Takes over `o`'s reference; `o` becomes empty.
  GreenThreadHandle(GreenThreadHandle&& o) noexcept : s_(o.s_) { o.s_ = nullptr; }
  // Now refers to what `o` refers to; the previous reference is dropped.
  GreenThreadHandle& operator=(GreenThreadHandle o) noexcept {
    std::swap(s_, o.s_);
    return *this;
  }
  // Drops the reference; the green thread keeps running (as in gevent, losing every
  // handle does not stop it). Fine on any OS thread.
  ~GreenThreadHandle() {
    if (s_) detail::drop_ref(s_);
  }

  // True unless the handle is empty.
  explicit operator bool() const noexcept { return s_ != nullptr; }
  // True if both refer to the same green thread (or both are empty).
  friend bool operator==(const GreenThreadHandle& a, const GreenThreadHandle& b) noexcept {
    return a.s_ == b.s_;
  }

  // Parks the caller until the green thread is dead (returns at once if it is).
  // Does not throw the green thread's exception (get() does). Throws UsageError when
  // joining yourself, a green thread of another OS thread, or when called on the hub;
  // GreenletExit / TimeoutError if the caller is killed or its own Timeout expires
  // while waiting (the target keeps running; nothing else changes).
  void join() const;
  // As join(), but gives up after `timeout`; returns whether it is dead. A timeout
  // leaves the target running.
  bool join(Duration timeout) const;

  // Raises GreenletExit inside the green thread at its current or next blocking
  // point, so its destructors run, then parks the caller until it is dead. A green
  // thread that has not started yet never runs. Killing a dead one does nothing;
  // killing yourself throws GreenletExit at once. If the caller is itself killed or
  // times out while waiting (GreenletExit / TimeoutError), the kill stays delivered:
  // the target still dies. UsageError as join().
  // A green thread that is unwinding an exception (parked in a destructor) is not
  // interrupted: the kill waits until the unwinding ends and is raised at its next
  // blocking point; killing one that is unwinding from GreenletExit already does
  // nothing more. The same holds for a grove::Timeout made before the unwinding began;
  // one made during it (in the destructor) fires there (see grove/timeout.hpp).
  void kill() const;
  // As kill(), but waits at most `timeout`; returns whether it is dead. After a
  // timeout the kill stays delivered (the target is still unwinding, e.g. parked in
  // a destructor or inside run_in_thread).
  bool kill(Duration timeout) const;
  // Delivers the kill and returns at once, without waiting. Never parks (killing
  // yourself throws GreenletExit at once). UsageError on an empty handle or from
  // another OS thread.
  void kill_nowait() const;

  // True once the green thread is dead (returned, threw, or was killed); false for
  // an empty handle. UsageError from another OS thread (as every query below but id()).
  bool ready() const override;
  // Same as ready().
  bool dead() const { return ready(); }
  // True once its function has begun running (stays false if it was killed first).
  bool started() const;
  // True if it is dead and returned normally.
  bool successful() const;
  // True if it is dead by GreenletExit (killed).
  bool killed() const;
  // The exception it died with, or null (running, returned normally, or killed:
  // GreenletExit is never stored).
  std::exception_ptr exception() const;

  // Its id: unique among the green threads of its hub, counting from 1; the root
  // is 0, and so is an empty handle. Fine on any OS thread.
  std::uint64_t id() const;
  // The name from SpawnOptions or set_name(), else "GreenThread-<id>"; "" for an
  // empty handle.
  std::string name() const;
  // Renames it (shown in logs, dump() and errors). Never parks.
  void set_name(std::string name) const;

  // Runs `callback(handle)` once the green thread is dead, in a new green thread of
  // its own (so the callback may block); immediately queued if it is dead already.
  // link_value only on success, link_exception only on failure (exception or kill).
  // A linked green thread's exception is not logged as unobserved. Never parks.
  void link(std::function<void(GreenThreadHandle)> callback) const;
  // As link(), but `callback` runs only if the green thread returned normally.
  void link_value(std::function<void(GreenThreadHandle)> callback) const;
  // As link(), but `callback` runs only if it died by an exception or a kill.
  void link_exception(std::function<void(GreenThreadHandle)> callback) const;

  // Waitable: the list notified when the green thread dies.
  detail::ObserverList& observers() const override;
  // Waitable: marks its failure as seen, so it is not logged as unobserved.
  void mark_observed() const override;
  // The internal state referred to, or nullptr; for grove's own code.
  detail::GreenThreadState* state() const noexcept { return s_; }

 protected:
  // join() on behalf of GreenThread::get() (its errors name get).
  void join_for_get() const;

  // The green thread referred to (this handle holds one reference), or nullptr.
  detail::GreenThreadState* s_ = nullptr;
};

namespace detail {

template <class R>
struct ResultSlot {
  std::optional<R> value;
};
template <>
struct ResultSlot<void> {};

template <class R, class F, class... Args>
struct Task final : GreenThreadState {
  Task(F&& f, Args&&... args) : call(std::in_place, std::forward<F>(f), std::forward<Args>(args)...) {}

  void run() override {
    if constexpr (std::is_void_v<R>) {
      std::apply([](auto& fn, auto&... a) { std::invoke(std::move(fn), std::move(a)...); }, *call);
    } else {
      result.value.emplace(std::apply(
          [](auto& fn, auto&... a) -> R { return std::invoke(std::move(fn), std::move(a)...); }, *call));
    }
  }
  void drop_call() noexcept override { call.reset(); }
  void* result_storage() noexcept override { return &result; }
  void destroy() noexcept override { this->~Task(); }

  std::optional<std::tuple<std::decay_t<F>, std::decay_t<Args>...>> call;
  ResultSlot<R> result;
};

GROVE_API void rethrow_if_failed(GreenThreadState* s);  // error, or GreenThreadKilled
GROVE_API std::size_t default_stack_size() noexcept;

}  // namespace detail

// The handle spawn() returns: a GreenThreadHandle whose get() returns the
// function's value (T may be void).
template <class T>
class GreenThread : public GreenThreadHandle {
 public:
  // The function's return type.
  using value_type = T;
  // An empty handle.
  GreenThread() noexcept = default;
  // Takes a new reference to `s`, whose result slot must hold a T (spawn() does this).
  explicit GreenThread(detail::GreenThreadState* s) noexcept : GreenThreadHandle(s) {}
  // Takes over the reference a fresh green thread starts with (spawn() only).
  GreenThread(detail::AdoptRef a, detail::GreenThreadState* s) noexcept : GreenThreadHandle(a, s) {}

  // Joins, then returns the value, or rethrows the exception the green thread died
  // with, or throws GreenThreadKilled if it was killed. A copyable value is copied
  // (get() may be called again); a move-only value is moved out, once (a second
  // get() is a UsageError). Parks as join(), with the same errors; if the caller is
  // interrupted, the value stays in place for a later get().
  T get() const {
    join_for_get();
    detail::rethrow_if_failed(s_);
    if constexpr (!std::is_void_v<T>) {
      auto* slot = static_cast<detail::ResultSlot<T>*>(s_->result_storage());
      if constexpr (std::is_copy_constructible_v<T>) {
        return *slot->value;
      } else {
        if (!slot->value) throw UsageError("grove::GreenThread::get: move-only value was already taken");
        T v = std::move(*slot->value);
        slot->value.reset();
        return v;
      }
    }
  }

  // As get(), but gives up after `timeout` with TimeoutError (source() is nullptr;
  // the green thread keeps running and its value stays for a later get()).
  T get(Duration timeout) const {
    if (!join(timeout)) throw TimeoutError(nullptr, "grove::GreenThread::get: timed out");
    return get();
  }
};

// What spawn(fn, args...) returns a GreenThread of: the result of calling fn with
// decayed copies of args.
template <class F, class... Args>
using spawn_result_t = std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>;

// spawn(options, fn, args...): runs std::invoke(fn, args...) (decayed copies) in a
// new green thread, queued to start the next time the caller blocks or yields.
// Does not park. Throws std::bad_alloc / std::system_error if no stack can be mapped,
// or what copying fn / args throws (then nothing is spawned). UsageError in a
// thread-pool job (run_in_thread): a worker never runs its hub, so the green thread
// would not run. An OS thread must run its hub for its green threads to run: one
// that spawns and then returns without parking, yielding or joining loses them, and
// its exit logs an error naming them (join what you spawn before the thread returns).
template <class F, class... Args>
GreenThread<spawn_result_t<F, Args...>> spawn(SpawnOptions options, F&& fn, Args&&... args) {
  using R = spawn_result_t<F, Args...>;
  static_assert(!std::is_reference_v<R>, "grove::spawn: the function must not return a reference");
  using TaskT = detail::Task<R, F, Args...>;
  static_assert(alignof(TaskT) <= 64, "grove::spawn: over-aligned function objects are not supported");
  detail::SpawnPlacement p = detail::allocate_green_thread(sizeof(TaskT), options.stack_size);
  TaskT* task;
  try {
    task = ::new (p.object) TaskT(std::forward<F>(fn), std::forward<Args>(args)...);
  } catch (...) {
    detail::abandon_placement(p);  // the stack goes back to the pool
    throw;
  }
  detail::start_green_thread(task, p, std::move(options.name));
  return GreenThread<R>(detail::AdoptRef{}, task);
}

// spawn(fn, args...): as above, with default SpawnOptions.
template <class F, class... Args>
  requires(!std::is_same_v<std::decay_t<F>, SpawnOptions>)
GreenThread<spawn_result_t<F, Args...>> spawn(F&& fn, Args&&... args) {
  return spawn(SpawnOptions{}, std::forward<F>(fn), std::forward<Args>(args)...);
}

// Parks the calling green thread for `d` (declared here for spawn_later(); the full
// contract is in grove/scheduler.hpp).
GROVE_API void sleep(Duration d);

// Runs `fn(args...)` in a new green thread after `delay`. The delay is spent parked
// inside the new green thread, so killing it before then means fn never runs. Does
// not park the caller; errors as spawn().
template <class F, class... Args>
GreenThread<spawn_result_t<F, Args...>> spawn_later(Duration delay, F&& fn, Args&&... args) {
  return spawn(
      [delay](std::decay_t<F> f, std::decay_t<Args>... a) {
        grove::sleep(delay);
        return std::invoke(std::move(f), std::move(a)...);
      },
      std::forward<F>(fn), std::forward<Args>(args)...);
}

}  // namespace grove
