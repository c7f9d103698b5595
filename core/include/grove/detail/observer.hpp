// grove/detail/observer.hpp: an intrusive list of observers, the wake-up plumbing
// under join(), wait() and the sync primitives.
//
// An Observer is a node owned by whoever waits (usually on the waiting green thread's
// stack). It unlinks itself when destroyed, so a waiter that unwinds (killed, timed
// out) never leaves a dangling node behind. notify() runs on whatever context signals
// the list (a green thread or the hub) and must not block.
#pragma once

#include <cstddef>

namespace grove::detail {

class ObserverList;

class Observer {
 public:
  Observer() = default;
  Observer(const Observer&) = delete;
  Observer& operator=(const Observer&) = delete;
  virtual ~Observer();

  // Called once when the observed object becomes ready. The node is already unlinked.
  virtual void notify() noexcept = 0;

  bool linked() const noexcept { return list_ != nullptr; }

 private:
  friend class ObserverList;
  ObserverList* list_ = nullptr;
  Observer* prev_ = nullptr;
  Observer* next_ = nullptr;
};

class ObserverList {
 public:
  ObserverList() = default;
  ObserverList(const ObserverList&) = delete;
  ObserverList& operator=(const ObserverList&) = delete;
  ~ObserverList() { clear(); }

  bool empty() const noexcept { return head_ == nullptr; }
  std::size_t size() const noexcept { return size_; }
  Observer* front() const noexcept { return head_; }

  void push_back(Observer* o) noexcept {
    o->list_ = this;
    o->prev_ = tail_;
    o->next_ = nullptr;
    if (tail_) tail_->next_ = o; else head_ = o;
    tail_ = o;
    ++size_;
  }

  void remove(Observer* o) noexcept {
    if (o->prev_) o->prev_->next_ = o->next_; else head_ = o->next_;
    if (o->next_) o->next_->prev_ = o->prev_; else tail_ = o->prev_;
    o->list_ = nullptr;
    o->prev_ = o->next_ = nullptr;
    --size_;
  }

  Observer* pop_front() noexcept {
    Observer* o = head_;
    if (o) remove(o);
    return o;
  }

  // Unlinks every observer, then notifies each, in FIFO order. Observers added by a
  // notify() call are not notified in this round.
  void notify_all() noexcept {
    Observer* o = head_;
    head_ = tail_ = nullptr;
    size_ = 0;
    while (o) {
      Observer* next = o->next_;
      o->list_ = nullptr;
      o->prev_ = o->next_ = nullptr;
      o->notify();
      o = next;
    }
  }

  // Unlinks everything without notifying.
  void clear() noexcept {
    while (head_) remove(head_);
  }

 private:
  Observer* head_ = nullptr;
  Observer* tail_ = nullptr;
  std::size_t size_ = 0;
};

inline Observer::~Observer() {
  if (list_) list_->remove(this);
}

}  // namespace grove::detail
