// fork.cpp: the child process of a fork() (grove::fork() or a plain ::fork(); the rule
// for users is in grove/fork.hpp).
//
// The rule: only the green thread that called fork() continues in the child. Every
// other green thread of its hub (main included, if fork() was called elsewhere) is
// abandoned there, as at thread exit: it never runs again and its destructors do not
// run. What lies below its saved stack pointer (pages deeper calls touched earlier) is
// given back at once (release_unused_stack); its live frames stay mapped, for two
// reasons. Wait lists, timers and sockets point into them (each park site would need
// a record of how to unlink it). And the green thread that goes on may hold references
// into them, which nothing can tell apart from the rest: a lambda that captured a
// parent's locals by reference ([&] in spawn), a Channel or a Socket declared in
// another green thread's frame. Freeing those frames would turn such a reference into
// a crash. They are the parent's pages, shared copy-on-write, until either side writes.
// Hubs of other OS threads are simply gone (those threads do not exist in the child);
// nothing touches them: their inboxes refuse posts there (HubInbox::gone_by_fork), so
// HubRef::post returns false, spawn_on and a RemoteGreenThread's join / get raise
// HubExited, never a hang.
//
// Why: the child's copy of the address space holds a copy of every parked green
// thread, and its loop shares the parent's epoll set (the epoll fd is inherited). A
// child that ran its copy of a parked reader read the parent's bytes off their
// shared socket (3 forks in 5), and any epoll_ctl the child made changed the parent's
// set.
//
// What the child handler (a pthread_atfork handler, registered once per process) does
// for the forking OS thread's hub, before fork() returns 0:
//   - The loop. ev_loop_fork: at its next poll libev closes its copy of the epoll fd,
//     makes a new set and registers there the fds of the watchers still active, and
//     renews its wake-up pipe; until then nothing in the child reaches the kernel's
//     epoll. The watchers keep their state, so the forking green thread's own
//     (a Timeout around the fork(), a socket's lingering read watcher, the thread-pool
//     inbox, the dump signal) go on working. A fresh loop instead would leave them
//     "active" in a loop nobody runs: the next use would hang or corrupt the new one.
//   - The others. Each is marked Status::kAbandoned (and the unused part of its stack
//     given back) and the ready queue is emptied, so nothing runs them: wake() only acts on a parked green thread, interrupt() skips
//     them. Their watchers are not stopped here (nothing lists them: they live on their
//     stacks and in sockets), so they may still fire in the child; a callback then
//     wakes nobody. A socket read watcher whose waiter was abandoned stops itself the
//     first time it fires, so an fd left readable cannot spin the child's loop
//     (net/src/io_channel.cpp). Their timers and fd waits stay counted as active
//     watchers until they fire, so while they wait, the deadlock check counts them.
//   - join(), kill() or get() of an abandoned green thread raise UsageError ("abandoned
//     at fork"); format_run_info() lists them as "abandoned at fork"; hub_stats() does
//     not count them as live.
//   - The thread pool: the parent's workers do not exist in the child. The inbox of
//     this OS thread is reset here (a worker may have held its mutex at the fork); a
//     pool first used in the child starts new workers (fork_generation(), in
//     sync/thread_pool.cpp).
//   - The blocked-hub monitor thread is gone too: its object is left alone (its mutex
//     may be held) and a new one is started if GROVE_MAX_BLOCKING_MS is set.
//   - The green thread that called fork() takes main's place: LoopExit from the
//     deadlock check goes to it. If it is not main, the child process ends when it
//     does: stdio is flushed, then _exit(0), or _exit(1) if it ended with an exception
//     (logged) or was killed. Not exit(): the atexit handlers and static destructors
//     are the parent's (a static object joining its threads would wait forever).
//   - fork() on the hub itself (inside a libev callback; no grove API runs user code
//     there): there is no green thread to continue, so every one is abandoned. The
//     callback may exec or _exit; if the child returns to its hub, the hub ends it with
//     _exit(1) and a message.
//   - grove's own process-wide locks (the hub registry, the dump-signal owners) are
//     made anew, and the registry forgets the other OS threads' hubs.
// Not handled (for the full fork support): other locks held at the fork by another OS
// thread stay held in the child, as with any fork() of a threaded process (spdlog's
// sink mutex, if another thread was logging); grove::Lock / Semaphore permits held by
// an abandoned green thread are never released in the child.
#include "fork.hpp"

#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>

#include <cerrno>
#include <system_error>

#include <grove/errors.hpp>
#include <grove/fork.hpp>
#include <grove/green_thread.hpp>

#include "config.hpp"
#include "hub.hpp"
#include "log_internal.hpp"
#include "monitor.hpp"
#include "sync/hub_inbox.hpp"

namespace grove::detail {

namespace {

std::atomic<unsigned> g_fork_generation{0};

// Ends the child process when the green thread that called fork() (not main) ends.
struct ExitWithForker final : Observer {
  GreenThreadState* gt = nullptr;
  void notify() noexcept override {
    int code = gt->killed ? 1 : 0;
    if (gt->error) {
      code = 1;
      try {
        std::rethrow_exception(gt->error);
      } catch (const std::exception& e) {
        log_error("grove: green thread {}, which called fork(), ended in the child process with an "
                  "exception: {}", gt->hub->describe(gt), e.what());
      } catch (...) {
        log_error("grove: green thread {}, which called fork(), ended in the child process with an "
                  "exception", gt->hub->describe(gt));
      }
    }
    std::fflush(nullptr);
    ::_exit(code);
  }
};
ExitWithForker g_exit_with_forker;

void in_child() noexcept {
  g_fork_generation.fetch_add(1, std::memory_order_relaxed);
  thread_pool_inbox_after_fork();
  if (Hub* hub = Hub::current()) hub->after_fork_in_child();
}

}  // namespace

void install_fork_handler() noexcept {
  static const int registered = ::pthread_atfork(nullptr, nullptr, &in_child);
  (void)registered;
}

unsigned fork_generation() noexcept { return g_fork_generation.load(std::memory_order_relaxed); }

// The part of an abandoned green thread's stack below its saved stack pointer (its
// context, as Boost.Context saved it, is at fctx; its frames are above): pages that
// deeper calls touched earlier and nothing can refer to now. Given back at once, as
// the stack pool gives back a dead thread's. The frames stay (see the top of this file).
static void release_unused_stack(GreenThreadState* g) noexcept {
  const StackSlot& st = g->stack;
  if (!st.lo || !g->fctx) return;
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  auto lo = reinterpret_cast<std::uintptr_t>(st.lo);
  const std::uintptr_t top = lo + st.size;
  if (st.guard_kind == GuardKind::kCanary) lo += page;  // the canary's page stays
  const auto sp = reinterpret_cast<std::uintptr_t>(g->fctx);
  if (sp <= lo || sp > top) return;  // not a context saved on this stack
  const std::uintptr_t end = sp & ~(page - 1);
  if (end > lo) (void)::madvise(reinterpret_cast<void*>(lo), end - lo, MADV_DONTNEED);
}

void Hub::after_fork_in_child() noexcept {
  ev_loop_fork(loop_);
  poll_after_fork();  // the sockets' epoll set (hub.cpp), as ev_loop_fork does libev's
  forget_other_hubs_after_fork();
  if (inbox_) inbox_->after_fork_in_child();  // every other hub's inbox refuses posts now

  GreenThreadState* const keep = current_ == &hub_ ? nullptr : current_;
  if (&root_ != keep) root_.status = Status::kAbandoned;
  std::size_t live = 0;
  for (GreenThreadState* g = live_head_; g; g = g->live_next) {
    if (g == keep) {
      ++live;
      continue;
    }
    g->status = Status::kAbandoned;
    release_unused_stack(g);
  }
  live_count_ = live;
  ready_head_ = ready_tail_ = nullptr;
  ready_len_ = 0;
  pending_jobs_ = 0;  // their green threads are abandoned; thread_pool_inbox_after_fork dropped them

  if (monitor_) (void)monitor_.release();  // its thread does not exist here
  if (config().max_blocking_ms > 0) {
    try {
      monitor_ = std::make_unique<Monitor>(*this, config().max_blocking_ms);
    } catch (const std::exception& e) {
      log_warn("grove: GROVE_MAX_BLOCKING_MS: cannot restart the monitor in the child process: {}", e.what());
    }
  }

  if (g_exit_with_forker.linked()) g_exit_with_forker.gt->observers.remove(&g_exit_with_forker);
  main_ = keep;
  if (keep && keep != &root_) {
    g_exit_with_forker.gt = keep;
    keep->observers.push_back(&g_exit_with_forker);
  } else if (!keep) {
    // Runs if the callback that forked returns to the hub (see the top of this file).
    try {
      grove::spawn([] {
        std::fputs("grove: fork() was called on the hub (in a libev callback) and the child returned to "
                   "its hub: no green thread continues in the child, so it exits\n", stderr);
        ::_exit(1);
      });
    } catch (...) {
      ::_exit(1);
    }
  }
}

}  // namespace grove::detail

namespace grove {

pid_t fork() {
  // Made here if this OS thread has none yet: its constructor installs the child handler.
  detail::Hub& hub = detail::Hub::get();
  if (hub.on_hub()) {
    throw UsageError("grove::fork: called on the hub (in a libev callback): no green thread would go on in "
                     "the child; call it from a green thread");
  }
  std::fflush(nullptr);  // else the child writes the parent's buffered output again when it flushes
  const pid_t pid = ::fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "grove::fork");
  return pid;
}

}  // namespace grove
