// stop_handlers.hpp: the last phase of StreamServer::stop and DatagramServer::stop.
#pragma once

#include <list>
#include <vector>

#include <grove/duration.hpp>
#include <grove/green_thread.hpp>
#include <grove/scheduler.hpp>
#include <grove/wait.hpp>

namespace grove::net::detail {

// Gives the server's running handlers (all but the caller's own: a handler may stop
// its server) up to `timeout` to return, then kills the rest and waits for them to
// die. Each handler leaves `handlers` as it ends. `killing` is the server's: once one
// stop() has killed the handlers, a later one only waits, rather than interrupt a
// clean-up with a second kill.
inline void stop_handlers(const std::list<GreenThreadHandle>& handlers, Duration timeout, bool& killing) {
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
  if (std::vector<GreenThreadHandle> hs = others(); !hs.empty()) {
    if (killing) {
      grove::joinall(hs);
    } else {
      killing = true;
      grove::killall(hs);
    }
  }
}

}  // namespace grove::net::detail
