// grove/mt/queue.hpp: grove::mt::Queue<T>, a FIFO queue between hubs (OS threads).
//
//   grove::mt::Queue<Job> jobs;          // unbounded
//   grove::mt::Queue<Job> jobs(100);     // put() waits while 100 are queued
//
// Any green thread on any hub and any plain OS thread may put and get; waiting parks
// only the calling green thread (a plain OS thread blocks). Each item is got exactly
// once, also when a kill or Timeout races the hand-over (see grove/mt/channel.hpp).
// grove::Queue<T> (grove/queue.hpp) is the hub-bound, lock-free one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>

#include <grove/detail/cross_buffer.hpp>
#include <grove/duration.hpp>

namespace grove::mt {

// See the comment at the top of grove/mt/queue.hpp. Neither copyable nor movable.
template <class T>
class Queue {
 public:
  // maxsize 0 (the default): unbounded. Otherwise put() waits while maxsize items
  // are queued.
  explicit Queue(std::size_t maxsize = 0) : buf_(maxsize == 0 ? std::numeric_limits<std::size_t>::max() : maxsize) {}

  // Appends `item`, waiting while the queue is full. False if `timeout` passed first
  // (not queued). GreenletExit / TimeoutError if interrupted while waiting (not
  // queued); UsageError if it would wait on the hub; ChannelClosed if it is or gets
  // closed (not queued).
  bool put(T item, std::optional<Duration> timeout = std::nullopt) {
    return buf_.put(item, true, timeout ? &*timeout : nullptr, "mt::Queue::put");
  }
  // Removes and returns the oldest item, waiting while the queue is empty.
  // ChannelClosed once it is closed and empty.
  T get() { return *buf_.get(true, nullptr, "mt::Queue::get"); }
  // As get(), but std::nullopt if `timeout` passed first.
  std::optional<T> get(std::optional<Duration> timeout) {
    return buf_.get(true, timeout ? &*timeout : nullptr, "mt::Queue::get");
  }
  // Never waits: false (item untouched) if the queue is full. ChannelClosed if closed.
  bool try_put(T& item) { return buf_.put(item, false, nullptr, "mt::Queue::try_put"); }
  // Never waits: std::nullopt if the queue is empty.
  std::optional<T> try_get() { return buf_.get(false, nullptr, "mt::Queue::try_get"); }

  // Items queued now.
  std::size_t size() const { return buf_.size(); }
  // True if no item is queued now.
  bool empty() const { return size() == 0; }

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
