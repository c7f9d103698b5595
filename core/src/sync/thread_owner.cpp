// thread_owner.cpp: binding a sync object to its OS thread, and the error for a call
// from another one (see grove/detail/thread_owner.hpp).
#include <grove/detail/thread_owner.hpp>

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include <grove/errors.hpp>

namespace grove::detail {

namespace {

int this_tid() noexcept { return static_cast<int>(::syscall(SYS_gettid)); }

// "OS thread 1234 ('worker')", or without the name if it has exited.
std::string describe_thread(int tid) {
  std::string out = "OS thread " + std::to_string(tid);
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%d/comm", tid);
  if (std::FILE* f = std::fopen(path, "r")) {
    char name[32] = {};
    if (std::fgets(name, sizeof name, f)) {
      std::string n(name);
      while (!n.empty() && n.back() == '\n') n.pop_back();
      out.append(" ('").append(n).append("')");
    }
    std::fclose(f);
  } else {
    out.append(" (exited)");
  }
  if (tid == ::getpid()) out.append(", the main thread");
  return out;
}

}  // namespace

std::uintptr_t this_thread_token_slow() noexcept {
  static thread_local const char anchor = 0;
  return reinterpret_cast<std::uintptr_t>(&anchor);
}

void ThreadOwner::bind_or_refuse(const char* what) const {
  const std::uintptr_t me = this_thread_token();
  std::uintptr_t expected = 0;
  if (owner_.compare_exchange_strong(expected, me, std::memory_order_relaxed)) {
    owner_tid_.store(this_tid(), std::memory_order_relaxed);
    return;
  }
  if (expected == me) return;  // bound by this thread (cannot happen: check() saw another value)
  const int owner_tid = owner_tid_.load(std::memory_order_relaxed);
  std::string msg(what);
  msg.append(": used from another OS thread: called on ").append(describe_thread(this_tid()));
  msg.append(", but the object belongs to ").append(owner_tid ? describe_thread(owner_tid) : std::string("another one"));
  msg.append(", the first to use it. grove's sync objects serve the green threads of one OS thread; "
             "hand values across OS threads with run_in_thread's return value");
  throw UsageError(msg);
}

}  // namespace grove::detail
