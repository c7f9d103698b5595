#include "config.hpp"

#include <atomic>
#include <cstdlib>

#include <grove/green_thread.hpp>

#include "log_internal.hpp"
#include "stack_pool.hpp"

namespace grove::detail {

namespace {

std::string env_string(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

long env_long(const char* name, long fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  long n = std::strtol(v, &end, 10);
  return (end && *end == '\0' && n >= 0) ? n : fallback;
}

// Set while a warning about a refused GROVE_STACK_SIZE is owed. Not logged from inside
// config()'s initializer (the logger reads config() itself): report_config_warnings().
std::atomic<long> refused_stack_size{-1};

std::size_t stack_size_setting() {
  const long n = env_long("GROVE_STACK_SIZE", static_cast<long>(kDefaultStackSize));
  if (static_cast<unsigned long>(n) > kMaxStackBytes) {
    refused_stack_size.store(n, std::memory_order_relaxed);
    return kDefaultStackSize;
  }
  return static_cast<std::size_t>(n);
}

// Out of line, so that config(), called on every spawn, stays a guard check and a return.
[[gnu::noinline]] Config read_config() {
  return Config{
      env_string("GROVE_LOG", "warn"),
      stack_size_setting(),
      env_string("GROVE_STACK_GUARD", "auto"),
      static_cast<int>(env_long("GROVE_MAX_BLOCKING_MS", 0)),
      env_long("GROVE_DUMP_ON_SIGUSR1", 0) == 1,
      env_long("GROVE_INBOX_SPIN_US", 50),
  };
}

}  // namespace

const Config& config() {
  static const Config c = read_config();
  return c;
}

std::size_t default_stack_size() noexcept { return config().default_stack_size; }

void report_config_warnings() {
  if (refused_stack_size.load(std::memory_order_relaxed) < 0) return;
  const long n = refused_stack_size.exchange(-1);
  if (n >= 0) {
    log_warn("grove: GROVE_STACK_SIZE={} exceeds the largest stack allowed ({} bytes); using the default "
             "of {} bytes", n, kMaxStackBytes, kDefaultStackSize);
  }
}

}  // namespace grove::detail
