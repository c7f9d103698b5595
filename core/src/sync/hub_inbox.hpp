// hub_inbox.hpp: the way into a hub from other OS threads (cf. libuv's uv_async_send).
//
// One per hub, created on first use: a mutex-protected FIFO of InboxEntry records
// (detail/cross_wait.hpp) and one ev_async. Any OS thread may post() an entry; the
// hub drains the whole batch in one callback (one lock per batch, then runs each entry
// without it). The hub's own hot path (switch, park, wake) never touches it.
//
// The ev_async is ev_unref'd so that an idle inbox does not keep the loop alive. While
// one of this hub's green threads waits on a cross-hub object (or a HubThread serves),
// hold() counts it as pending work: the loop is ev_ref'd and the deadlock check (which
// counts pending jobs) does not fire, since another OS thread may wake it.
//
// The spin (spin_for_posts, called by the hub when nothing is ready, before it blocks
// in epoll_wait): a hub that waits for another OS thread and whose last post came soon
// after it went idle checks an atomic "posted" flag for up to GROVE_INBOX_SPIN_US
// (default 50 us; 0: never) before it sleeps, and runs what arrives without a poll, as
// Go's idle Ms spin before they park. Waking a thread asleep in epoll_wait costs
// microseconds (the eventfd write, the scheduler's wake-up on the other core); a
// spinning hub sees the post in the time a cache line takes to cross, and the poster's
// ev_async_send makes no system call (libev writes its eventfd only while the loop is
// in, or about to enter, its poll). Adaptive: it spins only while spinning pays. A
// spin that finds nothing disarms it; a post that wakes the hub from its poll within
// that time of its going idle arms it again. So a hub with no cross-hub waiter (no
// hold()), a serving HubThread with no traffic, and a server woken by its sockets
// never spin, and a hub whose posts come seldom wastes at most one spin per post.

// Lifetime: shared (HubRef, CrossWaiter hold a std::shared_ptr). At thread exit, before
// the hub goes, close() marks it closed under the mutex (so no thread touches the loop
// again: post() sends under the mutex), drops what is still queued (spawn_on entries
// fail their handles with HubExited) and tells every exit hook (handles of green
// threads still running here) that the hub is gone.
#pragma once

#include <ev.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include <grove/detail/cross_wait.hpp>

#include "../fork.hpp"
#include "kernel_mutex.hpp"

namespace grove::detail {

class Hub;

class GROVE_API HubInbox {
 public:
  // This OS thread's inbox (and hub), created on first use.
  static const std::shared_ptr<HubInbox>& of_this_thread();

  explicit HubInbox(Hub& hub);
  HubInbox(const HubInbox&) = delete;
  HubInbox& operator=(const HubInbox&) = delete;
  ~HubInbox();

  // Any OS thread: queues `e` and wakes the hub. False (nothing queued) if the hub exited.
  bool post(InboxEntry* e) noexcept;
  // The hub's thread: takes `e` out of the queue if it is still there.
  void cancel(InboxEntry* e) noexcept;
  // The hub's thread: a green thread waits for another OS thread (see above).
  void hold() noexcept;
  void release() noexcept;
  // The hub's thread, when nothing is ready and before the hub blocks in its poll: the
  // spin (see above). True if it ran posts (the hub then has green threads to run);
  // false if the hub should poll (and block) as usual.
  bool spin_for_posts() noexcept;
  // The hub's thread: hooks told when the hub exits.
  void add_exit_hook(ExitHook* h) noexcept;
  void remove_exit_hook(ExitHook* h) noexcept;

  std::uint64_t serial() const noexcept { return serial_; }
  bool closed() const;
  // In the child process of a fork(): true for every inbox but the forking OS thread's
  // (the other hubs' threads do not exist there, and one may have held mu_ at the
  // fork). post() then returns false and closed() true, without touching mu_ or the
  // loop (whose eventfd is the parent's). One relaxed load and a compare.
  bool gone_by_fork() const noexcept { return generation_ != fork_generation(); }
  // fork.cpp, in the child, on the forking OS thread, for its own hub's inbox: a new
  // mutex (a poster on another OS thread may have held it at the fork) and the child's
  // generation.
  void after_fork_in_child() noexcept;
  // "hub 3 (OS thread 1234)", for errors.
  const std::string& name() const noexcept { return name_; }

  // Thread exit (see above). The hub's thread only.
  void close() noexcept;

 private:
  static void on_async(struct ev_loop*, ev_async* w, int) noexcept;
  void drain() noexcept;
  // Takes every queued entry (marked no longer queued) under the mutex; closes the
  // inbox in the same step if `close`.
  InboxEntry* take_batch(bool close) noexcept;
  // Calls f on each entry of a taken batch, unlinked first (f may queue it again).
  template <class F>
  static void each_unlinked(InboxEntry* list, F&& f) noexcept;

  // Laid out by who writes what, so that the hand-off between two hubs moves no line it
  // need not: what posters only read; the posters' line; the ev_async (posters set its
  // `sent`); what only the hub's thread writes (holds_ changes at every cross-hub wait).
  Hub& hub_;
  const std::uint64_t serial_;
  const std::string name_;
  const double spin_seconds_;      // GROVE_INBOX_SPIN_US
  // fork_generation() when made; re-stamped only in a fork() child (after_fork_in_child),
  // so every post reads it from this read-mostly line.
  unsigned generation_;
  // The posters' cache line: the mutex, the queue and the flag the spin reads, so
  // that a spinning hub that sees a post has the line it locks next. A KernelMutex:
  // monkey's waiter table posts here under its own lock (kernel_mutex.hpp).
  alignas(64) mutable KernelMutex mu_;
  InboxEntry* head_ = nullptr;     // guarded by mu_
  InboxEntry* tail_ = nullptr;     // guarded by mu_
  bool closed_ = false;            // guarded by mu_
  // head_ != nullptr, written under mu_; read without it by the spin, so that a
  // spinning hub reads one flag and leaves the mutex to the posters.
  std::atomic<bool> posted_{false};
  alignas(64) ev_async async_;
  alignas(64) std::size_t holds_ = 0;  // hub's thread only
  bool spin_armed_ = false;        // hub's thread only: the next idle spins (see above)
  double idle_since_ = -1;         // hub's thread only: ev_now when it last went idle with holds_
  ExitHook* hooks_ = nullptr;      // hub's thread only
};

}  // namespace grove::detail
