// thread_identity.cpp: is an address in grove's own code? See thread_identity.hpp.
//
// The code segments of the loaded objects whose file name starts with "libgrove" are
// read once (dl_iterate_phdr) on the first call; grove's libraries are loaded with the
// program (DT_NEEDED or LD_PRELOAD), before any thread is created through the hooks.
#include "thread_identity.hpp"

#include <link.h>

#include <atomic>
#include <cstring>

namespace grove::monkey::detail {

namespace {

struct Range {
  std::uintptr_t lo, hi;
};
constexpr int kMaxRanges = 16;
Range g_ranges[kMaxRanges];
int g_nranges = 0;
std::atomic<int> g_state{0};  // 0: not read, 1: being read, 2: ready

int collect(dl_phdr_info* info, std::size_t, void*) {
  const char* name = info->dlpi_name;
  if (!name) return 0;
  const char* base = std::strrchr(name, '/');
  base = base ? base + 1 : name;
  if (std::strncmp(base, "libgrove", 8) != 0) return 0;
  for (int i = 0; i < info->dlpi_phnum && g_nranges < kMaxRanges; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X)) continue;
    const std::uintptr_t lo = info->dlpi_addr + ph.p_vaddr;
    g_ranges[g_nranges++] = Range{lo, lo + ph.p_memsz};
  }
  return 0;
}

void read_ranges() noexcept {
  int expected = 0;
  if (g_state.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
    dl_iterate_phdr(collect, nullptr);
    g_state.store(2, std::memory_order_release);
    return;
  }
  while (g_state.load(std::memory_order_acquire) != 2) {
  }
}

}  // namespace

bool called_from_grove(const void* addr) noexcept {
  if (g_state.load(std::memory_order_acquire) != 2) [[unlikely]] read_ranges();
  const auto a = reinterpret_cast<std::uintptr_t>(addr);
  for (int i = 0; i < g_nranges; ++i) {
    if (a >= g_ranges[i].lo && a < g_ranges[i].hi) return true;
  }
  return false;
}

}  // namespace grove::monkey::detail
