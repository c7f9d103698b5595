// process_spawn.hpp: starting a child with posix_spawn (process_spawn.cpp).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include <grove/net/process.hpp>

namespace grove::net::detail {

struct Spawned {
  pid_t pid = -1;
  // The parent ends of the pipes asked for (close-on-exec, non-blocking), else -1.
  int in = -1;
  int out = -1;
  int err = -1;
};

// Starts the child; throws SpawnError / UsageError (see Process's constructor).
Spawned spawn_process(const std::vector<std::string>& argv, const ProcessOptions& options);

}  // namespace grove::net::detail
