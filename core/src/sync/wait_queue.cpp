#include <grove/detail/wait_queue.hpp>

#include <chrono>

#include "hub.hpp"

namespace grove::detail {

struct WaitQueue::Node final : Observer {
  GreenThreadState* gt = nullptr;
  void* payload = nullptr;
  bool granted = false;
  void notify() noexcept override {}  // unused: the queue pops nodes itself
};

bool WaitQueue::wait(const char* what, std::optional<Duration> timeout, void* payload) {
  Hub& hub = Hub::get();
  hub.check_may_block(what);
  Node node;
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
  const auto deadline = std::chrono::steady_clock::now() + *timeout;
  while (!node.granted) {
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= Duration::zero() || !hub.park_for(std::chrono::duration<double>(left).count(), what)) {
      return node.granted;  // a grant that raced the timer still wins
    }
    requeue();
  }
  return true;
}

WaitQueue::Node* WaitQueue::pop_parked() noexcept {
  Hub* hub = Hub::current();
  while (Observer* o = waiters_.pop_front()) {
    auto* n = static_cast<Node*>(o);
    // wake() fails when the waiter is not parked any more: a kill or its timeout woke
    // it and it is about to unwind or return false. Skip it.
    if (hub && hub->wake(n->gt)) {
      n->granted = true;
      return n;
    }
  }
  return nullptr;
}

bool WaitQueue::wake_one() noexcept { return pop_parked() != nullptr; }

void* WaitQueue::wake_one_payload() noexcept {
  Node* n = pop_parked();
  return n ? n->payload : nullptr;
}

std::size_t WaitQueue::wake_all() noexcept {
  std::size_t n = 0;
  while (pop_parked()) ++n;
  return n;
}

}  // namespace grove::detail
