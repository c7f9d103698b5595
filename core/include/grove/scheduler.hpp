// grove/scheduler.hpp: the calls every green thread makes to give way.
#pragma once

#include <cstddef>
#include <cstdint>

#include <grove/duration.hpp>
#include <grove/export.hpp>
#include <grove/green_thread.hpp>

namespace grove {

// Parks the calling green thread for `d` (a libev timer). sleep(0ms) is yield().
// Parks; may not be called on the hub (UsageError). A kill or an expiring Timeout
// ends the sleep early with GreenletExit / TimeoutError; nothing is left behind.
GROVE_API void sleep(Duration d);

// Lets every other ready green thread run once before the caller runs again. The
// hub still polls for I/O and timers once per round of the ready queue (every
// max(64, green threads ready at the last poll) switches), so a loop of yields
// cannot starve sockets. A pending kill or Timeout is raised here (GreenletExit /
// TimeoutError, before or after the yield). UsageError on the hub.
GROVE_API void yield();

// The calling green thread (the OS thread's original context counts as one, named
// "main" on the process's first thread). Creates the thread's hub on first use.
// Does not park.
GROVE_API GreenThreadHandle current();

// What this OS thread's hub holds right now; all zero if the thread has no hub yet.
struct HubStats {
  // Green threads spawned and not yet dead (the root is not counted).
  std::size_t live_green_threads = 0;
  // Green threads queued to run.
  std::size_t ready = 0;
  // Timers and I/O watchers some green thread waits on.
  std::size_t active_watchers = 0;
  // Thread-pool jobs whose result has not come back.
  std::size_t pending_jobs = 0;
  // Context switches so far.
  std::uint64_t switches = 0;
};
// A snapshot of this OS thread's hub. Does not park and does not create a hub.
GROVE_API HubStats hub_stats();

// Yields until no other green thread is ready to run: everything else has finished
// or is parked (on a timer, a socket, ...). Does not wait for parked ones. Yields as
// yield() does: GreenletExit / TimeoutError if interrupted (nothing left behind);
// UsageError on the hub.
GROVE_API void idle();

}  // namespace grove
