// wait.cpp: wait(), joinall(), killall(), iwait().
#include <grove/wait.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <string>

#include <grove/duration.hpp>
#include <grove/scheduler.hpp>

#include "hub.hpp"

namespace grove {

namespace {

using Clock = std::chrono::steady_clock;

// One per object waited on: records it as ready and wakes the waiter, but only while
// the waiter is parked in wait() / IWait::next() (`parked`): between two next() calls
// an iwait loop's body may park on something else (a sleep), which a ready object
// must not cut short.
struct ReadyObserver final : detail::Observer {
  detail::Hub* hub = nullptr;
  detail::GreenThreadState* waiter = nullptr;
  const Waitable* object = nullptr;
  std::deque<const Waitable*>* done = nullptr;
  const bool* parked = nullptr;
  void notify() noexcept override {
    if (hub != detail::Hub::current()) [[unlikely]] {
      // The object was made ready on another OS thread (an Event set by a thread-pool
      // worker): waking the waiter there would corrupt its hub, and not waking it would
      // lose the wake-up. Nothing sensible is left to do.
      std::fprintf(stderr,
                   "grove: fatal misuse: an object that grove::wait / iwait waits on was made ready "
                   "from another OS thread than the waiter's\n");
      std::abort();
    }
    try {
      done->push_back(object);
    } catch (...) {
      // Out of memory: the object is simply found ready on the next scan.
    }
    if (*parked) hub->wake(waiter);
  }
};

// Sets a flag for its lifetime.
struct FlagScope {
  bool& flag;
  explicit FlagScope(bool& f) : flag(f) { flag = true; }
  ~FlagScope() { flag = false; }
};

// Parks until `done` has grown or the deadline passed; returns false on timeout.
bool park_until(detail::Hub& hub, const std::optional<Clock::time_point>& deadline, const char* what) {
  if (!deadline) {
    hub.park(what);
    return true;
  }
  const auto left = *deadline - Clock::now();
  if (left <= Clock::duration::zero()) return false;
  return hub.park_for(std::chrono::duration<double>(left).count(), what);
}

// UsageError unless every green thread among `objects` can be waited for by the
// caller: a handle that is empty, of another OS thread's hub, or the caller's own
// (it would wait for itself). Checked before anything is registered.
void check_waitables(const std::vector<const Waitable*>& objects, detail::Hub& hub, const char* what) {
  for (const Waitable* w : objects) {
    const auto* h = dynamic_cast<const GreenThreadHandle*>(w);
    if (!h) continue;
    if (!*h) throw UsageError(std::string(what) + ": empty green thread handle");
    if (h->state()->hub_serial != hub.serial()) {
      throw UsageError(std::string(what) + ": a green thread belongs to another OS thread's hub");
    }
    if (h->state() == hub.running()) {
      throw UsageError(std::string(what) + ": a green thread cannot wait for itself");
    }
  }
}

}  // namespace

std::vector<const Waitable*> wait(const std::vector<const Waitable*>& objects, std::optional<Duration> timeout,
                                  std::size_t count) {
  detail::Hub& hub = detail::Hub::get();
  check_waitables(objects, hub, "grove::wait");
  const std::size_t want = std::min(count, objects.size());
  std::vector<const Waitable*> result;
  std::deque<const Waitable*> done;
  for (const Waitable* w : objects) {
    w->mark_observed();
    if (w->ready() && result.size() < want) result.push_back(w);
  }
  if (result.size() >= want) return result;
  hub.check_may_block("grove::wait");

  std::optional<Clock::time_point> deadline;
  if (timeout) deadline = grove::detail::deadline_after(Clock::now(), *timeout);
  bool parked = false;
  std::unique_ptr<ReadyObserver[]> obs(new ReadyObserver[objects.size()]);
  for (std::size_t i = 0; i < objects.size(); ++i) {
    if (objects[i]->ready()) continue;
    obs[i].hub = &hub;
    obs[i].waiter = hub.running();
    obs[i].object = objects[i];
    obs[i].done = &done;
    obs[i].parked = &parked;
    objects[i]->observers().push_back(&obs[i]);
  }
  while (result.size() < want) {
    if (done.empty()) {
      FlagScope in_park(parked);
      if (!park_until(hub, deadline, "wait")) break;
    }
    while (!done.empty() && result.size() < want) {
      result.push_back(done.front());
      done.pop_front();
    }
  }
  return result;
}

bool joinall(const std::vector<GreenThreadHandle>& threads, std::optional<Duration> timeout) {
  std::vector<const Waitable*> objs;
  objs.reserve(threads.size());
  for (const auto& t : threads) {
    if (!t) throw UsageError("grove::joinall: empty green thread handle");
    if (!detail::Hub::is_current(t.state())) {
      throw UsageError("grove::joinall: a green thread belongs to another OS thread's hub");
    }
    if (t == current()) throw UsageError("grove::joinall: a green thread cannot join itself");
    objs.push_back(&t);
  }
  return wait(objs, timeout).size() == objs.size();
}

bool killall(const std::vector<GreenThreadHandle>& threads, std::optional<Duration> timeout) {
  for (const auto& t : threads) {
    if (t != current()) t.kill_nowait();
  }
  std::vector<GreenThreadHandle> others;
  for (const auto& t : threads) {
    if (t != current()) others.push_back(t);
  }
  return joinall(others, timeout);
}

struct IWait::Impl {
  detail::Hub& hub = detail::Hub::get();
  std::vector<const Waitable*> objects;
  std::unique_ptr<ReadyObserver[]> obs;
  std::deque<const Waitable*> done;
  std::size_t returned = 0;
  std::optional<Clock::time_point> deadline;
  bool parked = false;  // in next(), parked for the next ready object
};

IWait::IWait(std::vector<const Waitable*> objects, std::optional<Duration> timeout) {
  check_waitables(objects, detail::Hub::get(), "grove::iwait");  // before anything is registered
  impl_ = new Impl;
  impl_->objects = std::move(objects);
  if (timeout) impl_->deadline = grove::detail::deadline_after(Clock::now(), *timeout);
  const std::size_t n = impl_->objects.size();
  impl_->obs.reset(new ReadyObserver[n]);
  for (std::size_t i = 0; i < n; ++i) {
    const Waitable* w = impl_->objects[i];
    w->mark_observed();
    if (w->ready()) {
      impl_->done.push_back(w);
      continue;
    }
    impl_->obs[i].hub = &impl_->hub;
    impl_->obs[i].waiter = impl_->hub.running();
    impl_->obs[i].object = w;
    impl_->obs[i].done = &impl_->done;
    impl_->obs[i].parked = &impl_->parked;
    w->observers().push_back(&impl_->obs[i]);
  }
}

IWait::~IWait() { delete impl_; }

const Waitable* IWait::next() {
  Impl& m = *impl_;
  if (m.returned == m.objects.size()) return nullptr;
  while (m.done.empty()) {
    FlagScope in_park(m.parked);
    if (!park_until(m.hub, m.deadline, "iwait")) return nullptr;
  }
  const Waitable* w = m.done.front();
  m.done.pop_front();
  ++m.returned;
  return w;
}

}  // namespace grove
