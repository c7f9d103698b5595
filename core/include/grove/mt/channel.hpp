// grove/mt/channel.hpp: grove::mt::Channel<T>, a channel between hubs (OS threads).
//
//   grove::mt::Channel<int> ch;                       // unbuffered, like Go's make(chan int)
//   grove::spawn_on(other, [&] { ch.put(42); });       // a green thread on another hub
//   int v = ch.get();                                  // parks this green thread only
//
// Any green thread on any hub, and any plain OS thread, may put and get. A green
// thread that waits parks only itself (its hub runs the others); a plain OS thread
// blocks. An item goes to exactly one getter, also when a kill or Timeout lands at
// the moment of the hand-over (the getter then returns it, and the interrupt is raised
// at its next blocking call). Waiting is FIFO on each side.
//
// grove::Channel<T> (grove/channel.hpp) is the hub-bound one: no lock, refuses other
// OS threads. This one pays a mutex per call for working everywhere.
#pragma once

#include <cstddef>
#include <optional>

#include <grove/detail/cross_buffer.hpp>
#include <grove/duration.hpp>

namespace grove::mt {

// See the comment at the top of grove/mt/channel.hpp. Neither copyable nor movable;
// share it by reference or std::shared_ptr, and keep it alive while anyone uses it.
template <class T>
class Channel {
 public:
  // capacity 0 (the default): unbuffered, put() waits for a getter to take the item.
  // capacity n: put() waits only while n items are buffered (Go's make(chan T, n)).
  explicit Channel(std::size_t capacity = 0) : buf_(capacity) {}

  // Hands `item` over (to a getter, or into the buffer), waiting while that cannot
  // be done. False if `timeout` passed first (not sent). GreenletExit / TimeoutError if
  // the green thread is interrupted while waiting (not sent); UsageError on the hub;
  // ChannelClosed if it is or gets closed (not sent).
  bool put(T item, std::optional<Duration> timeout = std::nullopt) {
    return buf_.put(item, true, timeout ? &*timeout : nullptr, "mt::Channel::put");
  }
  // Takes an item, waiting until there is one. Interrupts and UsageError as put();
  // ChannelClosed once it is closed and no item is left.
  T get() { return *buf_.get(true, nullptr, "mt::Channel::get"); }
  // As get(), but std::nullopt if `timeout` passed first.
  std::optional<T> get(std::optional<Duration> timeout) {
    return buf_.get(true, timeout ? &*timeout : nullptr, "mt::Channel::get");
  }
  // Never waits: sends only if a getter waits or the buffer has room (moving from
  // `item`); otherwise returns false and leaves `item` untouched. ChannelClosed if closed.
  bool try_put(T& item) { return buf_.put(item, false, nullptr, "mt::Channel::try_put"); }
  // Never waits: an item if one is buffered or a putter waits, else std::nullopt.
  std::optional<T> try_get() { return buf_.get(false, nullptr, "mt::Channel::try_get"); }

  // Items buffered now (always 0 when unbuffered).
  std::size_t size() const { return buf_.size(); }
  // The capacity it was made with (0: unbuffered).
  std::size_t capacity() const noexcept { return buf_.capacity(); }

  // Go's close(ch): every later put() throws ChannelClosed, get() takes what is left
  // and then throws ChannelClosed, and every waiter wakes (a waiting putter and a
  // getter finding nothing throw ChannelClosed). A hub that owns the producing side
  // closes it when it stops, so consumers on other hubs do not wait forever. Any OS
  // thread; never waits; closing again does nothing.
  void close() noexcept { buf_.close(); }
  // True once close() was called.
  bool closed() const { return buf_.closed(); }

 private:
  detail::CrossBuffer<T> buf_;
};

}  // namespace grove::mt
