// stack_pool.hpp: green-thread stacks, carved from large shared mappings and reused.
//
// A slot is [guard region][usable stack]; the stack grows down from the slot's top.
// Slots of one size class are carved in order from arenas (one mmap each, doubling
// in size), so a million stacks cost a few dozen kernel mappings, not a million:
// vm.max_map_count (65,530 by default) stays far away.
//
// Guard regions, in order of preference (GROVE_STACK_GUARD forces one):
//   madvise  - MADV_GUARD_INSTALL (Linux 6.13+): the kernel faults on access inside
//              the same mapping; no extra mapping per stack.
//   mprotect - PROT_NONE on the guard region; splits the arena into two mappings per
//              stack, so it is only used where madvise is refused (older kernels).
//   canary   - when mprotect fails too (map count exhausted): the guard region is left
//              readable and a canary word at the stack's lowest address is checked
//              every time the green thread switches out. Detects, after the fact,
//              overflows up to the guard size instead of faulting at the first byte.
// A fault inside a guard region is reported by the SIGSEGV handler (overflow.cpp).
//
// Released slots go on a LIFO list of warm slots per size class and keep their
// touched pages, so the next spawn reuses a warm stack without a syscall or a page
// fault. The list is trimmed lazily, to what recent demand used: while it holds more
// than kWarmSlots, the hub runs trim() every kStackTrimSeconds (a timer that exists
// only then, and does not keep the loop alive), and trim() gives back the pages of
// the slots that sat unused for the whole last period (the list's low-water mark
// since the previous trim, its oldest entries), keeping kWarmSlots. So a server whose
// connections come and go with a few hundred in flight reuses warm stacks (before,
// every release beyond 16 gave its pages back at once and the next spawn faulted
// them in again: 4 page faults and 0.4 madvise calls per TLS handshake), and the end
// of a burst gives its pages back within one to two periods (beyond kMaxWarmSlots,
// at once). A slot whose pages went
// back (MADV_DONTNEED on its usable part) is remembered as one bit in its arena's
// cold bitmap, so 100,000 green threads that come and go leave neither their stack
// pages nor a long free list behind (RSS comes back to where it was within a second:
// bench/soak/burst.cpp). A cold slot is reused before a new one is carved; its first
// touches fault fresh zero pages in, as a new slot's do. Without a trim hook (a pool
// not owned by a hub) a release beyond kWarmSlots gives the oldest slot's pages back
// at once.
//
// A slot's guard kind travels with it in the low bits of its warm-list entry (slot
// bases are page-aligned) and, while it is cold, in its arena's canary bitmap, so
// neither acquire nor release touches the stack's lowest page (a canary slot's
// canary is written again when it is handed out). One pool per hub: no locks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include <grove/detail/green_thread_state.hpp>

namespace grove::detail {

inline constexpr std::size_t kGuardBytes = 16 * 1024;
inline constexpr std::size_t kMinStackBytes = 16 * 1024;
// The largest usable stack a green thread may ask for; larger requests are a UsageError.
inline constexpr std::size_t kMaxStackBytes = std::size_t{1} << 30;
// An arena maps at most this much address space (unless one slot alone is larger).
inline constexpr std::size_t kMaxArenaBytes = std::size_t{64} << 30;
inline constexpr std::uint64_t kStackCanary = 0x67726f7665c0ffeeULL;
// Released slots per size class that keep their pages however long they stay
// unused (see the comment at the top).
inline constexpr std::size_t kWarmSlots = 16;
// At most this many warm slots per size class: a release beyond it gives the oldest
// slot's pages back at once (the end of a large burst), so the list stays a fixed
// 8 KB block reserved once instead of growing with the burst and leaving its memory
// to malloc's heap.
inline constexpr std::size_t kMaxWarmSlots = 1024;
// How often surplus warm slots are trimmed while there are any: a slot unused for a
// whole period gives its pages back.
inline constexpr double kStackTrimSeconds = 0.5;

class StackPool {
 public:
  StackPool() = default;
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;
  ~StackPool();

  // A slot with at least `usable` bytes of stack (rounded up to a power of two).
  // Throws UsageError if `usable` exceeds kMaxStackBytes, std::system_error if the
  // memory cannot be mapped.
  StackSlot acquire(std::size_t usable);
  void release(const StackSlot& slot) noexcept;

  // Slots handed out and not yet released.
  std::size_t outstanding() const noexcept { return outstanding_; }

  // `hook(arg)` is called once when a size class first holds more than kWarmSlots
  // warm slots; its owner then calls trim() every kStackTrimSeconds until trim()
  // returns false (nothing left to trim: the hook is armed again).
  void set_trim_hook(void (*hook)(void*), void* arg) noexcept {
    trim_hook_ = hook;
    trim_arg_ = arg;
  }
  // Gives back the pages of the warm slots that were not used since the previous
  // trim, beyond kWarmSlots per size class. True while surplus warm slots remain.
  bool trim() noexcept;
  // Leave the arenas mapped when the pool is destroyed (something may still point in).
  void leak_on_destroy() noexcept { leak_ = true; }

  static bool canary_intact(const StackSlot& slot) noexcept {
    return *reinterpret_cast<const std::uint64_t*>(slot.lo) == kStackCanary;
  }

 private:
  struct Arena {
    char* base = nullptr;
    std::size_t slots = 0;              // slots it has room for
    std::vector<std::uint64_t> cold;    // bit i: slot i is free and its pages were given back
    std::vector<std::uint64_t> canary;  // bit i: slot i is cold and canary-guarded (empty unless one is)
    std::size_t cold_count = 0;
    std::size_t cold_word = 0;          // no cold bit below this word
  };
  struct SizeClass {
    std::size_t usable = 0;
    std::vector<std::uintptr_t> warm;  // slot base | GuardKind, most recently freed last
    std::size_t low = 0;               // warm.size()'s least (before a release) since the last trim
    std::vector<Arena> arenas;         // the last one is being carved
    char* next = nullptr;              // next uncarved slot in the last arena
    std::size_t remaining = 0;         // uncarved slots left there
    std::size_t cold = 0;              // cold slots in all arenas
    std::size_t next_arena_slots = 16;
  };

  void new_arena(SizeClass& c);
  GuardKind install_guard(char* base);
  // Gives the pages of the `n` oldest warm slots of `c` back and marks them cold.
  void cool_oldest(SizeClass& c, std::size_t n) noexcept;
  // The cold path of release(): a size class with kWarmSlots warm slots or more.
  void surplus(SizeClass& c) noexcept;
  // A cold slot of `c` (c.cold > 0): its base; sets `kind` to its guard kind.
  char* take_cold(SizeClass& c, GuardKind& kind) noexcept;

  std::vector<SizeClass> classes_;
  std::size_t outstanding_ = 0;
  void (*trim_hook_)(void*) = nullptr;
  void* trim_arg_ = nullptr;
  bool trim_armed_ = false;  // the hook was called and trim() has not yet said "done"
  bool leak_ = false;
};

// The guard mechanism this process uses (probed once; GROVE_STACK_GUARD overrides).
GuardKind preferred_guard_kind();
const char* guard_kind_name(GuardKind k) noexcept;

}  // namespace grove::detail
