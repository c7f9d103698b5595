#include "config.hpp"

#include <cstdlib>

#include <grove/green_thread.hpp>

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

}  // namespace

const Config& config() {
  static const Config c{
      env_string("GROVE_LOG", "warn"),
      static_cast<std::size_t>(env_long("GROVE_STACK_SIZE", static_cast<long>(kDefaultStackSize))),
      env_string("GROVE_STACK_GUARD", "auto"),
      static_cast<int>(env_long("GROVE_MAX_BLOCKING_MS", 0)),
      env_long("GROVE_DUMP_ON_SIGUSR1", 0) == 1,
  };
  return c;
}

std::size_t default_stack_size() noexcept { return config().default_stack_size; }

}  // namespace grove::detail
