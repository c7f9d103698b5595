// grove/signal.hpp: POSIX signals, delivered to green threads (gevent.signal_handler,
// Go's os/signal).
//
//   auto hup = grove::signal_handler(SIGHUP, [] { reload_config(); });  // until hup is destroyed
//   int sig = grove::wait_signal({SIGINT, SIGTERM});                    // parks until one arrives
//
// A handler's function never runs inside the signal handler: grove's sigaction handler
// only writes the signal number to a self-pipe, and one hub reads it (an ev_io in its
// loop: no OS thread is added) and tells each subscriber: a signal_handler's function
// runs in a new green thread on the hub that registered it (posted to that hub's inbox,
// which wakes it at once, even from its poll); a wait_signal caller is woken where it
// waits. The reader is the first hub that registered a handler or waits; when its last
// one goes or its OS thread exits, another hub with one takes over (no arrival lost).
// Only while no hub has any, a plain OS thread's wait_signal is served by a small
// thread of grove's ("grove-signals"). So any hub (grove::HubThread's included) may
// register handlers and wait, and it does not matter which OS thread the kernel picks
// to run the handler (a hub, a thread-pool worker, the monitor). A hub that reads
// delivers every hub's signals: while it is blocked outside grove (a plain blocking
// call), the others' signals wait for it too.
//
// Several handlers and waiters of one signal coexist; each is told of every arrival.
// The first one of a signal installs grove's handler and saves the disposition it
// replaced; removing the last one restores it. A signal that arrives while no handler or
// waiter is registered gets that previous disposition (SIGINT and SIGTERM end the
// process by default): keep a signal_handler alive for as long as a signal must not.
//
// Coalescing: a handler's function runs once per run of the sigaction handler, even if
// several arrive before its hub gets to them. The kernel does not queue a standard
// signal that is sent again while still pending, before any thread ran the handler:
// those arrivals are one.
//
// A handler does not keep its hub alive: like a gevent signal watcher (ref=False), it
// does not stop the deadlock check from raising LoopExit in main if nothing else can
// wake it. wait_signal does count as a wait another thread will end.
//
// fork(): in the child, only the handlers and waiters of the OS thread that forked are
// kept (grove::fork(), grove/fork.hpp).
//
// Signals grove itself uses: a hub's dump signal (grove/diagnostics.hpp) and the
// prefork supervisor's (grove/net/prefork.hpp) install handlers of their own; registering
// one of those signals here too replaces theirs until the last registration goes.
#pragma once

#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>

#include <grove/duration.hpp>
#include <grove/export.hpp>

namespace grove {

namespace detail {
class SignalSubscriber;
}

// A registered signal handler (signal_handler()): movable; destroying it, or cancel(),
// removes the registration. May be moved, cancelled and destroyed on any OS thread.
class GROVE_API SignalHandler {
 public:
  // Registers nothing.
  SignalHandler() noexcept = default;
  // For signal_handler() and interrupt_on_sigint().
  SignalHandler(int signo, std::shared_ptr<detail::SignalSubscriber> sub) noexcept
      : signo_(signo), sub_(std::move(sub)) {}
  // Takes over `o`'s registration; `o` is left empty.
  SignalHandler(SignalHandler&& o) noexcept : signo_(o.signo_), sub_(std::move(o.sub_)) { o.signo_ = 0; }
  // Cancels this registration, then takes over o's.
  SignalHandler& operator=(SignalHandler&& o) noexcept;
  SignalHandler(const SignalHandler&) = delete;
  SignalHandler& operator=(const SignalHandler&) = delete;
  ~SignalHandler() { cancel(); }

  // Removes the registration: the function is not started again, and a run already
  // queued on its hub but not begun is skipped (one already running goes on). Restores
  // the signal's previous disposition if this was its last handler or waiter. Does
  // nothing if already cancelled or empty. May block the calling OS thread for the
  // moment grove's signal thread takes to exit, when this was the process's last
  // registration.
  void cancel() noexcept;
  // True until cancel() (false for an empty handle).
  bool active() const noexcept { return sub_ != nullptr; }
  // The signal it handles (0 if empty).
  int signo() const noexcept { return signo_; }

 private:
  int signo_ = 0;
  std::shared_ptr<detail::SignalSubscriber> sub_;
};

// Runs fn() in a new green thread on the calling OS thread's hub each time `signo`
// arrives, until the returned handle is cancelled or destroyed (see the comment at the
// top of grove/signal.hpp). An exception fn throws is logged, as for any green thread
// nobody joins. UsageError for a signal grove cannot watch (not a signal number,
// SIGKILL, SIGSTOP, or a fault signal: SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS)
// or in a thread-pool job; std::system_error if grove's signal pipe or thread cannot be made.
[[nodiscard]] GROVE_API SignalHandler signal_handler(int signo, std::function<void()> fn);

// Parks the calling green thread (blocks a plain OS thread) until one of `signals`
// arrives, and returns it; returns 0 if `timeout` passes first. The signals are watched
// only while it waits (one that arrives before or after takes its previous
// disposition). GreenletExit / TimeoutError if the waiting green thread is interrupted;
// UsageError for an empty list, a signal signal_handler() refuses, or on the hub.
GROVE_API int wait_signal(std::initializer_list<int> signals, std::optional<Duration> timeout = std::nullopt);

// Makes Ctrl-C (SIGINT) raise grove::KeyboardInterrupt (grove/errors.hpp) in the root
// green thread of the calling OS thread's hub (main's, when called from main) at its
// current or next blocking point, so main's destructors run, as in gevent; until the
// returned handle goes. A root that never blocks does not see it. Other green threads
// are not interrupted (main may kill them as it unwinds). Also UsageError /
// std::system_error as signal_handler().
[[nodiscard]] GROVE_API SignalHandler interrupt_on_sigint();

}  // namespace grove
