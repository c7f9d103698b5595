// mt_event.cpp: grove::mt::Event (grove/mt/event.hpp).
#include <grove/mt/event.hpp>

namespace grove::mt {

void Event::set() {
  std::lock_guard<std::mutex> lk(mu_);
  set_ = true;
  detail::cross_grant_all(waiters_);
}

void Event::clear() {
  std::lock_guard<std::mutex> lk(mu_);
  set_ = false;
}

bool Event::is_set() const {
  std::lock_guard<std::mutex> lk(mu_);
  return set_;
}

bool Event::wait(std::optional<Duration> timeout) {
  std::unique_lock<std::mutex> lk(mu_);
  while (!set_) {
    detail::CrossWaiter w;
    // Granted by set(); a clear() right after may make the flag false again, but the
    // set happened while we waited: return true, as grove::Event does.
    if (!detail::cross_wait(lk, waiters_, w, "mt::Event::wait", timeout ? &*timeout : nullptr)) return set_;
    return true;
  }
  return true;
}

}  // namespace grove::mt
