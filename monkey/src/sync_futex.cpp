// sync_futex.cpp: syscall(SYS_futex, ...) from green threads: std::future & co.
//
// libstdc++ waits for a std::future / std::promise, std::latch, std::barrier,
// std::counting_semaphore and std::atomic<T>::wait with futexes of its own, through
// libc's syscall() (not pthreads): `syscall(SYS_futex, addr, FUTEX_WAIT..., v, ...)`.
// With threads patched, a private FUTEX_WAIT / FUTEX_WAIT_BITSET from a green thread
// parks it in the threads area's waiter table, keyed by the address (sync_park.hpp),
// and every private FUTEX_WAKE / FUTEX_WAKE_BITSET, from any thread, wakes the green
// waiters on the address first and the kernel's with what is left of its count. The
// futex contract holds: the wait sleeps only while the word holds the value
// (EAGAIN otherwise, checked under the table's lock), it may wake spuriously, and a
// kill or grove::Timeout ends it with EINTR (callers retry). A wake's bitset is not
// matched against green waiters (a spurious wake-up, allowed).
//
// libstdc++'s std::future uses the process-shared forms (FUTEX_WAIT, not
// FUTEX_WAIT_PRIVATE) on its heap-allocated state, so both forms are taken: a green
// thread waiting on a word in memory shared with another process (MAP_SHARED) would
// not be woken by that process, only by this one. The requeue and PI operations, and
// every other system call, go to libc unchanged. A program that waits on a word with
// syscall() and wakes it with raw inline assembly (or io_uring) would not wake a green
// waiter.
#include <linux/futex.h>
#include <sys/syscall.h>

#include <cerrno>
#include <climits>
#include <cstdarg>

#include "sync_park.hpp"

using namespace grove::monkey::detail;
using grove::detail::Hub;

#include "thread_hook.hpp"  // GROVE_HOOK: exported except under ASan / TSan

namespace {

long fail(int e) noexcept {
  errno = e;
  return -1;
}

long green_wait(Hub& hub, int op, std::uint32_t* addr, std::uint32_t val, const timespec* ts) noexcept {
  const int cmd = op & FUTEX_CMD_MASK;
  double secs = -1;
  if (ts) {
    if (bad_timespec(ts) || ts->tv_sec < 0) return fail(EINVAL);
    if (cmd == FUTEX_WAIT) {
      secs = static_cast<double>(ts->tv_sec) + static_cast<double>(ts->tv_nsec) * 1e-9;  // relative
    } else {
      secs = seconds_until((op & FUTEX_CLOCK_REALTIME) ? CLOCK_REALTIME : CLOCK_MONOTONIC, *ts);
      if (secs < 0) secs = 0;
    }
  }
  auto* word = reinterpret_cast<std::atomic<std::uint32_t>*>(addr);
  switch (park_on(hub, word, val, secs, true, "futex wait")) {
    case Parked::kWoken: return 0;
    case Parked::kMismatch: return fail(EAGAIN);
    case Parked::kTimedOut: return fail(ETIMEDOUT);
    case Parked::kInterrupted:
      take_interrupt_after(hub, grove::detail::WakeReason::kInterrupted, "futex wait");
      return fail(EINTR);
  }
  return 0;
}

}  // namespace

GROVE_HOOK long syscall(long number, ...) {
  va_list ap;
  va_start(ap, number);
  const long a1 = va_arg(ap, long);
  const long a2 = va_arg(ap, long);
  const long a3 = va_arg(ap, long);
  const long a4 = va_arg(ap, long);
  const long a5 = va_arg(ap, long);
  const long a6 = va_arg(ap, long);
  va_end(ap);
  if (number != SYS_futex || !threads_on()) [[likely]] {
    return sync_real().syscall(number, a1, a2, a3, a4, a5, a6);
  }
  auto* addr = reinterpret_cast<std::uint32_t*>(a1);
  const int op = static_cast<int>(a2);
  switch (op & FUTEX_CMD_MASK) {
    case FUTEX_WAIT:
    case FUTEX_WAIT_BITSET:
      if (Hub* hub = sync_hub(__builtin_return_address(0))) {
        return green_wait(*hub, op, addr, static_cast<std::uint32_t>(a3), reinterpret_cast<const timespec*>(a4));
      }
      break;
    case FUTEX_WAKE:
    case FUTEX_WAKE_BITSET: {
      const int n = static_cast<int>(a3);
      if (n <= 0 || !may_have_green_waiters(addr)) break;
      const int green = unpark(addr, n);
      if (green >= n) return green;
      const long r = sync_real().syscall(number, a1, a2, static_cast<long>(n - green), a4, a5, a6);
      return r < 0 ? green : green + r;
    }
    default: break;
  }
  return sync_real().syscall(number, a1, a2, a3, a4, a5, a6);
}
