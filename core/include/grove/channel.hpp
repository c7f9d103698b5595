// grove/channel.hpp: Channel<T>, an unbuffered hand-off between green threads (Go's
// unbuffered channel, gevent's Channel).
//
//   grove::Channel<int> ch;
//   grove::spawn([&] { ch.put(42); });   // parks until a getter takes it
//   int v = ch.get();
//
// put() parks until a getter takes the item; get() parks until a putter brings one.
// The item moves straight from one to the other; waiting is FIFO on both sides.
#pragma once

#include <optional>
#include <utility>

#include <grove/detail/thread_owner.hpp>
#include <grove/detail/wait_queue.hpp>
#include <grove/duration.hpp>

namespace grove {

// An unbuffered hand-off between green threads (see the comment at the top of
// grove/channel.hpp). For the green threads of one OS thread (no locking): a channel
// belongs to the OS thread that first puts or gets on it, and put / get / try_put /
// try_get from any other OS thread throw UsageError and change nothing, whether or not
// anyone waits (getters_waiting() / putters_waiting() are plain reads, not checked).
// Neither copyable nor movable.
template <class T>
class Channel {
 public:
  // No waiters.
  Channel() = default;
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // Hands `item` to a getter, parking until one takes it. Returns false if `timeout`
  // passed first (the item was not taken). GreenletExit / TimeoutError if interrupted
  // while waiting (not taken). UsageError if it would park on the hub.
  bool put(T item, std::optional<Duration> timeout = std::nullopt) {
    owner_.check("grove::Channel::put");
    if (void* slot = getters_.wake_one_payload("grove::Channel::put")) {
      static_cast<std::optional<T>*>(slot)->emplace(std::move(item));
      return true;
    }
    std::optional<T> mine(std::move(item));
    // Granted means a getter moved the item out of `mine`.
    return putters_.wait("Channel::put", timeout, &mine);
  }

  // Takes an item from a putter, parking until one comes. GreenletExit / TimeoutError
  // if interrupted while waiting (nothing taken). UsageError if it would park on the
  // hub.
  T get() { return *get(std::nullopt); }
  // As get(), but std::nullopt if `timeout` passed first.
  std::optional<T> get(std::optional<Duration> timeout) {
    owner_.check("grove::Channel::get");
    if (void* src = putters_.wake_one_payload("grove::Channel::get")) {
      auto* from = static_cast<std::optional<T>*>(src);
      std::optional<T> v(std::move(*from));
      return v;
    }
    std::optional<T> slot;
    if (!getters_.wait("Channel::get", timeout, &slot)) return std::nullopt;
    return slot;
  }

  // Non-parking forms: succeed only if a partner is already waiting.
  // try_put hands `item` to a parked getter (moving from it) and returns true; if no
  // getter waits it returns false and leaves `item` untouched.
  bool try_put(T& item) {
    owner_.check("grove::Channel::try_put");
    if (void* slot = getters_.wake_one_payload("grove::Channel::try_put")) {
      static_cast<std::optional<T>*>(slot)->emplace(std::move(item));
      return true;
    }
    return false;
  }
  // Takes the item of a parked putter, or std::nullopt if none waits. Never parks.
  std::optional<T> try_get() {
    owner_.check("grove::Channel::try_get");
    if (void* src = putters_.wake_one_payload("grove::Channel::try_get")) {
      return std::move(*static_cast<std::optional<T>*>(src));
    }
    return std::nullopt;
  }

  // Green threads waiting in get() right now.
  std::size_t getters_waiting() const noexcept { return getters_.size(); }
  // Green threads waiting in put() right now.
  std::size_t putters_waiting() const noexcept { return putters_.size(); }

 private:
  detail::ThreadOwner owner_;  // the OS thread it belongs to
  detail::WaitQueue getters_;
  detail::WaitQueue putters_;
};

}  // namespace grove
