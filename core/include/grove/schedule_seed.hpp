// grove/schedule_seed.hpp: seeded schedule exploration, to turn ordering bugs into
// failing seeds instead of flakes.
//
// With a seed, a hub no longer runs ready green threads oldest first: it picks any of
// them from a pseudo-random sequence, and the timers and fds that become ready in one
// poll are delivered in a random order too. The same seed and the same input replay the
// same schedule on one hub. What stays guaranteed under a seed is only what grove
// promises whatever the timing: a yield lets at least one other ready green thread run
// (not necessarily all of them), waiters on grove's locks, events, queues and channels
// are still served in their documented order, and timers never fire early.
//
// Set GROVE_SCHEDULE_SEED=N in the environment (decimal or 0x-hex), or call
// set_schedule_seed() before the hubs you want it for. Failure messages grove prints
// (a deadlock's LoopExit, a broken invariant) name the seed. docs/guide.md shows how to
// run a test suite under many seeds.
#pragma once

#include <cstdint>
#include <optional>

#include <grove/export.hpp>

namespace grove {

// Hubs made from now on explore schedules with `seed`, and so does the calling OS
// thread's hub if it has one (from its next scheduling choice). Other existing hubs
// keep what they had. Thread-safe; never parks.
GROVE_API void set_schedule_seed(std::uint64_t seed);
// Back to FIFO scheduling, for hubs made from now on and the calling thread's hub.
GROVE_API void clear_schedule_seed();
// The seed hubs made now would use: GROVE_SCHEDULE_SEED or the last set_schedule_seed,
// nullopt if none (or after clear_schedule_seed).
GROVE_API std::optional<std::uint64_t> schedule_seed();

}  // namespace grove
