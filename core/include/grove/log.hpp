// grove/log.hpp: grove's own spdlog logger.
//
// Named "grove", writing to stderr, quiet by default (warnings and errors). GROVE_LOG
// sets its level when it is first used: trace, debug, info, warn, error, critical, off.
#pragma once

#include <memory>

#include <spdlog/logger.h>

#include <grove/export.hpp>

namespace grove {

// The logger grove reports through (failed green threads, a blocked hub, ...).
GROVE_API spdlog::logger& logger();

// Replaces grove's logger (for example to add a sink of your own). Not thread-safe
// against concurrent logging: call it at start-up.
GROVE_API void set_logger(std::shared_ptr<spdlog::logger> logger);

}  // namespace grove
