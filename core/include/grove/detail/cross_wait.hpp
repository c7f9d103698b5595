// grove/detail/cross_wait.hpp: waiting on an object shared by several hubs (OS threads).
//
// The single-hub primitives (detail/wait_queue.hpp) take no lock and refuse other OS
// threads. The cross-hub ones (grove/mt/*.hpp, grove/spawn_on.hpp) keep their state
// under a std::mutex of their own, and their waiters are CrossWaiter records on the
// waiters' own stacks, linked in a CrossWaitList under that mutex:
//
//   - a green thread parks only itself; the one that grants it (cross_grant) wakes it
//     directly if both are on the same hub, else queues the waiter's wake entry in
//     the waiter's hub inbox (one ev_async per hub, batched: core/src/sync/hub_inbox.hpp);
//   - a plain OS thread (no hub, or a thread-pool worker) waits on a condition variable.
//
// Exactly once: a grant is decided under the object's mutex, and a waiter leaves only
// under that mutex. A waiter that was granted takes what it was given even if a kill
// or a timeout woke it at the same moment (a kill or grove::Timeout is then raised at
// its next blocking call); one that was not granted unlinks itself, so nothing is ever
// handed to a waiter that has gone. A waiter whose hub has exited (its green thread
// abandoned at thread exit) cannot be granted: cross_grant returns false and the
// caller hands the item to the next waiter.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>

#include <grove/duration.hpp>
#include <grove/export.hpp>

namespace grove::detail {

struct GreenThreadState;
class HubInbox;

// Something queued in a hub's inbox, run on that hub's OS thread, in the hub's own
// context (a libev callback): run() must not park. Guarded by the inbox's mutex while queued.
struct GROVE_API InboxEntry {
  InboxEntry* next = nullptr;
  bool queued = false;
  // Runs it on the hub. Heap entries delete themselves.
  virtual void run() noexcept = 0;
  // The hub exited before running it (at thread exit, on the hub's thread). Heap
  // entries delete themselves.
  virtual void drop() noexcept = 0;

 protected:
  ~InboxEntry() = default;
};

// Told on a hub's thread when that hub exits (HubInbox::add_exit_hook): a spawn_on
// handle whose green thread is still alive there.
struct GROVE_API ExitHook {
  ExitHook* hook_prev = nullptr;
  ExitHook* hook_next = nullptr;
  bool hooked = false;
  virtual void hub_exited() noexcept = 0;

 protected:
  ~ExitHook() = default;
};

// One waiter of a cross-hub object, on the waiter's stack. Every field is guarded by
// the object's mutex.
struct GROVE_API CrossWaiter final : InboxEntry {
  CrossWaiter* prev = nullptr;
  CrossWaiter* linked_next = nullptr;
  bool linked = false;
  bool granted = false;  // the waker handed it what it waits for (see `slot`)
  void* slot = nullptr;  // what the object hands over or takes (the object's business)
  // A green thread: its hub's inbox and its control block; a plain OS thread: its cv.
  std::shared_ptr<HubInbox> inbox;
  GreenThreadState* gt = nullptr;
  std::condition_variable* cv = nullptr;

  void run() noexcept override;   // wakes gt on its hub
  void drop() noexcept override {}
};

// A FIFO of CrossWaiters (intrusive; guarded by the object's mutex).
class CrossWaitList {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  CrossWaiter* front() const noexcept { return head_; }
  void push_back(CrossWaiter* w) noexcept {
    w->prev = tail_;
    w->linked_next = nullptr;
    if (tail_) tail_->linked_next = w; else head_ = w;
    tail_ = w;
    w->linked = true;
  }
  void remove(CrossWaiter* w) noexcept {
    if (!w->linked) return;
    if (w->prev) w->prev->linked_next = w->linked_next; else head_ = w->linked_next;
    if (w->linked_next) w->linked_next->prev = w->prev; else tail_ = w->prev;
    w->prev = w->linked_next = nullptr;
    w->linked = false;
  }
  CrossWaiter* pop_front() noexcept {
    CrossWaiter* w = head_;
    if (w) remove(w);
    return w;
  }

 private:
  CrossWaiter* head_ = nullptr;
  CrossWaiter* tail_ = nullptr;
};

// Called with `lk` (the object's mutex) held and w.slot set: links `w` at the tail of
// `list` and waits until granted (returns true, lk held) or until `timeout` passes
// (returns false; w unlinked, lk held). A green thread parks; a plain OS thread
// blocks. GreenletExit / TimeoutError if the green thread is killed or its Timeout
// fires before it is granted (w unlinked, lk released). UsageError on the hub itself.
// `what` names the wait for dump() and errors.
GROVE_API bool cross_wait(std::unique_lock<std::mutex>& lk, CrossWaitList& list, CrossWaiter& w,
                          const char* what, const Duration* timeout);

// Called with the object's mutex held, for a waiter the caller just unlinked: marks it
// granted and wakes it (directly on the same hub, through its hub's inbox from another
// one, by its condition variable for a plain OS thread). Returns false, changing
// nothing, if the waiter's hub has exited: hand the item to the next waiter.
GROVE_API bool cross_grant(CrossWaiter& w) noexcept;

// Grants every waiter of `list` (those whose hub exited are dropped).
GROVE_API void cross_grant_all(CrossWaitList& list) noexcept;

}  // namespace grove::detail
