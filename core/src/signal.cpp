// signal.cpp: signal_handler() and wait_signal() (grove/signal.hpp); the process-wide
// part is signal_registry.cpp.
#include <grove/signal.hpp>

#include <atomic>
#include <span>
#include <utility>

#include <grove/errors.hpp>
#include <grove/hub_ref.hpp>
#include <grove/mt/event.hpp>

#include "signal_registry.hpp"

namespace grove {

namespace {

// A signal_handler(): each delivery posts a run of fn to the registering hub.
class HandlerSubscriber final : public detail::SignalSubscriber,
                                public std::enable_shared_from_this<HandlerSubscriber> {
 public:
  HandlerSubscriber(HubRef hub, std::function<void()> fn) : SignalSubscriber(std::move(hub)), fn_(std::move(fn)) {}

  void deliver(int) noexcept override {
    try {
      // False if the hub has exited: nobody is left to run it.
      (void)hub().post([self = shared_from_this()] {
        if (self->active_.load(std::memory_order_acquire)) self->fn_();
      });
    } catch (...) {
      // Out of memory for the post: this arrival is lost (the reader must go on).
    }
  }
  void deactivate() noexcept override { active_.store(false, std::memory_order_release); }

 private:
  const std::function<void()> fn_;
  std::atomic<bool> active_{true};
};

// A wait_signal() call: the first delivery is kept and wakes it.
class WaiterSubscriber final : public detail::SignalSubscriber {
 public:
  WaiterSubscriber() : SignalSubscriber(detail::hub_running_here()) {}
  void deliver(int signo) noexcept override {
    int none = 0;
    if (got.compare_exchange_strong(none, signo)) arrived.set();
  }

  std::atomic<int> got{0};
  mt::Event arrived;
};

// Unsubscribes a waiter however wait_signal() leaves.
struct WaiterSubscription {
  std::span<const int> signals;
  const detail::SignalSubscriber* sub;
  ~WaiterSubscription() { detail::unsubscribe_signals(signals, sub); }
};

}  // namespace

SignalHandler& SignalHandler::operator=(SignalHandler&& o) noexcept {
  if (this != &o) {
    cancel();
    signo_ = std::exchange(o.signo_, 0);
    sub_ = std::move(o.sub_);
  }
  return *this;
}

void SignalHandler::cancel() noexcept {
  if (!sub_) return;
  sub_->deactivate();
  const int signo = signo_;
  detail::unsubscribe_signals(std::span<const int>(&signo, 1), sub_.get());
  sub_.reset();
  signo_ = 0;
}

SignalHandler signal_handler(int signo, std::function<void()> fn) {
  detail::check_watchable_signal(signo, "grove::signal_handler");
  if (!fn) throw UsageError("grove::signal_handler: empty function");
  auto sub = std::make_shared<HandlerSubscriber>(this_hub(), std::move(fn));
  detail::subscribe_signals(std::span<const int>(&signo, 1), sub);
  return SignalHandler(signo, std::move(sub));
}

int wait_signal(std::initializer_list<int> signals, std::optional<Duration> timeout) {
  if (signals.size() == 0) throw UsageError("grove::wait_signal: no signal to wait for");
  for (const int s : signals) detail::check_watchable_signal(s, "grove::wait_signal");
  auto sub = std::make_shared<WaiterSubscriber>();
  const std::span<const int> list(signals.begin(), signals.size());
  detail::subscribe_signals(list, sub);
  {
    WaiterSubscription subscribed{list, sub.get()};
    (void)sub->arrived.wait(timeout);
  }
  // Read once unsubscribed: a signal that came between a timeout and then is not lost.
  return sub->got.load();
}

}  // namespace grove
