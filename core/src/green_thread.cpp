// green_thread.cpp: what a GreenThreadHandle can do to its green thread.
#include <grove/green_thread.hpp>

#include <chrono>

#include "hub.hpp"

namespace grove {

namespace {

using detail::GreenThreadState;
using detail::Hub;

[[noreturn, gnu::cold, gnu::noinline]] void refuse_handle(const GreenThreadState* s, const char* op) {
  if (!s) throw UsageError(std::string("grove::GreenThreadHandle::") + op + ": empty handle");
  throw UsageError(std::string("grove::GreenThreadHandle::") + op +
                   ": the green thread belongs to another OS thread's hub");
}

// In the child process of a fork(), a green thread other than the one that called it
// never runs again (core/src/fork.cpp): waiting for it would wait forever.
[[noreturn, gnu::cold, gnu::noinline]] void refuse_abandoned(const GreenThreadState* s, const char* op) {
  throw UsageError(std::string("grove::GreenThreadHandle::") + op + ": green thread " + s->hub->describe(s) +
                   " was abandoned at fork(): only the green thread that called fork() continues in the "
                   "child process");
}

// The caller's hub, after checking that `s` belongs to it.
inline Hub& own_hub(const GreenThreadState* s, const char* op) {
  if (!s || !Hub::is_current(s)) [[unlikely]] refuse_handle(s, op);
  return *s->hub;
}

// Wakes one green thread when the observed one dies.
struct WakeOnNotify final : detail::Observer {
  WakeOnNotify(Hub& h, GreenThreadState* g) : hub(h), gt(g) {}
  void notify() noexcept override { hub.wake(gt); }
  Hub& hub;
  GreenThreadState* gt;
};

bool join_impl(const GreenThreadState* cs, const char* op, const Duration* timeout) {
  auto* s = const_cast<GreenThreadState*>(cs);
  Hub& hub = own_hub(s, op);
  GreenThreadState* me = hub.running();
  if (s == me) throw UsageError(std::string("grove::GreenThreadHandle::") + op + ": a green thread cannot join itself");
  s->observed = true;
  if (s->status == detail::Status::kDead) return true;
  if (s->status == detail::Status::kAbandoned) [[unlikely]] refuse_abandoned(s, op);
  hub.check_may_block(op);
  WakeOnNotify obs(hub, me);
  s->observers.push_back(&obs);
  if (!timeout) {
    while (s->status != detail::Status::kDead) hub.park("join", s);
    return true;
  }
  const auto deadline = grove::detail::deadline_after(std::chrono::steady_clock::now(), *timeout);
  while (s->status != detail::Status::kDead) {
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= Duration::zero() || !hub.park_for(std::chrono::duration<double>(left).count(), "join", s)) {
      return s->status == detail::Status::kDead;
    }
  }
  return true;
}

}  // namespace

void GreenThreadHandle::join() const { join_impl(s_, "join", nullptr); }
bool GreenThreadHandle::join(Duration timeout) const { return join_impl(s_, "join", &timeout); }
void GreenThreadHandle::join_for_get() const { join_impl(s_, "get", nullptr); }

void GreenThreadHandle::kill_nowait() const {
  Hub& hub = own_hub(s_, "kill");
  if (s_->status == detail::Status::kDead) return;
  if (s_ == hub.running()) {
    s_->exiting = true;
    throw GreenletExit{};
  }
  hub.interrupt(s_, detail::kPendingKill);
}

void GreenThreadHandle::kill() const {
  kill_nowait();
  join_impl(s_, "kill", nullptr);
}

bool GreenThreadHandle::kill(Duration timeout) const {
  kill_nowait();
  return join_impl(s_, "kill", &timeout);
}

// The queries: false / empty on an empty handle, UsageError from another OS thread
// (the state they read changes on the hub's thread without any lock).
bool GreenThreadHandle::ready() const {
  if (!s_) return false;
  own_hub(s_, "ready");
  return s_->status == detail::Status::kDead;
}
bool GreenThreadHandle::started() const {
  if (!s_) return false;
  own_hub(s_, "started");
  return s_->started;
}
bool GreenThreadHandle::successful() const { return ready() && !s_->error && !s_->killed; }
bool GreenThreadHandle::killed() const { return ready() && s_->killed; }
std::exception_ptr GreenThreadHandle::exception() const {
  if (!s_) return nullptr;
  own_hub(s_, "exception");
  return s_->error;
}
std::uint64_t GreenThreadHandle::id() const { return s_ ? s_->id : 0; }  // set before any handle exists

std::string GreenThreadHandle::name() const {
  if (!s_) return {};
  own_hub(s_, "name");
  if (!s_->name.empty()) return s_->name;
  return "GreenThread-" + std::to_string(s_->id);
}

void GreenThreadHandle::set_name(std::string name) const {
  own_hub(s_, "set_name");
  s_->name = std::move(name);
}

detail::ObserverList& GreenThreadHandle::observers() const {
  own_hub(s_, "observers");
  return s_->observers;
}
void GreenThreadHandle::mark_observed() const {
  // grove::wait / iwait refuse an empty handle before they get here; this keeps any
  // other caller from a null dereference.
  if (!s_) throw UsageError("grove::wait: empty green thread handle");
  own_hub(s_, "mark_observed");
  s_->observed = true;
}

namespace {
void add_link(GreenThreadState* s, std::function<void(GreenThreadHandle)> cb, std::uint8_t when) {
  Hub& hub = own_hub(s, "link");
  (void)hub;
  s->observed = true;
  if (s->status == detail::Status::kDead) {
    const bool ok = !s->error && !s->killed;
    if (when == 0 || (when == 1 && ok) || (when == 2 && !ok)) {
      grove::spawn([cb = std::move(cb)](GreenThreadHandle h) { cb(std::move(h)); }, GreenThreadHandle(s));
    }
    return;
  }
  auto* node = new detail::LinkNode{std::move(cb), when, nullptr};
  detail::LinkNode** tail = &s->links;
  while (*tail) tail = &(*tail)->next;
  *tail = node;
}
}  // namespace

void GreenThreadHandle::link(std::function<void(GreenThreadHandle)> cb) const { add_link(s_, std::move(cb), 0); }
void GreenThreadHandle::link_value(std::function<void(GreenThreadHandle)> cb) const { add_link(s_, std::move(cb), 1); }
void GreenThreadHandle::link_exception(std::function<void(GreenThreadHandle)> cb) const {
  add_link(s_, std::move(cb), 2);
}

namespace detail {

// See "Handles on other OS threads" in hub.cpp.
void drop_ref(GreenThreadState* gt) noexcept {
  if (Hub::is_current(gt)) {
    // A count of 1 is the caller's own reference, the only one left: nobody else can
    // copy or drop one meanwhile, so a plain store does (no locked instruction).
    std::uint32_t before = gt->refs.load(std::memory_order_acquire);
    if (before == 1) {
      gt->refs.store(0, std::memory_order_relaxed);
    } else {
      before = gt->refs.fetch_sub(1, std::memory_order_acq_rel);
    }
    // Alive: the hub frees it at its death. A set kRefHandedToHub: free_handed() will.
    // Dying (a handle dropped by its own last notifications, still on its stack): the
    // context that resumes after it frees it (Hub::after_switch).
    if (before == 1 && gt->status == Status::kDead && gt->hub->running() != gt) gt->hub->release(gt);
    return;
  }
  // Another OS thread (or this one after its hub is gone): never take the count to
  // zero, which would let the hub free the stack under us; the last reference sets
  // kRefHandedToHub and hands the green thread to its hub.
  std::uint32_t r = gt->refs.load(std::memory_order_relaxed);
  for (;;) {
    const bool last = r == 1;
    const std::uint32_t next = last ? kRefHandedToHub : r - 1;
    if (gt->refs.compare_exchange_weak(r, next, std::memory_order_acq_rel, std::memory_order_relaxed)) {
      if (last) Hub::hand_over(gt);
      return;
    }
  }
}

void rethrow_if_failed(GreenThreadState* s) {
  if (s->error) std::rethrow_exception(s->error);
  if (s->killed) {
    throw GreenThreadKilled("grove: green thread '" +
                            (s->name.empty() ? "GreenThread-" + std::to_string(s->id) : s->name) +
                            "' was killed before it returned a value");
  }
}
}  // namespace detail

}  // namespace grove
