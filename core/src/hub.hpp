// hub.hpp: the per-OS-thread scheduler and event loop. See the essay in hub.cpp.
#pragma once

#include <ev.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <grove/detail/green_thread_state.hpp>

#include "schedule_seed.hpp"
#include "shared_stack.hpp"
#include "stack_pool.hpp"

namespace grove::detail {

class Monitor;
class HubInbox;
struct ContextEntry;  // hub.cpp: where every new context starts
// Destroys gt's grove::local values (sync/local.cpp). Destructors that throw are logged.
void destroy_locals(GreenThreadState* gt) noexcept;

struct PlainState final : GreenThreadState {};

// --- the hub's own epoll set for sockets (see "Socket readiness" in hub.cpp) ---
// A green thread parked on one direction of a polled fd; lives on its stack.
struct FdWaiter {
  GreenThreadState* gt = nullptr;
  bool ready = false;   // the fd was reported ready
  bool closed = false;  // the fd's owner was closed while parked
  bool nap = false;     // a timed nap that readiness does not end (IoChannel::sleep)
};
// One direction (read or write) of a polled fd.
struct PollSide {
  FdWaiter* waiter = nullptr;
  bool edge = false;  // readiness was reported while nobody waited: the next wait returns at once
  // A hang-up (end of stream, reset, error) was reported: no edge will come again, so
  // every later wait returns at once (edge is set again each time one is taken).
  bool hangup = false;
  // This side's events are in the fd's registration (Hub::poll_arm). The read side is
  // armed when the fd is added; the write side only when a writer first waits, so
  // that the events of a socket whose sends never fill its buffer carry no EPOLLOUT
  // for on_poll to look at (see "Socket readiness" in hub.cpp).
  bool armed = false;
};
// An fd in the hub's epoll set, edge-triggered, for both directions; owned by what
// owns the fd (a socket), which takes it out (poll_remove) before closing the fd.
struct PolledFd {
  PollSide* rd = nullptr;
  PollSide* wr = nullptr;
  int fd = -1;
  bool registered = false;
  PolledFd* prev = nullptr;  // the hub's list of registered fds (re-registered after fork)
  PolledFd* next = nullptr;
};

// Exported (GROVE_API) only so that libgrove_monkey, a separate shared library, can
// park green threads from its libc hooks; not a public API.
class GROVE_API Hub {
 public:
  // How many green-thread-to-green-thread switches may happen before the hub polls
  // for I/O and timers again (see "Fairness" in hub.cpp).
  static constexpr int kBudget = 64;

  // This OS thread's hub, or nullptr if none was created yet. Never creates one.
  static Hub* current() noexcept { return tls_hub_; }
  // This OS thread's hub, created on first use.
  static Hub& get() {
    Hub* h = tls_hub_;
    return h ? *h : create();
  }
  // True if gt belongs to this OS thread's hub. Compares the hub's serial, not its
  // address: a hub created later at the address of a destroyed one is another hub.
  static bool is_current(const GreenThreadState* gt) noexcept {
    Hub* h = tls_hub_;
    return h && h->serial_ == gt->hub_serial;
  }
  // Unique among all the hubs this process ever created (counting from 1).
  std::uint64_t serial() const noexcept { return serial_; }

  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;
  ~Hub();

  struct ev_loop* loop() const noexcept { return loop_; }
  GreenThreadState* running() const noexcept { return current_; }
  GreenThreadState* root() noexcept { return &root_; }
  bool on_hub() const noexcept { return current_ == &hub_; }

  // --- green thread lifecycle ---
  SpawnPlacement allocate(std::size_t object_size, std::size_t stack_size);
  void abandon(const SpawnPlacement& p) noexcept { pool_.release(p.slot); }
  void start(GreenThreadState* gt, const SpawnPlacement& p, std::string name);
  void release(GreenThreadState* gt) noexcept;  // dead and unreferenced
  // Called on another OS thread (or after this hub is gone) by the handle that dropped
  // what may be gt's last reference (its refs has kRefHandedToHub set): queues gt on
  // its hub, which frees it after its next poll if it is dead and unreferenced.
  static void hand_over(GreenThreadState* gt) noexcept;

  // --- parking and waking (only from this OS thread) ---
  // Parks the running green thread until wake() or an interrupt. Raises a pending
  // GreenletExit / TimeoutError / LoopExit before parking and after an interrupting
  // wake. May return spuriously: callers re-check their condition.
  void park(const char* what, const GreenThreadState* peer = nullptr);
  // As park(), with a timeout of its own: returns false if it expired first.
  bool park_for(double seconds, const char* what, const GreenThreadState* peer = nullptr);
  // As park(), but never raises: for libc hooks (monkey) that must not throw through
  // C code. A pending interrupt stays pending (raised by the next park()); the caller
  // checks running()->pending before and wake_reason after. Not on the hub.
  void park_nothrow(const char* what) noexcept;
  // park(what) and park_nothrow(what) inline, for the per-message waits of sockets
  // (libgrove) and of monkey's stream hooks (defined in hub_switch.hpp). Not on the
  // hub: the caller checks that.
  [[gnu::always_inline]] inline void park_inline(const char* what);
  [[gnu::always_inline]] inline void park_nothrow_inline(const char* what) noexcept;
  // Requeues the running green thread behind every ready one and runs them.
  void yield();
  // Parked -> ready. Returns false (and does nothing) if it was not parked, for
  // example because a kill or timeout already woke it: the caller then hands what
  // it had to the next waiter instead, so nothing is lost.
  bool wake(GreenThreadState* gt, WakeReason why = WakeReason::kWoken) noexcept;
  // Sets a pending interrupt (PendingBits) and wakes the green thread if parked,
  // unless it is unwinding an exception at a depth (std::uncaught_exceptions()) other
  // than `unwinding`: then the interrupt stays pending until the unwinding is over. A
  // kill's is 0; a Timeout's is the depth it was made at (see the essay in hub.cpp).
  void interrupt(GreenThreadState* gt, std::uint8_t bit, unsigned unwinding = 0) noexcept;
  // Throws the highest-priority pending interrupt of the running green thread.
  void raise_pending(GreenThreadState* me);
  // UsageError if called on the hub; `what` names the blocking call.
  void check_may_block(const char* what) const;

  // --- accounting for deadlock detection and hub_stats() ---
  void watcher_started() noexcept { ++active_watchers_; }
  void watcher_stopped() noexcept { --active_watchers_; }
  void job_started() noexcept { ++pending_jobs_; }
  void job_finished() noexcept { --pending_jobs_; }
  std::size_t active_watchers() const noexcept { return active_watchers_; }
  std::size_t pending_jobs() const noexcept { return pending_jobs_; }
  std::size_t live_count() const noexcept { return live_count_; }
  std::size_t ready_count() const noexcept;
  std::uint64_t switch_count() const noexcept { return switches_.load(std::memory_order_relaxed); }

  // Calls fn(gt) for the root and every live green thread.
  template <class F>
  void for_each_live(F&& fn) {
    fn(&root_);
    for (GreenThreadState* g = live_head_; g; g = g->live_next) fn(g);
  }
  std::string describe(const GreenThreadState* gt) const;       // "'name' (id N)"
  std::string describe_wait(const GreenThreadState* gt) const;  // "join of 'x' (id 3)"
  double now() const noexcept { return ev_now(loop_); }

  // Read by the blocked-hub monitor thread.
  std::atomic<std::uint64_t> switches_{0};
  std::atomic<GreenThreadState*> running_{nullptr};
  std::atomic<bool> polling_{false};

  void enable_dump_signal(int signo);

  // Arms `side` (p.rd or p.wr) in this hub's epoll set (made on first use),
  // edge-triggered: adds p.fd, for reading and, if `side` is p.wr, writing, or adds
  // writing to an fd added for reading. Readiness then reaches the side's waiter
  // without libev. False, with errno set, if the kernel refuses; the caller then
  // waits through libev.
  bool poll_arm(PolledFd& p, PollSide& side) noexcept;
  // Adds p.fd for both directions at once (poll_arm of p.wr). Kept for the ABI: a
  // libgrove_monkey built before poll_arm calls it and expects both sides armed.
  bool poll_add(PolledFd& p) noexcept;
  // Takes p out of the set, before its fd is closed or given away.
  void poll_remove(PolledFd& p) noexcept;

  // This hub's inbox (sync/hub_inbox.hpp), set when it is made and cleared when it
  // closes: the loop asks it to spin for posts before blocking (see run_loop).
  void set_inbox(HubInbox* inbox) noexcept { inbox_ = inbox; }

  // The generator of a hub that explores schedules, nullptr for FIFO. Watchers get a
  // random priority from it (randomize_priority) before they start.
  ScheduleRng* schedule_rng() const noexcept { return schedule_rng_.get(); }
  // Makes this hub explore schedules with `seed` (nullopt: back to FIFO).
  void set_schedule_seed(std::optional<std::uint64_t> seed);

  // In the child process of a fork(), on the forking OS thread (fork.cpp): a loop of
  // the child's own; every green thread but the caller abandoned.
  void after_fork_in_child() noexcept;

  // This hub's shared stack (shared_stack.hpp). Friends, not members, so that they
  // stay out of libgrove's exported symbols as the rest of shared_stack.cpp does.
  SharedStack& shared_stack() noexcept { return shared_stack_; }
  friend void call_on_shared_stack(void (*fn)(void*), void* arg) noexcept;
  friend void release_shared_stack(Hub& hub) noexcept;

 private:
  Hub();
  static Hub& create();
  friend struct ContextEntry;

  void push_ready(GreenThreadState* gt) noexcept {
    gt->next_ready = nullptr;
    if (ready_tail_) ready_tail_->next_ready = gt; else ready_head_ = gt;
    ready_tail_ = gt;
    ++ready_len_;
  }
  GreenThreadState* pop_ready() noexcept {
    if (schedule_rng_) [[unlikely]] return pop_ready_seeded();
    GreenThreadState* gt = ready_head_;
    if (gt) {
      ready_head_ = gt->next_ready;
      if (!ready_head_) ready_tail_ = nullptr;
      --ready_len_;
    }
    return gt;
  }

  // wake() for this file's callers (wake itself is exported, so calls to it stay calls).
  bool wake_inline(GreenThreadState* gt, WakeReason why) noexcept {
    if (gt->status != Status::kParked) return false;
    gt->status = Status::kReady;
    gt->wake_reason = why;
    push_ready(gt);
    return true;
  }
  // Readiness reported for one side of a polled fd (on_poll); `hangup`: the report
  // includes the peer's close or an error. See "Socket readiness" in hub.cpp.
  void poll_ready(PollSide& side, bool hangup) noexcept {
    // A hang-up is news for every later wait, the woken waiter's next one included: a
    // hang-up that came with data leaves the read that takes the data short, and no
    // later edge would say the end is there too.
    if (hangup) [[unlikely]] side.hangup = side.edge = true;
    FdWaiter* w = side.waiter;
    if (w && !w->nap) [[likely]] {
      w->ready = true;
      if (wake_inline(w->gt, WakeReason::kWoken)) [[likely]] return;
      if (w->gt->status == Status::kAbandoned) [[unlikely]] {
        // In a fork() child, a waiter whose green thread was left behind: detach it,
        // as its own wait would have on leaving.
        side.waiter = nullptr;
        --active_watchers_;
      }
    }
    // Nobody to wake, or woken already and not yet run: this report is news for the
    // side's next wait, which returns at once.
    side.edge = true;
  }

  // pop_ready under a schedule seed (schedule_seed.hpp): a random ready green thread,
  // never the running one (a yielder) while another is ready.
  GreenThreadState* pop_ready_seeded() noexcept;

  // The switch path, forced inline into yield/park: a yield is a handful of loads and
  // stores around jump_fcontext, and call overhead was a third of it (callgrind).
  template <bool queued>
  [[gnu::always_inline]] inline void switch_next(GreenThreadState* me);
  [[gnu::always_inline]] inline void switch_to(GreenThreadState* from, GreenThreadState* to) noexcept;
  [[gnu::always_inline]] inline void after_switch(GreenThreadState* prev) noexcept;
  [[gnu::always_inline]] inline void count_switch() noexcept;
  [[gnu::always_inline]] inline void restore_thread_state(GreenThreadState* me) noexcept;
  // Inlined into ContextEntry::run so that a dying context has no call outstanding
  // at its last switch (context::jump_dying).
  [[gnu::always_inline, noreturn]] inline void run_green_thread(GreenThreadState* self) noexcept;
  [[gnu::always_inline, noreturn]] inline void finish(GreenThreadState* self) noexcept;
  [[noreturn]] void run_loop() noexcept;
  void forget_other_hubs_after_fork() noexcept;  // hub.cpp, beside the hub registry
  void on_deadlock() noexcept;
  bool poll_open() noexcept;  // makes the epoll set and its libev watcher
  static void on_poll(struct ev_loop*, ev_io* w, int) noexcept;  // the epoll set is readable
  void poll_after_fork() noexcept;  // a set of the child's own, with every registered fd
  // The stack pool's trim timer (stack_pool.hpp): started when warm stacks pile up,
  // stopped when trim() has nothing left to do.
  static void start_stack_trim(void* hub) noexcept;
  static void on_stack_trim(struct ev_loop*, ev_timer* w, int) noexcept;
  // Frees what other OS threads handed over (hand_over) that is dead and unreferenced.
  void free_handed() noexcept;
  // The shutdown warning / error about green threads still alive (see the essay).
  void report_abandoned() const noexcept;
  void keep_abandoned_stacks_reachable() const noexcept;
  void spawn_links(GreenThreadState* self) noexcept;

  // constinit: without it every other file's read of it first tests for a TLS init
  // function (two instructions per Hub::current(), several per echoed message).
  static constinit thread_local Hub* tls_hub_ __attribute__((tls_model("initial-exec")));

  struct ev_loop* loop_ = nullptr;
  GreenThreadState* current_ = nullptr;
  PlainState root_;
  PlainState hub_;
  // Where the deadlock check raises LoopExit: the root, or in the child of a fork()
  // the green thread that called it (nullptr: fork() was called on the hub).
  GreenThreadState* main_ = &root_;
  GreenThreadState* ready_head_ = nullptr;
  GreenThreadState* ready_tail_ = nullptr;
  // ev_now() as of the last poll, for parked_since: a load instead of a call into libev
  // per park (diagnostics only; ev_now_update calls in between do not move it).
  double polled_at_ = 0;
  int budget_ = kBudget;
  int spun_turns_ = 0;  // turns the inbox's spin fed since the last poll it forced (run_loop)
  HubInbox* inbox_ = nullptr;
  // Set when this hub explores schedules (GROVE_SCHEDULE_SEED, set_schedule_seed).
  std::unique_ptr<ScheduleRng> schedule_rng_;
  std::size_t ready_len_ = 0;  // length of the ready queue (sets the budget after a poll)

  GreenThreadState* live_head_ = nullptr;
  std::size_t live_count_ = 0;
  std::size_t active_watchers_ = 0;
  std::size_t pending_jobs_ = 0;
  std::uint64_t next_id_ = 1;

  struct EhGlobals {
    void* caught;
    unsigned int uncaught;
  };
  EhGlobals* eh_ = nullptr;
  int* errno_ = nullptr;

  StackPool pool_;
  std::string loop_exit_message_;
  std::unique_ptr<Monitor> monitor_;
  ev_signal dump_signal_{};
  ev_timer stack_trim_{};  // active (and unref'd: it keeps no loop alive) while trimming
  int poll_fd_ = -1;         // the epoll set for sockets (poll_arm), -1 until first used
  ev_io poll_io_{};          // libev's watcher on it
  PolledFd* polled_head_ = nullptr;
  bool dump_signal_on_ = false;
  void* altstack_ = nullptr;  // the sigaltstack this hub installed, if any
  std::vector<GreenThreadState*> handed_;     // hand_over(); guarded by hub.cpp's registry mutex
  std::atomic<bool> handed_pending_{false};   // handed_ is not empty
  const std::uint64_t serial_;

  // Frees the libev loop if the constructor throws after creating it; ~Hub() destroys
  // the loop itself, in its order, and clears this.
  struct LoopOwner {
    struct ev_loop* loop = nullptr;
    const int* poll_fd = nullptr;  // and the sockets' epoll set
    ~LoopOwner();
  };
  LoopOwner loop_owner_;
  SharedStack shared_stack_;  // last: members before it keep their offsets
};

// A libev timer on the parking green thread's stack that wakes it with kTimedOut.
class GROVE_API ParkTimer {
 public:
  ParkTimer(Hub& hub, GreenThreadState* gt, double seconds) noexcept;
  ~ParkTimer();
  ParkTimer(const ParkTimer&) = delete;
  ParkTimer& operator=(const ParkTimer&) = delete;

 private:
  static void on_timer(struct ev_loop*, ev_timer* w, int) noexcept;
  ev_timer timer_;
  Hub& hub_;
  GreenThreadState* gt_;
  bool active_ = true;
};

}  // namespace grove::detail
