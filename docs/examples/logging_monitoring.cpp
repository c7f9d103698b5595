// Logging and monitoring: grove's spdlog logger, hub_stats(), format_run_info().
#include <chrono>
#include <cstdio>
#include <memory>
#include <sstream>
#include <stdexcept>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <grove/grove.hpp>

using namespace std::chrono_literals;

int main() {
  // grove reports through one spdlog logger (stderr, level from GROVE_LOG, default
  // warn). Replace it at start-up to send grove's reports where yours go.
  std::ostringstream captured;
  auto logger = std::make_shared<spdlog::logger>(
      "grove", std::make_shared<spdlog::sinks::ostream_sink_mt>(captured));
  logger->set_level(spdlog::level::warn);
  grove::set_logger(logger);

  // A green thread that dies with an exception nobody joins for is logged
  // (gevent prints the traceback).
  auto lost = grove::spawn([] { throw std::runtime_error("nobody is waiting for me"); });
  grove::sleep(1ms);
  std::printf("logged: %s", captured.str().c_str());

  // What the hub holds now, and one line per green thread (as gevent's
  // format_run_info); GROVE_DUMP_ON_SIGUSR1=1 prints it on SIGUSR1.
  auto sleeper = grove::spawn(grove::SpawnOptions{.name = "sleeper"}, [] { grove::sleep(10s); });
  grove::yield();  // let it start and park
  grove::HubStats s = grove::hub_stats();
  std::printf("live=%zu timers/io=%zu switches>0=%s\n", s.live_green_threads, s.active_watchers,
              s.switches > 0 ? "yes" : "no");
  std::printf("%s", grove::format_run_info().c_str());
  sleeper.kill();
  return captured.str().find("nobody is waiting for me") != std::string::npos ? 0 : 1;
}
