// grove/local.hpp: grove::local<T>, a value per green thread (gevent.local, a
// thread_local for green threads).
//
//   grove::local<std::string> request_id;
//   grove::spawn([&] { request_id.set("abc"); handle(); });  // handle() sees "abc"
//
// Each green thread sees its own value, created on first access from the initializer
// (T{} by default). The value is destroyed when its green thread dies, on that green
// thread's stack, right after its function returned (the OS thread's original
// context: when its hub is destroyed). A destructor must not park. Destroying the
// local<T> itself does not destroy the values already made; each goes with its green
// thread. Only the calling green thread's value is reachable; no locking is needed.
// A local<T> belongs to no OS thread: the green threads of every OS thread may use
// the same one, each with its own value (on an OS thread without a hub, such as a
// thread-pool worker, the value belongs to the thread itself and lasts until it exits).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <utility>

#include <grove/export.hpp>

namespace grove {

namespace detail {
// The running green thread's value for `key`, or nullptr.
GROVE_API void* local_find(std::uint64_t key) noexcept;
// Stores `value` for `key` in the running green thread (the previous value, if any,
// is destroyed); `destroy(value)` runs when the green thread dies.
GROVE_API void local_store(std::uint64_t key, void* value, void (*destroy)(void*));
// Destroys and forgets the running green thread's value for `key`, if any.
GROVE_API void local_erase(std::uint64_t key) noexcept;
GROVE_API std::uint64_t local_new_key() noexcept;
}  // namespace detail

// A value per green thread (see the comment at the top of grove/local.hpp). Neither
// copyable nor movable. No call parks.
template <class T>
class local {
 public:
  // Each green thread's value starts as T().
  local() : init_([] { return T(); }) {}
  // Each green thread's value starts as init(), called in that green thread on its
  // first access.
  explicit local(std::function<T()> init) : init_(std::move(init)) {}
  local(const local&) = delete;
  local& operator=(const local&) = delete;

  // The calling green thread's value, made by the initializer on first access
  // (what the initializer throws propagates, and no value is stored).
  T& get() {
    if (void* p = detail::local_find(key_)) return *static_cast<T*>(p);
    return emplace(init_());
  }
  // get().
  T& operator*() { return get(); }
  // &get().
  T* operator->() { return &get(); }

  // Replaces the calling green thread's value.
  void set(T value) { emplace(std::move(value)); }
  // True if the calling green thread has a value already.
  bool has_value() const noexcept { return detail::local_find(key_) != nullptr; }
  // Destroys the calling green thread's value; the next get() makes a new one.
  void reset() noexcept { detail::local_erase(key_); }

 private:
  T& emplace(T value) {
    auto owned = std::make_unique<T>(std::move(value));
    T* raw = owned.get();
    detail::local_store(key_, raw, [](void* p) { delete static_cast<T*>(p); });
    owned.release();
    return *raw;
  }

  // A key, not the object's address: a later local<T> at the same address must not
  // see values left by a destroyed one.
  std::uint64_t key_ = detail::local_new_key();
  std::function<T()> init_;
};

}  // namespace grove
