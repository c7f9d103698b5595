// grove/waitable.hpp: the interface shared by everything grove::wait() and
// grove::iwait() can wait on (green threads, and the sync types that signal once).
#pragma once

#include <grove/detail/observer.hpp>

namespace grove {

// The interface of everything grove::wait() / iwait() accept (see the file
// comment): GreenThreadHandle, Event, AsyncResult. Never owned through a Waitable
// pointer (its destructor is protected).
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
  // Constructed only as the base of a waitable type.
  Waitable() = default;
  // Copied along with a copyable derived type (GreenThreadHandle).
  Waitable(const Waitable&) = default;
  // Assigned along with a copyable derived type (GreenThreadHandle).
  Waitable& operator=(const Waitable&) = default;
  // Destroyed only through the derived type.
  ~Waitable() = default;
};

}  // namespace grove
