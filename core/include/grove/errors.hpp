// grove/errors.hpp: the exception types grove throws.
//
// GreenletExit   - delivered by kill(); unwinds a green thread so its destructors run.
//                  Deliberately not derived from std::exception, so that
//                  `catch (const std::exception&)` in user code cannot swallow a kill.
// KeyboardInterrupt - Ctrl-C (SIGINT) in the root green thread, once
//                  grove::interrupt_on_sigint() is on (grove/signal.hpp). Not derived
//                  from std::exception either, for the same reason.
// TimeoutError   - thrown at a blocking point when a grove::Timeout in scope expires.
// UsageError     - a misuse grove can name (blocking on the hub, joining yourself,
//                  touching a green thread from another OS thread's hub, ...).
// LoopExit       - the calling green thread waits for something that can never happen:
//                  nothing is ready, no watcher is active, no thread-pool work is pending.
// HubExited      - a cross-hub call needs a hub whose OS thread has exited (spawn_on,
//                  HubRef::post, a RemoteGreenThread whose green thread was abandoned).
// ChannelClosed  - put on a closed grove::mt::Channel / Queue, or get on one closed and empty.
#pragma once

#include <stdexcept>
#include <string>

namespace grove {

class Timeout;

// Thrown inside a green thread by kill(). Catch it only to clean up, then rethrow;
// a green thread that ends by GreenletExit counts as killed, not failed, and is never
// logged as an error.
struct GreenletExit {
  // "grove::GreenletExit", for logs.
  const char* what() const noexcept { return "grove::GreenletExit"; }
};

// Raised in the root green thread (main) at its current or next blocking point when
// SIGINT arrives while a grove::interrupt_on_sigint() handle lives (grove/signal.hpp),
// so that main unwinds and its destructors run, as Python's KeyboardInterrupt under
// gevent. Catch it in main to stop gracefully.
struct KeyboardInterrupt {
  // "grove::KeyboardInterrupt", for logs.
  const char* what() const noexcept { return "grove::KeyboardInterrupt"; }
};

// Thrown at the first blocking call still waiting when a Timeout expires.
// `source()` is the Timeout that fired; compare it with your own Timeout to tell an
// inner deadline from an outer one (see grove/timeout.hpp).
class TimeoutError : public std::runtime_error {
 public:
  // `source` is the Timeout that fired, or nullptr when the call's own timeout
  // argument expired (GreenThread::get(timeout), AsyncResult::get(timeout)).
  explicit TimeoutError(const Timeout* source, const std::string& what_arg = "grove: timeout expired")
      : std::runtime_error(what_arg), source_(source) {}
  // The Timeout that fired, or nullptr. For comparison only: the Timeout may have
  // been destroyed by the time the error is caught.
  const Timeout* source() const noexcept { return source_; }
  // True if `t` is the Timeout that fired.
  bool is(const Timeout& t) const noexcept { return source_ == &t; }

 private:
  const Timeout* source_;
};

// A misuse of the API that grove can detect and name.
class UsageError : public std::logic_error {
 public:
  // Takes the message, as std::logic_error does.
  using std::logic_error::logic_error;
};

// The waiting green thread can never be woken: every green thread is parked and
// nothing (timer, socket, thread-pool job) can wake any of them. The message says
// what each parked green thread waits on. Raised only in the root green thread (the
// OS thread's original context), by whatever parking call it is in; that call has
// then left nothing behind, as after a kill.
class LoopExit : public std::runtime_error {
 public:
  // Takes the message, as std::runtime_error does.
  using std::runtime_error::runtime_error;
};

// get() on a green thread that was killed before it produced a value.
class GreenThreadKilled : public std::runtime_error {
 public:
  // Takes the message, as std::runtime_error does.
  using std::runtime_error::runtime_error;
};

// A cross-hub call needed a hub whose OS thread has exited: posting or spawning onto it
// (grove::spawn_on, HubRef), or waiting for a green thread it abandoned when it exited
// (RemoteGreenThread::join / get / kill). The message names the hub.
class HubExited : public std::runtime_error {
 public:
  // Takes the message, as std::runtime_error does.
  using std::runtime_error::runtime_error;
};

// put() on a grove::mt::Channel or mt::Queue that was closed, or get() on one that was
// closed and has no item left (Go's closed channel; close() wakes every waiter with it).
class ChannelClosed : public std::runtime_error {
 public:
  // Takes the message, as std::runtime_error does.
  using std::runtime_error::runtime_error;
};

}  // namespace grove
