// grove/waitable.hpp: the interface shared by everything grove::wait() and
// grove::iwait() can wait on (green threads, and the sync types that signal once).
#pragma once

#include <grove/detail/observer.hpp>

namespace grove {

class Waitable {
 public:
  // True once the object has happened (green thread dead, event set, result set).
  virtual bool ready() const = 0;
  // The list notified when it becomes ready. Used by wait()/iwait() and join().
  virtual detail::ObserverList& observers() const = 0;
  // Called when a waiter registers, so a green thread that is waited for does not
  // also log its failure as unobserved.
  virtual void mark_observed() const {}

 protected:
  Waitable() = default;
  Waitable(const Waitable&) = default;
  Waitable& operator=(const Waitable&) = default;
  ~Waitable() = default;
};

}  // namespace grove
