#include <grove/event.hpp>

namespace grove {

void Event::set() { set_as("grove::Event::set"); }

void Event::set_as(const char* what) {
  owner_.check(what);
  if (set_) return;
  // Wakes first: a call from another OS thread is refused before the flag changes.
  // The woken waiters run only after this returns, so the order is not observable.
  waiters_.wake_all(what);
  set_ = true;
  observers_.notify_all();
}

bool Event::wait(std::optional<Duration> timeout) {
  owner_.check("grove::Event::wait");
  if (set_) return true;
  return waiters_.wait("Event::wait", timeout);
}

}  // namespace grove
