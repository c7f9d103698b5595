// patch.cpp: the switches, and GROVE_MONKEY for LD_PRELOAD use.
#include <grove/monkey.hpp>

#include <cstdlib>
#include <cstring>

#include "coop.hpp"

namespace grove::monkey {

using detail::g_patched;

void patch_all() noexcept { g_patched.fetch_or(detail::kSockets | detail::kTime | detail::kDns); }
void patch_sockets() noexcept { g_patched.fetch_or(detail::kSockets); }
void patch_time() noexcept { g_patched.fetch_or(detail::kTime); }
void patch_dns() noexcept { g_patched.fetch_or(detail::kDns); }
void patch_files() noexcept { g_patched.fetch_or(detail::kFiles); }
void patch_threads() noexcept { g_patched.fetch_or(detail::kThreads); }
void unpatch_all() noexcept { g_patched.store(0); }
bool is_patched() noexcept { return g_patched.load() != 0; }
bool sockets_patched() noexcept { return g_patched.load() & detail::kSockets; }
bool time_patched() noexcept { return g_patched.load() & detail::kTime; }
bool dns_patched() noexcept { return g_patched.load() & detail::kDns; }
bool files_patched() noexcept { return g_patched.load() & detail::kFiles; }
bool threads_patched() noexcept { return g_patched.load() & detail::kThreads; }

namespace {

// GROVE_MONKEY=1 is patch_all() when the library is loaded; "all" is patch_all() and
// threads (the form for an unmodified thread-per-connection program); a comma list
// of "sockets", "time", "dns", "files", "threads" patches those areas ("files" only
// so; "threads" so or with "all": patch_all() leaves both off). getenv here runs once,
// in a constructor, before any hook can be waiting.
__attribute__((constructor(102))) void patch_from_environment() {
  const char* v = std::getenv("GROVE_MONKEY");
  if (!v || !*v || std::strcmp(v, "0") == 0) return;
  if (std::strcmp(v, "1") == 0) {
    patch_all();
    return;
  }
  if (std::strcmp(v, "all") == 0) {
    patch_all();
    patch_threads();
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
