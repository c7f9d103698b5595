// grove/detail/green_thread_state.hpp: the control block of one green thread.
//
// The control block lives at the top of the green thread's own stack (a spawned green
// thread costs one stack and nothing on the heap); the typed part (function, arguments,
// result) is a subclass, grove::detail::Task, placed there by spawn(). Only the hub's
// thread touches it, except `refs`. Handles (GreenThread<T>) count references: the
// stack goes back to the pool when the green thread is dead and the last handle is gone.
//
// Handles may be copied and destroyed on any OS thread (as std::shared_ptr), so `refs`
// is atomic; spawn + join + drop makes no locked instruction (the one handle of spawn()
// is adopted, and its destruction takes the sole-holder path below). Only the hub's
// OS thread may free the stack: the last reference dropped elsewhere is handed to the
// hub (kRefHandedToHub), which frees it at its next poll (hub.cpp: "Handles on other OS
// threads").
//
// Users never touch these fields; they are in a public header only because spawn() is
// a template.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <string>

#include <grove/detail/observer.hpp>
#include <grove/export.hpp>

namespace grove {
class Timeout;
class GreenThreadHandle;
}

namespace grove::detail {

class Hub;

enum class Status : std::uint8_t {
  kCreated,  // spawned, queued, its function has not started
  kReady,    // in the hub's ready queue
  kRunning,  // the one running now
  kParked,   // waiting for a wake (or an interrupt)
  kDead,     // finished: returned, threw, or was killed
  kAbandoned,  // in the child process of a fork(): left behind, never runs again
               // (only the green thread that called fork() continues; core/src/fork.cpp)
};

enum class WakeReason : std::uint8_t {
  kNone,
  kWoken,        // the thing it waited for happened
  kTimedOut,     // the wait's own timeout expired
  kInterrupted,  // kill(), a grove::Timeout, or LoopExit: see pending
};

// Bits of GreenThreadState::pending: interrupts waiting to be raised at the next
// blocking point.
enum PendingBits : std::uint8_t {
  kPendingKill = 1,
  kPendingTimeout = 2,
  kPendingLoopExit = 4,
  kPendingKeyboardInterrupt = 8,  // interrupt_on_sigint(): raised in the root (grove/signal.hpp)
};

enum class GuardKind : std::uint8_t { kNone, kMadvise, kMprotect, kCanary };

struct StackSlot {
  char* lo = nullptr;          // lowest usable byte; the guard region lies just below
  std::size_t size = 0;        // usable bytes, lo + size is the top
  std::size_t guard = 0;       // bytes of guard region below lo
  std::uint32_t size_class = 0;
  GuardKind guard_kind = GuardKind::kNone;
};

struct LinkNode {
  std::function<void(GreenThreadHandle)> callback;
  std::uint8_t when = 0;  // 0: always, 1: only on success, 2: only on failure
  LinkNode* next = nullptr;
};

struct LocalSlots;   // grove::local<T> values of one green thread (core/src/sync/local.cpp)
struct TimeoutLink;  // the chain of grove::Timeout objects alive on this green thread

struct GROVE_API GreenThreadState {
  GreenThreadState() = default;
  GreenThreadState(const GreenThreadState&) = delete;
  GreenThreadState& operator=(const GreenThreadState&) = delete;

  // Runs the user's function and stores its value. Exceptions propagate to the caller.
  virtual void run() {}
  // Destroys the function and its arguments (after run, or when killed before start).
  virtual void drop_call() noexcept {}
  // Destroys the whole object; called when it is dead and unreferenced.
  virtual void destroy() noexcept {}
  // The ResultSlot<R> of the typed subclass.
  virtual void* result_storage() noexcept { return nullptr; }

  // --- scheduler (hub.cpp) ---
  void* fctx = nullptr;                   // saved machine context while not running
  GreenThreadState* next_ready = nullptr; // ready-queue link
  Hub* hub = nullptr;
  std::uint64_t id = 0;
  std::atomic<std::uint32_t> refs{0};     // handles (the alive state is `status`), plus
                                          // kRefHandedToHub while the hub owes it a check
  Status status = Status::kCreated;
  WakeReason wake_reason = WakeReason::kNone;
  std::uint8_t pending = 0;               // PendingBits
  bool started = false;
  bool killed = false;                    // ended by GreenletExit (or killed before start)
  bool exiting = false;                   // GreenletExit was raised in it (kill is then a no-op
                                          // while it unwinds)
  bool observed = false;                  // someone joined / linked: do not log its error
  bool is_root = false;                   // the OS thread's original context
  bool is_hub = false;
  bool quiet_at_exit = false;             // left alive at thread exit without a word: a
                                          // green pthread (monkey), which a process ends
                                          // as silently as it ends an OS thread
  bool eh_saved = false;                  // eh_caught / eh_uncaught hold its exception
                                          // state (see restore_thread_state); in the
                                          // padding before them
  bool check_after_switch = false;        // the context that runs after its switch away
                                          // checks its canary (a canary-guarded stack)
                                          // or frees it (dead): Hub::after_switch

  // --- per-green-thread runtime state, swapped on every switch ---
  // The exception state only when not empty (eh_saved); otherwise both are zero.
  void* eh_caught = nullptr;              // __cxa_eh_globals::caughtExceptions
  unsigned int eh_uncaught = 0;           // __cxa_eh_globals::uncaughtExceptions
  int saved_errno = 0;

  // --- timeouts (timeout.cpp) ---
  Timeout* timeouts = nullptr;            // innermost live grove::Timeout
  std::uint32_t fired_timeouts = 0;       // fired and not yet raised

  // --- green-thread-local storage (local.cpp), created on first use ---
  LocalSlots* locals = nullptr;

  // --- diagnostics ---
  // What it waits on: read only while it is parked (left behind after a wake).
  const char* wait_what = nullptr;        // what a parked green thread waits on
  // The green thread it joins, if any: set by Hub::park and cleared when it wakes, so
  // null at every other park.
  const GreenThreadState* wait_peer = nullptr;
  double parked_since = 0;                // hub loop time when it parked
  GreenThreadState* live_prev = nullptr;
  GreenThreadState* live_next = nullptr;

  // --- stack ---
  StackSlot stack;
  void* asan_fake_stack = nullptr;
  const void* asan_stack_bottom = nullptr;
  std::size_t asan_stack_size = 0;

  // --- completion ---
  ObserverList observers;                 // joiners and wait() calls
  LinkNode* links = nullptr;
  std::exception_ptr error;
  std::string name;
  std::uint64_t hub_serial = 0;           // Hub::serial() of `hub`: unique per process

 protected:
  ~GreenThreadState() = default;
};

// Runtime entry points used by the templates in the public headers.
struct SpawnPlacement {
  void* object;     // where to construct the Task (top of the new stack)
  StackSlot slot;
};
GROVE_API SpawnPlacement allocate_green_thread(std::size_t object_size, std::size_t stack_size);
GROVE_API void start_green_thread(GreenThreadState* gt, const SpawnPlacement& placement,
                                  std::string name);
GROVE_API void abandon_placement(const SpawnPlacement& placement) noexcept;
// Set in GreenThreadState::refs by an OS thread that dropped what may be the last
// reference and handed the green thread to its hub to free (green_thread.cpp).
inline constexpr std::uint32_t kRefHandedToHub = 1u << 31;

// A new reference: from an existing one, or on the hub's own thread (which alone
// decides when the count may reach zero), so relaxed is enough (as std::shared_ptr).
inline void add_ref(GreenThreadState* gt) noexcept { gt->refs.fetch_add(1, std::memory_order_relaxed); }
// Drops a reference; on the hub's OS thread frees the stack if it was the last and
// the green thread is dead, elsewhere hands the last one to the hub (green_thread.cpp).
GROVE_API void drop_ref(GreenThreadState* gt) noexcept;
// Tag: a handle takes over the reference a fresh green thread starts with (spawn()).
struct AdoptRef {
  explicit AdoptRef() = default;
};

}  // namespace grove::detail
