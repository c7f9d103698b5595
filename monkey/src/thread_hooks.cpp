// thread_hooks.cpp: pthreads made green (the threads area): thread lifecycle.
//
// With threads patched, pthread_create (and so std::thread, std::async) makes a green
// thread on the calling OS thread's hub instead of an OS thread. An OS thread without a
// hub gets one at its first pthread_create, and the caller (main, say) becomes that
// hub's root green thread; from then on the sockets and time hooks park on that hub
// as usual. A thread-per-connection server then holds every connection on one OS
// thread. The locks (mutexes, condition variables, ...) are in sync_*.cpp.
//
// Which pthread_create stays real (an OS thread, glibc's call unchanged):
//   - the area is off, or the caller is the hub itself (a libev callback);
//   - grove's own threads (thread pool, monitor, signal reader, HubThread): the call
//     comes from grove's code (called_from_grove on the caller and, for std::thread,
//     the caller's caller);
//   - a thread-pool worker (spawn is refused there: a worker never runs its hub);
//   - attributes that ask for an OS thread: a stack of the caller's own
//     (pthread_attr_setstack), an explicit scheduling policy (PTHREAD_EXPLICIT_SCHED)
//     or a CPU affinity (pthread_attr_setaffinity_np);
//   - while a grove::monkey::RealThreads lives on the calling OS thread (and so in
//     grove::monkey::real_thread(...)): CPU-bound work that needs a core of its own.
//
// A green pthread_t is the address of its record (GreenPthread) with the low bit set
// (thread_identity.hpp). The record outlives the green thread until it is joined, or
// at once if it is detached; a real pthread_t goes to glibc unchanged in every hook.
//
// Semantics kept (POSIX / glibc), per call:
//   pthread_create  detach state honoured; stack size (if set) is the green stack's
//                   usable size, clamped to grove's [16 KiB, 1 GiB]; unset, 128 KiB
//                   (GROVE_STACK_SIZE instead, if set): code written for OS threads
//                   expects larger stacks than grove's 64 KiB, and 128 KiB is musl's
//                   default thread stack, which most portable code runs within; only
//                   the pages a stack touches cost memory, but the address space it
//                   spans costs page tables. The new thread starts the next
//                   time the creator parks or yields (not at once, as an OS thread
//                   would). EAGAIN if no stack can be had.
//   pthread_join    parks the caller (green) until the target returns; EDEADLK for
//                   itself, EINVAL if detached or already being joined, ESRCH never
//                   (a stale pthread_t is undefined, as in glibc). A real OS thread (or a
//                   green thread of another hub) joining a green thread polls every
//                   millisecond. A deadlock (every green thread parked, nothing to wake
//                   them) raises grove's LoopExit out of the root's join, naming them.
//   pthread_tryjoin_np / pthread_timedjoin_np   EBUSY / ETIMEDOUT as glibc.
//   pthread_detach  EINVAL if already detached or joined; frees a finished one.
//   pthread_self    the green pthread_t in a green thread it made; the real one in the
//                   root, in grove::spawn's green threads and in grove's own code
//                   (grove compares std::this_thread::get_id() for its OS thread).
//   pthread_exit    in a green thread: unwinds that green thread only (a forced unwind,
//                   as glibc's: destructors and cleanup handlers run, catch(...) must
//                   rethrow) then runs its key destructors; in the root: waits until
//                   every green thread of the hub finished, then glibc's pthread_exit.
//   pthread_key_*   per green thread for green threads (with destructors, run at its
//                   exit, PTHREAD_DESTRUCTOR_ITERATIONS rounds); keys are glibc's, so
//                   real threads and the root keep glibc's own storage.
//   pthread_once    a green caller never blocks the OS thread: one that finds another
//                   init in progress sleeps green (1 ms steps) until it is done; the
//                   control word keeps glibc's encoding, so real threads may share it.
//   pthread_setname_np / pthread_getname_np   the green thread's name (also what
//                   grove's logs and dump() show); ERANGE past 15 bytes.
//   sched_yield     a grove yield (other ready green threads run first).
//   pthread_getattr_np  the green stack's bounds (while it runs) and detach state.
//   pthread_kill    signal 0: ESRCH once it ended; others go to its hub's OS thread.
//   pthread_cancel  ENOTSUP for a green thread (not supported).
//   process exit    (main returns, exit()) with green pthreads still alive, parked or
//                   never started: they end silently, as OS threads do (the hub skips
//                   them in its "abandoned" report; grove::spawn's keep it).
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <unwind.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <execinfo.h>
#include <new>
#include <unordered_map>
#include <vector>

#include <grove/errors.hpp>
#include <grove/green_thread.hpp>
#include <grove/monkey.hpp>

#include "real.hpp"
#include "thread_identity.hpp"

using grove::detail::GreenThreadState;
using grove::detail::Hub;

#include "thread_hook.hpp"  // GROVE_HOOK: exported except under ASan / TSan

namespace grove::monkey::detail {

namespace {

// ---------------------------------------------------------------- real functions

struct RealThreadFns {
  int (*create)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);
  int (*join)(pthread_t, void**);
  int (*tryjoin_np)(pthread_t, void**);
  int (*timedjoin_np)(pthread_t, void**, const timespec*);
  int (*detach)(pthread_t);
  pthread_t (*self)();
  void (*exit)(void*);
  int (*once)(pthread_once_t*, void (*)());
  int (*key_create)(pthread_key_t*, void (*)(void*));
  int (*key_delete)(pthread_key_t);
  void* (*getspecific)(pthread_key_t);
  int (*setspecific)(pthread_key_t, const void*);
  int (*setname_np)(pthread_t, const char*);
  int (*getname_np)(pthread_t, char*, size_t);
  int (*yield)();
  int (*getattr_np)(pthread_t, pthread_attr_t*);
  int (*kill)(pthread_t, int);
  int (*cancel)(pthread_t);
};

RealThreadFns g_rt{};
std::atomic<int> g_rt_state{0};  // 0: not loaded, 1: loading, 2: ready

template <class T>
void load(T& slot, const char* name) noexcept {
  slot = reinterpret_cast<T>(real_symbol(name));
}

const RealThreadFns& rt() noexcept {
  if (g_rt_state.load(std::memory_order_acquire) == 2) [[likely]] return g_rt;
  int expected = 0;
  if (g_rt_state.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
    load(g_rt.create, "pthread_create");
    load(g_rt.join, "pthread_join");
    load(g_rt.tryjoin_np, "pthread_tryjoin_np");
    load(g_rt.timedjoin_np, "pthread_timedjoin_np");
    load(g_rt.detach, "pthread_detach");
    load(g_rt.self, "pthread_self");
    load(g_rt.exit, "pthread_exit");
    load(g_rt.once, "pthread_once");
    load(g_rt.key_create, "pthread_key_create");
    load(g_rt.key_delete, "pthread_key_delete");
    load(g_rt.getspecific, "pthread_getspecific");
    load(g_rt.setspecific, "pthread_setspecific");
    load(g_rt.setname_np, "pthread_setname_np");
    load(g_rt.getname_np, "pthread_getname_np");
    load(g_rt.yield, "sched_yield");
    load(g_rt.getattr_np, "pthread_getattr_np");
    load(g_rt.kill, "pthread_kill");
    load(g_rt.cancel, "pthread_cancel");
    g_rt_state.store(2, std::memory_order_release);
  } else {
    while (g_rt_state.load(std::memory_order_acquire) != 2) {
    }
  }
  return g_rt;
}

__attribute__((constructor(101))) void load_at_start() { rt(); }

bool threads_on() noexcept { return g_patched.load(std::memory_order_relaxed) & kThreads; }

// ---------------------------------------------------------------- keys

// glibc's key numbers are used as they are; this table adds a generation (a key
// deleted and created again must not see an old value) and the destructor.
struct KeyInfo {
  std::atomic<std::uint64_t> gen{0};  // odd: in use
  std::atomic<void (*)(void*)> dtor{nullptr};
};
KeyInfo g_keys[PTHREAD_KEYS_MAX];

struct Specific {
  pthread_key_t key;
  std::uint64_t gen;
  void* value;
};

// ---------------------------------------------------------------- records

// A tiny lock for the fields another OS thread may touch (a join or detach from a
// real thread). Never held across a park. Not a pthread mutex: those are hooked.
class SpinLock {
 public:
  void lock() noexcept {
    while (f_.test_and_set(std::memory_order_acquire)) {
    }
  }
  void unlock() noexcept { f_.clear(std::memory_order_release); }

 private:
  std::atomic_flag f_ = ATOMIC_FLAG_INIT;
};

struct SpinGuard {
  explicit SpinGuard(SpinLock& l) noexcept : l_(l) { l_.lock(); }
  ~SpinGuard() { l_.unlock(); }
  SpinLock& l_;
};

constexpr std::uint64_t kMagic = 0x677265656e707468ULL;  // "greenpth"

struct GreenPthread {
  std::uint64_t magic = kMagic;
  void* (*start)(void*) = nullptr;
  void* arg = nullptr;
  Hub* hub = nullptr;                  // the hub it runs on
  pthread_t os_thread{};               // the real pthread_t of that hub's OS thread
  GreenThreadState* gt = nullptr;      // while it runs (hub thread only)
  // Guarded by `lock` (another OS thread may join or detach):
  SpinLock lock;
  bool detached = false;
  bool joining = false;                // someone is in pthread_join (or won a tryjoin)
  bool done = false;
  void* result = nullptr;
  GreenThreadState* joiner = nullptr;  // a green thread of `hub` parked in pthread_join
  // The green thread's own (hub thread only):
  std::vector<Specific> specific;
  char name[16] = {};
  sigjmp_buf exit_jmp;
  void* exit_value = nullptr;
  const volatile char* exit_boundary = nullptr;  // a local of call_start's frame
};

GreenPthread* record_of(pthread_t t) noexcept {
  return reinterpret_cast<GreenPthread*>(static_cast<std::uintptr_t>(t) & ~std::uintptr_t{1});
}
pthread_t tag(GreenPthread* r) noexcept { return static_cast<pthread_t>(reinterpret_cast<std::uintptr_t>(r) | 1u); }

// The green pthreads running on this OS thread, by green thread; and how many exist.
thread_local std::unordered_map<const GreenThreadState*, GreenPthread*>* t_running = nullptr;
thread_local std::size_t t_live = 0;
// >0 while a RealThreads lives on this OS thread.
thread_local int t_real_depth = 0;

// The record of the calling green thread, or nullptr (not a green pthread).
GreenPthread* current_record() noexcept {
  if (!t_running) return nullptr;
  Hub* h = Hub::current();
  if (!h) return nullptr;
  auto it = t_running->find(h->running());
  return it == t_running->end() ? nullptr : it->second;
}

void run_key_destructors(GreenPthread* r) noexcept {
  for (int round = 0; round < PTHREAD_DESTRUCTOR_ITERATIONS; ++round) {
    bool any = false;
    for (std::size_t i = 0; i < r->specific.size(); ++i) {
      Specific& s = r->specific[i];
      if (!s.value || g_keys[s.key].gen.load(std::memory_order_acquire) != s.gen) continue;
      void (*d)(void*) = g_keys[s.key].dtor.load(std::memory_order_acquire);
      void* v = s.value;
      s.value = nullptr;
      if (d) {
        d(v);  // may set values again (index-based loop: the vector may grow)
        any = true;
      }
    }
    if (!any) break;
  }
  r->specific.clear();
  r->specific.shrink_to_fit();
}

// ---------------------------------------------------------------- pthread_exit

constexpr _Unwind_Exception_Class kForcedUnwindClass =
    (((((((static_cast<_Unwind_Exception_Class>('G') << 8 | 'N') << 8 | 'U') << 8 | 'C') << 8 | 'F') << 8 | 'O')
      << 8 | 'R')
     << 8) |
    0;  // "GNUCFOR\0": what libstdc++ matches with catch (abi::__forced_unwind&)

_Unwind_Reason_Code exit_stop(int, _Unwind_Action actions, _Unwind_Exception_Class, _Unwind_Exception*,
                              _Unwind_Context* ctx, void* arg) {
  auto* r = static_cast<GreenPthread*>(arg);
  // Stop at run_green's frame, before its personality runs (it is noexcept): the frames
  // below it have run their cleanups. At this point the context's CFA is the frame's
  // stack pointer (libgcc moves the CFA on after the stop function), which for
  // run_green lies above every local of call_start, the frame below it, and for every
  // deeper frame lies below them (as glibc compares with its setjmp's stack pointer).
  if ((actions & _UA_END_OF_STACK) ||
      _Unwind_GetCFA(ctx) > reinterpret_cast<std::uintptr_t>(r->exit_boundary)) {
    siglongjmp(r->exit_jmp, 1);
  }
  return _URC_NO_REASON;
}

void exit_cleanup(_Unwind_Reason_Code, _Unwind_Exception*) {
  std::fprintf(stderr, "grove monkey: FATAL: the unwinding of pthread_exit was caught and not rethrown\n");
  std::abort();
}

[[noreturn]] void green_exit(GreenPthread* r, void* value) {
  r->exit_value = value;
  static thread_local _Unwind_Exception exc;  // one unwind at a time per OS thread
  std::memset(&exc, 0, sizeof exc);
  exc.exception_class = kForcedUnwindClass;
  exc.exception_cleanup = exit_cleanup;
  _Unwind_ForcedUnwind(&exc, exit_stop, r);
  // Only if the unwinder failed (no unwind information at all): jump anyway; the
  // frames in between are dropped without their cleanups.
  siglongjmp(r->exit_jmp, 1);
}

// ---------------------------------------------------------------- the green thread

// Ends the green thread's life as a pthread: result, key destructors, wake the joiner.
void finish(GreenPthread* r, Hub& hub, void* result) noexcept {
  run_key_destructors(r);
  t_running->erase(r->gt);
  --t_live;
  GreenThreadState* joiner;
  bool free_now;
  {
    SpinGuard g(r->lock);
    r->result = result;
    r->done = true;
    r->gt = nullptr;
    joiner = r->joiner;
    free_now = r->detached;
  }
  // No field of r is touched after this point unless we free it: a joiner on another
  // OS thread may free it as soon as `done` is seen.
  if (joiner) hub.wake(joiner);
  if (free_now) delete r;
}

// Calls the start routine; its local marks the stack depth pthread_exit unwinds to.
__attribute__((noinline)) void* call_start(GreenPthread* r) {
  volatile char boundary = 0;
  r->exit_boundary = &boundary;
  void* v = r->start(r->arg);
  asm volatile("" : : "r"(&boundary) : "memory");  // keeps this frame (no tail call)
  return v;
}

// The body of every green pthread. noexcept: an exception leaving the start routine
// ends the program (std::terminate), as it does on an OS thread.
__attribute__((noinline)) void run_green(GreenPthread* r) noexcept {
  Hub& hub = *Hub::current();
  r->gt = hub.running();
  if (!t_running) t_running = new std::unordered_map<const GreenThreadState*, GreenPthread*>();
  (*t_running)[r->gt] = r;
  if (r->name[0]) r->gt->name = r->name;
  void* volatile result = nullptr;
  if (sigsetjmp(r->exit_jmp, 0) == 0) {
    result = call_start(r);
  } else {
    result = r->exit_value;
  }
  finish(r, hub, result);
}

// ---------------------------------------------------------------- create

std::size_t default_pthread_stack() noexcept {
  static const std::size_t sz = [] {
    pthread_attr_t a;
    std::size_t s = 0;
    if (pthread_getattr_default_np(&a) == 0) {
      pthread_attr_getstacksize(&a, &s);
      pthread_attr_destroy(&a);
    }
    return s;
  }();
  return sz;
}

// The stack of a green pthread whose attributes set none: 128 KiB (musl's default
// thread stack), or grove's default if GROVE_STACK_SIZE is set. At 10,000 threads,
// 256 KiB cost 5.3 MiB of page tables against 1.6 MiB for 64 KiB
// (docs/threads-vs-green-threads.md).
constexpr std::size_t kPthreadStack = 128 * 1024;
std::size_t unset_stack_size() noexcept {
  static const std::size_t sz = std::getenv("GROVE_STACK_SIZE") ? 0 : kPthreadStack;
  return sz;
}

// What the attributes ask for: a real thread (true), or a green one with this
// detach state and stack size (0: grove's default).
bool attr_wants_real(const pthread_attr_t* attr, bool* detached, std::size_t* stack) noexcept {
  *detached = false;
  *stack = unset_stack_size();
  if (!attr) return false;
  int ds = PTHREAD_CREATE_JOINABLE;
  if (pthread_attr_getdetachstate(attr, &ds) == 0) *detached = ds == PTHREAD_CREATE_DETACHED;
  void* addr = nullptr;
  std::size_t size = 0;
  // The caller's own stack. With none set, glibc's getstack reports the address 0 minus
  // the size (it subtracts the size from the unset top).
  if (pthread_attr_getstack(attr, &addr, &size) == 0 && reinterpret_cast<std::uintptr_t>(addr) + size != 0) {
    return true;
  }
  int inherit = PTHREAD_INHERIT_SCHED;
  if (pthread_attr_getinheritsched(attr, &inherit) == 0 && inherit == PTHREAD_EXPLICIT_SCHED) return true;
  cpu_set_t cpus;
  if (pthread_attr_getaffinity_np(attr, sizeof cpus, &cpus) == 0 && CPU_COUNT(&cpus) < CPU_SETSIZE) return true;
  if (pthread_attr_getstacksize(attr, &size) == 0 && size != default_pthread_stack()) {
    *stack = std::clamp<std::size_t>(size, grove::detail::kMinStackBytes, grove::detail::kMaxStackBytes);
  }
  return false;
}

// True if this pthread_create comes from grove's own code: directly, or through
// libstdc++'s std::thread (the caller's caller).
__attribute__((noinline)) bool creator_is_grove(const void* ret) noexcept {
  if (called_from_grove(ret)) return true;
  void* frames[4];
  const int n = backtrace(frames, 4);  // [0] here, [1] the hook, [2] its caller, [3] that one's
  return n > 3 && called_from_grove(frames[3]);
}

// A real OS thread made through the hook (RealThreads, or attributes that ask for
// one): it may create green threads of its own (its first pthread_create gives it a
// hub), which need it to live on; so when its start routine returns, it waits for
// them, as a process waits for its threads.
struct RealStart {
  void* (*start)(void*);
  void* arg;
};

void wait_for_green_threads() noexcept {
  Hub* hub = Hub::current();
  if (!hub || hub->on_hub()) return;
  while (t_live > 0) park_sleep(*hub, 0.001, "thread exit: waiting for its green threads");
}

void* real_trampoline(void* p) {
  const RealStart s = *static_cast<RealStart*>(p);
  delete static_cast<RealStart*>(p);
  void* v = s.start(s.arg);
  if (threads_on()) wait_for_green_threads();
  return v;
}

int create_real(pthread_t* thread, const pthread_attr_t* attr, void* (*start)(void*), void* arg) {
  auto* s = new (std::nothrow) RealStart{start, arg};
  if (!s) return EAGAIN;
  const int e = rt().create(thread, attr, real_trampoline, s);
  if (e) delete s;
  return e;
}

}  // namespace

pthread_t green_self() noexcept {
  if (threads_on()) {
    if (GreenPthread* r = current_record()) return tag(r);
  }
  return rt().self();
}

GreenThreadState* green_state(pthread_t t) noexcept {
  if (!is_green_pthread(t)) return nullptr;
  GreenPthread* r = record_of(t);
  if (r->hub != Hub::current()) return nullptr;
  return r->gt;
}

namespace {

// ---------------------------------------------------------------- join

// Joins r from the calling context; `block`: wait (false: EBUSY if not done);
// `deadline` (CLOCK_REALTIME seconds, <0: none).
int join_green(GreenPthread* r, void** out, bool block, double deadline) {
  if (r->magic != kMagic) return ESRCH;
  Hub* hub = Hub::current();
  GreenPthread* self = current_record();
  if (self == r) return EDEADLK;
  {
    SpinGuard g(r->lock);
    if (r->detached || r->joining) return EINVAL;
    if (!r->done && !block && deadline < 0) return EBUSY;
    r->joining = true;
    if (!r->done && hub == r->hub && hub && !hub->on_hub()) r->joiner = hub->running();
  }
  auto realtime = [] {
    timespec ts;
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  };
  auto give_up = [&](int err) {
    SpinGuard g(r->lock);
    r->joining = false;
    r->joiner = nullptr;
    return err;
  };
  for (;;) {
    {
      SpinGuard g(r->lock);
      if (r->done) break;
    }
    double left = -1;
    if (deadline >= 0) {
      left = deadline - realtime();
      if (left <= 0) return give_up(ETIMEDOUT);
    }
    if (r->joiner) {  // a green thread of the target's hub: park until finish() wakes us
      GreenThreadState* me = hub->running();
      if (left > 0) {
        grove::detail::ParkTimer timer(*hub, me, left);
        hub->park_nothrow("pthread_join");
      } else {
        hub->park_nothrow("pthread_join");
      }
      if (me->pending & grove::detail::kPendingLoopExit) {
        give_up(0);
        hub->raise_pending(me);  // the deadlock report: LoopExit naming every parked thread
      }
    } else if (Hub* h = threads_hub()) {  // a green thread of another hub: poll green
      park_sleep(*h, left > 0 ? std::min(left, 0.001) : 0.001, "pthread_join");
    } else {  // a real OS thread
      timespec ts{0, 1000000};
      real().nanosleep(&ts, nullptr);
    }
  }
  if (out) *out = r->result;
  r->magic = 0;
  delete r;
  return 0;
}

}  // namespace

}  // namespace grove::monkey::detail

using namespace grove::monkey::detail;

namespace grove::monkey {

RealThreads::RealThreads() noexcept { ++t_real_depth; }
RealThreads::~RealThreads() { --t_real_depth; }

}  // namespace grove::monkey

GROVE_HOOK int pthread_create(pthread_t* thread, const pthread_attr_t* attr, void* (*start)(void*), void* arg) {
  const RealThreadFns& r = rt();
  if (!threads_on()) [[likely]] return r.create(thread, attr, start, arg);
  if (creator_is_grove(__builtin_return_address(0))) return r.create(thread, attr, start, arg);
  Hub* hub = Hub::current();
  if (hub && hub->on_hub()) return r.create(thread, attr, start, arg);
  bool detached = false;
  std::size_t stack = 0;
  if (t_real_depth > 0 || attr_wants_real(attr, &detached, &stack)) return create_real(thread, attr, start, arg);
  auto* rec = new (std::nothrow) GreenPthread;
  if (!rec) return EAGAIN;
  rec->start = start;
  rec->arg = arg;
  rec->detached = detached;
  try {
    grove::SpawnOptions opt;
    opt.stack_size = stack;
    // The handle is dropped: it runs detached. Marked quiet_at_exit: if the process
    // exits (main returns, exit()) while it is still alive, it ends without grove's
    // "abandoned" warning, as an OS thread ends without a word.
    grove::spawn(std::move(opt), [rec] { run_green(rec); }).state()->quiet_at_exit = true;
  } catch (const grove::UsageError&) {
    delete rec;  // a thread-pool worker (never runs its hub): an OS thread, as asked
    return r.create(thread, attr, start, arg);
  } catch (...) {
    delete rec;
    return EAGAIN;
  }
  rec->hub = Hub::current();
  rec->os_thread = r.self();
  ++t_live;
  *thread = tag(rec);
  return 0;
}

GROVE_HOOK int pthread_join(pthread_t t, void** ret) {
  if (!is_green_pthread(t)) return rt().join(t, ret);
  return join_green(record_of(t), ret, true, -1);
}

GROVE_HOOK int pthread_tryjoin_np(pthread_t t, void** ret) {
  if (!is_green_pthread(t)) return rt().tryjoin_np(t, ret);
  return join_green(record_of(t), ret, false, -1);
}

GROVE_HOOK int pthread_timedjoin_np(pthread_t t, void** ret, const timespec* abstime) {
  if (!is_green_pthread(t)) return rt().timedjoin_np(t, ret, abstime);
  if (!abstime) return join_green(record_of(t), ret, true, -1);
  if (abstime->tv_nsec < 0 || abstime->tv_nsec >= 1000000000) return EINVAL;
  return join_green(record_of(t), ret, false,
                    static_cast<double>(abstime->tv_sec) + static_cast<double>(abstime->tv_nsec) * 1e-9);
}

GROVE_HOOK int pthread_detach(pthread_t t) {
  if (!is_green_pthread(t)) return rt().detach(t);
  GreenPthread* r = record_of(t);
  if (r->magic != kMagic) return ESRCH;
  bool free_now;
  {
    SpinGuard g(r->lock);
    if (r->detached || r->joining) return EINVAL;
    r->detached = true;
    free_now = r->done;
  }
  if (free_now) {
    r->magic = 0;
    delete r;
  }
  return 0;
}

GROVE_HOOK pthread_t pthread_self() {
  if (!threads_on()) [[likely]] return rt().self();
  if (called_from_grove(__builtin_return_address(0))) return rt().self();
  return green_self();
}

GROVE_HOOK int pthread_equal(pthread_t a, pthread_t b) { return a == b; }

GROVE_HOOK void pthread_exit(void* value) {
  if (threads_on()) {
    if (GreenPthread* r = current_record()) green_exit(r, value);
    if (Hub* hub = threads_hub()) {
      if (hub->running() != hub->root()) {
        std::fprintf(stderr,
                     "grove monkey: pthread_exit called in a green thread that pthread_create did not make "
                     "(grove::spawn): it would end the whole OS thread; aborting\n");
        std::abort();
      }
      // The root: the process lives on while threads do; its green ones need this
      // OS thread, so wait for them first.
      wait_for_green_threads();
    }
  }
  rt().exit(value);
  __builtin_unreachable();
}

GROVE_HOOK int pthread_key_create(pthread_key_t* key, void (*dtor)(void*)) {
  const int e = rt().key_create(key, dtor);
  if (e == 0 && *key < PTHREAD_KEYS_MAX) {
    KeyInfo& k = g_keys[*key];
    k.dtor.store(dtor, std::memory_order_release);
    k.gen.fetch_add(1, std::memory_order_acq_rel);  // now odd: in use, a new generation
  }
  return e;
}

GROVE_HOOK int pthread_key_delete(pthread_key_t key) {
  const int e = rt().key_delete(key);
  if (e == 0 && key < PTHREAD_KEYS_MAX) {
    g_keys[key].dtor.store(nullptr, std::memory_order_release);
    g_keys[key].gen.fetch_add(1, std::memory_order_acq_rel);  // even: free; old values are stale
  }
  return e;
}

GROVE_HOOK void* pthread_getspecific(pthread_key_t key) {
  if (!threads_on()) [[likely]] return rt().getspecific(key);
  GreenPthread* r = current_record();
  if (!r || key >= PTHREAD_KEYS_MAX) return rt().getspecific(key);
  const std::uint64_t gen = g_keys[key].gen.load(std::memory_order_acquire);
  for (const Specific& s : r->specific) {
    if (s.key == key) return s.gen == gen ? s.value : nullptr;
  }
  return nullptr;
}

GROVE_HOOK int pthread_setspecific(pthread_key_t key, const void* value) {
  if (!threads_on()) [[likely]] return rt().setspecific(key, value);
  GreenPthread* r = current_record();
  if (!r) return rt().setspecific(key, value);
  if (key >= PTHREAD_KEYS_MAX) return EINVAL;
  const std::uint64_t gen = g_keys[key].gen.load(std::memory_order_acquire);
  if (!(gen & 1)) return EINVAL;  // not a key in use
  for (Specific& s : r->specific) {
    if (s.key == key) {
      s.gen = gen;
      s.value = const_cast<void*>(value);
      return 0;
    }
  }
  try {
    r->specific.push_back(Specific{key, gen, const_cast<void*>(value)});
  } catch (...) {
    return ENOMEM;
  }
  return 0;
}

GROVE_HOOK int pthread_once(pthread_once_t* once, void (*init)()) {
  Hub* hub = threads_hub();
  if (!hub) return rt().once(once, init);
  // glibc's encoding: 0 not run, 1 (| fork generation) running, 2 done.
  auto* w = reinterpret_cast<int*>(once);
  for (;;) {
    int v = __atomic_load_n(w, __ATOMIC_ACQUIRE);
    if (v & 2) return 0;
    if (v == 0) {
      if (!__atomic_compare_exchange_n(w, &v, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE)) continue;
      // Undone if init leaves by an unwinding (pthread_exit in it): the next caller runs it.
      struct Reset {
        int* w;
        bool ok = false;
        ~Reset() {
          __atomic_store_n(w, ok ? 2 : 0, __ATOMIC_RELEASE);
          ::syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
        }
      } reset{w};
      init();
      reset.ok = true;
      return 0;
    }
    park_sleep(*hub, 0.001, "pthread_once");  // another init runs (green or real)
  }
}

GROVE_HOOK int pthread_setname_np(pthread_t t, const char* name) {
  if (!is_green_pthread(t)) return rt().setname_np(t, name);
  GreenPthread* r = record_of(t);
  const std::size_t n = std::strlen(name);
  if (n > 15) return ERANGE;
  std::memcpy(r->name, name, n + 1);
  if (r->gt && r->hub == Hub::current()) r->gt->name = r->name;
  return 0;
}

GROVE_HOOK int pthread_getname_np(pthread_t t, char* buf, size_t len) {
  if (!is_green_pthread(t)) return rt().getname_np(t, buf, len);
  GreenPthread* r = record_of(t);
  char name[16] = {};
  if (r->name[0]) {
    std::memcpy(name, r->name, sizeof name);
  } else {
    ::prctl(PR_GET_NAME, name, 0, 0, 0);  // as a new OS thread: the creating thread's name
  }
  const std::size_t n = std::strlen(name);
  if (len <= n) return ERANGE;
  std::memcpy(buf, name, n + 1);
  return 0;
}

GROVE_HOOK int pthread_getattr_np(pthread_t t, pthread_attr_t* attr) {
  if (!is_green_pthread(t)) return rt().getattr_np(t, attr);
  GreenPthread* r = record_of(t);
  if (r->magic != kMagic) return ESRCH;
  const int e = pthread_attr_init(attr);
  if (e) return e;
  bool detached;
  {
    SpinGuard g(r->lock);
    detached = r->detached;
  }
  pthread_attr_setdetachstate(attr, detached ? PTHREAD_CREATE_DETACHED : PTHREAD_CREATE_JOINABLE);
  // The green stack's usable bytes (grove's guard region lies below them), while it runs.
  if (r->gt && r->hub == Hub::current()) pthread_attr_setstack(attr, r->gt->stack.lo, r->gt->stack.size);
  return 0;
}

GROVE_HOOK int pthread_kill(pthread_t t, int sig) {
  if (!is_green_pthread(t)) return rt().kill(t, sig);
  GreenPthread* r = record_of(t);
  if (r->magic != kMagic) return ESRCH;
  bool done;
  {
    SpinGuard g(r->lock);
    done = r->done;
  }
  if (done) return ESRCH;  // as glibc for a thread that ended and was not joined yet
  if (sig == 0) return 0;
  // A signal goes to the OS thread the green thread runs on: its handler runs in
  // whichever green thread is running there.
  return rt().kill(r->os_thread, sig);
}

GROVE_HOOK int pthread_cancel(pthread_t t) {
  if (!is_green_pthread(t)) return rt().cancel(t);
  return ENOTSUP;  // cancellation of a green thread is not supported
}

GROVE_HOOK int sched_yield() {
  Hub* hub = threads_hub();
  if (!hub) return rt().yield();
  if (!hub->running()->pending) hub->yield();  // with an interrupt pending: nothing to do here
  return 0;
}
