// exception_state_test.cpp: each green thread keeps its own C++ exception state and errno.
#include <cerrno>
#include <chrono>
#include <exception>
#include <stdexcept>
#include <string>

#include "grove_test.hpp"

using namespace std::chrono_literals;

GROVE_TEST("throw; after parking in a catch block rethrows the green thread's own exception") {
  std::string a_rethrew;
  auto a = grove::spawn([&] {
    try {
      throw std::runtime_error("from A");
    } catch (...) {
      grove::sleep(20ms);  // B throws and catches its own meanwhile
      try {
        throw;
      } catch (const std::runtime_error& e) {
        a_rethrew = e.what();
      }
    }
  });
  std::string b_caught;
  auto b = grove::spawn([&] {
    grove::sleep(5ms);
    try {
      throw std::logic_error("from B");
    } catch (const std::logic_error& e) {
      grove::sleep(1ms);
      b_caught = e.what();
    }
  });
  a.join();
  b.join();
  CHECK(a_rethrew == "from A");
  CHECK(b_caught == "from B");
}

GROVE_TEST("std::current_exception is per green thread") {
  bool b_saw_none = false;
  auto a = grove::spawn([] {
    try {
      throw 1;
    } catch (int) {
      grove::sleep(20ms);
    }
  });
  auto b = grove::spawn([&] {
    grove::sleep(5ms);
    b_saw_none = std::current_exception() == nullptr;
  });
  a.join();
  b.join();
  CHECK(b_saw_none);
  CHECK(std::current_exception() == nullptr);
}

namespace {
struct ParksWhileUnwinding {
  int& before;
  int& after;
  ~ParksWhileUnwinding() {
    before = std::uncaught_exceptions();
    grove::sleep(20ms);
    after = std::uncaught_exceptions();
  }
};
}  // namespace

GROVE_TEST("std::uncaught_exceptions is per green thread") {
  int before = -1, after = -1, other = -1;
  auto a = grove::spawn([&] {
    try {
      ParksWhileUnwinding p{before, after};
      throw std::runtime_error("unwinding");
    } catch (const std::runtime_error&) {
    }
  });
  auto b = grove::spawn([&] {
    grove::sleep(5ms);
    other = std::uncaught_exceptions();
  });
  a.join();
  b.join();
  CHECK(before == 1);
  CHECK(after == 1);
  CHECK(other == 0);
  CHECK(std::uncaught_exceptions() == 0);
}

GROVE_TEST("two green threads parked in their own catch blocks get their own exception back at every switch") {
  // The exception state is saved only by a green thread that switches away with one
  // (hub_switch.hpp): each of these saves and restores it 200 times, interleaved with
  // the other and with a third that has none.
  auto in_catch = [](int mine, int& bad) {
    try {
      throw mine;
    } catch (int) {
      for (int i = 0; i < 200; ++i) {
        grove::yield();
        try {
          throw;
        } catch (int got) {
          if (got != mine) ++bad;
        }
        if (std::uncaught_exceptions() != 0) ++bad;
      }
    }
  };
  int bad_a = 0, bad_b = 0, bad_clean = 0;
  auto a = grove::spawn([&] { in_catch(1, bad_a); });
  auto b = grove::spawn([&] { in_catch(2, bad_b); });
  auto clean = grove::spawn([&] {
    for (int i = 0; i < 200; ++i) {
      grove::yield();
      if (std::current_exception() != nullptr || std::uncaught_exceptions() != 0) ++bad_clean;
    }
  });
  a.join();
  b.join();
  clean.join();
  CHECK(bad_a == 0);
  CHECK(bad_b == 0);
  CHECK(bad_clean == 0);
  CHECK(std::current_exception() == nullptr);
}

GROVE_TEST("errno is per green thread") {
  int a_after = 0, b_after = 0;
  auto a = grove::spawn([&] {
    errno = EINTR;
    grove::sleep(20ms);
    a_after = errno;
  });
  auto b = grove::spawn([&] {
    errno = ENOENT;
    grove::sleep(5ms);
    b_after = errno;
  });
  errno = EAGAIN;
  a.join();
  b.join();
  CHECK(errno == EAGAIN);
  CHECK(a_after == EINTR);
  CHECK(b_after == ENOENT);
}
