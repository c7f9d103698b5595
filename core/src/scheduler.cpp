// scheduler.cpp: sleep, yield, current, idle, hub_stats.
#include <grove/scheduler.hpp>

#include "hub.hpp"

namespace grove {

void sleep(Duration d) {
  detail::Hub& hub = detail::Hub::get();
  if (d <= Duration::zero()) {
    hub.yield();
    return;
  }
  hub.park_for(detail::to_seconds(d), "sleep");
}

void yield() { detail::Hub::get().yield(); }

GreenThreadHandle current() { return GreenThreadHandle(detail::Hub::get().running()); }

void idle() {
  detail::Hub& hub = detail::Hub::get();
  do {
    hub.yield();
  } while (hub.ready_count() > 0);
}

HubStats hub_stats() {
  HubStats s;
  detail::Hub* hub = detail::Hub::current();
  if (!hub) return s;
  s.live_green_threads = hub->live_count();
  s.ready = hub->ready_count();
  s.active_watchers = hub->active_watchers();
  s.pending_jobs = hub->pending_jobs();
  s.switches = hub->switch_count();
  return s;
}

}  // namespace grove
