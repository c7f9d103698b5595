// stop_handlers.hpp: the last phase of StreamServer::stop and DatagramServer::stop.
#pragma once

#include <list>
#include <string>
#include <vector>

#include <grove/duration.hpp>
#include <grove/green_thread.hpp>
#include <grove/log.hpp>
#include <grove/scheduler.hpp>
#include <grove/wait.hpp>

namespace grove::net::detail {

// Logs that `count` killed handlers of the server `name` outlived stop()'s grace and
// are left running.
inline void warn_stragglers(const std::string& name, std::size_t count, Duration grace) {
  grove::logger().warn(
      "{}: stop: {} handler(s) still running {} s after they were killed (a clean-up that parks "
      "with no timeout of its own?); leaving them running, detached",
      name, count, std::chrono::duration<double>(grace).count());
}

// Gives the server's running handlers (all but the caller's own: a handler may stop
// its server) up to `timeout` to return, then kills the rest and gives them up to
// `grace` to die. A kill is not raised while a handler unwinds, so one whose clean-up
// parks with no timeout of its own (a plain recv in a destructor) can outlive any
// wait: those still running after the grace are left running, detached, and logged.
// Each handler holds the server's shared state, so nothing is freed under them, and
// leaves `handlers` as it ends. `killing` is the server's: once one stop() has killed
// the handlers, a later one only waits (up to its timeout and the grace), rather than
// interrupt a clean-up with a second kill. So stop() returns within timeout + grace.
// `handlers` is any range of GreenThreadHandle (a std::list, StreamShard's ConnList).
template <class Handlers>
void stop_handlers(const Handlers& handlers, Duration timeout, Duration grace, bool& killing,
                   const std::string& name) {
  const GreenThreadHandle self = grove::current();
  auto others = [&] {
    std::vector<GreenThreadHandle> hs;
    for (const auto& h : handlers) {
      if (!(h == self)) hs.push_back(h);
    }
    return hs;
  };
  if (std::vector<GreenThreadHandle> hs = others(); !hs.empty() && timeout > Duration::zero()) {
    grove::joinall(hs, timeout);
  }
  std::vector<GreenThreadHandle> hs = others();
  if (hs.empty()) return;
  if (!killing) {
    killing = true;
    for (const auto& h : hs) h.kill_nowait();
  }
  if (grace > Duration::zero() && grove::joinall(hs, grace)) return;
  if (const std::size_t left = others().size(); left > 0) warn_stragglers(name, left, grace);
}

}  // namespace grove::net::detail
