#include <grove/group.hpp>

#include <chrono>
#include <string>

#include <grove/errors.hpp>
#include <grove/duration.hpp>
#include <grove/scheduler.hpp>

#include "hub.hpp"

namespace grove {

// A member's death notification: an observer on the green thread, owned by the group.
struct Group::Member final : detail::Observer {
  Group* group = nullptr;
  GreenThreadHandle handle;
  // Runs in the dying green thread (noexcept, must not park). Erasing the entry
  // destroys this node, which notify_all() has already unlinked.
  void notify() noexcept override { group->remove(handle.state()); }
};

Group::Group() = default;

Group::~Group() {
  // Members keep running; their observers go away with the map (each unlinks itself).
  members_.clear();
}

void Group::insert(const GreenThreadHandle& g) {
  auto m = std::make_unique<Member>();
  m->group = this;
  m->handle = g;
  detail::GreenThreadState* s = g.state();
  Member* raw = m.get();
  members_.emplace(s, std::move(m));
  g.observers().push_back(raw);
  slot_taken();
  // A kill() in progress kills what joins meanwhile (a member may add itself: it is
  // not killed here, as kill_nowait() spares the caller).
  if (killing_ > 0 && !(g == current())) g.kill_nowait();
}

void Group::add(const GreenThreadHandle& g) {
  check_thread("grove::Group::add");
  if (!g) throw UsageError("grove::Group::add: empty handle");
  // Its death notification runs on its own OS thread, against this group.
  if (!detail::Hub::is_current(g.state())) {
    throw UsageError("grove::Group::add: the green thread belongs to another OS thread's hub");
  }
  if (g.dead() || contains(g)) return;
  acquire_slot(std::nullopt);
  SlotGuard slot{this};
  if (g.dead() || contains(g)) return;  // it died or was added while we waited
  insert(g);
  slot.taken = true;
}

void Group::remove(detail::GreenThreadState* s) noexcept {
  if (members_.erase(s) == 0) return;
  on_member_left();
  if (members_.empty()) empty_waiters_.wake_all_nothrow("grove::Group (its last member left)");
}

void Group::discard(const GreenThreadHandle& g) {
  check_thread("grove::Group::discard");
  if (g) remove(g.state());
}

bool Group::contains(const GreenThreadHandle& g) const noexcept {
  return g && members_.count(g.state()) != 0;
}

std::vector<GreenThreadHandle> Group::members() const {
  check_thread("grove::Group::members");
  std::vector<GreenThreadHandle> out;
  out.reserve(members_.size());
  for (const auto& [s, m] : members_) out.push_back(m->handle);
  return out;
}

void Group::check_thread(const char* what) const {
  owner_.check(what);
  // Every member belongs to one hub (add() checks): one of them tells which. Catches a
  // group whose OS thread exited and whose thread identity a later thread reuses.
  if (!members_.empty() && !detail::Hub::is_current(members_.begin()->first)) [[unlikely]] {
    throw UsageError(std::string(what) +
                     ": used from another OS thread (the members belong to another OS thread's hub)");
  }
}

bool Group::join(std::optional<Duration> timeout) {
  check_thread("grove::Group::join");
  if (contains(current())) {
    throw UsageError("grove::Group::join: called from a member of the group (it would wait for itself)");
  }
  if (!timeout) {
    while (!members_.empty()) empty_waiters_.wait("grove::Group::join");
    return true;
  }
  const auto deadline = grove::detail::deadline_after(std::chrono::steady_clock::now(), *timeout);
  while (!members_.empty()) {
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= Duration::zero()) return false;
    empty_waiters_.wait("grove::Group::join", std::chrono::duration_cast<Duration>(left));
  }
  return true;
}

void Group::kill_nowait() {
  check_thread("grove::Group::kill_nowait");
  const GreenThreadHandle me = current();
  for (const auto& [s, m] : members_) {
    if (!(m->handle == me)) m->handle.kill_nowait();  // only queues the kill: members_ is not touched
  }
}

bool Group::kill(std::optional<Duration> timeout) {
  check_thread("grove::Group::kill");
  if (contains(current())) throw UsageError("grove::Group::kill: called from a member of the group (it would wait for itself)");
  struct Killing {  // insert() kills members added while this is alive
    std::size_t& n;
    explicit Killing(std::size_t& c) : n(c) { ++n; }
    ~Killing() { --n; }
  } killing{killing_};
  if (!timeout) {
    while (!members_.empty()) {
      kill_nowait();  // again each round, for members that dodged the kill so far
      empty_waiters_.wait("grove::Group::kill");
    }
    return true;
  }
  const auto deadline = grove::detail::deadline_after(std::chrono::steady_clock::now(), *timeout);
  while (!members_.empty()) {
    kill_nowait();
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= Duration::zero()) return false;
    empty_waiters_.wait("grove::Group::kill", std::chrono::duration_cast<Duration>(left));
  }
  return true;
}

}  // namespace grove
