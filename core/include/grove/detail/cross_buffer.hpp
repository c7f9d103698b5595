// grove/detail/cross_buffer.hpp: the FIFO under grove::mt::Channel and grove::mt::Queue.
//
// A std::deque and two CrossWaitLists (getters, putters) under one mutex. capacity 0
// is a rendezvous (an item moves straight from a putter to a getter), SIZE_MAX is
// unbounded. A getter that finds the buffer empty parks with an empty slot that a
// putter fills; a putter that finds it full parks with its item, which a getter moves
// out (into its hands, or into the buffer as it takes the oldest). Every hand-over is
// decided under the mutex, so an item goes to exactly one getter: see
// detail/cross_wait.hpp for why a kill or timeout racing a hand-over loses nothing.
// close() refuses puts from then on, lets getters take what is buffered, and wakes
// every waiter: a putter granted with its slot cleared, a getter with its slot empty,
// both then throw ChannelClosed.
#pragma once

#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include <grove/detail/cross_wait.hpp>
#include <grove/duration.hpp>
#include <grove/errors.hpp>

namespace grove::detail {

template <class T>
class CrossBuffer {
 public:
  explicit CrossBuffer(std::size_t capacity) noexcept : cap_(capacity) {}
  CrossBuffer(const CrossBuffer&) = delete;
  CrossBuffer& operator=(const CrossBuffer&) = delete;

  // Moves `item` to a getter or into the buffer; if neither can take it and `block`,
  // waits (false after `timeout`, `item` untouched). Errors as cross_wait().
  // ChannelClosed if it was closed (before or while waiting; `item` not taken).
  bool put(T& item, bool block, const Duration* timeout, const char* what) {
    std::unique_lock<std::mutex> lk(mu_);
    if (closed_) throw_closed(what);
    while (CrossWaiter* g = getters_.pop_front()) {
      auto* slot = static_cast<std::optional<T>*>(g->slot);
      slot->emplace(std::move(item));
      if (cross_grant(*g)) return true;
      item = std::move(**slot);  // its hub exited: try the next getter
      slot->reset();
    }
    if (buf_.size() < cap_) {
      buf_.push_back(std::move(item));
      return true;
    }
    if (!block) return false;
    CrossWaiter w;
    w.slot = &item;  // a getter moves it out and grants us; close() clears it and grants us
    if (!cross_wait(lk, putters_, w, what, timeout)) return false;
    if (!w.slot) throw_closed(what);
    return true;
  }

  // Takes the oldest item (or a waiting putter's); if none and `block`, waits
  // (std::nullopt after `timeout`). Errors as cross_wait(); ChannelClosed once it is
  // closed and empty (try_get: std::nullopt).
  std::optional<T> get(bool block, const Duration* timeout, const char* what) {
    std::unique_lock<std::mutex> lk(mu_);
    if (!buf_.empty()) {
      std::optional<T> v(std::move(buf_.front()));
      buf_.pop_front();
      while (CrossWaiter* p = putters_.pop_front()) {  // room now: take a waiting putter's item
        if (cross_grant(*p)) {
          buf_.push_back(std::move(*static_cast<T*>(p->slot)));
          break;
        }
      }
      return v;
    }
    while (CrossWaiter* p = putters_.pop_front()) {  // capacity 0: straight from a putter
      if (cross_grant(*p)) return std::optional<T>(std::move(*static_cast<T*>(p->slot)));
    }
    if (!block) return std::nullopt;
    if (closed_) throw_closed(what);
    std::optional<T> slot;
    CrossWaiter w;
    w.slot = &slot;
    if (!cross_wait(lk, getters_, w, what, timeout)) return std::nullopt;
    if (!slot) throw_closed(what);  // woken by close()
    return slot;
  }

  // Refuses every later put and wakes every waiter (see above). Idempotent.
  void close() noexcept {
    std::lock_guard<std::mutex> lk(mu_);
    closed_ = true;
    while (CrossWaiter* p = putters_.pop_front()) {
      p->slot = nullptr;
      cross_grant(*p);
    }
    cross_grant_all(getters_);
  }
  bool closed() const {
    std::lock_guard<std::mutex> lk(mu_);
    return closed_;
  }

  std::size_t size() const {
    std::lock_guard<std::mutex> lk(mu_);
    return buf_.size();
  }
  std::size_t capacity() const noexcept { return cap_; }

 private:
  [[noreturn]] static void throw_closed(const char* what) {
    throw ChannelClosed(std::string("grove::") + what + ": closed");
  }

  const std::size_t cap_;
  bool closed_ = false;
  mutable std::mutex mu_;
  std::deque<T> buf_;
  CrossWaitList getters_;
  CrossWaitList putters_;
};

}  // namespace grove::detail
