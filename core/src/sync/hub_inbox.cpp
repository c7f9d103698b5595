// hub_inbox.cpp: the per-hub inbox other OS threads post to (see hub_inbox.hpp).
#include "hub_inbox.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include "../hub.hpp"

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

HubInbox::HubInbox(Hub& hub) : hub_(hub), serial_(hub.serial()), name_(inbox_name(hub)) {
  ev_async_init(&async_, &HubInbox::on_async);
  async_.data = this;
  ev_async_start(hub_.loop(), &async_);
  ev_unref(hub_.loop());  // an idle inbox does not keep the loop alive
}

HubInbox::~HubInbox() {
  // Only entries posted after close() could be here, and post() refuses those.
}

bool HubInbox::post(InboxEntry* e) noexcept {
  std::lock_guard<std::mutex> lk(mu_);
  if (closed_) return false;
  e->next = nullptr;
  e->queued = true;
  if (tail_) tail_->next = e; else head_ = e;
  tail_ = e;
  // Under mu_: close() takes mu_ before the loop goes. Coalesced by libev while one
  // is pending, so a burst of posts makes one wake-up.
  ev_async_send(hub_.loop(), &async_);
  return true;
}

void HubInbox::cancel(InboxEntry* e) noexcept {
  std::lock_guard<std::mutex> lk(mu_);
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
  std::lock_guard<std::mutex> lk(mu_);
  return closed_;
}

void HubInbox::on_async(struct ev_loop*, ev_async* w, int) noexcept { static_cast<HubInbox*>(w->data)->drain(); }

InboxEntry* HubInbox::take_batch(bool close) noexcept {
  std::lock_guard<std::mutex> lk(mu_);
  if (close) closed_ = true;
  InboxEntry* list = head_;
  head_ = tail_ = nullptr;
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
  if (holds_ == 0) ev_ref(hub_.loop());  // balance the unref before stopping
  ev_async_stop(hub_.loop(), &async_);
}

}  // namespace grove::detail
