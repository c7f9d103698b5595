#include <grove/event.hpp>

namespace grove {

void Event::set() noexcept {
  if (set_) return;
  set_ = true;
  waiters_.wake_all();
  observers_.notify_all();
}

bool Event::wait(std::optional<Duration> timeout) {
  if (set_) return true;
  return waiters_.wait("Event::wait", timeout);
}

}  // namespace grove
