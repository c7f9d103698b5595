// remote_green_thread.cpp: the shared state behind RemoteGreenThread<T> (grove/spawn_on.hpp).
#include <grove/spawn_on.hpp>

#include "../hub.hpp"
#include "hub_inbox.hpp"

namespace grove::detail {

namespace {

// kill() from another hub: delivered on the target's hub.
struct KillOnHub final : InboxEntry {
  explicit KillOnHub(GreenThreadHandle g) noexcept : target(std::move(g)) {}
  void run() noexcept override {
    try {
      target.kill_nowait();
    } catch (...) {
    }
    delete this;
  }
  void drop() noexcept override { delete this; }
  GreenThreadHandle target;
};

}  // namespace

RemoteStateBase::~RemoteStateBase() = default;

void RemoteStateBase::started(GreenThreadHandle g) noexcept {
  std::unique_lock<std::mutex> lk(mu);
  if (phase != Phase::kQueued) return;
  phase = Phase::kRunning;
  target = g;
  hub.inbox()->add_exit_hook(this);  // on the target hub's thread: hooks are its own
  const bool kill_now = kill_requested;
  lk.unlock();
  if (kill_now) g.kill_nowait();  // not started yet: its function never runs
}

void RemoteStateBase::complete(std::unique_lock<std::mutex>& lk, std::exception_ptr e, bool was_killed) noexcept {
  (void)lk;
  if (phase >= Phase::kDone) return;
  phase = Phase::kDone;
  error = std::move(e);
  killed = was_killed;
  hub.inbox()->remove_exit_hook(this);
  target = GreenThreadHandle();  // on its own hub: drops the reference
  cross_grant_all(waiters);
}

void RemoteStateBase::hub_exited() noexcept {
  std::lock_guard<std::mutex> lk(mu);
  if (phase >= Phase::kDone) return;
  phase = Phase::kHubExited;
  target = GreenThreadHandle();  // abandoned with its hub; the hub leaves its stack mapped
  cross_grant_all(waiters);
}

bool RemoteStateBase::wait(const Duration* timeout, const char* what) {
  std::unique_lock<std::mutex> lk(mu);
  if (phase < Phase::kDone && target) {
    Hub* h = Hub::current();
    if (h && h->running() == target.state()) throw UsageError(std::string(what) + ": a green thread cannot join itself");
  }
  // In the child of a fork(), a green thread of another OS thread's hub never finishes:
  // that thread does not exist there.
  if (phase < Phase::kDone && hub.inbox()->gone_by_fork()) phase = Phase::kHubExited;
  while (phase < Phase::kDone) {
    CrossWaiter w;
    if (!cross_wait(lk, waiters, w, what, timeout)) break;
  }
  if (phase == Phase::kHubExited) {
    throw HubExited(std::string(what) + ": " + hub.name() +
                    " exited before the green thread finished (abandoned with its hub)");
  }
  return phase == Phase::kDone;
}

void RemoteStateBase::request_kill() {
  std::unique_lock<std::mutex> lk(mu);
  if (phase != Phase::kQueued && phase != Phase::kRunning) return;
  kill_requested = true;
  if (phase == Phase::kQueued) return;  // started() kills it
  GreenThreadHandle g = target;
  lk.unlock();
  if (hub.is_current()) {
    g.kill_nowait();  // throws GreenletExit if it kills itself, as GreenThreadHandle::kill
    return;
  }
  auto* e = new KillOnHub(std::move(g));
  if (!hub.inbox()->post(e)) delete e;  // the hub exited: hub_exited() wakes the waiters
}

void RemoteStateBase::rethrow_if_failed(const char* what) const {
  if (error) std::rethrow_exception(error);
  if (killed) throw GreenThreadKilled(std::string(what) + ": the green thread was killed");
}

}  // namespace grove::detail
