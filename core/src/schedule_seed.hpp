// schedule_seed.hpp: seeded schedule exploration (GROVE_SCHEDULE_SEED, set_schedule_seed).
//
// An ordering bug (a green thread that assumes another ran first, a timeout that races
// a wake-up) shows up under grove's FIFO scheduler only for the one order FIFO makes,
// or as a flake when I/O timing changes it. With a seed, each hub makes the choices FIFO
// makes fixed from a pseudo-random sequence instead:
//   - which ready green thread runs next (any of them, not the oldest), and
//   - which of the watchers that became ready in one poll is delivered first: every
//     watcher grove starts gets a random libev priority (libev runs higher priorities
//     first), so a timer and an fd that fire together are delivered in either order.
// The same seed and the same input give the same schedule on a single hub (several
// hubs add the OS's interleaving, which no seed fixes). Off (the default) it costs the
// hot path one predictable branch on a member pointer in pop_ready.
#pragma once

#include <cstdint>
#include <optional>

#include <ev.h>

namespace grove::detail {

// splitmix64: small, fast and good enough to pick among ready green threads.
class ScheduleRng {
 public:
  explicit ScheduleRng(std::uint64_t seed) noexcept : state_(seed) {}
  std::uint64_t next() noexcept {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform enough in [0, n) for n far below 2^32.
  std::uint64_t below(std::uint64_t n) noexcept { return n ? next() % n : 0; }

 private:
  std::uint64_t state_;
};

// The process-wide seed hubs made from now on use (GROVE_SCHEDULE_SEED until
// set_schedule_seed changes it); nullopt: FIFO.
std::optional<std::uint64_t> process_schedule_seed() noexcept;

// The seed of the hub numbered `hub_serial`: hub 0 uses the seed itself, so a
// single-hub program replays with the seed it printed.
inline std::uint64_t hub_schedule_seed(std::uint64_t seed, std::uint64_t hub_serial) noexcept {
  return seed ^ (hub_serial * 0xd1b54a32d192ed03ULL);
}

// Gives a watcher about to be started a random priority when its hub explores
// schedules. `rng` is the hub's (nullptr: FIFO, nothing to do).
inline void randomize_priority(ScheduleRng* rng, ev_watcher* w) noexcept {
  if (rng) [[unlikely]] ev_set_priority(w, EV_MINPRI + static_cast<int>(rng->below(EV_MAXPRI - EV_MINPRI + 1)));
}

}  // namespace grove::detail
