// cross_wait.cpp: parking on and granting cross-hub objects (grove/detail/cross_wait.hpp).
#include <grove/detail/cross_wait.hpp>

#include <chrono>
#include <optional>

#include "../hub.hpp"
#include "hub_inbox.hpp"
#include "pool_worker.hpp"
#include "spin_then_lock.hpp"

namespace grove::detail {

void CrossWaiter::run() noexcept {
  // On gt's hub, which is the calling thread's (the inbox drains on its own hub).
  if (Hub* h = Hub::current()) h->wake(gt);
}

namespace {

bool wait_plain(std::unique_lock<std::mutex>& lk, CrossWaitList& list, CrossWaiter& w, const Duration* timeout) {
  std::condition_variable cv;
  w.cv = &cv;
  w.gt = nullptr;
  w.granted = false;
  list.push_back(&w);
  if (!timeout) {
    cv.wait(lk, [&] { return w.granted; });
    return true;
  }
  const auto deadline = deadline_after(std::chrono::steady_clock::now(), *timeout);
  if (cv.wait_until(lk, deadline, [&] { return w.granted; })) return true;
  list.remove(&w);
  return false;
}

}  // namespace

bool cross_wait(std::unique_lock<std::mutex>& lk, CrossWaitList& list, CrossWaiter& w, const char* what,
                const Duration* timeout) {
  Hub* hub = Hub::current();
  // An OS thread without a hub (a library's callback thread) or a pool worker (which
  // never runs its hub): block the OS thread.
  if (!hub || tls_in_pool_worker) return wait_plain(lk, list, w, timeout);
  hub->check_may_block(what);
  GreenThreadState* me = hub->running();
  if (me->pending) {
    lk.unlock();
    hub->raise_pending(me);  // throws if the interrupt is due now
    lk.lock();
  }
  if (timeout && *timeout <= Duration::zero()) return false;
  const std::shared_ptr<HubInbox>& inbox = HubInbox::of_this_thread();
  w.inbox = inbox;
  w.gt = me;
  w.cv = nullptr;
  w.granted = false;
  list.push_back(&w);
  inbox->hold();
  lk.unlock();

  std::optional<ParkTimer> timer;
  if (timeout) timer.emplace(*hub, me, std::chrono::duration<double>(*timeout).count());
  for (;;) {
    hub->park_nothrow(what);
    spin_then_lock(lk);  // the granter may hold it still, right after posting our wake
    if (w.granted) {
      // A kill or timeout may have woken it first: then the wake entry may still be
      // queued in the inbox, pointing at this stack. Take it out before leaving.
      // `queued` is read without the inbox's mutex: the granter set it in post() while
      // holding lk (so before we took lk), and only this OS thread (the inbox's drain,
      // cancel) clears it.
      if (w.queued) inbox->cancel(&w);
      inbox->release();
      return true;
    }
    const bool interrupted = me->wake_reason == WakeReason::kInterrupted && me->pending;
    const bool timed_out = me->wake_reason == WakeReason::kTimedOut;
    if (!interrupted && !timed_out) {
      lk.unlock();  // a stray wake-up: wait on
      continue;
    }
    list.remove(&w);
    inbox->release();
    if (timed_out) return false;
    lk.unlock();
    hub->raise_pending(me);  // throws GreenletExit / TimeoutError / LoopExit
    // Not raised (the green thread is unwinding another exception): wait on.
    lk.lock();
    list.push_back(&w);
    inbox->hold();
    lk.unlock();
  }
}

bool cross_grant(CrossWaiter& w) noexcept {
  if (w.cv) {
    w.granted = true;
    w.cv->notify_one();  // under the object's mutex: the waiter cannot be gone
    return true;
  }
  Hub* cur = Hub::current();
  if (cur && cur->serial() == w.inbox->serial()) {
    w.granted = true;
    cur->wake(w.gt);  // false if a kill or timeout woke it first: it still sees `granted`
    return true;
  }
  w.granted = true;
  if (w.inbox->post(&w)) return true;
  w.granted = false;  // its hub exited: the green thread will never run again
  return false;
}

void cross_grant_all(CrossWaitList& list) noexcept {
  while (CrossWaiter* w = list.pop_front()) cross_grant(*w);
}

}  // namespace grove::detail
