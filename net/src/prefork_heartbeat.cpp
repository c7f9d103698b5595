// prefork_heartbeat.cpp: the heartbeat table (supervisor) and the timer that beats
// (worker). See prefork_heartbeat.hpp.
#include "prefork_heartbeat.hpp"

#include <ev.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <new>
#include <system_error>

#include "hub.hpp"

namespace grove::net::detail {

std::int64_t heartbeat_now() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

HeartbeatTable::HeartbeatTable(std::size_t cells) : count_(cells), bytes_(cells * sizeof(HeartbeatCell)) {
  if (bytes_ == 0) bytes_ = sizeof(HeartbeatCell);
  void* p = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    throw std::system_error(errno, std::system_category(), "grove::net::PreforkSupervisor: mmap of the heartbeats");
  }
  cells_ = static_cast<HeartbeatCell*>(p);
  for (std::size_t i = 0; i < count_; ++i) new (&cells_[i]) HeartbeatCell(0);
  used_ = new bool[count_ ? count_ : 1]();
}

HeartbeatTable::~HeartbeatTable() {
  ::munmap(cells_, bytes_);
  delete[] used_;
}

int HeartbeatTable::take() noexcept {
  for (std::size_t i = 0; i < count_; ++i) {
    if (!used_[i]) {
      used_[i] = true;
      cells_[i].store(heartbeat_now(), std::memory_order_relaxed);
      return static_cast<int>(i);
    }
  }
  return -1;
}

void HeartbeatTable::give_back(int cell) noexcept {
  if (cell >= 0 && static_cast<std::size_t>(cell) < count_) used_[cell] = false;
}

namespace {

struct Beat {
  ev_timer timer;
  HeartbeatCell* cell = nullptr;
  pid_t pid = 0;  // the worker's: a process forked from it must not beat for it
};

// One per worker process (a process has one supervisor cell at most).
Beat g_beat;

void on_beat(struct ev_loop* loop, ev_timer* w, int) noexcept {
  if (::getpid() != g_beat.pid) {
    ev_timer_stop(loop, w);
    return;
  }
  g_beat.cell->store(heartbeat_now(), std::memory_order_relaxed);
}

}  // namespace

void start_heartbeat(HeartbeatCell* cell, Duration interval) noexcept {
  if (!cell) return;
  g_beat.cell = cell;
  g_beat.pid = ::getpid();
  cell->store(heartbeat_now(), std::memory_order_relaxed);
  const double secs = std::chrono::duration<double>(interval).count();
  // Not counted as a wait (Hub::watcher_started): the deadlock check does not see it.
  // Kept referenced: an unreferenced watcher would let ev_run(EVRUN_ONCE) return
  // without blocking when it is the loop's only one.
  ev_timer_init(&g_beat.timer, &on_beat, secs, secs);
  ev_timer_start(grove::detail::Hub::get().loop(), &g_beat.timer);
}

}  // namespace grove::net::detail
