// time_hooks.cpp: sleep, usleep, nanosleep, clock_nanosleep -> a green sleep.
//
// From a green thread in a process with time patched, each parks on a hub timer
// (grove::sleep's semantics; a zero sleep lets the other ready green threads run).
// A sleep ended early by a kill / grove::Timeout reports it the C way: nanosleep and
// usleep return -1 with errno ECANCELED / ETIMEDOUT (and *rem holds the time not
// slept), clock_nanosleep returns that error number, sleep returns the whole seconds
// not slept. A finished green sleep writes 0 to *rem.
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <limits>

#include "coop.hpp"
#include "real.hpp"

using namespace grove::monkey::detail;
using grove::detail::Hub;

#define GROVE_HOOK extern "C" __attribute__((visibility("default")))

namespace {

bool valid(const timespec* ts) { return ts && ts->tv_nsec >= 0 && ts->tv_nsec < 1000000000 && ts->tv_sec >= 0; }

double secs(const timespec& ts) { return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9; }

// Seconds to a timespec; negative is 0, and a time beyond time_t's range (what is
// left of a sleep of {LONG_MAX, 0}) is the largest timespec, not an overflow.
void to_ts(double s, timespec* out) {
  if (!out) return;
  if (s < 0) s = 0;
  if (s >= static_cast<double>(std::numeric_limits<time_t>::max())) {  // 2^63: cannot convert
    out->tv_sec = std::numeric_limits<time_t>::max();
    out->tv_nsec = 999999999;
    return;
  }
  out->tv_sec = static_cast<time_t>(s);
  out->tv_nsec = static_cast<long>((s - static_cast<double>(out->tv_sec)) * 1e9);
}

// Sleeps `s` seconds green; returns 0 or an errno; *left gets the time not slept.
int green_sleep(Hub& hub, double s, double* left, const char* what) {
  const double end = mono_now() + s;
  const int e = park_sleep(hub, s, what);
  if (left) *left = e ? std::fmax(0, end - mono_now()) : 0;
  return e;
}

}  // namespace

GROVE_HOOK int nanosleep(const timespec* req, timespec* rem) {
  Hub* hub = coop_hub(kTime);
  if (!hub || !valid(req)) return real().nanosleep(req, rem);
  double left = 0;
  const int e = green_sleep(*hub, secs(*req), &left, "monkey: nanosleep");
  to_ts(left, rem);
  if (e) {
    errno = e;
    return -1;
  }
  return 0;
}

GROVE_HOOK int clock_nanosleep(clockid_t clock, int flags, const timespec* req, timespec* rem) {
  Hub* hub = coop_hub(kTime);
  if (!hub || !valid(req) || (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC && clock != CLOCK_BOOTTIME)) {
    return real().clock_nanosleep(clock, flags, req, rem);
  }
  double s = secs(*req);
  if (flags & TIMER_ABSTIME) {
    timespec now;
    ::clock_gettime(clock, &now);
    s -= secs(now);
    rem = nullptr;  // not written for absolute sleeps
  }
  double left = 0;
  const int e = green_sleep(*hub, s, &left, "monkey: clock_nanosleep");
  to_ts(left, rem);
  return e;
}

GROVE_HOOK int usleep(useconds_t us) {
  Hub* hub = coop_hub(kTime);
  if (!hub) return real().usleep(us);
  const int e = green_sleep(*hub, us * 1e-6, nullptr, "monkey: usleep");
  if (e) {
    errno = e;
    return -1;
  }
  return 0;
}

GROVE_HOOK unsigned int sleep(unsigned int seconds) {
  Hub* hub = coop_hub(kTime);
  if (!hub) return real().sleep(seconds);
  double left = 0;
  const int e = green_sleep(*hub, seconds, &left, "monkey: sleep");
  if (e) errno = e;
  return static_cast<unsigned int>(left);  // whole seconds left, truncated, as glibc's sleep
}
