// stop_signal.hpp: park until SIGINT or SIGTERM arrives (samples only), with
// grove::signal_handler (grove/signal.hpp).
//
// install_stop_signals() registers the handlers at start-up, so that a signal sent
// before wait_for_stop_signal() begins waiting is kept, not lost to the default
// disposition (which would end the process at once, without the graceful stop);
// grove::wait_signal({SIGINT, SIGTERM}) alone watches them only while it waits.
// Only SIGINT and SIGTERM are watched; no other signal's disposition changes.
#pragma once

#include <signal.h>

#include <atomic>

#include <grove/mt/event.hpp>
#include <grove/signal.hpp>

namespace samples {

struct StopSignals {
  grove::SignalHandler sigint, sigterm;
  std::atomic<int> first{0};  // the first stop signal that arrived
  grove::mt::Event arrived;

  void on(int signo) {
    int none = 0;
    first.compare_exchange_strong(none, signo);
    arrived.set();
  }
};

inline StopSignals& stop_signals() {
  static StopSignals s;
  return s;
}

// Registers the handlers (on the calling OS thread's hub). Call once, before
// wait_for_stop_signal().
inline void install_stop_signals() {
  StopSignals& s = stop_signals();
  s.sigint = grove::signal_handler(SIGINT, [&s] { s.on(SIGINT); });
  s.sigterm = grove::signal_handler(SIGTERM, [&s] { s.on(SIGTERM); });
}

// Parks until SIGINT or SIGTERM has arrived (from any hub); returns the signal number.
inline int wait_for_stop_signal() {
  StopSignals& s = stop_signals();
  s.arrived.wait();
  return s.first.load();
}

}  // namespace samples
