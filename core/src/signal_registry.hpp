// signal_registry.hpp: the process-wide side of grove's signal handling (grove/signal.hpp):
// which subscribers (signal handlers, wait_signal callers) each signal has, the
// sigaction handler, the self-pipe and the OS thread that reads it.
//
// The path of one signal:
//   1. The kernel runs grove's sigaction handler on whichever OS thread it picks (a
//      hub, a thread-pool worker, the monitor, a thread of the user's). The handler
//      only writes the signal number, one byte, to the self-pipe (non-blocking; errno
//      saved and restored): nothing else is async-signal-safe.
//   2. The reader reads the pipe and, for each byte, calls deliver() of every subscriber
//      of that signal, under the registry's mutex. deliver() never waits: a handler
//      posts its function to its hub's inbox (HubRef::post: a new green thread there;
//      the ev_async wakes that hub at once, even from epoll_wait), a waiter sets its
//      grove::mt::Event.
//
// Who reads: a hub, whenever one has a subscriber (a signal_handler,
// or a wait_signal of one of its green threads): an ev_io on the pipe's read end in
// that hub's loop (ev_unref'd, like the inbox's ev_async), so a process that watches
// signals has no OS thread more than it had (a second OS thread would make glibc pay its
// cancellation bookkeeping on every recv / send). The first hub that subscribes reads;
// the role stays with it while it has a subscriber and its OS thread runs. When its
// last subscriber goes, or its thread exits (an inbox exit hook), the role moves to
// another hub with subscribers: the registry names the new reader under its mutex and
// posts it an entry that starts its ev_io there (the calling thread's own hub starts
// at once). Every read is made under the registry's mutex by the hub it names (an ev_io
// of a hub that is no longer named stops itself instead of reading; the old reader is
// also posted an entry that stops it), so the bytes still in the pipe during a move are
// read by the next reader, none twice. Only a plain OS thread's wait_signal (no hub
// takes part), while no hub has a subscriber, needs a reader thread: "grove-signals",
// every signal blocked in it, which polls the pipe; it is stopped (a 0 byte, read after
// every byte before it is delivered) as soon as a hub subscribes. The cost: a hub that
// reads delivers every hub's signals, so while it is busy or blocked outside grove the
// others wait too.
//
// The pipe (both ends non-blocking) exists while at least one subscriber does: the first
// subscription makes it, the last restores the dispositions and closes it (so a process
// that stopped watching signals has no extra fd or thread).
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
// fork(): in the child (a pthread_atfork handler) the reader thread does not exist and
// the pipe is the parent's: the subscribers made on other OS threads are dropped (their
// threads do not exist in the child; dispositions of signals left with none are
// restored), and if any subscriber is left a new pipe is made and read by the forking
// thread's hub if it has subscribers, else by a new reader thread.
#pragma once

#include <pthread.h>

#include <grove/hub_ref.hpp>

#include <memory>
#include <utility>
#include <span>

namespace grove::detail {

// Something told of a signal, by the reader (a hub or the reader thread), under the
// registry's mutex: must not block nor call back into the registry.
class SignalSubscriber {
 public:
  // `hub`: the hub whose loop runs while it is subscribed (it may then read the pipe);
  // empty for a plain OS thread's waiter.
  explicit SignalSubscriber(HubRef hub) noexcept : hub_(std::move(hub)), owner_thread_(::pthread_self()) {}
  virtual ~SignalSubscriber() = default;
  SignalSubscriber(const SignalSubscriber&) = delete;
  SignalSubscriber& operator=(const SignalSubscriber&) = delete;

  virtual void deliver(int signo) noexcept = 0;
  // Called before it is unsubscribed (SignalHandler::cancel): what it queued and has not
  // begun is skipped.
  virtual void deactivate() noexcept {}
  // The OS thread that subscribed (kept in the child of a fork() only if it forked).
  pthread_t owner_thread() const noexcept { return owner_thread_; }
  const HubRef& hub() const noexcept { return hub_; }

 private:
  const HubRef hub_;
  pthread_t owner_thread_;
};

// UsageError unless grove may watch `signo` (1..NSIG-1; not SIGKILL, SIGSTOP, nor a
// fault signal: SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS). `what` names the call.
void check_watchable_signal(int signo, const char* what);

// The calling thread's hub if a wait here parks a green thread (its loop runs while it
// waits), else empty (no hub, or a thread-pool worker): for a waiter's SignalSubscriber.
HubRef hub_running_here() noexcept;

// Adds `sub` to each signal of `signals` (each checked by the caller), in one step: sigactions installed,
// a reader named. std::system_error if the pipe or the thread cannot be made (nothing
// is subscribed then).
void subscribe_signals(std::span<const int> signals, const std::shared_ptr<SignalSubscriber>& sub);

// Removes `sub` from each signal of `signals` (those it is not subscribed to are
// skipped); restores the disposition of a signal left with none, moves the reader role
// if needed, and closes the pipe when no subscriber is left (blocks for as long as a
// reader thread takes to notice).
void unsubscribe_signals(std::span<const int> signals, const SignalSubscriber* sub) noexcept;

}  // namespace grove::detail
