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
// Released slots go on a short LIFO list of warm slots (at most kWarmSlots per size
// class) and keep their touched pages, so the next spawn reuses a warm stack without
// a syscall. A slot pushed out of that list (more releases than acquires: the end of
// a burst) gives its pages back to the kernel (MADV_DONTNEED on its usable part) and
// is remembered as one bit in its arena's cold bitmap, so 100,000 green threads that
// come and go leave neither their stack pages nor an 800 KB free list behind (RSS
// comes back to where it was: bench/soak/burst.cpp). A cold slot is reused before a
// new one is carved; its first touches fault fresh zero pages in, as a new slot's do.
// Steady spawn + exit never trims: a release only trims when the warm list is full.
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
// Released slots per size class that keep their pages (see the comment at the top).
inline constexpr std::size_t kWarmSlots = 16;

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
    std::vector<Arena> arenas;         // the last one is being carved
    char* next = nullptr;              // next uncarved slot in the last arena
    std::size_t remaining = 0;         // uncarved slots left there
    std::size_t cold = 0;              // cold slots in all arenas
    std::size_t next_arena_slots = 16;
  };

  void new_arena(SizeClass& c);
  GuardKind install_guard(char* base);
  // Gives the pages of the oldest warm slot of `c` back and marks it cold.
  void cool_oldest(SizeClass& c) noexcept;
  // A cold slot of `c` (c.cold > 0): its base; sets `kind` to its guard kind.
  char* take_cold(SizeClass& c, GuardKind& kind) noexcept;

  std::vector<SizeClass> classes_;
  std::size_t outstanding_ = 0;
  bool leak_ = false;
};

// The guard mechanism this process uses (probed once; GROVE_STACK_GUARD overrides).
GuardKind preferred_guard_kind();
const char* guard_kind_name(GuardKind k) noexcept;

}  // namespace grove::detail
