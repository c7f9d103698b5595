// grove_test.hpp: what every grove test file includes.
//
// GROVE_TEST("sentence") declares a doctest case that, after its body, checks the
// hub is clean: no live green threads, nothing queued, no active watcher, no pending
// thread-pool job, and the same open fds as before the case. Every case is then also
// a leak test (libuv's habit).
#pragma once

#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <string>

#include <doctest/doctest.h>

#include <grove/grove.hpp>

namespace grove::test {

inline std::set<int> open_fds() {
  std::set<int> fds;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    const int self = ::dirfd(d);
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.') continue;
      const int fd = std::stoi(e->d_name);
      if (fd != self) fds.insert(fd);
    }
    ::closedir(d);
  }
  return fds;
}

// Lets green threads that are finishing finish, then checks nothing is left.
inline void check_hub_clean(const std::set<int>& fds_before) {
  for (int i = 0; i < 8 && grove::hub_stats().live_green_threads > 0; ++i) grove::sleep(std::chrono::milliseconds(1));
  const grove::HubStats s = grove::hub_stats();
  CHECK_MESSAGE(s.live_green_threads == 0, grove::format_run_info());
  CHECK(s.ready == 0);
  CHECK(s.active_watchers == 0);
  CHECK(s.pending_jobs == 0);
  CHECK(open_fds() == fds_before);
}

}  // namespace grove::test

#define GROVE_TEST_CAT2(a, b) a##b
#define GROVE_TEST_CAT(a, b) GROVE_TEST_CAT2(a, b)
#define GROVE_TEST_IMPL(name, body)                                  \
  static void body();                                                \
  TEST_CASE(name) {                                                  \
    const std::set<int> grove_fds_before = ::grove::test::open_fds(); \
    body();                                                          \
    ::grove::test::check_hub_clean(grove_fds_before);                \
  }                                                                  \
  static void body()
#define GROVE_TEST(name) GROVE_TEST_IMPL(name, GROVE_TEST_CAT(grove_test_body_, __COUNTER__))
