// hub.cpp: the hub, grove's per-OS-thread scheduler and event loop.
//
// ============================================================================
// Design essay
// ============================================================================
//
// Glossary
//   green thread  A function running on a stack of its own, switched cooperatively.
//                 Its control block (GreenThreadState) sits at the top of that stack.
//   root          The OS thread's original context. It counts as a green thread, so
//                 `int main() { grove::spawn(f).join(); }` needs no loop call.
//   hub           A context of its own (its own stack) that runs the libev loop
//                 and decides who runs next when nobody else can. One per OS thread,
//                 created on the first grove call that needs it; destroyed at thread exit.
//   ready queue   Intrusive FIFO of green threads that may run now.
//   park          The running green thread records what it waits on, switches away,
//                 and stays off the ready queue until someone wakes it.
//   wake          Parked -> ready (pushed on the ready queue). Never switches.
//   interrupt     kill(), an expired Timeout, or LoopExit: a pending bit on the
//                 green thread, raised as an exception at its current (if parked) or
//                 next blocking point.
//   watcher       A libev watcher (ev_timer, ev_io, ...) that some green thread waits
//                 on; lives on that green thread's stack or in the object waited on.
//
// Who switches to whom
//   green thread -> green thread   yield() and park() switch straight to the head of
//                                  the ready queue, without a detour through the hub,
//                                  while the budget lasts.
//   green thread -> hub            when nothing is ready or the budget is spent.
//   hub -> green thread            after each poll, to the head of the ready queue.
//   A dying green thread switches away for the last time; whoever resumes frees its
//   stack (a stack cannot be freed while running on it). Callbacks that libev runs
//   (on the hub) only wake green threads; they never switch.
//
// The life of one blocking call (sleep(10ms))
//   1. sleep() puts an ev_timer on the green thread's own stack and starts it,
//      counted from now (ev_now_update first: libev's cached time is as old as the
//      last poll, and the green thread may have run for a while since).
//   2. park(): raise any pending interrupt; mark parked; switch to the next ready
//      green thread or, if none, to the hub.
//   3. The hub has nothing ready: ev_run(EVRUN_ONCE) blocks in epoll_wait.
//   4. The timer fires; its callback wakes the green thread (ready queue).
//   5. ev_run returns; the hub switches to the head of the ready queue.
//   6. park() returns in the green thread; the timer (stopped) leaves with the frame.
//   A kill or Timeout at step 3 instead sets a pending bit and wakes the green thread
//   with kInterrupted; park() raises GreenletExit / TimeoutError, and RAII on the way
//   out stops the timer and unlinks any wait-list node. While the green thread is
//   unwinding an exception (a destructor that parks), an interrupt from outside that
//   unwinding is not raised (its handler lies beyond the destructor: the throw would
//   be std::terminate): a kill, or a Timeout made before the unwinding began, stays
//   pending, without waking it, until the unwinding is over; a kill of a thread
//   already unwinding from GreenletExit is dropped. A Timeout made during the
//   unwinding (in the destructor: a timed goodbye or flush) belongs to it: it records
//   std::uncaught_exceptions() when made and fires, waking the green thread, while
//   the count is that again (its with_timeout catches it inside the destructor); at a
//   deeper count (a nested exception's clean-up) it waits like the others. The check
//   runs only when an interrupt is delivered or raised, never per park. LoopExit
//   wakes it at any depth, since nothing else could.
//
// Per-green-thread state kept across switches
//   errno and the C++ runtime's exception globals (__cxa_eh_globals: the chain of
//   caught exceptions and the uncaught count) are saved and restored on every
//   switch, so `throw;` in a catch block that parked rethrows this green thread's
//   own exception.
//
// The switch and the CPU's return predictor
//   Boost.Context's x86-64 jump_fcontext resumes with an indirect jmp, so a plain call
//   to it leaves a return-stack-buffer entry behind on every switch and every ret on
//   the resumed side is then predicted one frame off. grove enters it through a thunk
//   that makes the resumed side land on a ret (context.cpp), and a dying green thread
//   leaves with a jmp and no outstanding call (context::jump_dying; its entry function
//   has run_green_thread and finish inlined). Then the calls and rets of every switch
//   pair up: yield went from 20.6 to 10.4 ns and spawn+join from 80 to 62 ns (that
//   change alone; current figures in bench/README.md).
//
// Fairness
//   A yield queues the caller behind every ready green thread. Direct switches are
//   counted; after a budget of them the next switch goes to the hub, which polls
//   (ev_run with EVRUN_NOWAIT) before running anyone else, so a ring of yielding
//   green threads cannot starve sockets and timers. The budget is one round: the
//   length of the ready queue after the poll, at least kBudget (64). A smaller one
//   would re-poll before the green threads the last poll woke have read their
//   sockets, and level-triggered epoll would report all those fds again (at 1,000
//   busy connections that doubled the CPU time per echoed message).
//
// Socket readiness (the hub's own epoll set)
//   Sockets (grove::net::Socket and what is built on it) do not wait through libev:
//   each one's fd goes into an epoll set of the hub's own on its first wait (poll_arm),
//   edge-triggered, for reading (and for writing too once a writer has had to wait:
//   most sockets never fill their send buffer, and an EPOLLOUT on every read event
//   cost on_poll about 7 instructions per echoed message), and stays there until the socket
//   closes (poll_remove, before the fd is closed, so no event can name a freed socket
//   even if a dup or a child process keeps the file open). libev watches that set's fd
//   like any other; when it is readable, on_poll drains it with epoll_wait and, per
//   event, wakes the side's parked green thread directly (poll_ready), or records an
//   `edge` when nobody waits there, so the side's next wait returns at once and the
//   caller retries its system call (Go's netpoller does the same). No epoll_ctl per
//   wait, no libev watcher per socket, none of libev's per-event queueing: an echoed
//   message cost 96 instructions in libev's dispatch and 21 in the callback, and costs
//   about 30 here (bench/README.md). Edge-triggered means an event comes only when
//   something arrives, so the rules are: park only after EAGAIN or a short read or
//   write (which drained the buffer); an event for a side whose green thread was
//   woken but has not run yet is recorded too; and a hang-up is sticky (every later
//   wait on the side returns at once), since the short read that takes the data
//   before it leaves the end of stream behind with no edge to come. For reading a
//   hang-up is the peer's shutdown of its writing, a full hang-up or an error; for
//   writing only the last two (a peer that stopped writing may still read, and a
//   writer on a full buffer must wait for room, not spin). A wait that is only
//   a nap (IoChannel::sleep) is not ended by readiness. After fork() the child makes a
//   set of its own and registers every socket again (poll_after_fork): the inherited
//   set is the parent's. monkey's byte streams wait in this set too (its data calls:
//   monkey/src/coop.cpp, wait_stream); grove's pipes, wait_readable/wait_writable on
//   any fd and monkey's other waits still use libev's level-triggered watchers.
//
// Where an echoed message's instructions go (samples/echo_server, 64 bytes, callgrind,
// bench/callgrind/echo_instructions.sh: about 245 per message at 100 and 234 at 1,000
// connections, from 550 before the epoll set and the socket fast paths; callgrind's
// per-function counts, the parts within a few instructions each):
//     recv_into, with the wait and the park inline (Hub::park_inline, hub_switch.hpp):
//       entry checks (ec, one untimed_stream flag, the OS thread) and the skipped-read
//       test ~20, the waiter and its accounting ~20, park and switch ~50 (the wait's
//       description, errno saved and restored, the exception state tested, current_,
//       the monitor's counters, the ready queue, one after-switch flag), the recv
//       syscall and its result ~12, frame and loop ~22                                   ~134
//     waking from the epoll results (on_poll, poll_ready, wake_inline)                   ~30
//     sendall: one test for the usual case, the send syscall, the full-write test        ~28
//     jump_fcontext and its thunk                                                        ~27
//     the sample's own loop                                                              ~21
//     libev and run_loop, once per poll round, spread over the round's messages           ~5
//   recv and send are bare syscalls outside sanitizer builds (core/src/raw_io.hpp). What
//   is left is mostly the switch itself: Boost's jump saves six registers and the
//   MXCSR / x87 control words after recv_into's frame has saved its own six, and the
//   park records what it waits on for the diagnostics (bench/README.md, "Hot path").
//   monkey's blocking echo (bench/callgrind/monkey_echo_instructions.sh, tvg_green: a
//   read() / write() loop per green thread) costs about 325 per message at 100 and 317
//   at 1,000 connections, from 667 / 628 when its hooks waited through libev's
//   watchers. Where they went at 343 (before the lighter switch and on_poll's
//   read-only events took ~18 off): the read hook ~189 (the fd's lookup, the patched / hub /
//   route checks in one test, the short-read hint, the inline wait and park
//   (park_nothrow_inline), the recv syscall and the hint's store), the write hook ~56
//   (one test, the send syscall), on_poll ~40, the jump ~30, the server's loop ~25.
//   Anything but a green thread's call on a tracked socket takes the hooks' general
//   path (fd_io, monkey/src/io.hpp), where every check is a semantic kept (the user's
//   O_NONBLOCK, the per-call form, interrupts told to C code, SO_RCVTIMEO /
//   SO_SNDTIMEO, SO_RCVLOWAT).
//
// Deadlock
//   When nothing is ready, no watcher anyone waits on is active and no thread-pool
//   job is pending, no parked green thread can ever be woken. Instead of blocking in
//   epoll_wait forever, the hub raises LoopExit in the root green thread, with a
//   message naming what every parked green thread waits on.
//
// Shutdown order (thread exit; the hub is a thread_local)
//   1. Stop the monitor thread, if any, and the dump signal watcher; destroy the
//      root green thread's grove::local values.
//   2. Green threads still parked are abandoned, not run: their destructors do not
//      run (as with gevent at exit). A warning names how many. Green threads that
//      never started (spawned, and the thread never parked, yielded or joined after)
//      are abandoned too, but that is almost always a bug (work silently lost, e.g. a
//      std::thread that spawns and returns): an error names them. Green threads
//      marked quiet_at_exit (pthreads made green by monkey) are abandoned silently, as
//      a process ends its OS threads.
//   3. Destroy the libev loop.
//   4. Unmap the stacks, unless some are still referenced (live green threads or
//      handles that outlive the hub, e.g. in static objects): then they are left
//      mapped, since the process is on its way out or the user kept references.
//
// Fork (the child process of a fork(); fork.cpp has the details)
//   Only the green thread that called fork() continues in the child; every other one
//   of this hub is abandoned, as at thread exit (status kAbandoned: never run, never
//   woken, never freed). The loop is kept, with every watcher's state, and libev gives
//   it a new epoll set of the child's own at its next poll (ev_loop_fork); a copy of a
//   parked reader that ran in the child would read the parent's bytes off their shared
//   socket. The deadlock check raises LoopExit in the forking green thread (main_);
//   the thread pool and the monitor start afresh in the child.
//
// Invariants (a broken one aborts with a message naming it)
//   - Exactly one context runs per hub at a time; current_ is it.
//   - A green thread is on the ready queue at most once, and only when its status is
//     kReady or kCreated.
//   - wake() acts only on a parked green thread; everything else is a no-op, which is
//     what makes a wake that races a kill or timeout safe.
//   - Only the hub's OS thread touches the hub and its green threads; handles may be
//     copied and destroyed anywhere (below).
//
// Handles on other OS threads
//   A handle is a counted reference (GreenThreadState::refs, atomic), so copying or
//   destroying one on any OS thread is safe, as for a std::shared_ptr; everything
//   else a handle does is refused there (UsageError, green_thread.cpp). The stack goes
//   back to the pool only on the hub's thread, when the green thread is dead and no
//   handle is left. A handle dropped on another OS thread never takes the count to
//   zero: the last one sets kRefHandedToHub instead and queues the green thread on its
//   hub (found by serial in a registry, under a mutex: the rare path), which frees it
//   after its next poll. spawn() + join() + drop makes no locked instruction: spawn's
//   handle is adopted (no increment), and a drop on the hub's thread that sees a
//   count of 1 holds the only reference, so nobody can race it.
//
// Several hubs (every core)
//   Green threads never migrate: errno, thread_local and this file's lock-free switch
//   assume one OS thread. Parallelism is several hubs, one per OS thread (HubThread),
//   handing work to each other through each hub's inbox (sync/hub_inbox.hpp): one
//   ev_async, a mutex-protected FIFO that other OS threads post to (spawn_on,
//   HubRef::post, the wake of a green thread waiting on a grove::mt:: object), drained
//   once per batch in a libev callback that only spawns and wakes. Nothing on the
//   switch path locks or checks it: the inbox is a watcher like any other, except on
//   the idle path. Waking a hub asleep in epoll_wait costs microseconds (an eventfd
//   write, the kernel's cross-core wake-up), so before blocking, a hub with a green
//   thread waiting for another OS thread may spin for a few tens of microseconds on
//   an atomic "posted" flag and run what arrives without polling, as Go's idle Ms
//   spin before they sleep; only while that pays off (its last post came soon after
//   it went idle), so idle hubs, and servers woken by their sockets, never spin
//   (HubInbox::spin_for_posts). Timers and I/O still get a poll every kBudget turns
//   that the spin fed. A green thread waiting for
//   another OS thread counts as a pending job, so the deadlock check does not fire
//   (a deadlock spanning hubs is not detected). Hub-bound objects stay lock-free and
//   refuse other OS threads; the cross-hub ones (grove/mt/*.hpp, RemoteGreenThread)
//   take a mutex of their own (detail/cross_wait.hpp).
//   Signals and child processes: libev attaches a signal to one loop at a time (grove
//   records which hub owns each: dump_signal_owner) and runs ev_child watchers only in
//   its default loop, which no hub uses (each makes its own with ev_loop_new). So one
//   hub must own a signal, and the hub that will own SIGCHLD (the processes / signals
//   work) must be the one that creates the default loop; other hubs get the news from
//   it the way all cross-hub news travels: a post() to their inbox or a grove::mt::Event.
//
// Rejected alternatives
//   - Running the event loop on the parking green thread's stack (no hub context):
//     saves a switch when idle, but every green thread's stack would need room for
//     libev callbacks and logging, and "who blocked the hub" loses its meaning.
//   - Going through the hub on every switch (gevent's shape): doubles the switches
//     of a yield or a hand-off; direct switches with a budget keep fairness.
//   - One mmap per stack with a guard page: two mappings each, so ~32,700 green
//     threads under the default vm.max_map_count. See stack_pool.hpp.
//   - Boost.Context's callcc/fiber API: allocates its control record, and hides the
//     moment of the switch needed for sanitizer annotations and errno/exception state.
//   - Segmented or copied stacks: pointers to stack objects held elsewhere break.
// ============================================================================
#include "hub.hpp"

#include <sys/syscall.h>
#include <unistd.h>
#include <signal.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif
#include <sys/mman.h>
#include <sys/epoll.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cxxabi.h>
#include <mutex>
#include <new>

#include <grove/errors.hpp>
#include <grove/green_thread.hpp>

#include "config.hpp"
#include "context.hpp"
#include "sync/hub_inbox.hpp"
#include "sync/pool_worker.hpp"
#include "fork.hpp"
#include "hub_switch.hpp"
#include "log_internal.hpp"
#include "monitor.hpp"
#include "overflow.hpp"
#include "timeout_internal.hpp"

namespace grove::detail {

constinit thread_local Hub* Hub::tls_hub_ = nullptr;

struct ContextEntry {
  [[noreturn]] static void run(boost::context::detail::transfer_t t) noexcept;
};

namespace {

constexpr std::size_t kHubStackSize = 256 * 1024;

// Owns this OS thread's hub; destroys it at thread exit.
struct HubOwner {
  Hub* hub = nullptr;
  ~HubOwner() { delete hub; }
};
thread_local HubOwner tls_owner;

// Serials of hubs: a stale handle names its hub by serial, never by address alone.
std::atomic<std::uint64_t> next_hub_serial{1};

// Which hub (by serial; 0: none) handles each signal with a dump watcher. libev lets a
// signal be attached to one loop only and aborts otherwise.
std::mutex dump_signal_mutex;
std::uint64_t dump_signal_owner[NSIG] = {};

// Live hubs by serial, for handles dropped on other OS threads ("Handles on other OS
// threads"). Also guards each hub's handed_ list.
std::mutex hub_registry_mutex;
std::vector<Hub*> hub_registry;

[[noreturn]] void invariant_failed(const char* what) noexcept {
  std::fprintf(stderr, "grove: internal invariant broken: %s\n", what);
  std::abort();
}

std::string exception_text(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "an exception not derived from std::exception";
  }
}

}  // namespace

Hub& Hub::create() {
  // Published only once fully constructed: a constructor that throws (no memory for
  // the hub's stack) leaves this OS thread without a hub, and the next call tries again.
  Hub* h = new Hub();
  try {
    std::lock_guard<std::mutex> lock(hub_registry_mutex);
    hub_registry.push_back(h);
  } catch (...) {
    delete h;  // ~Hub takes the registry mutex: not under it
    throw;
  }
  tls_owner.hub = h;
  tls_hub_ = h;
  return *h;
}

Hub::Hub() : serial_(next_hub_serial.fetch_add(1, std::memory_order_relaxed)) {
  loop_ = ev_loop_new(EVFLAG_AUTO);
  if (!loop_) throw std::runtime_error("grove: cannot create the libev loop (ev_loop_new failed)");
  loop_owner_.loop = loop_;  // destroyed by loop_owner_ if the rest of the constructor throws
  loop_owner_.poll_fd = &poll_fd_;

  // The sockets' epoll set, made with the loop (an fd for the hub's life, like
  // libev's own); if the kernel refuses now, the first socket that waits tries again.
  (void)poll_open();
  polled_at_ = ev_now(loop_);

  eh_ = reinterpret_cast<EhGlobals*>(abi::__cxa_get_globals());
  errno_ = &errno;

  root_.hub = this;
  root_.hub_serial = serial_;
  root_.is_root = true;
  root_.status = Status::kRunning;
  root_.refs.store(1, std::memory_order_relaxed);  // never released
  root_.id = 0;
  root_.name = static_cast<pid_t>(::syscall(SYS_gettid)) == ::getpid() ? "main" : "thread-root";
  current_ = &root_;
  running_.store(&root_, std::memory_order_relaxed);

  hub_.hub = this;
  hub_.hub_serial = serial_;
  hub_.is_hub = true;
  hub_.refs.store(1, std::memory_order_relaxed);
  hub_.name = "hub";
  hub_.stack = pool_.acquire(kHubStackSize);
  hub_.check_after_switch = hub_.stack.guard_kind == GuardKind::kCanary;
  ev_timer_init(&stack_trim_, &Hub::on_stack_trim, kStackTrimSeconds, kStackTrimSeconds);
  stack_trim_.data = this;
  pool_.set_trim_hook(&Hub::start_stack_trim, this);
  context::prepare(&hub_, hub_.stack.lo, hub_.stack.size, &ContextEntry::run);

  install_overflow_handler();
  altstack_ = ensure_signal_stack();
  install_fork_handler();

  const Config& c = config();
  report_config_warnings();
  if (c.max_blocking_ms > 0) monitor_ = std::make_unique<Monitor>(*this, c.max_blocking_ms);
  set_schedule_seed(process_schedule_seed());
  if (c.dump_on_sigusr1 && root_.name == "main") {
    try {
      enable_dump_signal(SIGUSR1);
    } catch (const UsageError& e) {
      // Another OS thread's hub took SIGUSR1 first (dump_on_signal): keep that one.
      log_warn("grove: GROVE_DUMP_ON_SIGUSR1 is ignored: {}", e.what());
    }
  }
}

Hub::LoopOwner::~LoopOwner() {
  if (!loop) return;
  if (*poll_fd >= 0) ::close(*poll_fd);
  ev_loop_destroy(loop);
}

Hub::~Hub() {
  {
    std::lock_guard<std::mutex> lock(hub_registry_mutex);
    std::erase(hub_registry, this);
  }
  free_handed();  // handed over before we left the registry
  monitor_.reset();
  if (dump_signal_on_) {
    ev_ref(loop_);
    ev_signal_stop(loop_, &dump_signal_);
    std::lock_guard<std::mutex> lock(dump_signal_mutex);
    dump_signal_owner[dump_signal_.signum] = 0;
  }
  if (ev_is_active(&stack_trim_)) {
    ev_ref(loop_);
    ev_timer_stop(loop_, &stack_trim_);
  }
  pool_.set_trim_hook(nullptr, nullptr);  // stacks released from here on give their pages back at once
  release_shared_stack(*this);
  const bool on_root = current_ == &root_;
  if (on_root) context::forget(&hub_);  // its TSan fiber (context.hpp); never runs again
  if (root_.locals && root_.status != Status::kAbandoned) destroy_locals(&root_);
  if (live_count_ > 0) {
    report_abandoned();
    keep_abandoned_stacks_reachable();
  }
  if (poll_fd_ >= 0) {
    ev_io_stop(loop_, &poll_io_);
    ::close(poll_fd_);  // sockets still registered need no removal: the set is gone
  }
  ev_loop_destroy(loop_);
  loop_owner_.loop = nullptr;
  loop_ = nullptr;
  tls_hub_ = nullptr;
  // Stacks stay mapped if anything may still point into them (a handle that outlives
  // the hub, or a context we are not on).
  if (!on_root || pool_.outstanding() > 1) pool_.leak_on_destroy();
  release_signal_stack(altstack_);
}

// ---------------------------------------------------------------- lifecycle

SpawnPlacement Hub::allocate(std::size_t object_size, std::size_t stack_size) {
  if (stack_size == 0) stack_size = config().default_stack_size;
  StackSlot slot = pool_.acquire(stack_size);
  const std::size_t reserve = (object_size + 63) & ~std::size_t{63};
  if (reserve + 4096 > slot.size) {
    pool_.release(slot);
    throw UsageError("grove::spawn: the function object (" + std::to_string(object_size) +
                     " bytes) does not fit on a stack of " + std::to_string(slot.size) + " bytes");
  }
  return SpawnPlacement{slot.lo + slot.size - reserve, slot};
}

void Hub::start(GreenThreadState* gt, const SpawnPlacement& p, std::string name) {
  gt->hub = this;
  gt->hub_serial = serial_;
  gt->id = next_id_++;
  gt->refs.store(1, std::memory_order_relaxed);  // spawn()'s handle, adopted (being alive is status)
  gt->status = Status::kCreated;
  gt->stack = p.slot;
  gt->check_after_switch = p.slot.guard_kind == GuardKind::kCanary;
  gt->name = std::move(name);
  char* top = static_cast<char*>(p.object);
  context::prepare(gt, p.slot.lo, static_cast<std::size_t>(top - p.slot.lo), &ContextEntry::run);

  gt->live_prev = nullptr;
  gt->live_next = live_head_;
  if (live_head_) live_head_->live_prev = gt;
  live_head_ = gt;
  ++live_count_;
  push_ready(gt);
}

void Hub::release(GreenThreadState* gt) noexcept {
  if (gt->status != Status::kDead) invariant_failed("a green thread was released while alive");
  StackSlot slot = gt->stack;
  gt->destroy();
  pool_.release(slot);
}

// In the child process of a fork() (fork.cpp): the other OS threads and their hubs do
// not exist there, and one of them may have held these locks at the fork.
void Hub::forget_other_hubs_after_fork() noexcept {
  new (&dump_signal_mutex) std::mutex();
  new (&hub_registry_mutex) std::mutex();
  std::erase_if(hub_registry, [this](const Hub* h) { return h != this; });
}

void Hub::hand_over(GreenThreadState* gt) noexcept {
  std::lock_guard<std::mutex> lock(hub_registry_mutex);
  for (Hub* h : hub_registry) {
    if (h->serial_ != gt->hub_serial) continue;
    try {
      h->handed_.push_back(gt);
      h->handed_pending_.store(true, std::memory_order_relaxed);
    } catch (...) {
      // No memory for the list: the stack stays allocated (a leak, not a crash).
    }
    return;
  }
  // The hub is gone: it left every stack still referenced mapped (see ~Hub).
}

void Hub::free_handed() noexcept {
  std::vector<GreenThreadState*> list;
  {
    std::lock_guard<std::mutex> lock(hub_registry_mutex);
    list.swap(handed_);
    handed_pending_.store(false, std::memory_order_relaxed);
  }
  for (GreenThreadState* gt : list) {
    const std::uint32_t left = gt->refs.fetch_and(~kRefHandedToHub, std::memory_order_acq_rel) & ~kRefHandedToHub;
    // Still alive: release happens at its death (after_switch), which saw the flag.
    if (left == 0 && gt->status == Status::kDead) release(gt);
  }
}

// An abandoned green thread's stack stays mapped with what its frames and function
// object hold (the pool leaks its mappings, below): those objects are kept on purpose,
// not lost. LeakSanitizer scans no mapping it was not told of, so it would report them
// as leaks, or not, by the luck of a stale copy of a pointer on some thread's stack:
// tell it these stacks are roots. Nothing to do without ASan.
void Hub::keep_abandoned_stacks_reachable() const noexcept {
#if defined(__SANITIZE_ADDRESS__)
  for (const GreenThreadState* g = live_head_; g; g = g->live_next) {
    if (g != &root_ && g->stack.lo) __lsan_register_root_region(g->stack.lo, g->stack.size);
  }
#endif
}

void Hub::report_abandoned() const noexcept {
  try {
    std::size_t never_started = 0;
    std::size_t quiet = 0;  // green pthreads (quiet_at_exit): a process ends its threads silently
    std::string names;
    for (const GreenThreadState* g = live_head_; g; g = g->live_next) {
      if (g->quiet_at_exit) {
        ++quiet;
        continue;
      }
      if (g->status != Status::kCreated || (g->pending & kPendingKill)) continue;
      if (++never_started <= 5) names.append(never_started > 1 ? ", " : "").append(describe(g));
    }
    if (never_started > 5) names.append(", ...");
    if (never_started > 0) {
      log_error("grove: OS thread {} exits with {} green thread(s) that never ran ({}): they were spawned "
                "and the thread never parked, yielded or joined afterwards, so its hub never ran them. "
                "Join what a thread spawns (g.join(), grove::joinall) before its function returns",
                describe(&root_), never_started, names);
    }
    if (live_count_ > never_started + quiet) {
      log_warn("grove: thread exits with {} green thread(s) still alive; they are abandoned "
               "without running their destructors", live_count_ - never_started - quiet);
    }
  } catch (...) {
  }
}

SpawnPlacement allocate_green_thread(std::size_t object_size, std::size_t stack_size) {
  if (tls_in_pool_worker) [[unlikely]] {
    throw UsageError("grove::spawn: called in a thread-pool job (run_in_thread / ThreadPool::run); a "
                     "worker never runs its hub between jobs, so the green thread would not run (or "
                     "would run later, inside an unrelated job). Spawn from the green thread that "
                     "called run_in_thread, or do the work in the job itself");
  }
  return Hub::get().allocate(object_size, stack_size);
}

void abandon_placement(const SpawnPlacement& p) noexcept { Hub::get().abandon(p); }

void start_green_thread(GreenThreadState* gt, const SpawnPlacement& p, std::string name) {
  Hub::get().start(gt, p, std::move(name));
}

// ---------------------------------------------------------------- switching

// restore_thread_state, switch_to, after_switch and switch_next: hub_switch.hpp.

GreenThreadState* Hub::pop_ready_seeded() noexcept {
  if (!ready_head_) return nullptr;
  // A yielder is queued already: it gives way to at least one other ready green thread.
  const bool skip_running = ready_len_ > 1;
  std::size_t n = skip_running ? ready_len_ - 1 : ready_len_;
  std::size_t pick = schedule_rng_->below(n);
  GreenThreadState* prev = nullptr;
  GreenThreadState* gt = ready_head_;
  for (;;) {
    if (!(skip_running && gt == current_)) {
      if (pick == 0) break;
      --pick;
    }
    prev = gt;
    gt = gt->next_ready;
  }
  if (prev) prev->next_ready = gt->next_ready; else ready_head_ = gt->next_ready;
  if (ready_tail_ == gt) ready_tail_ = prev;
  --ready_len_;
  return gt;
}

void Hub::set_schedule_seed(std::optional<std::uint64_t> seed) {
  if (seed) {
    schedule_rng_ = std::make_unique<ScheduleRng>(hub_schedule_seed(*seed, serial_));
  } else {
    schedule_rng_.reset();
  }
}

void Hub::check_may_block(const char* what) const {
  if (current_ == &hub_) {
    throw UsageError(std::string("grove: blocking call (") + what +
                     ") made on the hub; only green threads may block");
  }
}

void Hub::park(const char* what, const GreenThreadState* peer) {
  GreenThreadState* me = current_;
  // What it waits on is stored first, so that `what` and `peer` need no register kept
  // across the calls below: two fewer callee-saved registers saved and restored on
  // every park. The rare cases (on the hub: UsageError; an interrupt pending: raised)
  // are out of line, and leave no description behind on the way out.
  me->wait_what = what;
  me->wait_peer = peer;
  if (me == &hub_ || me->pending) [[unlikely]] {
    [](Hub* hub, GreenThreadState* me) __attribute__((noinline, cold)) {
      const char* w = me->wait_what;
      const GreenThreadState* p = me->wait_peer;
      me->wait_what = nullptr;
      me->wait_peer = nullptr;
      if (me == &hub->hub_) hub->check_may_block(w);
      if (me->pending) hub->raise_pending(me);
      me->wait_what = w;
      me->wait_peer = p;
    }(this, me);
  }
  me->status = Status::kParked;
  me->wake_reason = WakeReason::kNone;
  me->parked_since = polled_at_;
  switch_next<false>(me);
  me->wait_what = nullptr;
  me->wait_peer = nullptr;
  if (me->wake_reason == WakeReason::kInterrupted) raise_pending(me);
}

void Hub::park_nothrow(const char* what) noexcept {
  if (current_ == &hub_) invariant_failed("park_nothrow called on the hub");
  park_nothrow_inline(what);
}

bool Hub::park_for(double seconds, const char* what, const GreenThreadState* peer) {
  GreenThreadState* me = current_;
  if (me == &hub_) check_may_block(what);
  if (me->pending) raise_pending(me);
  if (seconds <= 0) return false;
  ParkTimer timer(*this, me, seconds);
  park(what, peer);
  return me->wake_reason != WakeReason::kTimedOut;
}

void Hub::yield() {
  GreenThreadState* me = current_;
  if (me == &hub_) check_may_block("yield");
  if (me->pending) raise_pending(me);
  me->status = Status::kReady;
  push_ready(me);
  switch_next<true>(me);
  if (me->pending) raise_pending(me);
}

bool Hub::wake(GreenThreadState* gt, WakeReason why) noexcept { return wake_inline(gt, why); }

void Hub::interrupt(GreenThreadState* gt, std::uint8_t bit, unsigned unwinding) noexcept {
  if (gt->status >= Status::kDead) return;  // dead, or abandoned at fork (never runs again)
  // A green thread unwinding an exception (parked in a destructor) cannot take an
  // interrupt from outside that unwinding: the interrupt stays pending, raised at its
  // first park after the unwinding, and it is not woken out of the destructor's wait.
  // A kill of a green thread that is unwinding from GreenletExit already is a no-op.
  // A Timeout made in that unwinding (`unwinding`: the depth it was made at) is taken:
  // its handler is inside the destructor. LoopExit still wakes it: nothing else could.
  const unsigned uncaught = gt == current_ ? eh_->uncaught : gt->eh_uncaught;
  if (uncaught != 0 && uncaught != unwinding && bit != kPendingLoopExit) {
    if (bit != kPendingKill || !gt->exiting) gt->pending |= bit;
    return;
  }
  gt->pending |= bit;
  wake(gt, WakeReason::kInterrupted);
}

void Hub::raise_pending(GreenThreadState* me) {
  // Throwing while an exception unwinds this green thread would call std::terminate,
  // unless the handler is inside the clean-up that parks: only a Timeout made at this
  // unwinding depth is raised then, the rest stays pending (see interrupt()). Only
  // reached with a pending bit or an interrupting wake, never on the plain park / yield path.
  if (const unsigned uncaught = eh_->uncaught; uncaught != 0 && !(me->pending & kPendingLoopExit)) {
    if (me->pending & kPendingTimeout) raise_fired_timeout(me, uncaught);
    return;
  }
  if (me->pending & kPendingKill) {
    me->pending &= static_cast<std::uint8_t>(~kPendingKill);
    me->exiting = true;
    throw GreenletExit{};
  }
  if (me->pending & kPendingKeyboardInterrupt) {  // interrupt_on_sigint() (keyboard_interrupt.cpp)
    me->pending &= static_cast<std::uint8_t>(~kPendingKeyboardInterrupt);
    throw KeyboardInterrupt{};
  }
  if (me->pending & kPendingLoopExit) {
    me->pending &= static_cast<std::uint8_t>(~kPendingLoopExit);
    std::string msg = std::move(loop_exit_message_);
    loop_exit_message_.clear();
    throw LoopExit(msg);
  }
  if (me->pending & kPendingTimeout) {
    raise_fired_timeout(me, 0);  // throws TimeoutError, or clears the bit if none is left
  }
}

std::size_t Hub::ready_count() const noexcept {
  std::size_t n = 0;
  for (GreenThreadState* g = ready_head_; g; g = g->next_ready) ++n;
  return n;
}

std::string Hub::describe_wait(const GreenThreadState* gt) const {
  std::string w = gt->wait_what ? gt->wait_what : "?";
  if (gt->wait_peer) w += " of " + describe(gt->wait_peer);
  if (gt->wait_peer && gt->wait_peer->status == Status::kAbandoned) w += " (abandoned at fork)";
  return w;
}

std::string Hub::describe(const GreenThreadState* gt) const {
  // Built by appending: GCC 12 warns falsely (-Wrestrict) on `"literal" + std::string&&`.
  std::string out = "'";
  if (gt->name.empty()) out.append("GreenThread-").append(std::to_string(gt->id)); else out.append(gt->name);
  out.append("' (id ").append(std::to_string(gt->id)).append(")");
  return out;
}

// ---------------------------------------------------------------- entry and exit

// Entered by a jmp from Boost.Context's start-up code; run_green_thread and finish are
// inlined here, so nothing this context called is outstanding when it dies.
void ContextEntry::run(boost::context::detail::transfer_t t) noexcept {
  GreenThreadState* prev = context::entered(t);
  Hub* hub = Hub::tls_hub_;
  GreenThreadState* self = hub->current_;
  hub->restore_thread_state(self);
  hub->after_switch(prev);
  if (self->is_hub) hub->run_loop();
  hub->run_green_thread(self);
}

inline void Hub::run_green_thread(GreenThreadState* self) noexcept {
  if (self->pending & kPendingKill) {
    self->killed = true;  // killed before it started: its function never runs
  } else {
    self->started = true;
    try {
      self->run();
    } catch (const GreenletExit&) {
      self->killed = true;
    } catch (...) {
      self->error = std::current_exception();
    }
  }
  self->pending = 0;
  self->drop_call();
  if (self->locals) destroy_locals(self);  // on its own stack still, before anyone sees it dead
  finish(self);
}

void Hub::spawn_links(GreenThreadState* self) noexcept {
  LinkNode* n = self->links;
  self->links = nullptr;
  const bool ok = !self->error && !self->killed;
  while (n) {
    LinkNode* next = n->next;
    if (n->when == 0 || (n->when == 1 && ok) || (n->when == 2 && !ok)) {
      try {
        grove::spawn([cb = std::move(n->callback)](GreenThreadHandle h) { cb(std::move(h)); },
                     GreenThreadHandle(self));
      } catch (const std::exception& e) {
        log_error("grove: cannot spawn a link callback of {}: {}", describe(self), e.what());
      }
    }
    delete n;
    n = next;
  }
}

inline void Hub::finish(GreenThreadState* self) noexcept {
  const bool observed = self->observed || !self->observers.empty() || self->links;
  self->status = Status::kDead;
  self->check_after_switch = true;  // the next context frees it (after_switch)
  if (self->live_prev) self->live_prev->live_next = self->live_next; else live_head_ = self->live_next;
  if (self->live_next) self->live_next->live_prev = self->live_prev;
  --live_count_;
  if (self->error && !observed) {
    try {
      log_error("grove: green thread {} died with an exception: {}", describe(self), exception_text(self->error));
    } catch (...) {
    }
  }
  self->observers.notify_all();
  spawn_links(self);
  GreenThreadState* next = pop_ready();
  if (!next) next = &hub_;
  // Its exception state is not saved (it never resumes); the next one expects it
  // empty (restore_thread_state). It is, after the catch-all that ended the call.
  eh_->caught = nullptr;
  eh_->uncaught = 0;
  current_ = next;
  next->status = Status::kRunning;
  count_switch();
  running_.store(next, std::memory_order_release);
  context::jump_dying(self, next);
}

// ---------------------------------------------------------------- the loop

void Hub::run_loop() noexcept {
  for (;;) {
    if (!ready_head_) {
      if (active_watchers_ == 0 && pending_jobs_ == 0) {
        on_deadlock();
      } else if (inbox_ && inbox_->spin_for_posts()) {
        // Another OS thread's post, taken by spinning instead of blocking (see "Several
        // hubs" above). Timers and I/O still get a poll every kBudget such turns.
        if (++spun_turns_ >= kBudget) {
          spun_turns_ = 0;
          ev_run(loop_, EVRUN_NOWAIT);
        }
      } else {
        polling_.store(true, std::memory_order_relaxed);
        ev_run(loop_, EVRUN_ONCE);
        polling_.store(false, std::memory_order_relaxed);
      }
    } else {
      ev_run(loop_, EVRUN_NOWAIT);
    }
    polled_at_ = ev_now(loop_);
    if (handed_pending_.load(std::memory_order_relaxed)) [[unlikely]] free_handed();
    // Everyone ready after this poll runs before the next one (a round), and at least
    // kBudget switches happen: re-polling sooner would make level-triggered epoll
    // (libev's fds: pipes, wait_readable, monkey's) report again every fd whose green
    // thread has not run yet (net/src/io_channel.hpp).
    budget_ = ready_len_ > kBudget ? static_cast<int>(ready_len_) : kBudget;
    if (GreenThreadState* next = pop_ready()) switch_to(&hub_, next);
  }
}

void Hub::on_deadlock() noexcept {
  if (!main_ || main_->status != Status::kParked) {
    invariant_failed("nothing is ready and nothing can wake anyone, yet the root green thread is not parked");
  }
  std::string msg;
  try {
    // Built by appending: GCC 12 warns falsely (-Wrestrict) on `"literal" + std::string&&`.
    msg.append("grove: this operation would block forever: ").append(describe(main_));
    msg.append(" waits on ").append(describe_wait(main_));
    msg.append(", and nothing can wake it (no green thread is ready, no timer or I/O watcher is "
          "active, no thread-pool job is pending)");
    std::size_t shown = 0;
    for (GreenThreadState* g = live_head_; g; g = g->live_next) {
      if (g->status != Status::kParked || g == main_) continue;
      if (shown == 0) msg += ". Parked green threads:";
      if (++shown > 20) {
        msg += " ...";
        break;
      }
      msg.append(" ").append(describe(g)).append(" waits on ").append(describe_wait(g)).append(";");
    }
  } catch (...) {
    msg = "grove: this operation would block forever";
  }
  if (schedule_rng_) {
    try {
      msg.append(" [schedule seed ").append(std::to_string(process_schedule_seed().value_or(0))).append("]");
    } catch (...) {
    }
  }
  loop_exit_message_ = std::move(msg);
  interrupt(main_, kPendingLoopExit);
}

// ---------------------------------------------------------------- socket readiness

namespace {
constexpr std::uint32_t kPollRead = EPOLLIN | EPOLLRDHUP | EPOLLET;
constexpr std::uint32_t kPollBoth = kPollRead | EPOLLOUT;
constexpr int kPollBatch = 256;
}  // namespace

bool Hub::poll_open() noexcept {
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return false;
  poll_fd_ = ep;
  ev_io_init(&poll_io_, &Hub::on_poll, ep, EV_READ);
  poll_io_.data = this;
  ev_io_start(loop_, &poll_io_);
  return true;
}

bool Hub::poll_arm(PolledFd& p, PollSide& side) noexcept {
  if (poll_fd_ < 0 && !poll_open()) return false;
  const bool write = &side == p.wr;
  epoll_event ev{};
  // Writing stays in once armed (a MOD replaces the whole mask).
  ev.events = write || (p.registered && p.wr->armed) ? kPollBoth : kPollRead;
  ev.data.ptr = &p;
  if (p.registered) {
    // Writing added to an fd added for reading (the first time its sends filled the
    // buffer). MOD reports what is ready already, so an edge the writer's EAGAIN
    // missed comes now.
    if (::epoll_ctl(poll_fd_, EPOLL_CTL_MOD, p.fd, &ev) < 0) return false;
    side.armed = true;
    return true;
  }
  if (::epoll_ctl(poll_fd_, EPOLL_CTL_ADD, p.fd, &ev) < 0) return false;
  p.registered = true;
  p.rd->armed = true;
  p.wr->armed = write;
  p.prev = nullptr;
  p.next = polled_head_;
  if (polled_head_) polled_head_->prev = &p;
  polled_head_ = &p;
  return true;
}

bool Hub::poll_add(PolledFd& p) noexcept { return poll_arm(p, *p.wr); }

void Hub::poll_remove(PolledFd& p) noexcept {
  if (!p.registered) return;
  p.registered = false;
  p.rd->armed = p.wr->armed = false;
  // Also when the fd stays open elsewhere (dup, a child process): no event may name p again.
  ::epoll_ctl(poll_fd_, EPOLL_CTL_DEL, p.fd, nullptr);
  if (p.prev) p.prev->next = p.next; else polled_head_ = p.next;
  if (p.next) p.next->prev = p.prev;
  p.prev = p.next = nullptr;
}

void Hub::on_poll(struct ev_loop*, ev_io* w, int) noexcept {
  Hub* hub = static_cast<Hub*>(w->data);
  epoll_event evs[kPollBatch];
  for (;;) {
    const int n = ::epoll_wait(hub->poll_fd_, evs, kPollBatch, 0);
    for (int i = 0; i < n; ++i) {
      auto* p = static_cast<PolledFd*>(evs[i].data.ptr);
      const std::uint32_t e = evs[i].events;
      // As libev's epoll backend: an error or hang-up wakes both directions.
      // A hang-up is sticky (PollSide::hangup): for reading, the peer's shutdown of its
      // writing too; for writing only a full hang-up or an error, since a peer that
      // stopped writing may still read, and a writer parked on its full buffer must
      // wait for room, not spin.
      if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        hub->poll_ready(*p->rd, e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR));
      }
      if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR)) hub->poll_ready(*p->wr, e & (EPOLLHUP | EPOLLERR));
    }
    if (n < kPollBatch) return;  // drained (or EINTR: libev reports the set again)
  }
}

void Hub::poll_after_fork() noexcept {
  // The set is the parent's (one file description): the child's changes would be the
  // parent's. A set of its own, with every fd registered again (ADD reports what is
  // ready already, so nothing an edge said is lost).
  if (poll_fd_ < 0) return;
  ev_io_stop(loop_, &poll_io_);
  ::close(poll_fd_);
  poll_fd_ = -1;
  (void)poll_open();
  PolledFd* list = polled_head_;
  polled_head_ = nullptr;
  while (list) {
    PolledFd* p = list;
    list = p->next;
    p->registered = false;
    p->prev = p->next = nullptr;
    // As it was: the write side armed only if it was in the parent. Refused: the owner
    // finds its sides unarmed at their next wait and arms them again or falls back to
    // libev.
    const bool write = p->wr->armed;
    p->rd->armed = p->wr->armed = false;
    (void)poll_arm(*p, write ? *p->wr : *p->rd);
  }
}

// ---------------------------------------------------------------- stack trim

void Hub::start_stack_trim(void* p) noexcept {
  Hub* hub = static_cast<Hub*>(p);
  if (ev_is_active(&hub->stack_trim_)) return;
  ev_timer_set(&hub->stack_trim_, kStackTrimSeconds, kStackTrimSeconds);
  ev_timer_start(hub->loop_, &hub->stack_trim_);
  ev_unref(hub->loop_);  // not a reason to keep running, nor counted as a watcher
}

void Hub::on_stack_trim(struct ev_loop* loop, ev_timer* w, int) noexcept {
  Hub* hub = static_cast<Hub*>(w->data);
  if (hub->pool_.trim()) return;
  ev_ref(loop);
  ev_timer_stop(loop, w);
}

// ---------------------------------------------------------------- ParkTimer

ParkTimer::ParkTimer(Hub& hub, GreenThreadState* gt, double seconds) noexcept : hub_(hub), gt_(gt) {
  ev_timer_init(&timer_, &ParkTimer::on_timer, seconds, 0.);
  timer_.data = this;
  randomize_priority(hub.schedule_rng(), reinterpret_cast<ev_watcher*>(&timer_));
  // libev counts a timer from the loop's cached time, which is as old as the last
  // poll: a green thread that ran for a while since would sleep (or time out) short.
  // Reading the clock first (vDSO, no syscall) makes `seconds` count from now.
  ev_now_update(hub.loop());
  ev_timer_start(hub.loop(), &timer_);
  hub.watcher_started();
}

ParkTimer::~ParkTimer() {
  if (active_) {
    ev_timer_stop(hub_.loop(), &timer_);
    hub_.watcher_stopped();
  }
}

void ParkTimer::on_timer(struct ev_loop*, ev_timer* w, int) noexcept {
  auto* self = static_cast<ParkTimer*>(w->data);
  self->active_ = false;
  self->hub_.watcher_stopped();
  self->hub_.wake(self->gt_, WakeReason::kTimedOut);
}

// ---------------------------------------------------------------- dump signal

void Hub::enable_dump_signal(int signo) {
  if (dump_signal_on_) return;
  if (signo <= 0 || signo >= NSIG) {
    throw UsageError("grove::dump_on_signal: " + std::to_string(signo) + " is not a signal number");
  }
  {
    std::lock_guard<std::mutex> lock(dump_signal_mutex);
    if (dump_signal_owner[signo] != 0 && dump_signal_owner[signo] != serial_) {
      throw UsageError("grove::dump_on_signal: signal " + std::to_string(signo) +
                       " already dumps another OS thread's hub (a signal can serve one hub only)");
    }
    dump_signal_owner[signo] = serial_;
  }
  ev_signal_init(&dump_signal_, [](struct ev_loop*, ev_signal*, int) {
    try {
      grove_dump_to_stderr();
    } catch (...) {
    }
  }, signo);
  ev_signal_start(loop_, &dump_signal_);
  ev_unref(loop_);  // does not keep the loop alive
  dump_signal_on_ = true;
}

}  // namespace grove::detail
