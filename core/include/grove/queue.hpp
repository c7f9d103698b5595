// grove/queue.hpp: Queue<T> (FIFO), LifoQueue<T>, PriorityQueue<T>, for green threads
// of one OS thread.
//
//   grove::Queue<std::string> q(100);        // bounded: put parks while 100 are queued
//   grove::spawn([&] { q.put("job"); });
//   std::string job = q.get();                // parks until an item is there
//
// Waiting is FIFO on both sides, and an item or a free slot is handed to a woken
// waiter before anyone else can take it, so a green thread that waited first is
// served first and a kill or timeout racing the hand-off loses nothing: the item goes
// to the next waiter or stays queued. Move-only element types work.
//
// Only for the OS thread whose green threads use it (no locking): a queue belongs to
// the OS thread that first puts, gets, peeks, joins or calls task_done() on it, and
// those calls from any other OS thread (a run_in_thread worker, a std::thread) throw
// UsageError and change nothing, whether or not anyone waits. size(), empty(), full()
// and unfinished_tasks() are plain reads, not checked: from another OS thread their
// answer is undefined.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include <grove/detail/thread_owner.hpp>
#include <grove/detail/wait_queue.hpp>
#include <grove/duration.hpp>
#include <grove/errors.hpp>

namespace grove {

// put_nowait() on a full queue.
class QueueFull : public std::runtime_error {
 public:
  // With the message "grove::Queue: full".
  QueueFull() : std::runtime_error("grove::Queue: full") {}
};
// get_nowait() / peek_nowait() on an empty queue.
class QueueEmpty : public std::runtime_error {
 public:
  // With the message "grove::Queue: empty".
  QueueEmpty() : std::runtime_error("grove::Queue: empty") {}
};

namespace detail {

// A store with unpush() can take back the item push() just added (see BasicQueue::push).
template <class S>
concept UndoablePush = requires(S& s) { s.unpush(); };

template <class T>
struct FifoStore {
  std::deque<T> items;
  void push(T v) { items.push_back(std::move(v)); }
  void unpush() noexcept { items.pop_back(); }
  T pop() {
    T v = std::move(items.front());
    items.pop_front();
    return v;
  }
  const T& top() const { return items.front(); }
  std::size_t size() const { return items.size(); }
};

template <class T>
struct LifoStore {
  std::vector<T> items;
  void push(T v) { items.push_back(std::move(v)); }
  void unpush() noexcept { items.pop_back(); }
  T pop() {
    T v = std::move(items.back());
    items.pop_back();
    return v;
  }
  const T& top() const { return items.back(); }
  std::size_t size() const { return items.size(); }
};

// Smallest first (as Python's heapq); give a Compare of std::greater<T> for largest first.
template <class T, class Compare = std::less<T>>
struct PriorityStore {
  std::vector<T> items;
  struct Inverted {
    bool operator()(const T& a, const T& b) const { return Compare{}(b, a); }
  };
  void push(T v) {
    items.push_back(std::move(v));
    std::push_heap(items.begin(), items.end(), Inverted{});
  }
  T pop() {
    std::pop_heap(items.begin(), items.end(), Inverted{});
    T v = std::move(items.back());
    items.pop_back();
    return v;
  }
  const T& top() const { return items.front(); }
  std::size_t size() const { return items.size(); }
};

}  // namespace detail

// The queue behind Queue, LifoQueue and PriorityQueue (see the comment at the top of
// grove/queue.hpp); Store decides which item get() returns. For the green threads of
// one OS thread (no locking); neither copyable nor movable.
template <class T, class Store = detail::FifoStore<T>>
class BasicQueue {
 public:
  // An empty queue holding at most `maxsize` items; 0 means unbounded.
  explicit BasicQueue(std::size_t maxsize = 0) : maxsize_(maxsize) {}
  BasicQueue(const BasicQueue&) = delete;
  BasicQueue& operator=(const BasicQueue&) = delete;

  // Adds an item, parking while the queue is full. With a timeout, returns false if it
  // passed first (the item is not added). GreenletExit / TimeoutError if interrupted
  // while waiting (nothing added). UsageError if it would park on the hub.
  bool put(T item, std::optional<Duration> timeout = std::nullopt) {
    owner_.check("grove::Queue::put");
    if (full_for_new()) {
      if (!putters_.wait("Queue::put", timeout)) return false;
      --reserved_slots_;  // the getter that woke us kept this slot for us
    }
    push(std::move(item), "grove::Queue::put");
    return true;
  }
  // Adds an item or throws QueueFull. Never parks.
  void put_nowait(T item) {
    owner_.check("grove::Queue::put_nowait");
    if (full_for_new()) throw QueueFull();
    push(std::move(item), "grove::Queue::put_nowait");
  }

  // Removes and returns the next item, parking while there is none. GreenletExit /
  // TimeoutError if interrupted while waiting (nothing taken). UsageError if it would
  // park on the hub. Parked getters are served in the order they came: each put()
  // promises one item to the oldest, which takes the store's next item when it runs
  // (so a get_nowait() between the two may take the older item, as in gevent; what is
  // promised is an item, never lost and never given twice).
  T get() { return *get(std::nullopt); }
  // As get(), but std::nullopt if `timeout` passed first.
  std::optional<T> get(std::optional<Duration> timeout) {
    owner_.check("grove::Queue::get");
    if (available() == 0) {
      if (!getters_.wait("Queue::get", timeout)) return std::nullopt;
      --reserved_items_;  // the putter that woke us kept this item for us
    }
    return take("grove::Queue::get");
  }
  // Removes and returns the next item or throws QueueEmpty. Never parks. An item
  // already promised to a woken get() that has not run yet does not count.
  T get_nowait() {
    owner_.check("grove::Queue::get_nowait");
    if (available() == 0) throw QueueEmpty();
    return take("grove::Queue::get_nowait");
  }

  // The next item, without removing it; parks while there is none. The reference
  // is valid until the item is removed. With a timeout, nullptr if it passed first.
  // GreenletExit / TimeoutError if interrupted while waiting (nothing changes);
  // UsageError if it would park on the hub.
  const T* peek(std::optional<Duration> timeout = std::nullopt) {
    owner_.check("grove::Queue::peek");
    if (available() > 0) return &store_.top();
    // Woken by a put whose item a parked getter then takes, it waits again, for what is
    // left of the one deadline.
    const auto deadline = grove::detail::deadline_after(std::chrono::steady_clock::now(),
                                                         timeout.value_or(Duration::zero()));
    while (available() == 0) {
      std::optional<Duration> left;
      if (timeout) left = std::chrono::duration_cast<Duration>(deadline - std::chrono::steady_clock::now());
      if (!peekers_.wait("Queue::peek", left)) return nullptr;
    }
    return &store_.top();
  }
  // The next item without removing it, or throws QueueEmpty (as get_nowait()). Never
  // parks. The reference is valid until the item is removed.
  const T& peek_nowait() const {
    owner_.check("grove::Queue::peek_nowait");
    if (available() == 0) throw QueueEmpty();
    return store_.top();
  }

  // Marks one item taken by get() as processed; when none is left unfinished, wakes
  // every join(). Never parks. More task_done() calls than items put is a UsageError.
  void task_done() {
    owner_.check("grove::Queue::task_done");
    if (unfinished_ == 0) throw UsageError("grove::Queue::task_done: called more times than items were put");
    joiners_.check_caller("grove::Queue::task_done");
    if (--unfinished_ == 0) joiners_.wake_all("grove::Queue::task_done");
  }
  // Parks until every item put has been marked task_done() (returns at once if so);
  // false on timeout. GreenletExit / TimeoutError if interrupted (nothing changes);
  // UsageError if it would park on the hub.
  bool join(std::optional<Duration> timeout = std::nullopt) {
    owner_.check("grove::Queue::join");
    if (unfinished_ == 0) return true;
    return joiners_.wait("Queue::join", timeout);
  }

  // Items queued (including any promised to a woken get() that has not run yet).
  std::size_t size() const noexcept { return store_.size(); }
  // size() == 0.
  bool empty() const noexcept { return store_.size() == 0; }
  // True if the queue is bounded and size() has reached maxsize().
  bool full() const noexcept { return maxsize_ > 0 && store_.size() >= maxsize_; }
  // The bound given at construction (0: unbounded).
  std::size_t maxsize() const noexcept { return maxsize_; }
  // Items put and not yet marked task_done().
  std::size_t unfinished_tasks() const noexcept { return unfinished_; }

 private:
  // Items not already promised to a woken getter. (A queued getter never coexists
  // with an unpromised item: push() promises each new item to the oldest parked
  // getter. So "available" alone decides, and fairness holds without checking the
  // wait list, which may still hold a waiter that timed out and has not run yet.)
  std::size_t available() const noexcept { return store_.size() - reserved_items_; }
  // Whether a new put (not one a getter woke) must wait.
  bool full_for_new() const noexcept { return maxsize_ > 0 && store_.size() + reserved_slots_ >= maxsize_; }

  // A call from another OS thread than the waiters' is refused (UsageError) before
  // anything changes. The getter's wake-up must follow the store's push (which may
  // throw); its thread check is then free where the store can take the item back
  // (FIFO, LIFO), and a separate check beforehand otherwise (priority).
  void push(T item, const char* what) {
    peekers_.check_caller(what);
    if constexpr (detail::UndoablePush<Store>) {
      store_.push(std::move(item));
      try {
        if (getters_.wake_one(what)) ++reserved_items_;
      } catch (...) {  // UsageError, thrown before any waiter was touched
        store_.unpush();
        throw;
      }
    } else {
      getters_.check_caller(what);
      store_.push(std::move(item));
      if (getters_.wake_one(what)) ++reserved_items_;
    }
    ++unfinished_;
    peekers_.wake_all(what);
  }
  T take(const char* what) {
    putters_.check_caller(what);  // the item would be gone before the wake-up
    T v = store_.pop();
    if (maxsize_ > 0 && putters_.wake_one(what)) ++reserved_slots_;
    return v;
  }

  detail::ThreadOwner owner_;  // the OS thread it belongs to
  std::size_t maxsize_;
  Store store_;
  std::size_t reserved_items_ = 0;
  std::size_t reserved_slots_ = 0;
  std::size_t unfinished_ = 0;
  detail::WaitQueue getters_;
  detail::WaitQueue putters_;
  detail::WaitQueue peekers_;
  detail::WaitQueue joiners_;
};

// A FIFO queue: get() returns the oldest item.
template <class T>
using Queue = BasicQueue<T, detail::FifoStore<T>>;
// A LIFO queue (a stack): get() returns the newest item.
template <class T>
using LifoQueue = BasicQueue<T, detail::LifoStore<T>>;
// A priority queue: get() returns the smallest item by Compare (as Python's heapq);
// std::greater<T> gives the largest first. Equal items come out in no fixed order.
template <class T, class Compare = std::less<T>>
using PriorityQueue = BasicQueue<T, detail::PriorityStore<T, Compare>>;

}  // namespace grove
