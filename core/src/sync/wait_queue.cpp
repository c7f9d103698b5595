#include <grove/detail/wait_queue.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <grove/duration.hpp>
#include <grove/errors.hpp>

#include "hub.hpp"

namespace grove::detail {

namespace {

// A wait queue touched from an OS thread other than its waiters' (see
// grove/detail/wait_queue.hpp). Cold: kept out of the wake path.
[[gnu::cold, gnu::noinline]] std::string foreign_message(const char* what) {
  return std::string(what) +
         ": used from another OS thread (green threads of another OS thread's hub wait on it; "
         "grove's sync primitives serve the green threads of one OS thread only)";
}

[[gnu::cold, gnu::noinline, noreturn]] void foreign_caller(const char* what, bool may_throw) {
  if (may_throw) throw UsageError(foreign_message(what));
  // A path that cannot throw (a member's death notification, a Pool slot hand-over):
  // waking the waiter would corrupt its hub, skipping it would lose it for good.
  std::fprintf(stderr, "grove: fatal misuse: %s\n", foreign_message(what).c_str());
  std::abort();
}

}  // namespace

struct WaitQueue::Node final : Observer {
  Hub* hub = nullptr;  // the waiter's hub: only it may wake the waiter
  GreenThreadState* gt = nullptr;
  void* payload = nullptr;
  bool granted = false;
  void notify() noexcept override {}  // unused: the queue pops nodes itself
};

bool WaitQueue::wait(const char* what, std::optional<Duration> timeout, void* payload) {
  Hub& hub = Hub::get();
  hub.check_may_block(what);
  check_caller(what);  // the waiters already queued must be this OS thread's too
  Node node;
  node.hub = &hub;
  node.gt = hub.running();
  node.payload = payload;
  waiters_.push_back(&node);  // the node unlinks itself if we unwind (kill, Timeout)
  // A wake-up that grants nothing is spurious: wait again. Hub::park allows those,
  // though no path in grove produces one for a queued waiter any more (an interrupt
  // that wakes it always raises: a fired Timeout cancelled by another green thread
  // still throws, see Timeout::cancel). Should one come, and a waker skipped this
  // node meanwhile, the node is no longer queued: queue it again, or nothing could
  // ever wake it.
  auto requeue = [&] {
    if (!node.granted && !node.linked()) waiters_.push_back(&node);
  };
  if (!timeout) {
    while (!node.granted) {
      hub.park(what);
      requeue();
    }
    return true;
  }
  const auto deadline = grove::detail::deadline_after(std::chrono::steady_clock::now(), *timeout);
  while (!node.granted) {
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= Duration::zero() || !hub.park_for(std::chrono::duration<double>(left).count(), what)) {
      return node.granted;  // a grant that raced the timer still wins
    }
    requeue();
  }
  return true;
}

WaitQueue::Node* WaitQueue::pop_parked(const char* what, bool may_throw) {
  Hub* const hub = Hub::current();  // nullptr on an OS thread without a hub
  while (Observer* o = waiters_.front()) {
    auto* n = static_cast<Node*>(o);
    // Checked before the node is unlinked, so that a refused call changes nothing.
    if (n->hub != hub) [[unlikely]] foreign_caller(what, may_throw);
    waiters_.remove(o);
    // wake() fails when the waiter is not parked any more: a kill or its timeout woke
    // it and it is about to unwind or return false. Skip it.
    if (hub->wake(n->gt)) {
      n->granted = true;
      return n;
    }
  }
  return nullptr;
}

void WaitQueue::check_front(const char* what) const {
  if (static_cast<const Node*>(waiters_.front())->hub != Hub::current()) foreign_caller(what, true);
}

bool WaitQueue::wake_one(const char* what) { return pop_parked(what, true) != nullptr; }

void* WaitQueue::wake_one_payload(const char* what) {
  Node* n = pop_parked(what, true);
  return n ? n->payload : nullptr;
}

std::size_t WaitQueue::wake_all(const char* what) {
  std::size_t n = 0;
  while (pop_parked(what, true)) ++n;
  return n;
}

bool WaitQueue::wake_one_nothrow(const char* what) noexcept { return pop_parked(what, false) != nullptr; }

std::size_t WaitQueue::wake_all_nothrow(const char* what) noexcept {
  std::size_t n = 0;
  while (pop_parked(what, false)) ++n;
  return n;
}

}  // namespace grove::detail
