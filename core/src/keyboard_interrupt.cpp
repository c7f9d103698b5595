// keyboard_interrupt.cpp: interrupt_on_sigint() (grove/signal.hpp): SIGINT raises
// grove::KeyboardInterrupt in the root green thread.
//
// A signal_handler whose function (a green thread on the registering hub) sets the
// root's kPendingKeyboardInterrupt bit through Hub::interrupt, the way kill() sets
// kPendingKill: the root is woken if parked, and the hub raises KeyboardInterrupt at
// its current or next blocking point (Hub::raise_pending), and keeps it pending while
// the root unwinds another exception, as a kill.
#include <signal.h>

#include <grove/hub_ref.hpp>
#include <grove/signal.hpp>

#include "hub.hpp"

namespace grove {

SignalHandler interrupt_on_sigint() {
  const std::uint64_t serial = this_hub().serial();  // UsageError in a thread-pool job
  return signal_handler(SIGINT, [serial] {
    detail::Hub* hub = detail::Hub::current();
    if (hub && hub->serial() == serial) hub->interrupt(hub->root(), detail::kPendingKeyboardInterrupt);
  });
}

}  // namespace grove
