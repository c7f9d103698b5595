// grove/hub_ref.hpp: a reference to a hub that any OS thread may hold and post to.
//
//   grove::HubRef hub = grove::this_hub();           // on the hub's OS thread
//   std::thread cb([hub] { hub.post([] { ... }); });  // a library's callback thread
//
// The way in from threads grove does not own (libuv's uv_async_send): post(fn) runs
// fn in a new green thread on that hub. Each hub has one inbox (one ev_async): posts
// are batched, the hub drains them in one callback, and its own hot path takes no
// lock. A HubRef is copyable and thread-safe (a shared reference to the inbox, never
// to the hub itself): once the hub's OS thread has exited, post() returns false and
// nothing dangles.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <grove/detail/cross_wait.hpp>
#include <grove/export.hpp>

namespace grove {

// A copyable, thread-safe reference to one hub's inbox (see the comment at the top of
// grove/hub_ref.hpp).
class GROVE_API HubRef {
 public:
  // Refers to no hub (operator bool is false; post() is a UsageError).
  HubRef() noexcept = default;
  // Refers to the hub of `inbox` (this_hub() and HubThread::hub() make them).
  explicit HubRef(std::shared_ptr<detail::HubInbox> inbox) noexcept : inbox_(std::move(inbox)) {}

  // Runs fn() in a new green thread on the hub, queued from any OS thread (the hub's
  // own included: it runs after the hub's next poll). Returns false, dropping fn, if
  // the hub's OS thread has exited. An exception fn throws is logged by that hub, as
  // for any green thread nobody joins. UsageError on an empty HubRef.
  bool post(std::function<void()> fn) const;

  // False once the hub's OS thread has exited (a post may still fail right after a
  // true answer: the hub may exit in between).
  bool alive() const;
  // Unique among all hubs of the process (Hub serials count from 1); 0 if empty.
  std::uint64_t serial() const noexcept;
  // "hub 3 (OS thread 1234)", for messages; "" if empty.
  std::string name() const;
  // True if this is the calling OS thread's hub.
  bool is_current() const noexcept;

  // True unless empty.
  explicit operator bool() const noexcept { return inbox_ != nullptr; }
  // True if both refer to the same hub (or both are empty).
  friend bool operator==(const HubRef& a, const HubRef& b) noexcept { return a.inbox_ == b.inbox_; }

  // For grove's own templates (spawn_on).
  const std::shared_ptr<detail::HubInbox>& inbox() const noexcept { return inbox_; }

 private:
  std::shared_ptr<detail::HubInbox> inbox_;
};

// The calling OS thread's hub (created if it has none yet), as a HubRef. UsageError in
// a thread-pool job (a worker never runs its hub).
GROVE_API HubRef this_hub();

namespace detail {
// Queues `e` in the hub's inbox; false if the hub has exited. UsageError if empty;
// `what` names the calling operation for that message.
GROVE_API bool post_entry(const HubRef& hub, InboxEntry* e, const char* what);
}  // namespace detail

}  // namespace grove
