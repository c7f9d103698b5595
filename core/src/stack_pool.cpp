#include "stack_pool.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <system_error>

#include <grove/errors.hpp>

#include "config.hpp"
#include "log_internal.hpp"

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
  for (auto& [p, n] : arenas_) ::munmap(p, n);
}

void StackPool::new_arena(SizeClass& c) {
  const std::size_t slot = kGuardBytes + c.usable;  // acquire() bounds c.usable: no overflow
  std::size_t slots = c.next_arena_slots;
  if (slots > 1 && slots > kMaxArenaBytes / slot) slots = std::max<std::size_t>(1, kMaxArenaBytes / slot);
  std::size_t bytes = 0;
  if (__builtin_mul_overflow(slots, slot, &bytes)) {
    throw std::system_error(ENOMEM, std::system_category(), "grove: green-thread stack arena size overflows");
  }
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    throw std::system_error(errno, std::system_category(),
                            "grove: cannot map " + std::to_string(bytes) + " bytes of green-thread stacks");
  }
  arenas_.emplace_back(p, bytes);
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
  if (idx >= classes_.size()) classes_.resize(idx + 1);
  SizeClass& c = classes_[idx];
  c.usable = usable;

  StackSlot s;
  s.size = usable;
  s.guard = kGuardBytes;
  s.size_class = static_cast<std::uint32_t>(idx);
  char* base;
  if (!c.free.empty()) {
    base = c.free.back();
    c.free.pop_back();
    s.lo = base + kGuardBytes;
    // The guard kind of a reused slot is remembered in its first guard word only for
    // canary slots; madvise / mprotect guards stay installed while the slot is pooled.
    s.guard_kind = *reinterpret_cast<std::uint64_t*>(s.lo) == kStackCanary ? GuardKind::kCanary
                                                                          : preferred_guard_kind();
  } else {
    if (c.remaining == 0) new_arena(c);
    base = c.next;
    c.next += kGuardBytes + usable;
    --c.remaining;
    s.lo = base + kGuardBytes;
    s.guard_kind = install_guard(base);
  }
  if (s.guard_kind == GuardKind::kCanary) {
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
  if (slot.guard_kind != GuardKind::kCanary) {
#if defined(__SANITIZE_ADDRESS__)
    ASAN_UNPOISON_MEMORY_REGION(slot.lo, sizeof(std::uint64_t));
#endif
    // Make sure a stale canary value cannot make a guarded slot look like a canary one.
    *reinterpret_cast<std::uint64_t*>(slot.lo) = 0;
  }
  try {
    c.free.push_back(slot.lo - kGuardBytes);
  } catch (...) {
    // Out of memory for the free list: the slot is simply not reused.
  }
}

}  // namespace grove::detail
