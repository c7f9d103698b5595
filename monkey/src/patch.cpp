// patch.cpp: the switches, and GROVE_MONKEY for LD_PRELOAD use.
#include <grove/monkey.hpp>

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "coop.hpp"
#include "sync_park.hpp"
#include "thread_hook.hpp"

namespace grove::monkey {

namespace detail {
std::atomic<bool> g_locks_hybrid{false};  // sync_park.hpp
}  // namespace detail

using detail::g_patched;

namespace {
// The threads area on; the locks become hybrid first, for good (sync_park.hpp).
void threads_area_on() noexcept {
  detail::g_locks_hybrid.store(true);
  g_patched.fetch_or(detail::kThreads);
}
}  // namespace

// patch_all() includes threads where the area exists; in an ASan / TSan build it is
// left out silently (thread_hook.hpp): a program calling patch_all() asked for
// "everything there is", and a warning at every start would be noise. Only an explicit
// patch_threads() is told.
void patch_all() noexcept {
  g_patched.fetch_or(detail::kSockets | detail::kTime | detail::kDns);
  if (GROVE_THREADS_AREA_AVAILABLE) threads_area_on();
}
void patch_all_except_threads() noexcept { g_patched.fetch_or(detail::kSockets | detail::kTime | detail::kDns); }
void patch_sockets() noexcept { g_patched.fetch_or(detail::kSockets); }
void patch_time() noexcept { g_patched.fetch_or(detail::kTime); }
void patch_dns() noexcept { g_patched.fetch_or(detail::kDns); }
void patch_files() noexcept { g_patched.fetch_or(detail::kFiles); }
void patch_threads() noexcept {
#if GROVE_THREADS_AREA_AVAILABLE
  threads_area_on();
#else
  // Not in a sanitizer build (thread_hook.hpp): say so once, on stderr, since the
  // program asked for something it does not get.
  static std::atomic<bool> told{false};
  if (!told.exchange(true)) {
    static const char msg[] =
        "grove: monkey's threads area is not available in an ASan / TSan build; pthreads stay OS threads\n";
    [[maybe_unused]] const ssize_t n = ::write(2, msg, sizeof msg - 1);
  }
#endif
}
void unpatch_all() noexcept { g_patched.store(0); }
bool is_patched() noexcept { return g_patched.load() != 0; }
bool sockets_patched() noexcept { return g_patched.load() & detail::kSockets; }
bool time_patched() noexcept { return g_patched.load() & detail::kTime; }
bool dns_patched() noexcept { return g_patched.load() & detail::kDns; }
bool files_patched() noexcept { return g_patched.load() & detail::kFiles; }
bool threads_patched() noexcept { return g_patched.load() & detail::kThreads; }

namespace {

// GROVE_MONKEY=1 or "all" is patch_all() when the library is loaded (threads
// included); "nothreads" is patch_all_except_threads(); a comma list of "sockets",
// "time", "dns", "files", "threads" patches those areas ("files" only so: patch_all()
// leaves it off). getenv here runs once, in a constructor, before any hook can be
// waiting.
__attribute__((constructor(102))) void patch_from_environment() {
  const char* v = std::getenv("GROVE_MONKEY");
  if (!v || !*v || std::strcmp(v, "0") == 0) return;
  if (std::strcmp(v, "1") == 0 || std::strcmp(v, "all") == 0) {
    patch_all();  // (in a sanitizer build: without threads, silently)
    return;
  }
  if (std::strcmp(v, "nothreads") == 0) {
    patch_all_except_threads();
    return;
  }
  if (std::strstr(v, "sockets")) patch_sockets();
  if (std::strstr(v, "time")) patch_time();
  if (std::strstr(v, "dns")) patch_dns();
  if (std::strstr(v, "files")) patch_files();
  if (std::strstr(v, "threads")) patch_threads();
}

}  // namespace

}  // namespace grove::monkey
