// signal_registry.hpp: the process-wide side of grove's signal handling (grove/signal.hpp):
// which subscribers (signal handlers, wait_signal callers) each signal has, the
// sigaction handler, the self-pipe and the OS thread that reads it.
//
// The path of one signal:
//   1. The kernel runs grove's sigaction handler on whichever OS thread it picks (a
//      hub, a thread-pool worker, the monitor, a thread of the user's). The handler
//      only writes the signal number, one byte, to the self-pipe (non-blocking; errno
//      saved and restored): nothing else is async-signal-safe.
//   2. The reader, a small OS thread of grove's ("grove-signals", every signal blocked
//      in it), blocks in read() on the pipe and, for each byte, calls deliver() of every
//      subscriber of that signal, under the registry's mutex. deliver() never waits: a
//      handler posts its function to its hub's inbox (HubRef::post: a new green thread
//      there; the ev_async wakes that hub at once, even from epoll_wait), a waiter sets
//      its grove::mt::Event.
// Why a reader thread and not a hub: libev watches a signal in one loop only and no hub
// is the process's; a hub that read the pipe would have to hand it over when its OS
// thread exits, and a busy or blocked hub would delay every other hub's signals. The
// reader exists while at least one subscriber does: the first subscription makes the
// pipe and starts it, the last unsubscription restores the dispositions, stops it and
// closes the pipe (so a process that stopped watching signals has no extra fd or thread).
//
// Dispositions: the first subscriber of a signal installs grove's handler (SA_RESTART)
// and saves the disposition it replaced; the last one restores it. A disposition set by
// someone else in between is overwritten then.
//
// Coalescing: each run of the sigaction handler is one byte, hence one deliver() per
// subscriber (a handler's function runs once per byte, even when two bytes are read in
// one go). The kernel itself merges a standard signal sent again while it is still
// pending (before any thread ran the handler); then only one byte is written.
//
// fork(): in the child (a pthread_atfork handler) the reader does not exist and the
// pipe is the parent's: the subscribers made on other OS threads are dropped (their
// threads do not exist in the child; dispositions of signals left with none are
// restored), and if any subscriber is left a new pipe and a new reader are made.
#pragma once

#include <pthread.h>

#include <memory>
#include <span>

namespace grove::detail {

// Something told of a signal, on the reader thread, under the registry's mutex: must
// not block nor call back into the registry.
class SignalSubscriber {
 public:
  SignalSubscriber() noexcept : owner_thread_(::pthread_self()) {}
  virtual ~SignalSubscriber() = default;
  SignalSubscriber(const SignalSubscriber&) = delete;
  SignalSubscriber& operator=(const SignalSubscriber&) = delete;

  virtual void deliver(int signo) noexcept = 0;
  // Called before it is unsubscribed (SignalHandler::cancel): what it queued and has not
  // begun is skipped.
  virtual void deactivate() noexcept {}
  // The OS thread that subscribed (kept in the child of a fork() only if it forked).
  pthread_t owner_thread() const noexcept { return owner_thread_; }

 private:
  pthread_t owner_thread_;
};

// UsageError unless grove may watch `signo` (1..NSIG-1; not SIGKILL, SIGSTOP, nor a
// fault signal: SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS). `what` names the call.
void check_watchable_signal(int signo, const char* what);

// Adds `sub` to each signal of `signals` (each checked by the caller), in one step: sigactions installed,
// the reader started if needed. std::system_error if the pipe or the thread cannot be
// made (nothing is subscribed then).
void subscribe_signals(std::span<const int> signals, const std::shared_ptr<SignalSubscriber>& sub);

// Removes `sub` from each signal of `signals` (those it is not subscribed to are
// skipped); restores the disposition of a signal left with none, and stops the reader
// when no subscriber is left (blocks for as long as the reader takes to notice).
void unsubscribe_signals(std::span<const int> signals, const SignalSubscriber* sub) noexcept;

}  // namespace grove::detail
