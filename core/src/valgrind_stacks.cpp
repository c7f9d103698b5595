#include "valgrind_stacks.hpp"

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define GROVE_HAVE_VALGRIND 1
#else
#define GROVE_HAVE_VALGRIND 0
#endif

#include <algorithm>
#include <mutex>
#include <vector>

namespace grove::detail {

#if GROVE_HAVE_VALGRIND
namespace {

struct Registered {
  const void* owner;
  unsigned id;
};

// Every hub's pool registers here (hubs live on different OS threads), so a mutex; only
// taken under valgrind. Never destroyed: a pool may be destroyed at thread exit after
// this file's statics would be.
std::mutex& registry_mutex() {
  static auto* m = new std::mutex;
  return *m;
}
std::vector<Registered>& registry() {
  static auto* r = new std::vector<Registered>;
  return *r;
}

}  // namespace
#endif

void valgrind_register_stack([[maybe_unused]] const void* owner, [[maybe_unused]] char* lo,
                             [[maybe_unused]] std::size_t size) noexcept {
#if GROVE_HAVE_VALGRIND
  if (!RUNNING_ON_VALGRIND) return;
  const unsigned id = VALGRIND_STACK_REGISTER(lo, lo + size);
  std::lock_guard<std::mutex> lock(registry_mutex());
  try {
    registry().push_back({owner, id});
  } catch (...) {
    // Out of memory for the list: the stack stays registered until the process ends.
  }
#endif
}

void valgrind_forget_stacks([[maybe_unused]] const void* owner) noexcept {
#if GROVE_HAVE_VALGRIND
  if (!RUNNING_ON_VALGRIND) return;
  std::lock_guard<std::mutex> lock(registry_mutex());
  auto& r = registry();
  for (const Registered& s : r) {
    if (s.owner == owner) VALGRIND_STACK_DEREGISTER(s.id);
  }
  r.erase(std::remove_if(r.begin(), r.end(), [owner](const Registered& s) { return s.owner == owner; }), r.end());
#endif
}

}  // namespace grove::detail
