// other_thread.hpp: runs a call on a new std::thread, for the tests of what a sync
// object does when used from an OS thread other than its own.
#pragma once

#include <string>
#include <thread>

#include <grove/errors.hpp>

namespace grove::test {

// Runs fn() on a new std::thread and joins it; the UsageError's message if fn threw
// one, "" if it returned normally.
template <class F>
std::string usage_error_on_other_thread(F&& fn) {
  std::string msg;
  std::thread t([&] {
    try {
      fn();
    } catch (const grove::UsageError& e) {
      msg = e.what();
      if (msg.empty()) msg = "(UsageError)";
    }
  });
  t.join();
  return msg;
}

}  // namespace grove::test
