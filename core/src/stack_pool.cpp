#include "stack_pool.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <system_error>

#include <grove/errors.hpp>

#include "config.hpp"
#include "log_internal.hpp"
#include "valgrind_stacks.hpp"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102  // Linux 6.13; Debian 12's headers predate it
#endif

namespace grove::detail {

namespace {

GuardKind probe_guard_kind() {
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  void* p = ::mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return GuardKind::kMprotect;
  GuardKind k = ::madvise(p, page, MADV_GUARD_INSTALL) == 0 ? GuardKind::kMadvise : GuardKind::kMprotect;
  ::munmap(p, 2 * page);
  return k;
}

[[noreturn, gnu::cold, gnu::noinline]] void refuse_stack_size(std::size_t usable) {
  throw UsageError("grove::spawn: a stack of " + std::to_string(usable) + " bytes is too large (at most " +
                   std::to_string(kMaxStackBytes) + " bytes)");
}

}  // namespace

GuardKind preferred_guard_kind() {
  static const GuardKind kind = [] {
    const std::string& forced = config().stack_guard;
    if (forced == "madvise") return GuardKind::kMadvise;
    if (forced == "mprotect") return GuardKind::kMprotect;
    if (forced == "canary") return GuardKind::kCanary;
    return probe_guard_kind();
  }();
  return kind;
}

const char* guard_kind_name(GuardKind k) noexcept {
  switch (k) {
    case GuardKind::kMadvise: return "madvise";
    case GuardKind::kMprotect: return "mprotect";
    case GuardKind::kCanary: return "canary";
    case GuardKind::kNone: break;
  }
  return "none";
}

StackPool::~StackPool() {
  if (leak_) return;
  valgrind_forget_stacks(this);
  for (SizeClass& c : classes_) {
    for (Arena& a : c.arenas) ::munmap(a.base, a.slots * (kGuardBytes + c.usable));
  }
}

void StackPool::new_arena(SizeClass& c) {
  const std::size_t slot = kGuardBytes + c.usable;  // acquire() bounds c.usable: no overflow
  std::size_t slots = c.next_arena_slots;
  if (slots > 1 && slots > kMaxArenaBytes / slot) slots = std::max<std::size_t>(1, kMaxArenaBytes / slot);
  std::size_t bytes = 0;
  if (__builtin_mul_overflow(slots, slot, &bytes)) {
    throw std::system_error(ENOMEM, std::system_category(), "grove: green-thread stack arena size overflows");
  }
  c.arenas.reserve(c.arenas.size() + 1);  // may throw: before anything is mapped
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    throw std::system_error(errno, std::system_category(),
                            "grove: cannot map " + std::to_string(bytes) + " bytes of green-thread stacks");
  }
  Arena a;
  a.base = static_cast<char*>(p);
  a.slots = slots;
  c.arenas.push_back(std::move(a));  // reserved above: does not throw
  c.next = static_cast<char*>(p);
  c.remaining = slots;
  // Grow geometrically so a million stacks need a few dozen arenas (about 1 GiB of
  // address space per arena at the default size), not thousands.
  if (c.next_arena_slots < 16384) c.next_arena_slots *= 2;
}

GuardKind StackPool::install_guard(char* base) {
  static bool warned = false;
  GuardKind k = preferred_guard_kind();
  if (k == GuardKind::kMadvise) {
    if (::madvise(base, kGuardBytes, MADV_GUARD_INSTALL) == 0) return k;
    k = GuardKind::kMprotect;
  }
  if (k == GuardKind::kMprotect) {
    if (::mprotect(base, kGuardBytes, PROT_NONE) == 0) return k;
    if (!warned) {
      warned = true;
      log_warn("grove: cannot protect a stack guard page ({}); likely vm.max_map_count. "
               "Falling back to stack canaries checked at every switch", std::strerror(errno));
    }
  }
  return GuardKind::kCanary;
}

StackSlot StackPool::acquire(std::size_t usable) {
  if (usable > kMaxStackBytes) [[unlikely]] refuse_stack_size(usable);
  if (usable < kMinStackBytes) usable = kMinStackBytes;
  usable = std::bit_ceil(usable);
  const auto idx = static_cast<std::size_t>(std::countr_zero(usable) - std::countr_zero(kMinStackBytes));
  if (idx >= classes_.size()) [[unlikely]] classes_.resize(idx + 1);
  SizeClass& c = classes_[idx];
  c.usable = usable;

  StackSlot s;
  s.size = usable;
  s.guard = kGuardBytes;
  s.size_class = static_cast<std::uint32_t>(idx);
  char* base;
  if (!c.warm.empty()) [[likely]] {
    const std::uintptr_t e = c.warm.back();
    c.warm.pop_back();
    base = reinterpret_cast<char*>(e & ~std::uintptr_t{3});
    s.guard_kind = static_cast<GuardKind>(e & 3);
  } else if (c.cold > 0) {
    base = take_cold(c, s.guard_kind);
  } else {
    if (c.remaining == 0) new_arena(c);
    base = c.next;
    c.next += kGuardBytes + usable;
    --c.remaining;
    valgrind_register_stack(this, base + kGuardBytes, usable);  // once per slot carved
    s.guard_kind = install_guard(base);
  }
  s.lo = base + kGuardBytes;
  if (s.guard_kind == GuardKind::kCanary) [[unlikely]] {
#if defined(__SANITIZE_ADDRESS__)
    ASAN_UNPOISON_MEMORY_REGION(s.lo, sizeof(std::uint64_t));
#endif
    *reinterpret_cast<std::uint64_t*>(s.lo) = kStackCanary;
  }
#if defined(__SANITIZE_ADDRESS__)
  ASAN_UNPOISON_MEMORY_REGION(s.lo, s.size);
#endif
  ++outstanding_;
  return s;
}

void StackPool::release(const StackSlot& slot) noexcept {
  --outstanding_;
  SizeClass& c = classes_[slot.size_class];
  // The list's low-water mark, which trim() reads: the list only shrinks in acquire(),
  // so its least size is one it has just before a release (or at a trim).
  const std::size_t n = c.warm.size();
  c.low = std::min(c.low, n);
  if (n >= kWarmSlots) [[unlikely]] surplus(c);
  try {
    // At most kMaxWarmSlots entries, reserved at the first surplus: never allocates then.
    c.warm.push_back(reinterpret_cast<std::uintptr_t>(slot.lo - kGuardBytes) |
                     static_cast<std::uintptr_t>(slot.guard_kind));
  } catch (...) {
    // Out of memory for the list: the slot is simply not reused.
  }
}

static_assert(kMaxWarmSlots >= kWarmSlots + 64, "surplus() cools 64 at a time at the cap");

void StackPool::surplus(SizeClass& c) noexcept {
  if (!trim_hook_) {  // nobody trims later: the oldest slot's pages go back now
    cool_oldest(c, 1);
    return;
  }
  if (c.warm.size() >= kMaxWarmSlots) {  // a large burst ends: the oldest 64 go back now
    cool_oldest(c, 64);
    return;
  }
  if (c.warm.capacity() < kMaxWarmSlots) {
    try {
      c.warm.reserve(kMaxWarmSlots);
    } catch (...) {
      cool_oldest(c, 1);  // no room to keep more: as without a trim hook
      return;
    }
  }
  if (trim_armed_) return;
  trim_armed_ = true;
  for (SizeClass& k : classes_) k.low = k.warm.size();  // the first period starts now
  trim_hook_(trim_arg_);
}

bool StackPool::trim() noexcept {
  bool more = false;
  for (SizeClass& c : classes_) {
    if (c.warm.size() > kWarmSlots) {
      // The oldest `low` entries were not taken during the whole period.
      const std::size_t idle = std::min(std::min(c.low, c.warm.size()), c.warm.size() - kWarmSlots);
      if (idle > 0) cool_oldest(c, idle);
      if (c.warm.size() > kWarmSlots) more = true;
    }
    c.low = c.warm.size();
  }
  trim_armed_ = more;
  return more;
}

void StackPool::cool_oldest(SizeClass& c, std::size_t n) noexcept {
  const std::size_t slot = kGuardBytes + c.usable;
  for (std::size_t k = 0; k < n; ++k) {
    const std::uintptr_t e = c.warm[k];
    char* base = reinterpret_cast<char*>(e & ~std::uintptr_t{3});
    for (Arena& a : c.arenas) {
      if (base < a.base || base >= a.base + a.slots * slot) continue;
      // The pages go back now (MADV_FREE would leave them counted until memory is short).
      // If the kernel refuses, the pages stay: the slot is still reusable as it is.
      ::madvise(base + kGuardBytes, c.usable, MADV_DONTNEED);
      const std::size_t i = static_cast<std::size_t>(base - a.base) / slot;
      const std::size_t w = i / 64;
      const std::uint64_t bit = std::uint64_t{1} << (i % 64);
      try {
        if (a.cold.empty()) a.cold.assign((a.slots + 63) / 64, 0);
        if (static_cast<GuardKind>(e & 3) == GuardKind::kCanary && a.canary.empty()) {
          a.canary.assign((a.slots + 63) / 64, 0);
        }
      } catch (...) {
        break;  // out of memory for the bitmap: the slot (already emptied) is not reused
      }
      a.cold[w] |= bit;
      if (static_cast<GuardKind>(e & 3) == GuardKind::kCanary) a.canary[w] |= bit;
      a.cold_count++;
      a.cold_word = std::min(a.cold_word, w);
      c.cold++;
      break;
    }
  }
  c.warm.erase(c.warm.begin(), c.warm.begin() + static_cast<std::ptrdiff_t>(n));
  c.low -= std::min(c.low, n);  // the untouched entries were the oldest
}

char* StackPool::take_cold(SizeClass& c, GuardKind& kind) noexcept {
  const std::size_t slot = kGuardBytes + c.usable;
  for (Arena& a : c.arenas) {
    if (a.cold_count == 0) continue;
    std::size_t w = a.cold_word;
    while (a.cold[w] == 0) ++w;  // cold_count > 0: a bit is set at or above cold_word
    const int b = std::countr_zero(a.cold[w]);
    const std::uint64_t bit = std::uint64_t{1} << b;
    a.cold[w] &= ~bit;
    a.cold_word = w;
    a.cold_count--;
    c.cold--;
    kind = preferred_guard_kind();
    if (!a.canary.empty() && (a.canary[w] & bit)) {
      a.canary[w] &= ~bit;
      kind = GuardKind::kCanary;
    }
    return a.base + (w * 64 + static_cast<std::size_t>(b)) * slot;
  }
  // c.cold counts the bits set in the arenas' bitmaps: this cannot be reached.
  std::fputs("grove: broken invariant: the stack pool counts cold slots that no arena has\n", stderr);
  std::abort();
}

}  // namespace grove::detail
