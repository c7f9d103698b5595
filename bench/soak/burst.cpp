// burst.cpp: does RSS come back after a burst of green threads?
//
//   soak_burst [--threads 100000] [--touch 8192] [--rounds 1] [--maps]
//
// Spawns `threads` green threads that each touch `touch` bytes of their stack and
// park on one Event (so all of them are alive at once: a burst), then sets it, joins
// them all and drops every handle. Prints, as `name: value unit` lines, the process's
// RSS (VmRSS) before the burst (after one warm-up spawn), at its peak (all parked)
// and after it (all gone, 1.5 s after the last join: the stack pool trims its warm
// stacks lazily; burst_fallback_seconds says when RSS last fell), and after / before. With --rounds N the burst is repeated
// and RSS after each round printed: pages must not pile up round after round either.
// --maps: also the mappings whose RSS differs by 64 kB or more between before and
// after (/proc/self/smaps), to see where what stays is.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <grove/grove.hpp>

namespace {

// The first `field` line of `path`, in kB (-1 if none).
long kb_field(const char* path, const char* field) {
  FILE* f = std::fopen(path, "r");
  if (!f) return -1;
  char line[256];
  long v = -1;
  const std::size_t n = std::strlen(field);
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, field, n) == 0) {
      v = std::strtol(line + n, nullptr, 10);
      break;
    }
  }
  std::fclose(f);
  return v;
}

long rss_kb() { return kb_field("/proc/self/status", "VmRSS:"); }

// RSS (kB) of each mapping, keyed by its start address and name (/proc/self/smaps).
std::map<std::string, long> mapping_rss() {
  std::map<std::string, long> m;
  FILE* f = std::fopen("/proc/self/smaps", "r");
  if (!f) return m;
  char line[512];
  std::string cur;
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, "Rss:", 4) == 0) {
      m[cur] = std::strtol(line + 4, nullptr, 10);
    } else if (std::strchr(line, '-') && std::strchr(line, '-') < std::strchr(line, ' ')) {
      char start[32] = "", perms[8] = "", name[256] = "[anon]";
      std::sscanf(line, "%31[0-9a-f]-%*s %7s %*s %*s %*s %255s", start, perms, name);
      cur = std::string(start) + " " + perms + " " + name;
    }
  }
  std::fclose(f);
  return m;
}

[[noreturn]] void usage() {
  std::fprintf(stderr, "usage: soak_burst [--threads N] [--touch BYTES] [--rounds N] [--maps]\n");
  std::exit(2);
}

// Touches `n` bytes of the calling green thread's stack, one write per 64 bytes.
[[gnu::noinline]] void touch_stack(std::size_t n) {
  auto* p = static_cast<volatile char*>(__builtin_alloca(n));
  for (std::size_t i = 0; i < n; i += 64) p[i] = static_cast<char>(i);
}

}  // namespace

int main(int argc, char** argv) {
  long threads = 100000, touch = 8192, rounds = 1;
  bool maps = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--maps") {
      maps = true;
      continue;
    }
    if (i + 1 >= argc) usage();
    char* end = nullptr;
    const long v = std::strtol(argv[++i], &end, 10);
    if (*end || v < 0) usage();
    if (a == "--threads" && v >= 1 && v <= 10000000) threads = v;
    else if (a == "--touch" && v <= 32 * 1024) touch = v;
    else if (a == "--rounds" && v >= 1 && v <= 1000) rounds = v;
    else usage();
  }
  grove::spawn([] { touch_stack(64); }).join();  // the hub and its first stack
  const std::map<std::string, long> maps_before = maps ? mapping_rss() : std::map<std::string, long>{};
  const long before = rss_kb();
  long peak = 0, after = 0;
  double fallback = 0;  // the longest wait, after a round, for RSS to come back
  const auto t0 = std::chrono::steady_clock::now();
  for (long r = 0; r < rounds; ++r) {
    {
      grove::Event go;
      std::vector<grove::GreenThreadHandle> all;
      all.reserve(static_cast<std::size_t>(threads));
      for (long i = 0; i < threads; ++i) {
        all.push_back(grove::spawn([&go, touch] {
          touch_stack(static_cast<std::size_t>(touch));
          go.wait();
        }));
      }
      grove::idle();  // every one has run and parked
      peak = std::max(peak, rss_kb());
      go.set();
      // One join at a time: joinall would build vectors of 100,000 entries, and the
      // heap they leave (glibc keeps it) is not what this measures.
      for (const grove::GreenThreadHandle& g : all) g.join();
    }
    // The pool keeps exited green threads' stacks warm and gives the pages of those
    // unused for a whole trim period (0.5 s) back (core/src/stack_pool.hpp): RSS
    // falls back within one to two periods. Watch it for 1.5 s and say when it last
    // fell (by 256 kB or more).
    const auto ended = std::chrono::steady_clock::now();
    after = rss_kb();
    long last = after;
    double fell_at = 0;
    for (;;) {
      const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - ended).count();
      if (t >= 1.5) break;
      grove::sleep(std::chrono::milliseconds(20));
      after = rss_kb();
      if (after <= last - 256) {
        fell_at = std::chrono::duration<double>(std::chrono::steady_clock::now() - ended).count();
        last = after;
      }
    }
    fallback = std::max(fallback, fell_at);
    if (rounds > 1) std::printf("burst_rss_after_round_%ld_kb: %ld kB\n", r + 1, after);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("burst_threads: %ld\n", threads);
  std::printf("burst_touch_bytes: %ld bytes\n", touch);
  std::printf("burst_rss_before_kb: %ld kB\n", before);
  std::printf("burst_rss_peak_kb: %ld kB\n", peak);
  std::printf("burst_rss_after_kb: %ld kB\n", after);
  std::printf("burst_rss_after_over_before: %.3f\n", static_cast<double>(after) / static_cast<double>(before));
  std::printf("burst_seconds: %.3f s\n", secs);
  std::printf("burst_fallback_seconds: %.3f s\n", fallback);
  if (maps) {
    for (const auto& [name, kb] : mapping_rss()) {
      const auto it = maps_before.find(name);
      const long d = kb - (it == maps_before.end() ? 0 : it->second);
      if (d >= 4 || d <= -4) std::printf("# %+ld kB  %s\n", d, name.c_str());
    }
  }
  return 0;
}
