#include "schedule_seed.hpp"

#include <grove/schedule_seed.hpp>

#include <cerrno>
#include <cstdlib>
#include <mutex>

#include "hub.hpp"
#include "log_internal.hpp"

namespace grove {
namespace detail {
namespace {

std::mutex seed_mutex;
bool seed_read_from_env = false;
std::optional<std::uint64_t> process_seed;

// GROVE_SCHEDULE_SEED, read once under seed_mutex. A value that is not a number is
// refused with a warning rather than silently replaced by some other schedule.
void read_env_seed_locked() {
  if (seed_read_from_env) return;
  seed_read_from_env = true;
  const char* v = std::getenv("GROVE_SCHEDULE_SEED");
  if (!v || !*v) return;
  char* end = nullptr;
  errno = 0;
  const unsigned long long n = std::strtoull(v, &end, 0);
  if (errno != 0 || !end || *end != '\0' || *v == '-') {
    log_warn("grove: GROVE_SCHEDULE_SEED={} is not a number (decimal or 0x-hex); scheduling stays FIFO", v);
    return;
  }
  process_seed = n;
}

}  // namespace

std::optional<std::uint64_t> process_schedule_seed() noexcept {
  std::lock_guard<std::mutex> lock(seed_mutex);
  read_env_seed_locked();
  return process_seed;
}

}  // namespace detail

void set_schedule_seed(std::uint64_t seed) {
  {
    std::lock_guard<std::mutex> lock(detail::seed_mutex);
    detail::seed_read_from_env = true;  // an explicit seed wins over the environment
    detail::process_seed = seed;
  }
  if (detail::Hub* h = detail::Hub::current()) h->set_schedule_seed(seed);
}

void clear_schedule_seed() {
  {
    std::lock_guard<std::mutex> lock(detail::seed_mutex);
    detail::seed_read_from_env = true;
    detail::process_seed.reset();
  }
  if (detail::Hub* h = detail::Hub::current()) h->set_schedule_seed(std::nullopt);
}

std::optional<std::uint64_t> schedule_seed() { return detail::process_schedule_seed(); }

}  // namespace grove
