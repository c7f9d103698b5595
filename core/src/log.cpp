#include <grove/log.hpp>

#include <mutex>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "config.hpp"

namespace grove {

namespace {

std::shared_ptr<spdlog::logger>& slot() {
  static std::shared_ptr<spdlog::logger> l = [] {
    auto lg = std::make_shared<spdlog::logger>("grove", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    lg->set_level(spdlog::level::from_str(detail::config().log_level));
    lg->flush_on(spdlog::level::warn);
    return lg;
  }();
  return l;
}

}  // namespace

spdlog::logger& logger() { return *slot(); }

void set_logger(std::shared_ptr<spdlog::logger> l) {
  if (l) slot() = std::move(l);
}

}  // namespace grove
