// hub_inbox.cpp: the per-hub inbox other OS threads post to (see hub_inbox.hpp).
#include "hub_inbox.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <new>

#include "../config.hpp"
#include "../hub.hpp"
#include "spin_then_lock.hpp"

namespace grove::detail {

namespace {

std::string inbox_name(const Hub& hub) {
  std::string n = "hub ";
  n.append(std::to_string(hub.serial())).append(" (OS thread ");
  n.append(std::to_string(static_cast<long>(::syscall(SYS_gettid)))).append(")");
  return n;
}

// Closes this thread's inbox at thread exit. Constructed after the hub (see
// of_this_thread), so destroyed before it: the loop still exists in close().
struct InboxOwner {
  std::shared_ptr<HubInbox> inbox;
  ~InboxOwner() {
    if (inbox) inbox->close();
  }
};

}  // namespace

const std::shared_ptr<HubInbox>& HubInbox::of_this_thread() {
  Hub& hub = Hub::get();
  thread_local InboxOwner owner;  // after Hub::get(): destroyed before the hub
  if (!owner.inbox) owner.inbox = std::make_shared<HubInbox>(hub);
  return owner.inbox;
}

HubInbox::HubInbox(Hub& hub)
    : hub_(hub),
      serial_(hub.serial()),
      name_(inbox_name(hub)),
      spin_seconds_(static_cast<double>(config().inbox_spin_us) * 1e-6),
      generation_(fork_generation()) {
  ev_async_init(&async_, &HubInbox::on_async);
  async_.data = this;
  ev_async_start(hub_.loop(), &async_);
  ev_unref(hub_.loop());  // an idle inbox does not keep the loop alive
  hub_.set_inbox(this);
}

void HubInbox::after_fork_in_child() noexcept {
  mu_.reinit_after_fork();
  generation_ = fork_generation();
}

HubInbox::~HubInbox() {
  // Only entries posted after close() could be here, and post() refuses those.
}

bool HubInbox::post(InboxEntry* e) noexcept {
  if (gone_by_fork()) [[unlikely]] return false;
  std::lock_guard<KernelMutex> lk(mu_);
  if (closed_) return false;
  e->next = nullptr;
  e->queued = true;
  if (tail_) tail_->next = e; else head_ = e;
  tail_ = e;
  // Under mu_: close() takes mu_ before the loop goes. Coalesced by libev while one
  // is pending, so a burst of posts makes one wake-up; no system call at all while
  // the hub is out of its poll (spinning, or running green threads).
  ev_async_send(hub_.loop(), &async_);
  // Last: a spinning hub that sees it takes mu_ next, which we are about to release.
  posted_.store(true, std::memory_order_release);
  return true;
}

void HubInbox::cancel(InboxEntry* e) noexcept {
  spin_then_lock(mu_);
  std::lock_guard<KernelMutex> lk(mu_, std::adopt_lock);
  if (!e->queued) return;
  InboxEntry* prev = nullptr;
  for (InboxEntry* x = head_; x; prev = x, x = x->next) {
    if (x != e) continue;
    if (prev) prev->next = x->next; else head_ = x->next;
    if (tail_ == x) tail_ = prev;
    break;
  }
  e->queued = false;
  e->next = nullptr;
  if (!head_) posted_.store(false, std::memory_order_relaxed);
}

void HubInbox::hold() noexcept {
  if (holds_++ == 0) ev_ref(hub_.loop());
  hub_.job_started();
}

void HubInbox::release() noexcept {
  hub_.job_finished();
  if (--holds_ == 0) ev_unref(hub_.loop());
}

void HubInbox::add_exit_hook(ExitHook* h) noexcept {
  h->hook_prev = nullptr;
  h->hook_next = hooks_;
  if (hooks_) hooks_->hook_prev = h;
  hooks_ = h;
  h->hooked = true;
}

void HubInbox::remove_exit_hook(ExitHook* h) noexcept {
  if (!h->hooked) return;
  if (h->hook_prev) h->hook_prev->hook_next = h->hook_next; else hooks_ = h->hook_next;
  if (h->hook_next) h->hook_next->hook_prev = h->hook_prev;
  h->hook_prev = h->hook_next = nullptr;
  h->hooked = false;
}

bool HubInbox::closed() const {
  if (gone_by_fork()) return true;
  std::lock_guard<KernelMutex> lk(mu_);
  return closed_;
}

void HubInbox::on_async(struct ev_loop* loop, ev_async* w, int) noexcept {
  auto* self = static_cast<HubInbox*>(w->data);
  // Woken from its poll: had the hub spun, would this post have found it spinning?
  // (ev_now was read just after the poll; idle_since_ may be older than the moment
  // the hub went idle, which only makes the gap look longer.)
  if (self->idle_since_ >= 0 && self->posted_.load(std::memory_order_relaxed)) {
    self->spin_armed_ = ev_now(loop) - self->idle_since_ <= self->spin_seconds_;
  }
  self->idle_since_ = -1;
  self->drain();
}

bool HubInbox::spin_for_posts() noexcept {
  if (holds_ == 0 || spin_seconds_ <= 0) return false;  // nobody here waits for another OS thread
  if (spin_armed_) {
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + std::chrono::duration<double>(spin_seconds_);
    hub_.polling_.store(true, std::memory_order_relaxed);  // idle, for the blocked-hub monitor
    bool posted = false;
    for (unsigned i = 1;; ++i) {
      if (posted_.load(std::memory_order_acquire)) {
        posted = true;
        break;
      }
      cpu_relax();
      if (i % 32 == 0 && Clock::now() >= deadline) break;  // a clock read per ~1-4 us of pausing
    }
    hub_.polling_.store(false, std::memory_order_relaxed);
    if (posted) {
      drain();
      return true;
    }
    spin_armed_ = false;  // did not pay: not again until a post comes soon after idling
  }
  idle_since_ = ev_now(hub_.loop());
  return false;
}

InboxEntry* HubInbox::take_batch(bool close) noexcept {
  spin_then_lock(mu_);  // a poster may hold it still (spin_then_lock.hpp)
  std::lock_guard<KernelMutex> lk(mu_, std::adopt_lock);
  if (close) closed_ = true;
  InboxEntry* list = head_;
  head_ = tail_ = nullptr;
  posted_.store(false, std::memory_order_relaxed);
  for (InboxEntry* e = list; e; e = e->next) e->queued = false;
  return list;
}

template <class F>
void HubInbox::each_unlinked(InboxEntry* list, F&& f) noexcept {
  while (list) {
    InboxEntry* e = list;
    list = list->next;
    e->next = nullptr;
    f(e);
  }
}

void HubInbox::drain() noexcept {
  // Every entry of the batch runs before any green thread does (run() never switches),
  // so a waiter that finds its wake entry no longer queued knows it has been run.
  each_unlinked(take_batch(false), [](InboxEntry* e) { e->run(); });
}

void HubInbox::close() noexcept {
  each_unlinked(take_batch(true), [](InboxEntry* e) { e->drop(); });
  while (ExitHook* h = hooks_) {
    remove_exit_hook(h);
    h->hub_exited();
  }
  hub_.set_inbox(nullptr);
  if (holds_ == 0) ev_ref(hub_.loop());  // balance the unref before stopping
  ev_async_stop(hub_.loop(), &async_);
}

}  // namespace grove::detail
