// config.hpp: grove's settings from the environment, read once, before the first hub.
//
//   GROVE_LOG              log level of grove's logger (default warn)
//   GROVE_STACK_SIZE       default usable stack bytes per green thread (default 65536;
//                          above kMaxStackBytes (1 GiB) it is ignored, with a warning)
//   GROVE_STACK_GUARD      madvise | mprotect | canary (default: the best available)
//   GROVE_MAX_BLOCKING_MS  start the blocked-hub monitor with this threshold (default off)
//   GROVE_DUMP_ON_SIGUSR1  1: SIGUSR1 prints every green thread of the main hub
//   GROVE_INBOX_SPIN_US    how long an idle hub that waits for another OS thread spins
//                          for its inbox before it sleeps in epoll_wait (default 50; 0:
//                          never; see core/src/sync/hub_inbox.hpp)
#pragma once

#include <cstddef>
#include <string>

namespace grove::detail {

struct Config {
  std::string log_level;
  std::size_t default_stack_size;
  std::string stack_guard;
  int max_blocking_ms;
  bool dump_on_sigusr1;
  long inbox_spin_us;
};

const Config& config();
// Logs, once, what config() had to ignore (a GROVE_STACK_SIZE above 1 GiB). Called when
// a hub starts: not from config() itself, since the logger reads config().
void report_config_warnings();

}  // namespace grove::detail
