// captured_log.hpp: routes grove's logger into a string for a scope (tests only).
#pragma once

#include <memory>
#include <sstream>
#include <string>

#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>

#include <grove/log.hpp>

namespace grove::test {

// Restores an equivalent of the original logger (same sinks, level, name) afterwards.
struct CapturedLog {
  std::ostringstream out;
  std::shared_ptr<spdlog::logger> original = std::make_shared<spdlog::logger>(grove::logger());
  CapturedLog() {
    auto l = std::make_shared<spdlog::logger>("grove", std::make_shared<spdlog::sinks::ostream_sink_st>(out));
    l->set_level(spdlog::level::warn);
    grove::set_logger(l);
  }
  ~CapturedLog() { grove::set_logger(original); }
  CapturedLog(const CapturedLog&) = delete;
  CapturedLog& operator=(const CapturedLog&) = delete;
  std::string text() {
    grove::logger().flush();
    return out.str();
  }
  // How many times `what` occurs in the text logged so far.
  std::size_t count(const std::string& what) {
    const std::string t = text();
    std::size_t n = 0;
    for (std::size_t p = t.find(what); p != std::string::npos; p = t.find(what, p + 1)) ++n;
    return n;
  }
};

}  // namespace grove::test
