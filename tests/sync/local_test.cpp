// local_test.cpp: grove::local<T> holds one value per green thread.
#include <chrono>
#include <memory>
#include <string>

#include <grove/local.hpp>

#include "grove_test.hpp"

using namespace std::chrono_literals;

GROVE_TEST("each green thread sees its own value") {
  grove::local<std::string> name;
  auto a = grove::spawn([&] { name.set("a"); grove::sleep(2ms); return name.get(); });
  auto b = grove::spawn([&] { name.set("b"); grove::sleep(1ms); return name.get(); });
  CHECK(a.get() == "a");
  CHECK(b.get() == "b");
}

GROVE_TEST("the first access makes the value from the initializer") {
  int made = 0;
  grove::local<int> counter([&] { ++made; return 100; });
  auto g = grove::spawn([&] {
    CHECK_FALSE(counter.has_value());
    int& v = counter.get();
    ++v;
    return *counter;
  });
  CHECK(g.get() == 101);
  CHECK(made == 1);
}

GROVE_TEST("the value is destroyed when its green thread dies") {
  auto alive = std::make_shared<int>(1);
  std::weak_ptr<int> watch = alive;
  grove::local<std::shared_ptr<int>> slot;
  auto g = grove::spawn([&, p = std::move(alive)]() mutable {
    slot.set(std::move(p));
    grove::sleep(1ms);
  });
  grove::sleep(0ms);
  CHECK_FALSE(watch.expired());
  g.join();
  CHECK(watch.expired());
}

GROVE_TEST("the value is destroyed when its green thread is killed") {
  auto alive = std::make_shared<int>(1);
  std::weak_ptr<int> watch = alive;
  grove::local<std::shared_ptr<int>> slot;
  auto g = grove::spawn([&, p = std::move(alive)]() mutable {
    slot.set(std::move(p));
    grove::sleep(10s);
  });
  grove::sleep(1ms);
  g.kill();
  CHECK(watch.expired());
}

GROVE_TEST("reset destroys the value and the next get makes a new one") {
  grove::local<int> v([] { return 5; });
  auto g = grove::spawn([&] {
    v.set(9);
    v.reset();
    CHECK_FALSE(v.has_value());
    return v.get();
  });
  CHECK(g.get() == 5);
}

GROVE_TEST("a value outlives its local object and goes with its green thread") {
  auto alive = std::make_shared<int>(1);
  std::weak_ptr<int> watch = alive;
  grove::GreenThread<void> g;
  {
    grove::local<std::shared_ptr<int>> slot;
    g = grove::spawn([&slot, p = std::move(alive)]() mutable {
      slot.set(std::move(p));  // before the local goes away
    });
    grove::sleep(0ms);
  }
  g.join();
  CHECK(watch.expired());
}

GROVE_TEST("a new local at the same address does not see an old local's values") {
  auto g = grove::spawn([] {
    {
      grove::local<int> a;
      a.set(7);
    }
    grove::local<int> b;  // likely the same stack address as a
    return b.has_value();
  });
  CHECK_FALSE(g.get());
}
