// prefork_heartbeat.hpp: the workers' heartbeats (PreforkOptions::heartbeat_timeout).
//
// A table of clock readings in memory the supervisor shares with its workers (mmap
// MAP_SHARED | MAP_ANONYMOUS, made before the first fork, so every worker inherits the
// same pages), one cell per live worker process. Each worker's hub stamps its cell from
// a libev timer, so a cell ages only while that hub's loop does not turn: a green
// thread that never yields (a CPU loop, a blocking call on the OS thread) stops it, a
// worker idle in epoll_wait does not. The supervisor reads the ages and SIGKILLs a
// worker silent for longer than the timeout. One std::atomic<int64_t> per cell (lock-free,
// so it works across processes), steady_clock nanoseconds (CLOCK_MONOTONIC: one clock
// for every process of the machine).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include <grove/duration.hpp>

namespace grove::net::detail {

using HeartbeatCell = std::atomic<std::int64_t>;
static_assert(HeartbeatCell::is_always_lock_free);

// steady_clock now, in nanoseconds: what a cell holds.
std::int64_t heartbeat_now() noexcept;

// The supervisor's table. Neither copyable nor movable.
class HeartbeatTable {
 public:
  // `cells` cells, all free. std::system_error if the memory cannot be mapped.
  explicit HeartbeatTable(std::size_t cells);
  ~HeartbeatTable();
  HeartbeatTable(const HeartbeatTable&) = delete;
  HeartbeatTable& operator=(const HeartbeatTable&) = delete;

  // A free cell, stamped now (a worker's silence counts from its fork); -1 if none is.
  int take() noexcept;
  // Frees a cell taken by take() (its worker was reaped); -1 is ignored.
  void give_back(int cell) noexcept;
  HeartbeatCell* cell(int i) const noexcept { return i < 0 ? nullptr : &cells_[i]; }
  // When the cell's worker last beat (heartbeat_now() units).
  std::int64_t last_beat(int i) const noexcept { return cells_[i].load(std::memory_order_relaxed); }

 private:
  HeartbeatCell* cells_ = nullptr;
  std::size_t count_ = 0;
  std::size_t bytes_ = 0;
  bool* used_ = nullptr;  // the supervisor's own bookkeeping (not shared)
};

// In a worker process, on its hub: stamps `cell` now and then every `interval` from a
// timer on the hub's loop, until the process ends. The timer does not count as a wait
// (the hub's deadlock check ignores it). A process forked from the worker later stops
// the timer at its first tick instead of beating for the worker.
void start_heartbeat(HeartbeatCell* cell, Duration interval) noexcept;

}  // namespace grove::net::detail
